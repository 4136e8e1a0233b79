"""Fake Wi-Fi `network` module for the virtual board. HOST ONLY: never frozen, never deployed;
only host_tests/support/vboard.py puts this folder on MICROPYPATH.

The link joins at once unless the environment says otherwise:
  VBOARD_WIFI=fail:N   the first N joins fail with STAT_WRONG_PASSWORD
  VBOARD_WIFI=drop:N   once joined, the link drops after N isconnected() calls (once)
  VBOARD_WIFI=crash    connect() raises RuntimeError (a driver fault: main.py's crash path)

The networks in reach (the station's scan(), MicroPython's tuples: ssid bytes, bssid,
channel, RSSI, security, hidden): VBOARD_SCAN, comma-separated names, else "vboard-net" and
"Neighbours-5G". Join rules, after VBOARD_WIFI's (portal/check.wifi relies on them):
  an SSID not in the scan        -> status() STAT_NO_AP_FOUND, not connected
  VBOARD_WIFI_KEY=K and a key != K -> status() STAT_WRONG_PASSWORD, not connected
The access point, WLAN(AP_IF): active(), config(essid=/ssid=, password=/key=, security=)
kept and read back by config("essid") (config("mac") on both interfaces), ifconfig() is
VBOARD_AP_IP (default 127.0.0.1: the setup page is served on loopback). Its state is apart
from the station's: both run at once, as on the boards.
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
_ap = {"active": False}
_in_reach = (os.getenv("VBOARD_SCAN") or "vboard-net,Neighbours-5G").split(",")


def hostname(name=None):
    if name is None:
        return _name[0]
    _name[0] = name


class WLAN:
    SEC_OPEN = 0
    SEC_WPA2 = 3

    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._s = _ap if interface == AP_IF else _link

    def active(self, on=None):
        if on is None:
            return self._s["active"]
        self._s["active"] = bool(on)
        if not on:
            self._s["up"] = False

    def scan(self):
        return [(n.encode(), b"\x02\x00\x00\x00\x00\x09", 6, -50, 3, False) for n in _in_reach]

    def connect(self, ssid=None, key=None):
        if _mode[0] == "crash":
            raise RuntimeError("vboard: Wi-Fi driver fault (VBOARD_WIFI=crash)")
        if not _link["active"]:
            raise OSError("Wifi Not Started")
        _link["joins"] += 1
        want = os.getenv("VBOARD_WIFI_KEY")
        st = STAT_GOT_IP
        if _mode[0] == "fail" and _link["joins"] <= _arg or want is not None and key != want:
            st = STAT_WRONG_PASSWORD
        if ssid not in _in_reach:
            st = STAT_NO_AP_FOUND
        _link["status"] = st
        _link["up"] = st == STAT_GOT_IP
        _link["checks"] = 0
        if st != STAT_GOT_IP:
            print("vboard: Wi-Fi join %d refused" % _link["joins"])

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
        if self.interface:  # AP_IF
            ip = os.getenv("VBOARD_AP_IP") or "127.0.0.1"
            return (ip, "255.255.255.0", ip, ip)
        return ("10.0.0.42", "255.255.255.0", "10.0.0.1", "10.0.0.1")

    def config(self, *args, **kw):
        if args == ("mac",):
            return b"\x02\x00\x00\x00\x00\x01"
        if args:
            return self._s.get(args[0])
        for k, v in kw.items():
            self._s[{"ssid": "essid", "key": "password"}.get(k, k)] = v
