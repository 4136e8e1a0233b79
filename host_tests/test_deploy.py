"""Boards and deployment, through the commands a user runs.

A virtual board (host_tests/support/vboard.py: the unix port on a pseudo-terminal, its filesystem a
folder) gets the firmware from `tools/flash.py deploy` over mpremote, resets, boots main.py
with fake Wi-Fi and answers a message through the fake Telegram over TLS: the deployed file
set is complete and boots. Also: a second deploy copies only what changed, --dry-run, the
one-line errors, safe mode after crashes, the board folders and manifests, and the watchdog,
LED and Wi-Fi logic of picoclaw/board/hardware.py against fake hardware (CPython).
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import fwimages
import gatewayrun
import unixport
import vboard
from fakes.telegram_server import FakeTelegram

ROOT = unixport.ROOT
FLASH = os.path.join(ROOT, "tools", "flash.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import flash  # noqa: E402
import mpybuild  # noqa: E402

ALICE = 111
ARCH = mpybuild.unix_port_arch()  # the virtual board's architecture (x64 on a PC)
BOARDS = ("ESP32_GENERIC", "ESP32_GENERIC_S3", "RPI_PICO_W", "RPI_PICO2_W")


def flash_run(*args, timeout=120):
    """tools/flash.py as a user runs it (stdin not a terminal: it never prompts)."""
    return subprocess.run([sys.executable, FLASH] + list(args), cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def one_line_error(r, starts):
    err = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, r.stdout[-1500:], r.stderr)
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("flash.py: error: " + starts), err
    return err


def deployed_modules():
    """The files deploy puts under lib/: every module as .mpy and the data files (page.html)."""
    return sorted(["lib/" + r[:-3] + ".mpy" for r in mpybuild.modules() if r not in ("main.py", "boot.py")]
                  + ["lib/" + r for r in mpybuild.data()])


def board_files(folder):
    out = []
    for d, _, names in os.walk(folder):
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), folder))
    return sorted(out)


def host_config(tg, folder, **telegram):
    """config.json on the host, as a user keeps it: the CA as a host path (deploy copies it)."""
    os.makedirs(folder, exist_ok=True)
    shutil.copy(tg.ca_pem_path, os.path.join(folder, "my-ca.pem"))
    cfg = vboard.config_for(tg, **telegram)
    cfg["tls"]["ca_file"] = os.path.join(folder, "my-ca.pem")
    path = os.path.join(folder, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


@pytest.fixture(scope="module")
def tg():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def own_tg():
    """A fake Telegram of the test's own: the deployed board keeps polling the shared one
    (two pollers of one bot get 409 Conflict, as on Telegram)."""
    with FakeTelegram() as fake:
        yield fake


class Deployed:
    pass


@pytest.fixture(scope="module")
def deployed(tg, tmp_path_factory):
    """A virtual board, empty as after flashing MicroPython, set up by `flash.py deploy`."""
    base = str(tmp_path_factory.mktemp("deploy"))
    d = Deployed()
    d.folder = os.path.join(base, "board")
    d.config = host_config(tg, os.path.join(base, "host"))
    with vboard.VirtualBoard(d.folder, boot=True) as vb:
        d.vb = vb
        vb.wait_for(">>> ")
        t = time.monotonic()
        d.first = flash_run("deploy", "--port", vb.port, "--config", d.config)
        d.seconds = time.monotonic() - t
        yield d


def _answered(tg, vb, text, n):
    tg.send_text(tg.user(ALICE, "Alice", "alice"), text)
    tg.wait_sent(n, timeout=20)
    assert tg.sent[n - 1]["params"]["chat_id"] == ALICE


# -- deploy to the virtual board -----------------------------------------------------------
def test_deploy_sets_up_a_board_that_boots_and_answers(deployed, tg):
    r = deployed.first
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    for secret in (tg.token, "vboard-secret-pw"):
        assert secret not in r.stdout + r.stderr  # never echoed
    assert "no folder in boards/ matches" in r.stdout  # the unix port is no board of ours
    files = board_files(deployed.folder)
    # the complete set: every module as .mpy under lib/, main.py, boot.py, config, its CA
    assert [f for f in files if f.startswith("lib/")] == deployed_modules()
    for name in ("main.py", "boot.py", "config.json", "my-ca.pem"):
        assert name in files
    with open(os.path.join(deployed.folder, "main.py")) as a, open(os.path.join(ROOT, "firmware", "main.py")) as b:
        assert a.read() == b.read()
    with open(os.path.join(deployed.folder, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["tls"]["ca_file"] == "my-ca.pem"  # host path rewritten for the board
    # the board was reset by deploy and booted main.py: it answers through the fake
    deployed.vb.wait_for("gateway up", timeout=20)
    _answered(tg, deployed.vb, "hello", 1)
    assert tg.sent[0]["params"]["text"] == "hello"  # echo mode: no model in this config
    assert deployed.vb.resets == 1
    assert os.path.isfile(os.path.join(deployed.folder, "workspace", "AGENTS.md"))  # starter workspace
    print("\nFIGURE first deploy to the virtual board: %.1f s" % deployed.seconds)


def test_second_deploy_copies_only_what_changed(deployed, tg):
    vb = deployed.vb
    with open(deployed.config) as f:
        cfg = json.load(f)
    cfg["channels"]["telegram"]["poll_limit"] = 5
    with open(deployed.config, "w") as f:
        json.dump(cfg, f)
    stale = os.path.join(deployed.folder, "lib", "picoclaw", "retired.mpy")
    with open(stale, "wb") as f:
        f.write(b"M\x06")
    mark = vb.mark()
    r = flash_run("deploy", "--port", vb.port, "--config", deployed.config)  # the bot is running:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr                  # mpremote's Ctrl-C stops it
    n = len(deployed_modules()) + 4  # .mpy and data files, main.py, boot.py, board.json, my-ca.pem
    assert "deploy: 1 files to copy" in r.stdout and "%d unchanged, 1 to remove" % n in r.stdout, r.stdout
    copied = re.findall(r"^  cp (\S+) (\S+)$", r.stdout, re.M)
    assert copied == [("build/deploy-%s/config.json" % ARCH, ":config.json")], r.stdout
    assert "rm :lib/picoclaw/retired.mpy" in r.stdout and not os.path.exists(stale)
    vb.wait_for("gateway up", since=mark, timeout=20)
    _answered(tg, vb, "after redeploy", len(tg.sent) + 1)

    mark = vb.mark()
    r = flash_run("deploy", "--port", vb.port, "--config", deployed.config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deploy: 0 files to copy" in r.stdout, r.stdout
    assert "nothing changed; resetting the board to start the bot again" in r.stdout  # deploy stopped it
    assert " cp " not in r.stdout
    vb.wait_for("gateway up", since=mark, timeout=20)
    vb.reset()  # a board in the REPL (the bot stopped by hand): nothing changed, no reset at all
    vb.wait_for("gateway up", since=vb.mark(), timeout=20)
    subprocess.run([mpybuild._tool("mpremote"), "connect", vb.port, "resume", "exec", "print(1)"], timeout=30,
                   capture_output=True)  # Ctrl-C: stopped; then a reset into nostart empties the heap
    r = flash_run("deploy", "--port", vb.port, "--config", deployed.config)
    assert r.returncode == 0 and "deploy: stopping the bot" in r.stdout, r.stdout + r.stderr
    mark = vb.mark()
    r = flash_run("deploy", "--port", vb.port, "--config", deployed.config, "--no-reset")
    assert "deploy: stopping the bot" in r.stdout and "not reset (--no-reset)" in r.stdout, r.stdout
    r = flash_run("deploy", "--port", vb.port, "--config", deployed.config)  # a REPL with nothing loaded
    assert r.returncode == 0 and "stopping the bot" not in r.stdout, r.stdout
    assert "nothing changed, no reset (--reset forces one)" in r.stdout
    vb.reset()
    vb.wait_for("gateway up", since=mark, timeout=20)


def test_deploy_asks_for_missing_secrets_without_echo(deployed, tg, tmp_path):
    # run in a terminal (a pty as the controlling tty, so getpass really turns echo off)
    import pty

    with open(deployed.config) as f:
        cfg = json.load(f)
    token, password = cfg["channels"]["telegram"].pop("token"), cfg["wifi"].pop("password")
    partial = str(tmp_path / "partial.json")
    with open(partial, "w") as f:
        json.dump(cfg, f)
    mark = deployed.vb.mark()
    pid, fd = pty.fork()
    if pid == 0:  # the child: flash.py in a terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, FLASH, "deploy", "--port", deployed.vb.port, "--config", partial])
    out = b""
    answers = [(b"Telegram bot token (from @BotFather): ", token), (b"Wi-Fi password (empty for an open network): ", password),
               (b"? [Y/n] ", "n")]
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, out.decode(errors="replace")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child has ended
            break
        if not chunk:
            break
        out += chunk
        if answers and out.endswith(answers[0][0]):
            os.write(fd, answers.pop(0)[1].encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0 and not answers, text
    assert token not in text and password not in text  # typed, never echoed nor printed
    with open(partial) as f:
        assert "token" not in f.read()  # "n": not saved on the host
    with open(os.path.join(deployed.folder, "config.json")) as f:
        board_cfg = json.load(f)
    assert board_cfg["channels"]["telegram"]["token"] == token and board_cfg["wifi"]["password"] == password
    deployed.vb.wait_for("gateway up", since=mark, timeout=20)


def test_wrong_board_and_mpy_version_mismatch(deployed, tmp_path):
    vb = deployed.vb
    err = one_line_error(flash_run("deploy", "--port", vb.port, "--board", "RPI_PICO_W", "--config", deployed.config),
                         "wrong board: ")
    assert "is %s" % ARCH in err and "RPI_PICO_W is armv6m" in err
    fake = tmp_path / "mpy-cross"
    fake.write_text("#!/bin/sh\necho 'MicroPython v1.22.2 on 2024-02-22; mpy-cross emitting mpy v6.2'\n")
    fake.chmod(0o755)
    err = one_line_error(flash_run("deploy", "--port", vb.port, "--mpy-cross", str(fake), "--config", deployed.config),
                         "mpy version mismatch: ")
    assert "loads .mpy v6.3" in err and "writes v6.2" in err
    vb.reset()


# -- errors, dry runs ----------------------------------------------------------------------
def test_errors_are_one_clear_line(tg, tmp_path, monkeypatch, capsys):
    cfg = host_config(tg, str(tmp_path / "host"))
    one_line_error(flash_run("deploy", "--port", "/dev/ttyNOPE0", "--config", cfg), "no board found at /dev/ttyNOPE0")
    one_line_error(flash_run("deploy", "--port", "/dev/null", "--config", cfg), "wrong port: ")
    # no --port and no USB serial port at all (in-process, the port list faked empty)
    monkeypatch.setattr(flash, "usb_ports", lambda: [])
    assert flash.main(["deploy", "--config", cfg]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("flash.py: error: no board found: no USB serial port") and "\n" not in err
    # config keys missing, and not a terminal to ask on
    with open(cfg) as f:
        c = json.load(f)
    del c["channels"]["telegram"]["token"], c["wifi"]
    c["agents"] = {"defaults": {"provider": "openai"}}
    bad = str(tmp_path / "incomplete.json")
    with open(bad, "w") as f:
        json.dump(c, f)
    err = one_line_error(flash_run("deploy", "--port", "/dev/null", "--config", bad), bad + ": missing ")
    assert "channels.telegram.token, wifi.ssid, wifi.password, providers.openai.api_key" in err
    with open(bad, "w") as f:
        f.write("{\"channels\": ")
    one_line_error(flash_run("deploy", "--port", "/dev/null", "--config", bad), bad + " is not valid JSON")
    one_line_error(flash_run("deploy", "--port", "/dev/null", "--config", str(tmp_path / "none.json")), "no ")
    one_line_error(flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(tmp_path / "x.uf2")), "no such image")
    img = tmp_path / "fw.bin"
    img.write_bytes(b"\0" * 16)
    one_line_error(flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img)), "RPI_PICO_W takes a .uf2 image")
    one_line_error(flash_run("build", "--board", "ESP32_GENERIC", "--micropython", str(tmp_path)),
                   "not a MicroPython source tree")


def test_dry_runs_print_the_exact_commands(tg, tmp_path):
    cfg = host_config(tg, str(tmp_path / "host"))
    out_dir = os.path.join(ROOT, "build", "deploy-xtensawin")
    before = os.path.exists(out_dir) and sorted(os.listdir(out_dir))
    r = flash_run("deploy", "--dry-run", "--board", "ESP32_GENERIC", "--port", "/dev/ttyUSB0", "--config", cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    cmds = [line[2:] for line in r.stdout.splitlines() if line.startswith("$ ")]
    mods = [m for m in mpybuild.modules() if m not in ("main.py", "boot.py")]
    compiles = [c for c in cmds if " -march=xtensawin -O3 -s " in c]
    assert len(compiles) == len(mods)
    assert any(c.endswith("-s picoclaw.gateway.loop -o build/deploy-xtensawin/picoclaw/gateway/loop.mpy "
                          "firmware/picoclaw/gateway/loop.py") for c in compiles)
    copy = [c for c in cmds if "mpremote connect /dev/ttyUSB0 resume mkdir :lib + " in c]
    assert len(copy) == 1
    for part in (" cp -f build/deploy-xtensawin/board.json :board.json ", " cp -f firmware/main.py :main.py ",
                 " cp -f firmware/boot.py :boot.py ", " cp -f build/deploy-xtensawin/config.json :config.json ",
                 " :lib/picoclaw/ ", " :lib/picoclaw/tools/"):
        assert part in copy[0] + " ", part
    assert "mpremote connect /dev/ttyUSB0 resume exec " in cmds[-1] and cmds[-1].endswith(" + reset")
    assert tg.token not in r.stdout
    assert (os.path.exists(out_dir) and sorted(os.listdir(out_dir))) == before  # nothing built or written

    img = tmp_path / "ESP32_GENERIC-v1.29.0.bin"
    img.write_bytes(fwimages.esp_image(fwimages.ESP32))
    r = flash_run("firmware", "--dry-run", "--board", "ESP32_GENERIC", "--image", str(img), "--port", "/dev/ttyUSB0")
    cmds = [line[2:] for line in r.stdout.splitlines() if line.startswith("$ ")]
    assert r.returncode == 0 and len(cmds) == 2, r.stdout + r.stderr
    assert cmds[0].endswith("-m esptool --chip esp32 --port /dev/ttyUSB0 erase-flash")
    assert cmds[1].endswith("-m esptool --chip esp32 --port /dev/ttyUSB0 --baud 460800 write-flash 0x1000 %s" % img)
    img = tmp_path / "ESP32_GENERIC_S3-v1.29.0.bin"
    img.write_bytes(fwimages.esp_image(fwimages.ESP32S3))
    r = flash_run("firmware", "--dry-run", "--board", "ESP32_GENERIC_S3", "--image", str(img), "--port", "/dev/ttyACM0")
    assert " --chip esp32s3 " in r.stdout and "write-flash 0x0 " in r.stdout
    uf2 = tmp_path / "RPI_PICO_W-v1.29.0.uf2"
    uf2.write_bytes(fwimages.uf2_image([fwimages.RP2040] * 2))
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    r = flash_run("firmware", "--dry-run", "--board", "RPI_PICO_W", "--image", str(uf2), "--drive", str(drive))
    assert r.returncode == 0 and "$ cp %s %s/%s" % (uf2, drive, uf2.name) in r.stdout, r.stdout + r.stderr
    assert os.listdir(drive) == []

    tree = tmp_path / "micropython"
    (tree / "ports" / "rp2").mkdir(parents=True)
    (tree / "ports" / "rp2" / "Makefile").write_text("")
    r = flash_run("build", "--dry-run", "--board", "RPI_PICO_W", "--micropython", str(tree), "-j", "4")
    bd = os.path.join(ROOT, "boards", "RPI_PICO_W")
    cmds = [line[2:] for line in r.stdout.splitlines() if line.startswith("$ ")]
    assert cmds == ["make -C %s/mpy-cross" % tree,
                    "make -C %s/ports/rp2 BOARD_DIR=%s submodules" % (tree, bd),
                    "make -C %s/ports/rp2 BOARD_DIR=%s FROZEN_MANIFEST=%s/manifest.py -j4" % (tree, bd, bd)], r.stdout
    assert "build-RPI_PICO_W/firmware.uf2" in r.stdout


# -- board runtime: safe mode, config errors (main.py on the unix port) ----------------------
def test_safe_mode_after_repeated_crashes(own_tg, tmp_path):
    folder = vboard.make_board(str(tmp_path / "board"), own_tg,
                               board={"board": "TEST", "safe_after": 3, "crash_wait_s": 0, "healthy_s": 0})
    for i in (1, 2, 3):  # a Wi-Fi driver fault at every start: crash, reset
        code, out = vboard.boot(folder, env={"VBOARD_WIFI": "crash"}).wait()
        assert code == 75 and "[vboard: reset]" in out, out  # the fake machine.reset()
        assert "crash %d of 3 before safe mode" % i in out and "Wi-Fi driver fault" in out
    with open(os.path.join(folder, "crashes.txt")) as f:
        assert f.read() == "3"
    code, out = vboard.boot(folder).wait()  # safe mode: returns at once, bot not started
    assert code == 0 and "SAFE MODE: 3 crashes in a row" in out and "gateway up" not in out, out
    with vboard.VirtualBoard(folder, boot=True) as vb:  # ...and the REPL is reachable
        vb.wait_for("SAFE MODE")
        r = subprocess.run([mpybuild._tool("mpremote"), "connect", vb.port, "resume", "exec", "print(6 * 7)"],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.strip() == "42", r.stdout + r.stderr
        r = subprocess.run([mpybuild._tool("mpremote"), "connect", vb.port, "resume", "rm", ":crashes.txt", "+",
                            "reset"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        vb.wait_for("healthy: crash count cleared", timeout=20)  # healthy_s 0: the first good poll
    with open(os.path.join(folder, "crashes.txt")) as f:
        assert f.read() == "0"


def test_config_errors_stop_without_counting_a_crash(own_tg, tmp_path):
    folder = vboard.make_board(str(tmp_path / "board"), own_tg)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    cfg["channels"]["telegram"]["poll_timeout"] = 99  # (no Wi-Fi or no token: setup mode, test_setup_board)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    code, out = vboard.boot(folder).wait()
    assert code == 0 and "config: channels.telegram.poll_timeout must be 0-50" in out, out
    assert "PicoClaw stopped (see the error above)" in out
    with open(os.path.join(folder, "crashes.txt")) as f:
        assert f.read() == "0"


def test_boot_to_first_poll_and_wifi_retries(own_tg, tmp_path):
    # fake Wi-Fi refuses the first join: the log says why and the board retries
    folder = vboard.make_board(str(tmp_path / "board"), own_tg)
    n = len([r for r in own_tg.requests if r["method"] == "getUpdates"])
    t0 = time.monotonic()
    board = vboard.boot(folder, env={"VBOARD_WIFI": "fail:1", "VBOARD_NTP": "fail"})
    try:
        while len([r for r in own_tg.requests if r["method"] == "getUpdates"]) <= n:
            assert time.monotonic() - t0 < 30, board.output()
            time.sleep(0.002)
        t1 = time.monotonic()
        out = board.wait_for("gateway up")
    finally:
        board.stop()
    assert "Wi-Fi: wrong password (wifi.password); retrying in 2 s" in out
    assert "network time not set" in out
    net_ms = int(re.search(r"network up in (\d+) ms", out).group(1))
    assert net_ms >= 2000 + 1000 + 2000  # the join back-off, then NTP's own back-off (1 s, 2 s)
    boot_ms = (t1 - t0) * 1000 - net_ms
    assert boot_ms < 5000
    print("\nFIGURE boot to first getUpdates on the virtual board, Wi-Fi and NTP excluded: %.0f ms" % boot_ms)


def test_wifi_link_drop_is_rejoined_and_messages_still_answered(own_tg, tmp_path):
    folder = vboard.make_board(str(tmp_path / "board"), own_tg)
    board = vboard.boot(folder, env={"VBOARD_WIFI": "drop:3"})
    try:
        board.wait_for("vboard: Wi-Fi link dropped")
        out = board.wait_for("Wi-Fi: joined vboard-net", since=board.output().index("link dropped"))
        assert "Wi-Fi: link lost, rejoining" in out
        own_tg.send_text(own_tg.user(ALICE, "Alice"), "still there?")
        own_tg.wait_sent(1, timeout=20)
    finally:
        board.stop()


# -- board.py against fake hardware (CPython) ------------------------------------------------
def _shim(name, monkeypatch, env=None):
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    spec = importlib.util.spec_from_file_location("vboard_" + name, os.path.join(vboard.SHIM, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_watchdog_is_fed_only_while_the_loop_is_alive(monkeypatch):
    from picoclaw.board import hardware as board

    machine = _shim("machine", monkeypatch)
    hw = board.Board({"wdt_ms": 8000, "hang_s": 2, "status_led": "LED", "timer_id": -1}, machine)
    hw.start()
    timer, wdt = machine.timers[-1], machine.wdts[-1]
    assert timer.period == 100 and wdt.timeout == 8000
    hw.alive(board.POLLING)
    timer.fire(33)
    assert wdt.feeds == 33
    assert hw._led.changes == 4  # POLLING: one 100 ms blip per 1.6 s (steps 16 and 32), on and off
    hw.alive(board.THINKING)
    timer.fire(16)
    assert hw._led.value() == 1 and wdt.feeds == 49
    hw._alive -= 2500  # the main loop has not checked in for longer than hang_s: let it bite
    timer.fire(10)
    assert wdt.feeds == 49
    hw.release()  # the REPL has the board: feed for good (a WDT cannot be stopped)
    timer.fire(10)
    assert wdt.feeds == 59 and hw._led.value() == 0


def test_wifi_join_backs_off_and_rejoins(monkeypatch, capsys):
    from picoclaw.board import hardware as board

    sleeps = []
    monkeypatch.setattr(time, "sleep_ms", sleeps.append, raising=False)
    net = _shim("network", monkeypatch, {"VBOARD_WIFI": "fail:3"})
    hw = board.Board({}, None, net)
    assert hw.join("vboard-net", "pw") == "10.0.0.42"
    assert [s for s in sleeps if s >= 1000] == [2000, 4000, 8000]  # exponential back-off
    assert capsys.readouterr().out.count("wrong password (wifi.password)") == 3
    with pytest.raises(ValueError, match="wifi.ssid is not set"):
        hw.join("", "")
    net = _shim("network", monkeypatch, {"VBOARD_WIFI": "drop:2"})
    hw = board.Board({}, None, net)
    hw.join("vboard-net", "pw")
    assert hw.link_up() and not hw.link_up()  # the link drops (join itself checked once)
    hw.rejoin()
    assert hw.link_up()
    assert hw.status()["wifi"] == "connected, RSSI -55 dBm"
    no_net = board.Board({}, None, None)
    assert no_net.join("home", "pw") is None and no_net.link_up()  # the unix port: no Wi-Fi


# -- board folders, manifests, package.json ---------------------------------------------------
class _Manifest:
    """Just enough of MicroPython's manifest API to evaluate our manifests."""

    def __init__(self):
        self.calls = []

    def run(self, path, port_dir="$(PORT_DIR)"):
        self.calls.append(("file", os.path.relpath(path, ROOT)))
        cwd = os.path.dirname(path)
        api = {
            "metadata": lambda **kw: self.calls.append(("metadata", kw)),
            "require": lambda name, **kw: self.calls.append(("require", name)),
            "package": lambda name, **kw: self.calls.append(("package", name, kw)),
            "module": lambda name, **kw: self.calls.append(("module", name, kw)),
            "include": lambda p, **kw: (self.calls.append(("include", p)) if p.startswith("$(")
                                        else self.run(os.path.normpath(os.path.join(cwd, p)))),
        }
        with open(path) as f:
            exec(f.read(), api)
        return self.calls


