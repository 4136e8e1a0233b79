"""web_fetch's heap figure: the smallest heap (from .mpy, the unix port) for an agent burst
whose model calls web_fetch on an HTTPS page of 10 KB and on one of 1 MB (issue 16: the two
must be within 1 KB). Uses tools/bench.py's runner pieces (mp_run, min_heap, the fakes).

    .venv/bin/python tools/bench_fetch.py            # both pages, 5 messages each
    .venv/bin/python tools/bench_fetch.py --n 3 --pages 10k

Both pages end in the same 6 KB of text after markup: the 10 KB one after 4 KB of a <div>
layout, the 1 MB one after a 1 MB inline <script> (a minified bundle, as real pages carry),
so the whole 1 MB streams through the converter before the text comes (the text cap would
otherwise end the read early and the figure would prove nothing). fetch_limit_bytes is 2 MB.
"""
import argparse
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402
from bench import gatewayrun, unixport  # noqa: E402
from fakes.web_server import FakeWeb  # noqa: E402

TEXT = b"".join(b"<p>Paragraph %d: %s</p>\n" % (i, bench.words(200).encode()) for i in range(30))


def page(size):
    """An HTML page of `size` bytes whose text is TEXT, after markup that fills the rest."""
    fill = size - len(TEXT) - 60
    if size >= 100000:
        head = b"<script>" + b"var a=[1,2,3];" * (fill // 14) + b"</script>"
    else:
        head = b"<div class='nav'><span>menu</span></div>" * (fill // 40)
    return b"<html><head><title>Page</title></head><body>" + head + TEXT + b"</body></html>"


def run_fetch(size, heap_kb, n, board=None):
    """n messages, each answered after one web_fetch of the page; figures or None. board: a
    folder of boards/ whose memory the run has (board.json beside config.json, TLS standing
    in the heap as there: net/tlsheap.py), as bench.run_ours does."""
    # bench's TimedLLM answers the session summaries itself (4 KB results fill the history
    # budget within a few turns), so the scripted replies stay in step
    with bench.TimedTelegram(idle_timeout=60.0) as tg, bench.TimedLLM("openai") as llm, FakeWeb(tls=True) as web:
        web.page("/page.html", page(size))
        alice = tg.user(bench.ALICE, "Alice", "alice")
        for i in range(n):
            tg.send_text(alice, "question %d" % i)
            llm.reply_tool_calls([("web_fetch", {"url": web.url("/page.html")})])
            llm.reply_text("answer %d" % i)
        cfg = gatewayrun.write_config(tg, llm=llm, agent=bench.AGENT, poll_limit=10, poll_timeout=0)
        with open(cfg) as f:
            c = json.load(f)
        c["tools"] = {"web": {"enabled": True, "fetch_limit_bytes": 2 << 20,
                              "private_host_whitelist": ["127.0.0.1"]}}
        with open(cfg, "w") as f:
            json.dump(c, f)
        env = {}
        if board:
            shutil.copy(os.path.join(ROOT, "boards", board, "board.json"), os.path.dirname(cfg))
            env["PICOCLAW_TLS_STAND_IN"] = "1"
        try:
            r = bench.mp_run(["-m", "picoclaw", "gateway", "--config", cfg, "--cycles", str(n // 10 + 2)],
                             heap_kb, 600, unixport.build() + ":.frozen", env=env)
        finally:
            shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
        m = bench.FIGRE.search(r.stdout)
        results = [x["content"] for q in llm.requests for x in q["body"]["messages"] if x["role"] == "tool"]
        ok = (bench._ok_output(r) and m and not llm.errors and not llm.pending_replies()
              and len(bench._answers(tg)) == n and results and all("Paragraph 0:" in t for t in results))
        if not ok:
            return None
        q = re.search(r"n_qstr=(\d+)", r.stdout)
        return {"baseline": int(m.group(1)), "end": int(m.group(2)), "qstrs": int(q.group(1)) if q else None,
                "page_bytes": len(page(size)), "fetches": len(web.requests), "summaries": llm.summaries}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5, help="messages per burst (each one web_fetch)")
    ap.add_argument("--pages", default="10k,1m", help="page sizes: 10k, 1m (comma-separated)")
    ap.add_argument("--board", help="a folder of boards/ (RPI_PICO_W): its TLS memory stands in the heap")
    a = ap.parse_args(argv)
    sizes = {"10k": 10 * 1024, "1m": 1 << 20}
    for name in a.pages.split(","):
        size = sizes[name]
        kb, res = bench.min_heap(lambda scn, h, n: run_fetch(size, h, n, a.board), name, a.n, a.n, lo=64,
                                 hi=256 if a.board else 160)
        print("fetch %s%s ours: %s" % (name, " " + a.board if a.board else "", dict(res or {}, min_heap_kb=kb)),
              flush=True)


if __name__ == "__main__":
    main()
