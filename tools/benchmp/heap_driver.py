# The gateway exactly as `python -m picoclaw gateway` builds it (see picoclaw/__main__.py),
# plus a heap sample before every Telegram request, for tools/bench.py's heap-over-time
# picture. Not part of the firmware; the firmware is not changed.
#
#   MICROPYPATH=build/mpy:.frozen micropython -X heapsize=N heap_driver.py gateway --config C --cycles N
# Prints "HEAP <ms since start> <gc.mem_alloc() after a collection>" lines, "CYCLE <heap>"
# after each poll cycle, then the gateway's own FIGURES line and "PEAK <heap>": the most
# live heap (after a collection) seen at any connect, send or receive of either connection
# (Telegram's and the model's) and at any file opened (builtins.open), i.e. in the middle of
# every step of a turn (model call, tool run, formatting), where its transient objects and
# lazily loaded code are all alive. Its own names are interned too (~8): a tool burst ends
# ~8 names higher here than with the firmware alone.
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
peak = [0]


def probe(f):
    def w(*a):
        gc.collect()
        m = gc.mem_alloc()
        if m > peak[0]:
            peak[0] = m
        return f(*a)

    return w


import builtins  # noqa: E402

builtins.open = probe(builtins.open)
agent = getattr(gw, "agent", None)
for c in (gw.tg.conn, agent.conn if agent else None):
    if c is not None:  # instance attributes shadow the methods: self._recv() finds these
        c._connect, c._flush, c._recv = probe(c._connect), probe(c._flush), probe(c._recv)
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
try:
    code = gw.serve(cycles, sim)
finally:
    print("PEAK %d" % peak[0])
sys.exit(code)
