"""Setup mode on a board (firmware/picoclaw/portal/mode.py, board/start.py).

CPython, against the virtual board's fake machine and network (host_tests/support/vboard_shim):
when setup mode is wanted (no Wi-Fi or token, the flag file, the BOOT button held) and never
otherwise, the access point it opens (name from the MAC, WPA2 with board.json's password or
open with a one-time code), the line it prints, what it hands server.serve (a stand-in here),
and the reset at the end. The fake network's scan and join rules (portal/check.wifi uses them).

On the virtual board (the unix port from .mpy, main.py booted as on a board): a board with no
token or no config at all boots into setup mode, the page is served on 127.0.0.1:<setup_port>,
a POST with every field saves the config (checked against the fake Telegram), the board resets
and the bot answers a message; the BOOT button held enters setup mode though the config is
complete; a complete config never serves the page.
"""
import importlib.util
import json
import os
import re
import socket
import sys
import time

import pytest

import vboard


def _shim(name, monkeypatch, env=None):
    """A fresh copy of the fake `name` module (its state is module-level), as sys.modules[name]."""
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    spec = importlib.util.spec_from_file_location(name, os.path.join(vboard.SHIM, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


def _write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


COMPLETE = {"channels": {"telegram": {"token": "123:abc"}}, "wifi": {"ssid": "vboard-net", "password": "pw"}}


@pytest.fixture
def board(tmp_path, monkeypatch):
    """A board's flash as the current folder, with the fake machine and network."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VBOARD_BOOT_HELD", raising=False)
    _shim("machine", monkeypatch)
    _shim("network", monkeypatch)
    from picoclaw.portal import mode

    return mode


# -- the fake network (check.wifi relies on these rules) --------------------------------------
def test_fake_network_scan_join_rules_and_access_point(monkeypatch):
    net = _shim("network", monkeypatch, {"VBOARD_SCAN": "home,cafe", "VBOARD_WIFI_KEY": "right-key"})
    sta = net.WLAN(net.STA_IF)
    sta.active(True)
    found = sta.scan()
    assert [t[0] for t in found] == [b"home", b"cafe"]
    assert all(isinstance(t[1], bytes) and len(t[1]) == 6 and isinstance(t[2], int) and t[3] < 0 for t in found)
    sta.connect("nowhere", "right-key")
    assert sta.status() == net.STAT_NO_AP_FOUND and not sta.isconnected()
    sta.connect("home", "wrong-key")
    assert sta.status() == net.STAT_WRONG_PASSWORD and not sta.isconnected()
    sta.connect("home", "right-key")
    assert sta.status() == net.STAT_GOT_IP and sta.isconnected()
    ap = net.WLAN(net.AP_IF)
    assert not ap.active()
    ap.config(essid="PicoClaw-0001", password="p" * 12, security=ap.SEC_WPA2)
    ap.active(True)
    assert ap.active() and sta.isconnected()  # both interfaces at once
    assert ap.config("essid") == "PicoClaw-0001" and ap.config("security") == 3
    assert ap.config("mac") == sta.config("mac")
    assert ap.ifconfig()[0] == "127.0.0.1" and sta.ifconfig()[0] == "10.0.0.42"
    monkeypatch.setenv("VBOARD_AP_IP", "192.168.4.1")
    assert ap.ifconfig()[:2] == ("192.168.4.1", "255.255.255.0")


def test_fake_network_default_scan_and_no_key_rule(monkeypatch):
    monkeypatch.delenv("VBOARD_WIFI_KEY", raising=False)
    monkeypatch.delenv("VBOARD_SCAN", raising=False)
    net = _shim("network", monkeypatch)
    sta = net.WLAN(net.STA_IF)
    sta.active(True)
    assert [t[0] for t in sta.scan()] == [b"vboard-net", b"Neighbours-5G"]
    sta.connect("vboard-net", "anything")  # no VBOARD_WIFI_KEY: any key joins
    assert sta.isconnected()


def test_fake_boot_button(monkeypatch):
    m = _shim("machine", monkeypatch)
    monkeypatch.delenv("VBOARD_BOOT_HELD", raising=False)
    assert m.Pin(0, m.Pin.IN, m.Pin.PULL_UP).value() == 1  # released: pulled up
    monkeypatch.setenv("VBOARD_BOOT_HELD", "1")
    assert m.Pin(0, m.Pin.IN, m.Pin.PULL_UP).value() == 0  # held: active low
    assert m.Pin(2, m.Pin.OUT).value() == 0  # outputs unchanged


# -- when setup mode starts ------------------------------------------------------------------
def test_a_complete_config_wants_no_setup_and_leaves_nothing_loaded(board):
    _write("config.json", COMPLETE)
    before = set(sys.modules)
    sys.modules.pop("picoclaw.config", None)
    before.discard("picoclaw.config")
    assert board.wanted({}, "config.json") is None
    assert "picoclaw.config" not in sys.modules
    assert set(sys.modules) <= before | {"picoclaw.portal.mode"}


@pytest.mark.parametrize("cfg, why", [
    (None, "no usable config (config: cannot open config.json)"),
    ("{not json", "no usable config (config:"),
    ({"channels": {"telegram": {"token": 5}}, "wifi": {"ssid": "x"}}, "no usable config (config: channels.telegram.token"),
    ({"channels": {"telegram": {"token": "123:abc"}}}, "the config has no Wi-Fi network (wifi.ssid)"),
    ({"wifi": {"ssid": "home"}}, "the config has no bot token"),
    ({"channels": {"telegram": {"token": ""}}, "wifi": {"ssid": "home", "password": "x"}}, "the config has no bot token"),
])
def test_an_incomplete_or_missing_config_wants_setup(board, cfg, why):
    if isinstance(cfg, dict):
        _write("config.json", cfg)
    elif cfg:
        with open("config.json", "w") as f:
            f.write(cfg)
    got = board.wanted({}, "config.json")
    assert got and got.startswith(why), got
    assert "\n" not in got


def test_the_flag_file_and_the_boot_button_want_setup(board, monkeypatch):
    _write("config.json", COMPLETE)
    open("setup", "w").close()
    assert board.wanted({}, "config.json") == "asked for (the setup file)"
    os.remove("setup")
    monkeypatch.setenv("VBOARD_BOOT_HELD", "1")
    assert board.wanted({}, "config.json") is None  # no boot_pin in board.json: not read
    assert board.wanted({"boot_pin": 0}, "config.json") == "the BOOT button is held"
    monkeypatch.setenv("VBOARD_BOOT_HELD", "0")
    assert board.wanted({"boot_pin": 0}, "config.json") is None


def test_bootsel_on_a_pico(board, monkeypatch):
    _write("config.json", COMPLETE)
    rp2 = type(sys)("rp2")
    pressed = [0]
    rp2.bootsel_button = lambda: pressed[0]
    monkeypatch.setitem(sys.modules, "rp2", rp2)
    assert board.wanted({"boot_button": "bootsel"}, "config.json") is None
    pressed[0] = 1
    assert board.wanted({"boot_button": "bootsel"}, "config.json") == "the BOOT button is held"


def test_no_network_module_no_setup_mode(board, monkeypatch):
    monkeypatch.setitem(sys.modules, "network", None)  # the plain unix port: `picoclaw setup` instead
    assert board.wanted({}, "config.json") is None


# -- run(): the access point, the line, serve(), the reset -------------------------------------
class StandIn:
    """server.serve until helper A's lands (and for its arguments): returns `rc`."""

    def __init__(self, rc=0):
        self.rc = rc
        self.calls = []

    def serve(self, cfg_path, listen, **kw):
        self.calls.append((cfg_path, listen, kw))
        return self.rc


def _run(board, monkeypatch, capsys, info, rc=0):
    srv = StandIn(rc)
    mod = type(sys)("picoclaw.portal.server")
    mod.serve = srv.serve
    monkeypatch.setitem(sys.modules, "picoclaw.portal.server", mod)
    monkeypatch.setattr(board, "load", lambda name: sys.modules[name])
    monkeypatch.setattr(board, "unload", lambda *names: None)
    open("setup", "w").close()
    with pytest.raises(SystemExit) as e:  # the fake machine.reset()
        board.run(info, "config.json", "asked for")
    assert e.value.code == 75
    out = capsys.readouterr().out
    assert "[vboard: reset]" in out
    assert not os.path.exists("setup")  # the flag is gone: the next start is the bot's
    return srv.calls[0], out


def test_run_opens_a_wpa2_network_with_the_deploy_password(board, monkeypatch, capsys):
    info = {"setup_password": "Kp7mXq2RvT9w", "setup_port": 8080, "setup_dns_port": 5353, "setup_timeout_s": 60}
    (cfg, listen, kw), out = _run(board, monkeypatch, capsys, info)
    net = sys.modules["network"]
    ap = net.WLAN(net.AP_IF)
    assert ap.active() and ap.config("essid") == "PicoClaw-0001"  # the MAC's last two bytes
    assert ap.config("password") == "Kp7mXq2RvT9w" and ap.config("security") == net.WLAN.SEC_WPA2
    assert (cfg, listen) == ("config.json", ("127.0.0.1", 8080))
    assert kw["dns_port"] == 5353 and kw["timeout_s"] == 60 and kw["code"] is None
    assert kw["ap"].net == ("127.0.0.1", "255.255.255.0")
    assert kw["ap"].scan() == ["vboard-net", "Neighbours-5G"]
    line = [x for x in out.splitlines() if x.startswith("SETUP: ")]
    assert line == ["SETUP: join the Wi-Fi network PicoClaw-0001 (password: the one tools/flash.py deploy "
                    "printed), then open http://127.0.0.1:8080/"], out
    assert "Kp7mXq2RvT9w" not in out  # the password itself is never printed
    assert "setup mode: config saved; restarting" in out


def test_run_opens_an_open_network_with_a_one_time_code(board, monkeypatch, capsys):
    (cfg, listen, kw), out = _run(board, monkeypatch, capsys, {"setup_open": True, "setup_password": "x" * 12}, rc=1)
    net = sys.modules["network"]
    ap = net.WLAN(net.AP_IF)
    assert ap.config("security") == 0 and not ap.config("password")
    assert listen == ("127.0.0.1", 80) and kw["dns_port"] == 53 and kw["timeout_s"] == 900
    code = kw["code"]
    assert re.fullmatch(r"\d{6}", code)
    assert ("SETUP: join the Wi-Fi network PicoClaw-0001 (an open network; the page asks for the code %s), "
            "then open http://127.0.0.1/" % code) in out
    assert "setup mode: timed out; restarting" in out
    assert len({board.code() for _ in range(50)}) > 40  # from os.urandom, not a fixed sequence


def test_run_without_a_password_is_open_too(board, monkeypatch, capsys):
    (_, _, kw), out = _run(board, monkeypatch, capsys, {"setup_password": "short"})
    assert re.fullmatch(r"\d{6}", kw["code"])
    assert "setup_password is shorter than 8 characters" in out


def test_scan_names_strongest_first_capped_without_hidden_or_duplicates(board):
    class Sta:
        def scan(self):
            nets = [(b"weak", b"", 1, -90, 3, False), (b"", b"", 1, -20, 3, True), (b"strong", b"", 1, -30, 3, False),
                    (b"strong", b"", 6, -40, 3, False), (b"\xff\xfe", b"", 1, -35, 3, False)]
            nets += [(b"n%02d" % i, b"", 1, -60 - i, 3, False) for i in range(30)]
            return nets

    names = board.AccessPoint(Sta(), None).scan()
    assert names[:2] == ["strong", "n00"] and len(names) == 16 and "weak" not in names

    class Busy:
        def scan(self):
            raise OSError(16)

    assert board.AccessPoint(Busy(), None).scan() == []
