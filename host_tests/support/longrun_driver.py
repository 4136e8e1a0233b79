# Time-scaled long run of the gateway on the unix port (host_tests/test_longrun.py): a day
# of polling in minutes. HOST ONLY: never deployed; the firmware is not changed.
#
#   mpy-cross -O3 -s longrun_driver -o build/longrun/longrun_driver.mpy host_tests/support/longrun_driver.py
#   MICROPYPATH=build/mpy:build/longrun:.frozen micropython -X heapsize=68k -m longrun_driver \
#       TARGET_S SCALE gateway --config C
# (the test does this; 68k: the board's 64 KB plus the driver's own ~4.5 KB, see the test)
#
# The gateway is built exactly as `python -m picoclaw gateway` builds it (picoclaw/__main__.py:
# cli.prepare, cli dropped, app.build); then, instead of gw.serve(), gw.cycle() runs until the
# simulated clock reaches TARGET_S seconds.
#
# How time is scaled. The simulated clock advances by:
# - every sleep the gateway (or the agent) asks for, at its full length; it really sleeps
#   ms / SCALE (gw.sleep_ms and the agent's sleep_ms are replaced: back-off, 429 retry_after);
# - the full poll timeout for each getUpdates long poll that came back empty; the fake
#   Telegram holds an empty poll timeout / SCALE seconds (FakeTelegram.time_scale = SCALE);
# - real time for everything else (TLS, requests with answers, parsing, flash writes, the
#   model's answers, a stalled connection until it drops or the read timeout fires), unscaled.
# So a simulated day makes at least as many polls, requests and retries as a board would.
# Not simulated: the clocks the firmware reads itself (time.ticks_ms, time.time) stay real,
# so the client's read timeouts (poll + 10 s, 30 s), the keep-alive idle limit, the agent's
# timers (cron, heartbeat) and its model-call limits run on real time, not the simulated clock.
#
# Prints after every poll cycle, heap after a collection:
#   LONGRUN t_sim_s=<simulated s> heap=<gc.mem_alloc()> cycle=<n> errors=<gateway errors>
# preceded by "MODULES <names>" whenever the set of loaded modules changed (first time too),
# and at the end:
#   FIGURES baseline=<heap after start-up> end=<heap at the end> handshakes=<n> cycles=<n> t_sim_s=<s>
import gc
import sys
import time

target_ms = int(sys.argv[1]) * 1000
scale = int(sys.argv[2])
from picoclaw import cli  # noqa: E402

job = cli.prepare(sys.argv[3:])
del sys.modules["picoclaw.cli"], cli
delattr(sys.modules["picoclaw"], "cli")
if not isinstance(job, tuple):
    sys.exit(job)
from picoclaw import app  # noqa: E402

cfg = job[0]  # --cycles is ignored: the simulated clock ends the run
job = None
gw = app.build(cfg)[0]  # (gateway, simulation): SIMULATE is not set
del app, cfg
clk = [0, 0]  # simulated ms so far; real ms of the current cycle already counted scaled


def sleep_ms(ms):
    t = time.ticks_ms()
    time.sleep_ms(ms // scale)
    clk[1] += time.ticks_diff(time.ticks_ms(), t)
    clk[0] += ms


gw.sleep_ms = gw.tg.sleep_ms = sleep_ms
if getattr(gw, "agent", None):  # llm.py's retry waits go through the agent's sleep_ms
    gw.agent.sleep_ms = sleep_ms
poll = gw.tg.get_updates  # bound method; the instance attribute below shadows it


def get_updates(offset, timeout_s, limit, inbox):
    t = time.ticks_ms()
    n = poll(offset, timeout_s, limit, inbox)
    if not n:  # held timeout_s / scale by the fake: counts as the whole poll; any time
        # beyond that (a stalled connection until the read timeout) counts at real speed
        clk[1] += min(time.ticks_diff(time.ticks_ms(), t), timeout_s * 1000 // scale)
        clk[0] += timeout_s * 1000
    return n


gw.tg.get_updates = get_updates
from picoclaw.net.stream import handshakes  # noqa: E402  (already loaded by the gateway)

gc.collect()
base = gc.mem_alloc()
n = 0
mods = 0
while clk[0] < target_ms:
    clk[1] = 0
    t = time.ticks_ms()
    gw.cycle()
    clk[0] += time.ticks_diff(time.ticks_ms(), t) - clk[1]  # the rest at real speed
    n += 1
    if len(sys.modules) != mods:  # code loaded on first use stays in the heap: say which
        mods = len(sys.modules)
        print("MODULES " + " ".join(sys.modules))
    gc.collect()
    print("LONGRUN t_sim_s=%d heap=%d cycle=%d errors=%d" % (clk[0] // 1000, gc.mem_alloc(), n, gw.errors))
gc.collect()
print("FIGURES baseline=%d end=%d handshakes=%d cycles=%d t_sim_s=%d"
      % (base, gc.mem_alloc(), handshakes(), n, clk[0] // 1000))
