"""The setup page's figures: the smallest heap (from .mpy, the unix port, in 1 KB steps) for a
whole setup run (start, GET the page, POST every field, the checks against the fake
Telegram (getMe over TLS) and the fake OpenAI-style model, the save, the exit), with a small
form and with every field at its cap (issue 17: the two within 1 KB), and the flash the
portal's files take (.mpy + page.html).

    .venv/bin/python tools/bench_setup.py
    .venv/bin/python tools/bench_setup.py --sizes small --hi 96
    .venv/bin/python tools/bench_setup.py --board RPI_PICO_W

The unix port keeps mbedTLS outside its GC heap: the figure is the setup server's own heap
(code, buffers, the checks' code), as the echo gateway's 64k is the gateway's. With --board,
the checks' handshakes allocate that board's TLS memory inside the heap
(host_tests/support/mp_setup_tls.py) and the figure is stated for the board as bench.py states
the bot's (the TLS part, plus 0.70x the rest for a 32-bit board's objects), beside the echo
burst's under the same profile, measured in the same run.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402  (also puts host_tests/support on the path)
from bench import unixport  # noqa: E402
import setup_http  # noqa: E402
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

PORTAL = ("check", "dns", "form", "loop", "save", "server")  # portal/mode.py is the board's start-up


def run(heap_kb, size, tries=3, board=None):
    """Whole setup runs at heap_kb: True when one saved and exited 0 with the success page.
    A run that failed for another reason than memory (a loaded machine: a check's time
    limit) is tried again, up to `tries` in all."""
    for _ in range(tries):
        ok, out = _run(heap_kb, size, board)
        if ok or "memory" in out.lower():
            return ok
    return False


def _run(heap_kb, size, board=None):
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        rc, out, cfg, page = setup_http.full_flow("%dk" % heap_kb, tg, llm, size, board=board)
        try:
            if rc != 0 or not page:
                return False, out
            with open(cfg) as f:
                c = json.load(f)
            return c["channels"]["telegram"]["token"] == tg.token and "MemoryError" not in out, out
        finally:
            import shutil

            shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def scan(size, lo, hi, board=None):
    """Every heap from lo to hi KB in 1 KB steps: {kb: passed}. Not a bisection: near its
    edge the flow's fragmentation depends on the heap's size (the collections fall at other
    moments), so a heap can fail where a smaller one passed (the model check's peak)."""
    return {kb: run(kb, size, board=board) for kb in range(lo, hi + 1)}


def on_board(kb, board):
    """The smallest heap on this port, stated for the board (bench.on_board_kb): one connection
    open at a time, so TLS's bytes at their most are a handshake's peak."""
    with open(os.path.join(ROOT, "boards", board, "board.json")) as f:
        tls = json.load(f)["tls"]
    return round(bench.on_board_kb(kb, max(tls.get("held", 0), tls.get("handshake", 0))), 1)


def smallest(res):
    """The smallest heap from which every larger one in the scan passed."""
    best = None
    for kb in sorted(res, reverse=True):
        if not res[kb]:
            break
        best = kb
    return best


def flash_bytes():
    out = unixport.build()
    d = os.path.join(out, "picoclaw", "portal")
    mpy = sum(os.path.getsize(os.path.join(d, m + ".mpy")) for m in PORTAL)
    page = os.path.getsize(os.path.join(ROOT, "firmware", "picoclaw", "portal", "page.html"))
    return mpy, page


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="small,cap", help="forms: small, cap (comma-separated)")
    ap.add_argument("--lo", type=int, default=58)
    ap.add_argument("--hi", type=int, default=0, help="the scan's top (default: 72, with --board 128)")
    ap.add_argument("--board", help="a folder of boards/ (RPI_PICO_W): its TLS memory stands in the heap")
    a = ap.parse_args(argv)
    hi = a.hi or (128 if a.board else 72)
    unixport.build()
    for size in a.sizes.split(","):
        res = scan(size, a.lo, hi, a.board)
        passed = [kb for kb in sorted(res) if res[kb]]
        kb = smallest(res)
        print("setup flow, %s form%s: every heap from %sk up passes (%dk-%dk); passed at: %s"
              % (size, " " + a.board if a.board else "", kb, a.lo, hi, " ".join("%dk" % k for k in passed)),
              flush=True)
        if a.board and kb:
            print("  on the %s: %.1f KB" % (a.board, on_board(kb, a.board)), flush=True)
    if a.board:  # the baseline: the echo burst under the same profile, this run
        print("echo burst %s: %r" % (a.board, bench.board_figures(a.board, "burst", 100)), flush=True)
    mpy, page = flash_bytes()
    print("setup flash: %d bytes of .mpy (portal/%s) + %d bytes page.html = %.1f KB"
          % (mpy, ", ".join(PORTAL), page, (mpy + page) / 1024))


if __name__ == "__main__":
    main()
