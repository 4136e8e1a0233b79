# The gateway exactly as `python -m picoclaw gateway` builds it (see picoclaw/__main__.py),
# plus a heap sample before every Telegram request, for tools/bench.py's heap-over-time
# picture. Not part of the firmware; the firmware is not changed.
#
#   MICROPYPATH=build/mpy:.frozen micropython -X heapsize=N heap_driver.py gateway --config C --cycles N
# Prints "HEAP <ms since start> <gc.mem_alloc() after a collection>" lines, "CYCLE <heap>"
# after each poll cycle, then the gateway's own FIGURES line.
import gc
import sys
import time

t0 = time.ticks_ms()
from picoclaw import cli  # noqa: E402

job = cli.prepare(sys.argv[1:])
del sys.modules["picoclaw.cli"], cli
delattr(sys.modules["picoclaw"], "cli")
if not isinstance(job, tuple):
    sys.exit(job)
from picoclaw import app  # noqa: E402

cfg, cycles = job
job = None
gw, sim = app.build(cfg)
del app, cfg
conn = gw.tg.conn
request = conn.request  # the bound method; the instance attribute below shadows it


def sampled(*a, **k):
    gc.collect()
    print("HEAP %d %d" % (time.ticks_diff(time.ticks_ms(), t0), gc.mem_alloc()))
    return request(*a, **k)


conn.request = sampled
cycle = gw.cycle


def cycled():
    # the heap after each whole poll cycle: the soak's start is the first of these, once the
    # connection (socket, TLS session objects) exists, so opening it is not counted as growth
    r = cycle()
    gc.collect()
    print("CYCLE %d" % gc.mem_alloc())
    return r


gw.cycle = cycled
sys.exit(gw.serve(cycles, sim))