def test_board_folders_are_complete_and_consistent():
    assert flash.board_names() == sorted(BOARDS)
    for name in BOARDS:
        d = os.path.join(ROOT, "boards", name)
        b = flash.load_board(name)
        assert b["board"] == name and b["port"] in ("esp32", "rp2")
        assert b["arch"] in mpybuild._ARCHS and b["firmware"]["tool"] in ("esptool", "uf2")
        assert isinstance(b["gc_heap"], int) and isinstance(b["tls_in_gc_heap"], bool)
        assert b["tls_in_gc_heap"] == (b["port"] == "rp2")  # mbedTLS: GC heap on rp2, IDF heap on esp32
        for k in ("io_buf", "history_budget", "wdt_ms", "hang_s", "safe_after", "healthy_s"):
            assert isinstance(b[k], int) and b[k] > 0, (name, k)
        assert b["wdt_ms"] <= 8388 or b["port"] != "rp2"  # the RP2040's longest watchdog timeout
        pins = b["pins"]
        assert sorted(pins) == ["adc", "gpio_in", "gpio_out"]
        for kind, ps in pins.items():
            assert ps and all(isinstance(p, int) and 0 <= p <= 48 for p in ps), (name, kind)
        assert b["status_led"] not in pins["gpio_out"]  # the LED is the firmware's own
        # the BOOT button that starts setup mode (portal/mode.py): ESP32 GPIO0, the Pico's BOOTSEL
        assert (b["boot_pin"] == 0 and 0 not in pins["gpio_in"]) if b["port"] == "esp32" else b["boot_button"] == "bootsel"
        assert set(pins["gpio_out"]) <= set(pins["gpio_in"])
        calls = _Manifest().run(os.path.join(d, "manifest.py"))
        assert calls[1] == ("include", "$(PORT_DIR)/boards/manifest.py"), calls  # the standard form
        assert ("file", "manifest.py") in calls and ("package", "picoclaw", {"base_path": "firmware", "opt": 3}) in calls
        with open(os.path.join(d, "mpconfigboard.cmake")) as f:
            cmake = f.read()
        assert "boards/%s/mpconfigboard.cmake" % name in cmake
        assert "set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)" in cmake
        assert os.path.isfile(os.path.join(d, "mpconfigboard.h"))
    root = _Manifest().run(os.path.join(ROOT, "manifest.py"))
    assert root[1][0] == "metadata" and ("require", "ntptime") in root


