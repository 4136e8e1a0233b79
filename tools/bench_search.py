"""web_search's heap figure: the smallest heap (from .mpy, the unix port) for an agent burst
whose model calls web_search once per message, for each backend (the fake backends of
host_tests/support/fakes/search_server.py over TLS), and for DuckDuckGo pages of ~25 KB and
~430 KB read (the same heap: the page streams through the connection's buffer). Uses
tools/bench.py's runner pieces (mp_run, min_heap, the fakes).

    .venv/bin/python tools/bench_search.py                 # every backend, 5 messages each
    .venv/bin/python tools/bench_search.py --backends brave --n 20
    .venv/bin/python tools/bench_search.py --backends brave --board RPI_PICO_W
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
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.search_server import BRAVE_KEY, TAVILY_KEY, FakeSearch  # noqa: E402

# tools.web.<backend> for the fake at `base`
_WEB = {"brave": lambda base: {"enabled": True, "api_key": BRAVE_KEY, "base_url": base + "/res/v1/web/search"},
        "tavily": lambda base: {"enabled": True, "api_key": TAVILY_KEY, "base_url": base + "/search"},
        "searxng": lambda base: {"enabled": True, "base_url": base},
        "duckduckgo": lambda base: {"enabled": True, "base_url": base + "/html/"}}


def run_search(backend, heap_kb, n, pad=5000, board=None):
    """n messages, each answered after one web_search of 5 results; figures or None. pad:
    bytes of markup between DuckDuckGo's results (its page: about 5 x pad). board: a folder
    of boards/ whose memory profile the run has (TLS standing in the heap, as bench.py's)."""
    with bench.TimedTelegram(idle_timeout=60.0) as tg, FakeLLM("openai") as llm, FakeSearch() as s:
        s.pad = pad
        s.chunk = 4096  # the services answer chunked
        s.results = [("Result %d about boards" % i, "https://r%d.example/page" % i, bench.words(250))
                     for i in range(10)]
        alice = tg.user(bench.ALICE, "Alice", "alice")
        for i in range(n):
            tg.send_text(alice, "question %d" % i)
            llm.reply_tool_calls([("web_search", {"query": "boards %d" % i, "count": 5})])
            llm.reply_text("answer %d" % i)
        cfg = gatewayrun.write_config(tg, llm=llm, agent=bench.AGENT, poll_limit=10, poll_timeout=0)
        with open(cfg) as f:
            c = json.load(f)
        c["tools"] = {"web": {"provider": backend, backend: _WEB[backend](s.base_url)}}
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
              and len(bench._answers(tg)) == n and results
              and all("5. Result 4 about boards" in t and "6. " not in t for t in results))
        if not ok:
            return None
        q = re.search(r"n_qstr=(\d+)", r.stdout)
        return {"baseline": int(m.group(1)), "end": int(m.group(2)), "qstrs": int(q.group(1)) if q else None,
                "searches": len(s.requests)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5, help="messages per burst (each one web_search)")
    ap.add_argument("--backends", default="brave,tavily,searxng,duckduckgo,duckduckgo-big",
                    help="backends (duckduckgo: 25 KB read of its page, duckduckgo-big: 430 KB)")
    ap.add_argument("--board", help="a boards/ folder: its memory profile (TLS in the heap on the Pico W)")
    a = ap.parse_args(argv)
    for name in a.backends.split(","):
        backend, pad = (name[:-4], 86000) if name.endswith("-big") else (name, 5000)
        kb, res = bench.min_heap(lambda scn, h, n: run_search(backend, h, n, pad, a.board), name, a.n, a.n,
                                 lo=64, hi=160 if not a.board else 256)
        print("search %s ours: %s" % (name, dict(res or {}, min_heap_kb=kb)), flush=True)


if __name__ == "__main__":
    main()
