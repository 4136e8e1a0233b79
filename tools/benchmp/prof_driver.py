# Where a turn's heap goes: the gateway exactly as `python -m picoclaw gateway` builds it,
# with the live heap (gc.mem_alloc() after a collection) printed on entry to and exit from
# each step of a turn, indented by depth. Not part of the firmware; the firmware is not
# changed. Only resident code is wrapped: the modules a turn loads and drops (llm, tools,
# deliver, tgformat, compact, timers, schedule) must not be held here, or they would stay in the heap.
#
#   MICROPYPATH=build/mpy:.frozen micropython -X heapsize=256k prof_driver.py gateway --config C --cycles N
# Prints "START <heap>", "> step <heap>" / "< step <heap>" lines, "END <heap>", each of
# START and END with micropython.qstr_info() and the modules loaded.
import gc
import sys

import micropython

from picoclaw import cli

job = cli.prepare(sys.argv[1:])
del sys.modules["picoclaw.cli"], cli
from picoclaw import app  # noqa: E402

cfg, cycles = job
job = None
gw, sim = app.build(cfg)
del app, cfg
depth = [0]


def wrap(owner, name):
    f = getattr(owner, name)

    def w(*a, **k):
        gc.collect()
        print("%s> %s %d" % ("  " * depth[0], name, gc.mem_alloc()))
        depth[0] += 1
        try:
            return f(*a, **k)
        finally:
            depth[0] -= 1
            gc.collect()
            print("%s< %s %d" % ("  " * depth[0], name, gc.mem_alloc()))

    setattr(owner, name, w)


agent = sys.modules.get("picoclaw.agent.loop")
wrap(gw.tg.conn.__class__, "request")
if agent is not None:
    for m in ("turn", "_model", "_deliver", "write_system", "_maybe_compact"):
        wrap(agent.Agent, m)
gc.collect()
print("START", gc.mem_alloc())
micropython.qstr_info()
print(sorted(sys.modules))
try:
    code = gw.serve(cycles, sim)
finally:
    gc.collect()
    print("END", gc.mem_alloc())
    micropython.qstr_info()
    print(sorted(sys.modules))
sys.exit(code)
