import gc
import sys
from picoclaw import cli
job = cli.prepare(sys.argv[1:])
del sys.modules["picoclaw.cli"], cli
from picoclaw import app
cfg, cycles = job
job = None
gw, sim = app.build(cfg)
del app, cfg
depth = [0]
def wrap(owner, name, label):
    f = getattr(owner, name)
    def w(*a, **k):
        gc.collect()
        print("%s> %s %d" % ("  " * depth[0], label, gc.mem_alloc()))
        depth[0] += 1
        try:
            return f(*a, **k)
        finally:
            depth[0] -= 1
            gc.collect()
            print("%s< %s %d" % ("  " * depth[0], label, gc.mem_alloc()))
    setattr(owner, name, w)
import picoclaw.agent as A, picoclaw.llm as L, picoclaw.tools as T, picoclaw.httpclient as H, picoclaw.session as S
wrap(H.Connection, "request", "request")
wrap(L, "call", "llm.call")
wrap(T, "run", "tool.run")
wrap(T, "_load", "tool._load")
wrap(A, "_render", "render")
for m in ("turn", "_model", "_run_tool", "_deliver", "write_system", "_maybe_compact"):
    if hasattr(A.Agent, m):
        wrap(A.Agent, m, m)
gc.collect()
print("START", gc.mem_alloc())
import micropython
micropython.qstr_info()
micropython.mem_info(1)
print(sorted(sys.modules))
_serve = gw.serve
def serve(*a):
    try:
        return _serve(*a)
    finally:
        gc.collect()
        print("END", gc.mem_alloc())
        micropython.qstr_info()
        print(sorted(sys.modules))
sys.exit(serve(cycles, sim))
