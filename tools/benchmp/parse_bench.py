# Parser figures for tools/bench.py, run on the unix port: our streaming JsonReader against
# json.loads on the same getUpdates bodies in the same process. Not part of the firmware.
#
#   MICROPYPATH=build/mpy:.frozen micropython -X heapsize=4m parse_bench.py BODY.json...
# Prints per body: "PARSE <file> <bytes> <name> <us per parse> <bytes allocated> <peak>" for
# name in loads (json.loads), skip (JsonReader skips the whole document) and pick (the
# fields telegram.py picks, its own code, the inbox written to /dev/null: a C file, like
# the flash file the gateway writes, minus the flash).
# Bytes allocated: gc.mem_alloc() grown over one parse with the GC disabled, so every
# allocation counts. Peak: the most live heap above the start at any point of a parse
# (collected at each sample): for json.loads the tree it returns (sampled with the result
# held), for ours sampled at every value the picker reads and every inbox write.
import gc
import io
import json
import sys
import time

from picoclaw.telegram import api as telegram
from picoclaw.json.stream import OBJ, JsonReader, StreamSource


class NullFile:
    """What the inbox file is to telegram.py, minus the flash: counts, keeps nothing."""

    def __init__(self):
        self.pos = 0

    def write(self, b):
        self.pos += len(b)

    def tell(self):
        return self.pos

    def seek(self, pos):
        self.pos = pos


class PeakFile(NullFile):
    """NullFile that samples the live heap at every write (for the peak figure only)."""

    base = 0
    peak = 0

    def write(self, b):
        self.pos += len(b)
        gc.collect()
        PeakFile.peak = max(PeakFile.peak, gc.mem_alloc() - PeakFile.base)


BUF = bytearray(512)  # the gateway's connection buffer size
DEVNULL = open("/dev/null", "wb")
TG = telegram.Telegram(StreamSource(None, BUF), "0:x")  # its own 128-byte value buffer


def run_loads(body):
    json.loads(body)


def run_skip(body):
    p = TG._p
    p.reset(StreamSource(io.BytesIO(body), BUF))
    p.skip()
    p.finish()


def run_pick(body, f=DEVNULL):
    p = TG._p
    p.reset(StreamSource(io.BytesIO(body), BUF))
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"result"):
            TG._parse_updates(p, f)
        else:
            p.skip()
    p.finish()


def peak(name, body):
    """Most live heap above the start during one parse (see the top of this file)."""
    gc.collect()
    base = gc.mem_alloc()
    if name == "loads":
        tree = json.loads(body)
        gc.collect()
        n = gc.mem_alloc() - base
        tree = None
        return n
    if name == "skip":
        run_skip(body)
        gc.collect()
        return gc.mem_alloc() - base
    PeakFile.base, PeakFile.peak = base, 0
    run_pick(body, PeakFile())
    return PeakFile.peak


def measure(fn, body):
    fn(body)  # warm: first-use allocations (interned names) are not per-parse costs
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    fn(body)
    alloc = gc.mem_alloc() - a
    gc.enable()
    reps = 0
    t = time.ticks_us()
    while True:
        fn(body)
        reps += 1
        el = time.ticks_diff(time.ticks_us(), t)
        if reps >= 3 and el > 300000:
            break
    return el // reps, alloc


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        body = f.read()
    for name, fn in (("loads", run_loads), ("skip", run_skip), ("pick", run_pick)):
        gc.collect()
        us, alloc = measure(fn, body)
        print("PARSE %s %d %s %d %d %d" % (path, len(body), name, us, alloc, peak(name, body)))
