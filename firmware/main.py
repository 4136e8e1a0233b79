# Board entry point: MicroPython runs it after boot.py. Wires the hardware (picoclaw.board)
# to the gateway, which runs exactly as `python -m picoclaw gateway --config config.json`.
#
# Order: board.json -> safe-mode check -> config.json -> watchdog and LED -> Wi-Fi -> network
# time -> gateway (pairing when nobody is admitted) -> poll forever.
#
# Safe mode: every start counts itself in crashes.txt and a healthy run (polling without
# failure for healthy_s seconds) clears it; after safe_after crashes in a row this file
# returns at once and leaves the REPL to you. To leave safe mode delete crashes.txt
# (mpremote rm :crashes.txt), or start once by hand: import main; main.run(True).
# Ctrl-C (and mpremote, which sends it) stops the bot and gives the REPL; a config error or a
# refused token stops it too, as a reset would not help.
import sys
import time

CRASHES = "crashes.txt"


def run(force=False):
    """Start PicoClaw on this board (force=True: even in safe mode)."""
    from picoclaw import board, log
    from picoclaw.state import read_int, write_atomic

    info = _board_info()
    crashes = read_int(CRASHES, 0)
    if crashes >= info.get("safe_after", 3) and not force:
        print("SAFE MODE: %d crashes in a row, PicoClaw not started; the REPL is yours. Read the "
              "log, fix the cause, then delete %s (or: import main; main.run(True))" % (crashes, CRASHES))
        return
    write_atomic(CRASHES, b"%d" % (crashes + 1))  # cleared once this run proves healthy
    hw = board.hardware(info)
    log.info("PicoClaw on %s, last reset: %s" % (info.get("board") or sys.platform, hw.reset_cause()))
    try:
        code = _serve(hw, info)
    except KeyboardInterrupt:
        hw.release()  # first: the REPL must never be reset under the user by the watchdog
        code = 0
    except Exception as e:  # a crash: log it and reset; crashes.txt keeps the count
        hw.alive(board.ERROR)
        log.error("crash %d of %d before safe mode: %r" % (crashes + 1, info.get("safe_after", 3), e))
        sys.print_exception(e)
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
    hw.release(board.ERROR if code else 0)
    log.info("PicoClaw stopped (%s); the REPL is yours. Reset the board to start again"
             % ("see the error above" if code else "Ctrl-C"))


def _board_info():
    try:
        import json

        with open("board.json") as f:
            return json.load(f)
    except (OSError, ValueError):  # no board file (the unix port): defaults everywhere
        return {}


def _serve(hw, info):
    from picoclaw import board, cli, log

    job = cli.prepare(["gateway", "--config", "config.json"])
    del cli
    _drop("cli")  # as __main__ does: the CLI's code leaves the heap before the gateway is built
    if not isinstance(job, tuple):
        return job  # the config error is on the console already
    cfg = job[0]
    job = None
    try:  # a fresh board: the starter workspace files (the system prompt's), never overwritten
        from picoclaw.onboard import onboard

        for path in onboard("config.json", cfg.workspace):
            log.info("wrote %s" % path)
        del onboard
        _drop("onboard")
    except (ImportError, OSError) as e:
        log.warn("starter workspace not written: %s" % e)
    hw.start()  # LED pattern and watchdog from here on
    t = time.ticks_ms()
    try:
        hw.join(cfg.wifi_ssid, cfg.wifi_password)
    except ValueError as e:
        log.error(str(e))
        return 2
    hw.set_time()
    log.info("network up in %d ms" % time.ticks_diff(time.ticks_ms(), t))
    cfg.status = hw.status  # heap, uptime and Wi-Fi facts for the agent's system_status
    from picoclaw import app

    gw, sim = app.build(cfg)
    del app, cfg
    from picoclaw import pairing

    pairing.attach(gw)
    _drop("pairing")  # its code leaves unless a pairing is under way
    _hook(gw, hw, info.get("healthy_s", 120) * 1000, board)
    return gw.serve(-1, sim)


def _drop(name):
    # a module leaves the heap once nothing refers to it: sys.modules and its package do
    sys.modules.pop("picoclaw." + name, None)
    pkg = sys.modules.get("picoclaw")
    if pkg is not None and name in pkg.__dict__:
        delattr(pkg, name)


def _hook(gw, hw, healthy_ms, board):
    # Each poll cycle: rejoin Wi-Fi if the link dropped, tell the watchdog the loop is alive,
    # show the state on the LED, and clear the crash count once the run has been healthy for
    # healthy_ms. Each update: the LED shows "thinking". Done by wrapping the gateway's own
    # methods (instance attributes come before the class's).
    from picoclaw import log
    from picoclaw.state import write_atomic

    cycle, handle = gw.cycle, gw.handle
    t0 = time.ticks_ms()
    healthy = [False]

    def each_cycle():
        if not hw.link_up():
            log.warn("Wi-Fi: link lost, rejoining")
            hw.rejoin()
        hw.alive(board.ERROR if gw.failures else board.POLLING)
        cycle()
        if not healthy[0] and not gw.failures and time.ticks_diff(time.ticks_ms(), t0) >= healthy_ms:
            write_atomic(CRASHES, b"0")
            healthy[0] = True
            log.info("healthy: crash count cleared")

    def each_update(u, f):
        hw.alive(board.THINKING)
        handle(u, f)

    gw.cycle = each_cycle
    gw.handle = each_update
    agent = getattr(gw, "agent", None)
    if agent is not None:  # a turn of several model calls may outlast the watchdog's hang time
        agent.alive = lambda: hw.alive(board.THINKING)


if __name__ == "__main__":
    run()
