# The board's start-up and run, for main.py (which only imports this: a board compiles main.py
# from source at every boot, and the parse of a long file leaves the heap in pieces just
# before the gateway's start-up needs it whole; this module comes compiled, as .mpy or frozen).
# What it does and why: see main.py.
import sys
import time

from micropython import const

CRASHES = "crashes.txt"
RUNNING = "running"  # exists while a run is under way: found at a start, that run died silently

_RING = const(8192)  # bytes of log.txt before it becomes log.1.txt
_LINE = const(240)  # characters of a line kept on flash (the console gets it whole)


def run(force=False):
    """Start PicoClaw on this board (force=True: even in safe mode)."""
    import os

    try:
        os.remove("nostart")
        print("PicoClaw not started: a deploy is under way (nostart); reset the board to start it")
        return
    except OSError:
        pass
    from picoclaw import log
    from picoclaw.state import read_int, write_atomic

    info = _board_info()
    cause = _cause()
    box = [None]  # the Board, made once the gateway is built (board.py then has the heap after it)
    crashes = read_int(CRASHES, 0)
    if _exists(RUNNING) and cause not in ("PWRON_RESET", "?"):  # died without a word
        crashes += 1
        write_atomic(CRASHES, b"%d" % crashes)
    if crashes >= info.get("safe_after", 3) and not force:
        print("SAFE MODE: %d crashes in a row, PicoClaw not started; the REPL is yours. Read the "
              "log with: python tools/flash.py log (or: mpremote cat :log.txt :crash.txt), fix "
              "the cause, then deploy again or delete %s (or: import main; main.run(True))"
              % (crashes, CRASHES))
        return
    try:
        write_atomic(RUNNING, b"")
        log.file = keep_log  # from here on the console's lines are kept on flash too
        log.info("PicoClaw on %s, last reset: %s" % (info.get("board") or sys.platform, cause))
        code = _serve(box, info)
    except KeyboardInterrupt:
        if box[0]:
            box[0].release()  # first: the REPL must never be reset under the user by the watchdog
        code = 0
    except Exception as e:  # a crash: log it, keep its traceback, reset; crashes.txt counts it
        from picoclaw.board import hardware as board

        hw = box[0] or board.hardware(info)
        hw.alive(board.ERROR)
        crashes += 1
        write_atomic(CRASHES, b"%d" % crashes)
        _remove(RUNNING)
        log.error("crash %d of %d before safe mode: %r" % (crashes, info.get("safe_after", 3), e))
        sys.print_exception(e)
        _keep_crash(e, "crash %d of %d, %d s after start" % (crashes, info.get("safe_after", 3),
                                                              time.ticks_diff(time.ticks_ms(), log._t0) // 1000))
        wait = info.get("crash_wait_s", 3)
        log.error("resetting in %d s (Ctrl-C for the REPL)" % wait)
        try:
            time.sleep(wait)
        except KeyboardInterrupt:
            hw.release(board.ERROR)
            return
        hw.reset()
        return
    # stopped on purpose, by a config error or by a refused token: not a crash
    write_atomic(CRASHES, b"0")
    _remove(RUNNING)
    if box[0]:
        from picoclaw.board import hardware as board

        box[0].release(board.ERROR if code else 0)
    log.info("PicoClaw stopped (%s); the REPL is yours. Reset the board to start again"
             % ("see the error above" if code else "Ctrl-C"))


def setup():
    """Restart into setup mode (the board's Wi-Fi network and setup page): from the REPL,
    `import main; main.setup()`."""
    open("setup", "w").close()  # portal/mode.py's flag, removed when setup mode ends
    import machine

    machine.reset()


def _keep_crash(e, head):
    # the traceback to crash.txt (secrets masked), unreported until crash.sent exists
    try:
        with open("crash.txt", "w") as f:
            f.write(head + "\n")
            sys.print_exception(e, f)
        _remove("crash.sent")
        from picoclaw import scrub

        scrub.file("crash.txt")
    except Exception:  # noqa: BLE001 - a full flash, no heap left: the console has it
        pass


def _cause():
    # why the board started (board.Board.reset_cause's names), before board.py is loaded
    try:
        import machine

        c = machine.reset_cause()
    except (ImportError, AttributeError):  # the unix port's machine has none
        return "?"
    for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
        if getattr(machine, name, -9999) == c:
            return name
    return "?"


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    import os

    try:
        os.remove(path)
    except OSError:
        pass


def _board_info():
    try:
        import json

        with open("board.json") as f:
            return json.load(f)
    except (OSError, ValueError):  # no board file (the unix port): defaults everywhere
        return {}


def _serve(box, info):
    from picoclaw import cli, load, log, unload

    m = load("picoclaw.portal.mode")  # setup mode? (no Wi-Fi or token, asked for, BOOT held)
    why = m.wanted(info, "config.json")
    if why:
        _remove(RUNNING)  # its reset is no crash
        m.run(info, "config.json", why)  # serves the setup page, then resets the board
    m = None
    unload("picoclaw.portal.mode", "picoclaw.portal")  # the package too: a module object kept otherwise
    job = cli.prepare(["gateway", "--config", "config.json"])
    del cli
    unload("picoclaw.cli")  # as __main__ does: the CLI's code leaves the heap before the gateway is built
    if not isinstance(job, tuple):
        return job  # the config error is on the console already
    cfg = job[0]
    job = None
    allow = cfg.allow_from  # who hears about the last crash (crash.report)
    ssid, password, ws = cfg.wifi_ssid, cfg.wifi_password, cfg.workspace
    cfg.status = lambda: box[0].status()  # heap, uptime and Wi-Fi facts for system_status
    try:
        import machine

        cfg.machine = machine  # what the gpio tools drive (tools/gpio.py), within board.json's pins
    except ImportError:
        pass
    from picoclaw import app

    # first, while the heap is still in one piece: building the agent is the start-up's peak
    # (the tool schemas are written in one go), and whatever the starter files and Wi-Fi
    # leave behind would cut the heap up under it
    gw, sim = app.build(cfg)
    del app, cfg
    try:  # a fresh board: the starter workspace files (the system prompt's), never overwritten
        from picoclaw.cmd.onboard import onboard

        for path in onboard("config.json", ws):
            log.info("wrote %s" % path)
        del onboard
        unload("picoclaw.cmd.onboard")
    except (ImportError, OSError) as e:
        log.warn("starter workspace not written: %s" % e)
    from picoclaw.board import hardware as board

    hw = box[0] = board.hardware(info)
    hw.start()  # LED pattern and watchdog from here on
    t = time.ticks_ms()
    try:
        hw.join(ssid, password)
    except ValueError as e:
        log.error(str(e))
        return 2
    hw.set_time()
    log.info("network up in %d ms" % time.ticks_diff(time.ticks_ms(), t))
    from picoclaw.gateway import pairing

    pairing.attach(gw)
    unload("picoclaw.gateway.pairing")  # its code leaves unless a pairing is under way
    from picoclaw import crash

    crash.report(gw, allow)  # the last crash, in one line to the owner, once
    del crash
    unload("picoclaw.crash")
    _hook(gw, hw, info.get("healthy_s", 120) * 1000, board)
    return gw.serve(-1, sim)


def _hook(gw, hw, healthy_ms, board):
    # The gateway's hooks (gateway/loop.py). Each poll cycle: rejoin Wi-Fi if the link
    # dropped, tell the watchdog the loop is alive, show the state on the LED, and clear the
    # crash count once the run has been healthy for healthy_ms (judged by the cycles before
    # this one). Each update, and each model call and tool run of its turn: the LED shows
    # "thinking" and the watchdog is fed.
    from picoclaw import log
    from picoclaw.state import write_atomic

    t0 = time.ticks_ms()
    healthy = [False]

    def on_cycle():
        if not hw.link_up():
            log.warn("Wi-Fi: link lost, rejoining")
            hw.rejoin()
        hw.alive(board.ERROR if gw.failures else board.POLLING)
        if not healthy[0] and not gw.failures and time.ticks_diff(time.ticks_ms(), t0) >= healthy_ms:
            write_atomic(CRASHES, b"0")
            healthy[0] = True
            log.info("healthy: crash count cleared")

    gw.on_cycle = on_cycle
    gw.on_update = lambda: hw.alive(board.THINKING)


def keep_log(line, path="log.txt"):
    """log.file on a board: append `line` to the log on flash that survives resets, a ring of
    two files: once `path` is within one line's worst case (4 UTF-8 bytes a character) of
    _RING bytes it becomes <name>.1.txt, replacing the older one, so neither file ever exceeds
    _RING bytes (at most 2 x 8 KB of flash, the last ~150-300 lines). Each line is opened,
    appended and closed: nothing is held in RAM, and a reset loses at most the line being
    written. Flash wear: littlefs rewrites the file's last block per append and spreads those
    writes over the free blocks; the gateway logs a few lines per message and none while
    idle, far below the flash's ~100,000 erase cycles per block. A failing flash costs the
    line, never the bot."""
    try:
        with open(path, "a") as f:
            f.write(line[:_LINE])
            f.write("\n")
            full = f.tell() > _RING - 4 * _LINE - 1
        if full:
            import os

            old = path[:-4] + ".1.txt"
            try:
                os.remove(old)
            except OSError:
                pass
            os.rename(path, old)
    except OSError:
        pass
