"""The setup page's figures: the smallest heap (from .mpy, the unix port, in 1 KB steps) for a
whole setup run (start, GET the page, POST every field, the checks against the fake
Telegram (getMe over TLS) and the fake OpenAI-style model, the save, the exit), with a small
form and with every field at its cap (issue 17: the two within 1 KB), and the flash the
portal's files take (.mpy + page.html).

    .venv/bin/python tools/bench_setup.py
    .venv/bin/python tools/bench_setup.py --sizes small --hi 96

The unix port keeps mbedTLS outside its GC heap: the figure is the setup server's own heap
(code, buffers, the checks' code), as the echo gateway's 64k is the gateway's.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402,F401  (puts host_tests/support on the path)
from bench import unixport  # noqa: E402
import setup_http  # noqa: E402
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

PORTAL = ("check", "dns", "form", "loop", "save", "server")  # portal/mode.py is the board's start-up


def run(heap_kb, size):
    """One whole setup run at heap_kb; True when it saved and exited 0 with the success page."""
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        rc, out, cfg, page = setup_http.full_flow("%dk" % heap_kb, tg, llm, size)
        try:
            if rc != 0 or not page:
                return False
            with open(cfg) as f:
                c = json.load(f)
            return c["channels"]["telegram"]["token"] == tg.token and "MemoryError" not in out
        finally:
            import shutil

            shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def smallest(size, lo, hi):
    """The smallest heap (KB, 1 KB steps) the run passes at, between lo (fails) and hi."""
    while not run(hi, size):
        lo, hi = hi, hi * 2
        if hi > 1024:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid, size):
            hi = mid
        else:
            lo = mid
    return hi


def flash_bytes():
    out = unixport.build()
    d = os.path.join(out, "picoclaw", "portal")
    mpy = sum(os.path.getsize(os.path.join(d, m + ".mpy")) for m in PORTAL)
    page = os.path.getsize(os.path.join(ROOT, "firmware", "picoclaw", "portal", "page.html"))
    return mpy, page


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,cap", help="forms: small, cap (comma-separated)")
    ap.add_argument("--lo", type=int, default=32)
    ap.add_argument("--hi", type=int, default=80)
    a = ap.parse_args(argv)
    unixport.build()
    for size in a.sizes.split(","):
        print("setup flow, %s form: min heap %sk" % (size, smallest(size, a.lo, a.hi)), flush=True)
    mpy, page = flash_bytes()
    print("setup flash: %d bytes of .mpy (portal/%s) + %d bytes page.html = %.1f KB"
          % (mpy, ", ".join(PORTAL), page, (mpy + page) / 1024))


if __name__ == "__main__":
    main()