def test_package_json_lists_every_module():
    # package.json is what `mpremote mip install github:<owner>/<repo>` reads: a module added
    # to firmware/ must be added there too (python tools/flash.py package rewrites it)
    with open(os.path.join(ROOT, "package.json")) as f:
        text = f.read()
    assert text == flash.package_json(), "package.json is stale: run python tools/flash.py package"
    urls = json.loads(text)["urls"]
    assert ["picoclaw/gateway/loop.py", "firmware/picoclaw/gateway/loop.py"] in urls
    assert all(os.path.isfile(os.path.join(ROOT, u)) for _, u in urls)


def test_figures_flash_heap_and_headroom(own_tg, tmp_path):
    """The issue's figures: .mpy flash per board architecture, the heap in use once main.py
    has the gateway polling (unix port, 64-bit: an upper bound for a 32-bit board, and it
    includes the fake machine/network/ntptime, compiled from source here but built into a
    board's firmware), and the headroom board.json leaves on each board."""
    sizes = {}
    for march in sorted({flash.load_board(b)["arch"] for b in BOARDS}):
        out = os.path.join(ROOT, "build", "deploy-" + march)
        mpybuild.build(out, march)
        sizes[march] = mpybuild.total_size(out)
    used = {}
    for mode in ("echo", "agent"):
        folder = vboard.make_board(str(tmp_path / mode), own_tg)
        if mode == "agent":  # a model configured: the agent is built at start (no call is made)
            with open(os.path.join(folder, "config.json")) as f:
                cfg = json.load(f)
            cfg["providers"] = {"openai": {"api_key": "sk-figures-0000", "api_base": "https://localhost:9/v1"}}
            cfg["agents"] = {"defaults": {"provider": "openai", "model": "gpt-4o-mini"}}
            with open(os.path.join(folder, "config.json"), "w") as f:
                json.dump(cfg, f)
        console = vboard.boot(folder, heap="160k")
        try:
            out = console.wait_for("gateway up")
        finally:
            console.stop()
        used[mode] = int(re.search(r"gateway up: heap (\d+) used", out).group(1))
    print("\nFIGURE .mpy flash: " + ", ".join("%s %.1f KB" % (m, n / 1024) for m, n in sorted(sizes.items())))
    print("FIGURE heap in use when main.py has the gateway polling (unix port, 64-bit): echo mode %.1f KB, "
          "with the agent %.1f KB" % (used["echo"] / 1024, used["agent"] / 1024))
    for name in BOARDS:
        b = flash.load_board(name)
        tls = 2 * b["tls_heap"] if b["tls_in_gc_heap"] else 0  # Telegram + an LLM API, both open
        print("FIGURE %s: GC heap %d KB - TLS in the GC heap %d KB - in use (64-bit) = headroom %.0f KB echo, "
              "%.0f KB with the agent" % (name, b["gc_heap"] // 1024, tls // 1024, (b["gc_heap"] - tls - used["echo"]) / 1024,
                                           (b["gc_heap"] - tls - used["agent"]) / 1024))
        assert b["gc_heap"] - tls - used["echo"] > 0, name
    assert all(n < 300 * 1024 for n in sizes.values())


