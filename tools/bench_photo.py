"""The photo heap figure: the smallest heap (from .mpy, the unix port) for an agent burst of
photo turns with a 20 KB and with a 500 KB image (issue 16: the two must be within 1 KB;
found in 2 KB steps, then 1 KB).
Each turn is a session line with the photo (host_tests/support/photo_driver.py, as
agent/media.py appends it once the file is on flash), and its request carries the image
base64-encoded on the fly (llm/image.py) to the fake OpenAI server over TLS, which checks it
byte for byte; from the second turn on a request carries the last two photos in full.
Uses tools/bench.py's runner pieces (mp_run, min_heap, the fakes).

    .venv/bin/python tools/bench_photo.py                 # both sizes, 4 turns each
    .venv/bin/python tools/bench_photo.py --sizes 500k --kind anthropic
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402
from bench import gatewayrun, unixport  # noqa: E402
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402


def photo(size, seed=1):
    """`size` bytes of a pretend JPEG (its magic, then noise)."""
    r = random.Random(seed)
    return b"\xff\xd8\xff\xe0" + bytes(r.getrandbits(8) for _ in range(size - 6)) + b"\xff\xd9"


def _path():
    """MICROPYPATH with the firmware and the driver compiled to .mpy (as test_photo.py does)."""
    tests = unixport.build_tests([])
    src = os.path.join(unixport.HERE, "photo_driver.py")
    dst = os.path.join(tests, "photo_driver.mpy")
    if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
        subprocess.run([unixport.mpybuild._tool("mpy-cross"), "-s", "photo_driver", "-o", dst, src],
                       check=True, cwd=unixport.ROOT)
    return ":".join((unixport.build(), tests, ".frozen"))


def run_photo(size, heap_kb, n, kind="openai"):
    """n photo turns with an image of `size` bytes; figures or None."""
    data = photo(size) if size else b""  # size 0: the same turns as text only, to compare with
    with FakeTelegram() as tg, FakeLLM(kind) as llm:
        for i in range(n):
            llm.reply_text("answer %d" % i)
        cfg = gatewayrun.write_config(tg, llm=llm, agent=bench.AGENT)
        with open(cfg) as f:
            c = json.load(f)
        c["agents"]["defaults"].update(max_media_size=1 << 20)
        with open(cfg, "w") as f:
            json.dump(c, f)
        ws = os.path.join(os.path.dirname(cfg), "ws")
        os.makedirs(os.path.join(ws, "media"))
        with open(os.path.join(ws, "media", "p.jpg"), "wb") as f:
            f.write(data)
        with open(os.path.join(ws, "caption"), "wb") as f:
            f.write(b"what is in this photo?")
        try:
            r = bench.mp_run(["-m", "photo_driver", cfg, "p.jpg" if size else "-", str(n)], heap_kb, 600, _path())
        finally:
            shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
        ok = ("PHOTO done" in r.stdout and "MemoryError" not in r.stdout + r.stderr and not llm.errors
              and not llm.pending_replies() and len(llm.requests) == n
              and all(q["status"] == 200 and (q["images"] or not size) and all(i["data"] == data for i in q["images"])
                      for q in llm.requests))
        if not ok:
            return None
        return {"image_bytes": size, "turns": n, "images_sent": sum(len(q["images"]) for q in llm.requests),
                "request_bytes_max": max(len(q["raw"]) for q in llm.requests),
                "heap_in_use_end": int(r.stdout.split("heap in use ")[1].split()[0])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4, help="photo turns per burst")
    ap.add_argument("--sizes", default="text,20k,500k",
                    help="image sizes: 20k, 500k, or text (no photo: the same turns' own figure), comma-separated")
    ap.add_argument("--kind", default="openai", help="openai or anthropic")
    a = ap.parse_args(argv)
    sizes = {"text": 0, "20k": 20 * 1024, "500k": 500 * 1024}
    for name in a.sizes.split(","):
        size = sizes[name]
        kb, res = bench.min_heap(lambda scn, h, n: run_photo(size, h, n, a.kind), name, a.n, a.n, lo=48, hi=160)
        if kb:  # to 1 KB: the "within 1 KB" needs the odd step too
            res1 = run_photo(size, kb - 1, a.n, a.kind)
            if res1:
                kb, res = kb - 1, res1
        print("photo %s %s ours: %s" % (a.kind, name, dict(res or {}, min_heap_kb=kb)), flush=True)


if __name__ == "__main__":
    main()
