# Photo turns on the unix port, from .mpy: the console's Agent (cmd/console.py: the model
# over TLS, answers printed) takes TURNS turns, each a session line with the photo
# <workspace>/media/NAME and the caption in <workspace>/caption, as agent/media.py appends
# it once the file is on flash (NAME "-": the caption alone, as a text turn). HOST ONLY (test_photo.py, tools/bench_photo.py): never deployed.
#
#   MICROPYPATH=build/mpy:build/tests-mpy:.frozen micropython -X heapsize=N -m photo_driver CONFIG NAME TURNS
import gc
import sys

from picoclaw import cli, load, unload

cfg = cli.prepare(["agent", "--config", sys.argv[1]])[0]  # (settings, arguments, console module)
unload("picoclaw.cli")
a, _ = load("picoclaw.cmd.console")._build(cfg)
from picoclaw.agent.session import Session  # noqa: E402 - after the start-up, as the gateway loads it

for _ in range(int(sys.argv[3])):
    s = Session(cfg.workspace, 1, a.budget)
    with open(cfg.workspace + "/caption", "rb") as f:
        n = f.seek(0, 2)
        f.seek(0)
        if sys.argv[2] == "-":  # the same turn as text only: the figure a photo is compared with
            s.append_user(f, n, a.buf)
        else:
            try:
                load("picoclaw.agent.photo").append_image(s, f, n, a.buf, "media/" + sys.argv[2])
            finally:
                unload("picoclaw.agent.photo")
    a.turn(s, 1)
gc.collect()
print("PHOTO done: heap in use %d" % gc.mem_alloc())