# -- deploy, again and again (a running agent, the board's real heap) -------------------------
def agent_host_config(tg, llm, folder, **defaults):
    """config.json on the host for agent mode: the fake Telegram and the fake LLM, their CAs
    in one bundle beside it (deploy copies it), the workspace <folder>/workspace."""
    os.makedirs(folder, exist_ok=True)
    gatewayrun.write_bundle(os.path.join(folder, "cas.pem"), (tg.ca_pem_path, llm.ca_pem_path))  # each CA once
    cfg = vboard.config_for(tg)
    cfg["tls"]["ca_file"] = "cas.pem"  # relative: beside config.json
    cfg["providers"] = {"openai": {"api_key": llm.api_key, "api_base": llm.base_url}}
    cfg["agents"] = {"defaults": dict({"provider": "openai", "model": "test-model", "max_tokens": 256}, **defaults)}
    path = os.path.join(folder, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    with open(path) as f:
        return f.read()


def test_redeploys_of_a_running_agent_at_the_real_heap(tmp_path):
    """Deploy after deploy to a board running the agent at 128 KB: each one stops the bot
    (nostart reset) before reading or copying, copies the changed workspace file, starts the
    bot again; no deploy is a crash, and the board then answers through the model."""
    from fakes.llm_server import FakeLLM

    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        host = str(tmp_path / "host")
        cfg_path = agent_host_config(tg, llm, host)
        ws = os.path.join(host, "workspace")  # the host workspace, as onboard writes it
        skill = "---\nname: tea\ndescription: Brewing times.\n---\n# Tea\n\nGreen: 2 min.\n"
        for name, text in (("AGENTS.md", "# How to work\n"), ("SOUL.md", "# Personality\n"),
                           ("memory/MEMORY.md", "# Long-term memory\n"), ("skills/tea/SKILL.md", skill)):
            _write(os.path.join(ws, name), text)
        folder = str(tmp_path / "board")
        board_ws = os.path.join(folder, "workspace")
        with vboard.VirtualBoard(folder, boot=True) as vb:  # 128k: the board's heap
            vb.wait_for(">>> ")
            for i in range(4):
                _write(os.path.join(ws, "USER.md"), "# The owner\n\nDeploy number %d.\n" % i)  # changed each time
                mark = vb.mark()
                r = flash_run("deploy", "--port", vb.port, "--config", cfg_path)
                assert r.returncode == 0, "deploy %d: %s" % (i + 1, r.stdout[-3000:] + r.stderr)
                if i:  # the bot ran: stopped by a reset into the REPL before anything was read
                    assert "deploy: stopping the bot" in r.stdout
                    out = vb.wait_for("gateway up", since=mark, timeout=30)
                    assert "PicoClaw not started: a deploy is under way" in out
                    assert out.index("stopped (Ctrl-C)") < out.index("not started") < out.index("PicoClaw on linux")
                    copied = re.findall(r"^  cp (.+) (\S+)$", r.stdout, re.M)  # the workspace: only USER.md
                    assert [c for c in copied if c[1].startswith(":workspace")] == [
                        (os.path.join(ws, "USER.md"), ":workspace/")], r.stdout
                else:
                    vb.wait_for("gateway up", since=mark, timeout=30)
                assert _read(os.path.join(board_ws, "USER.md")) == "# The owner\n\nDeploy number %d.\n" % i
                assert _read(os.path.join(folder, "crashes.txt")) == "0", (i, vb.output()[-3000:])
                if i == 1:  # the bot keeps its memory: a board-side MEMORY.md is never overwritten
                    _write(os.path.join(board_ws, "memory", "MEMORY.md"), "# Long-term memory\n\n- likes tea\n")
                    _write(os.path.join(board_ws, "notes.md"), "the bot's own file")
                    _write(os.path.join(ws, "sessions", "111.jsonl"), "{}\n")  # never deployed
            assert "memory/MEMORY.md on the board differs" in r.stdout and "kept" in r.stdout
            assert "likes tea" in _read(os.path.join(board_ws, "memory", "MEMORY.md"))
            assert _read(os.path.join(board_ws, "notes.md")) == "the bot's own file"  # nothing deleted
            assert not os.path.exists(os.path.join(board_ws, "sessions", "111.jsonl"))
            assert _read(os.path.join(board_ws, "SOUL.md")) == "# Personality\n"
            assert _read(os.path.join(board_ws, "skills", "tea", "SKILL.md")) == skill  # copied once, at the first
            llm.reply_text("Hello from the model.")
            tg.send_text(tg.user(ALICE, "Alice", "alice"), "hi")
            deadline = time.monotonic() + 30  # the placeholder, then the model's answer in it
            while not [m for m in tg.sent if m["params"].get("text") == "Hello from the model."]:
                assert time.monotonic() < deadline, (tg.sent, vb.output()[-3000:])
                time.sleep(0.05)
            assert len(llm.requests) == 1
            assert _read(os.path.join(folder, "crashes.txt")) == "0", vb.output()[-3000:]
            assert "before safe mode" not in vb.output()  # no crash at any point


def test_deploy_checks_config_with_the_firmwares_validator(deployed, tg, tmp_path):
    """A config the board would refuse is refused by deploy, with the firmware's own message,
    before anything is copied (the board keeps running what it had)."""
    before = _read(os.path.join(deployed.folder, "config.json"))
    for key, value, says in (
            ("allow_from", "111", "channels.telegram.allow_from must be a list of user ids or @usernames, got a string"),
            ("provider", "opneai", "opneai"),
            ("poll_timeout", 99, "channels.telegram.poll_timeout must be 0-50")):
        cfg = vboard.config_for(tg)
        cfg["tls"]["ca_file"] = tg.ca_pem_path
        if key == "provider":
            cfg["providers"] = {"opneai": {"api_key": "sk-typo-0000"}}
            cfg["agents"] = {"defaults": {"provider": "opneai", "model": "gpt-4o-mini"}}
        else:
            cfg["channels"]["telegram"][key] = value
        path = str(tmp_path / ("bad-%s.json" % key))
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = flash_run("deploy", "--port", deployed.vb.port, "--config", path)
        err = one_line_error(r, path + ": ")
        assert says in err, err
        assert "config: config" not in err and "reading the board" not in r.stdout  # the board untouched
    assert _read(os.path.join(deployed.folder, "config.json")) == before


def test_workspace_files_match_onboard():
    # flash.py's list of starter files is onboard.py's
    from picoclaw.cmd import onboard

    assert tuple(name for name, _ in onboard._FILES) == flash.WORKSPACE_FILES


# -- the log that survives: log.txt ring, crash.txt, the owner told once, flash.py log -----------
def test_a_crash_is_kept_reported_once_and_read_with_flash_py_log(own_tg, tmp_path):
    folder = vboard.make_board(str(tmp_path / "board"), own_tg,
                               board={"board": "TEST", "crash_wait_s": 0, "healthy_s": 0})
    code, out = vboard.boot(folder, env={"VBOARD_WIFI": "crash", "VBOARD_RESET_CAUSE": "2"}).wait()
    assert code == 75 and "crash 1 of 3 before safe mode" in out, out
    crash = _read(os.path.join(folder, "crash.txt"))
    assert crash.startswith("crash 1 of 3, ") and "Traceback (most recent call last)" in crash
    assert crash.rstrip().endswith("RuntimeError: vboard: Wi-Fi driver fault (VBOARD_WIFI=crash)"), crash
    assert own_tg.token not in crash and "vboard-secret-pw" not in crash
    assert "crash 1 of 3 before safe mode" in _read(os.path.join(folder, "log.txt"))
    assert not os.path.exists(os.path.join(folder, "crash.sent"))

    def crash_lines():
        return [m["params"] for m in own_tg.sent if m["method"] == "sendMessage"
                and m["params"].get("text", "").startswith("PicoClaw restarted after a crash")]

    with vboard.VirtualBoard(folder, boot=True) as vb:  # the next start: the owner hears of it
        vb.wait_for("last crash not reported to 111: sendMessage failed: 400 Bad Request: chat not found")
        assert not os.path.exists(os.path.join(folder, "crash.sent"))  # not sent: tried again next time
        own_tg.add_chat(own_tg.user(ALICE, "Alice"))  # Alice has talked to the bot now
        mark = vb.mark()
        vb.reset()
        vb.wait_for("last crash reported to 111", since=mark, timeout=20)
        vb.wait_for("healthy: crash count cleared", timeout=20)
        (line,) = crash_lines()
        assert line["chat_id"] == ALICE and "\n" not in line["text"]
        assert "crash 1 of 3" in line["text"] and "Wi-Fi driver fault" in line["text"]
        assert os.path.exists(os.path.join(folder, "crash.sent"))
        own_tg.send_text(own_tg.user(ALICE, "Alice"), "/status")
        own_tg.wait_sent(2, timeout=20)
        status = own_tg.sent[-1]["params"]["text"]
        assert "last crash: crash 1 of 3" in status and "Wi-Fi driver fault" in status, status
        assert "not yet reported" not in status

        mark = vb.mark()
        r = flash_run("log", "--port", vb.port)  # stops the bot to read, then starts it again
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "==> log.txt (" in out and "==> crash.txt (" in out and "reported to the owner" in out, out
        assert out.index("==> log.txt") < out.index("crash 1 of 3 before safe mode") < out.index("==> crash.txt")
        assert out.index("last crash reported to 111") < out.index("==> crash.txt")  # log.txt: both starts
        assert "RuntimeError: vboard: Wi-Fi driver fault" in out[out.index("==> crash.txt"):]
        assert "resetting the board to start it again" in out
        vb.wait_for("gateway up", since=mark, timeout=20)
        assert len(crash_lines()) == 1  # reported once
    with open(os.path.join(folder, "crashes.txt")) as f:
        assert f.read() == "0"


def test_power_ups_and_deploy_resets_are_no_crash_but_a_silent_death_is(own_tg, tmp_path):
    folder = vboard.make_board(str(tmp_path / "board"), own_tg, board={"board": "TEST", "safe_after": 3})
    crashes, running = os.path.join(folder, "crashes.txt"), os.path.join(folder, "running")
    for cause, safe in (("1", False), ("3", True)):  # PWRON_RESET (unplugged), WDT_RESET (a hang)
        _write(crashes, "2")
        _write(running, "")  # the last run did not end by itself
        code, out = vboard.boot(folder, env={"VBOARD_RESET_CAUSE": cause, "VBOARD_WIFI": "fail:99"}).stop() \
            if not safe else vboard.boot(folder, env={"VBOARD_RESET_CAUSE": cause}).wait()
        assert ("SAFE MODE: 3 crashes in a row" in out) == safe, out
        if not safe:
            assert _read(crashes) == "2" and os.path.exists(running)  # counted as no crash; running again
    _write(os.path.join(folder, "nostart"), "")  # deploy's reset: no start, nothing counted
    _write(crashes, "0")
    code, out = vboard.boot(folder).wait()
    assert code == 0 and "PicoClaw not started: a deploy is under way" in out and "gateway up" not in out
    assert not os.path.exists(os.path.join(folder, "nostart")) and _read(crashes) == "0"


def test_log_ring_stays_within_its_bound(tmp_path, monkeypatch):
    import random

    from picoclaw import log
    from picoclaw.board import start

    path = str(tmp_path / "log.txt")
    monkeypatch.setattr(log, "file", lambda line: start.keep_log(line, path))
    rnd = random.Random(7)
    seen = []
    for i in range(1500):
        msg = "line %d %s" % (i, "".join(rnd.choice("ab€😀 \t") for _ in range(rnd.randint(0, 400))))
        log.info(msg)
        seen.append(i)
        for name in ("log.txt", "log.1.txt"):
            p = str(tmp_path / name)
            if os.path.exists(p):
                assert os.path.getsize(p) <= 8192, (name, os.path.getsize(p))
    older, newer = _read(str(tmp_path / "log.1.txt")), _read(path)
    assert newer.splitlines()[-1].split(" INFO line ")[1].startswith("1499")
    nums = [int(line.split(" INFO line ")[1].split(" ")[0]) for line in (older + newer).splitlines()]
    assert nums == list(range(nums[0], 1500)) and nums[0] > 1000  # oldest first, nothing lost in between
    assert len(older) > 4096  # rotated when nearly full, not early


def test_vboard_fakes_fit_their_heap_allowance():
    # the fake machine/network/ntptime a board has in ROM: the virtual board adds SHIM_KB for them
    code = ("import gc\ngc.collect()\na = gc.mem_alloc()\nimport machine, network, ntptime\n"
            "gc.collect()\nprint(gc.mem_alloc() - a)")
    r = subprocess.run([unixport.micropython(), "-X", "heapsize=256k", "-c", code], capture_output=True, text=True,
                       env=vboard.board_env(str(ROOT)), cwd=ROOT, timeout=30)
    used = int(r.stdout.strip())
    print("\nFIGURE the virtual board's fake hardware modules: %.1f KB of heap (allowance %d KB)"
          % (used / 1024, vboard.SHIM_KB))
    assert used <= vboard.SHIM_KB * 1024
