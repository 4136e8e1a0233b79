"""Fake Wi-Fi `network` module for the virtual board. HOST ONLY: never frozen, never deployed;
only host_tests/support/vboard.py puts this folder on MICROPYPATH.

The link joins at once unless the environment says otherwise:
  VBOARD_WIFI=fail:N   the first N joins fail with STAT_WRONG_PASSWORD
  VBOARD_WIFI=drop:N   once joined, the link drops after N isconnected() calls (once)
  VBOARD_WIFI=crash    connect() raises RuntimeError (a driver fault: main.py's crash path)
"""
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_GOT_IP = 3
STAT_CONNECT_FAIL = -1
STAT_NO_AP_FOUND = -2
STAT_WRONG_PASSWORD = -3

_mode = (os.getenv("VBOARD_WIFI") or "ok").split(":")
_arg = int(_mode[1]) if len(_mode) > 1 else 0
_link = {"active": False, "up": False, "status": STAT_IDLE, "joins": 0, "checks": 0, "dropped": False}
_name = ["mpy"]


def hostname(name=None):
    if name is None:
        return _name[0]
    _name[0] = name


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface

    def active(self, on=None):
        if on is None:
            return _link["active"]
        _link["active"] = bool(on)
        if not on:
            _link["up"] = False

    def connect(self, ssid=None, key=None):
        if _mode[0] == "crash":
            raise RuntimeError("vboard: Wi-Fi driver fault (VBOARD_WIFI=crash)")
        if not _link["active"]:
            raise OSError("Wifi Not Started")
        _link["joins"] += 1
        if _mode[0] == "fail" and _link["joins"] <= _arg:
            _link["status"] = STAT_WRONG_PASSWORD
            _link["up"] = False
            print("vboard: Wi-Fi join %d refused" % _link["joins"])
            return
        _link["status"] = STAT_GOT_IP
        _link["up"] = True
        _link["checks"] = 0

    def disconnect(self):
        _link["up"] = False
        _link["status"] = STAT_IDLE

    def isconnected(self):
        if _link["up"] and _mode[0] == "drop" and not _link["dropped"]:
            _link["checks"] += 1
            if _link["checks"] > _arg:
                _link["dropped"] = True
                _link["up"] = False
                _link["status"] = STAT_IDLE
                print("vboard: Wi-Fi link dropped")
        return _link["up"]

    def status(self, param=None):
        if param == "rssi":
            return -55
        return _link["status"]

    def ifconfig(self, config=None):
        return ("10.0.0.42", "255.255.255.0", "10.0.0.1", "10.0.0.1")

    def config(self, *args, **kw):
        if args == ("mac",):
            return b"\x02\x00\x00\x00\x00\x01"
        return None
