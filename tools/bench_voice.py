"""The voice-note heap figure: the smallest heap (from .mpy, the unix port) for an agent
burst of voice notes of 20 KB and of 500 KB (issue 16: the two must be within 1 KB). Each
note is fetched from the fake Telegram's file server, uploaded to the fake transcription
endpoint (providers.groq, the original format) and its transcript answered by the model.
Uses tools/bench.py's runner pieces (mp_run, min_heap, the fakes).

    .venv/bin/python tools/bench_voice.py                 # both sizes, 5 notes each
    .venv/bin/python tools/bench_voice.py --sizes 500k --board pico_w

With --board, the run has that board's memory profile (its board.json beside the config, TLS
standing in the heap: net/tlsheap.py), as bench.py --board does.
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
from fakes.transcribe_server import FakeTranscriber  # noqa: E402


def note(size, seed):
    """`size` bytes of a pretend OGG/Opus voice note (its header, then noise)."""
    r = bytearray(b"OggS\x00\x02" + bytes(22) + b"\x01\x13OpusHead\x01\x01")
    r += os.urandom(size - len(r)) if size > len(r) else b""
    r[6] = seed & 0xFF
    return bytes(r[:size])


def run_voice(size, heap_kb, n, board=None):
    """n voice notes of `size` bytes, each transcribed and answered; figures or None."""
    with bench.TimedTelegram(idle_timeout=60.0) as tg, bench.TimedLLM("openai") as llm, FakeTranscriber() as stt:
        alice = tg.user(bench.ALICE, "Alice", "alice")
        notes = [note(size, i) for i in range(n)]
        for i in range(n):
            tg.send_voice(alice, notes[i])
            stt.reply_text("question %d" % i)
            llm.reply_text("answer %d" % i)
        cfg = gatewayrun.write_config(tg, llm=llm, agent=bench.AGENT, poll_limit=10, poll_timeout=0)
        with open(cfg) as f:
            c = json.load(f)
        c["providers"]["groq"] = {"api_key": stt.api_key, "api_base": stt.base_url}
        c["agents"]["defaults"].update(max_media_size=1 << 20, media_quota_kb=1024)
        with open(cfg, "w") as f:
            json.dump(c, f)
        env = {}
        if board:
            shutil.copy(os.path.join(ROOT, "boards", board, "board.json"), os.path.dirname(cfg))
            env["PICOCLAW_TLS_STAND_IN"] = "1"
        try:
            r = bench.mp_run(["-m", "picoclaw", "gateway", "--config", cfg, "--cycles", str(n // 10 + 2)],
                             heap_kb, 600, unixport.build() + ":.frozen", 0, env)
        finally:
            shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
        m = bench.FIGRE.search(r.stdout)
        ok = (bench._ok_output(r) and m and not llm.errors and not llm.pending_replies() and not stt.errors
              and len(bench._answers(tg)) == n and [u["data"] for u in stt.uploads] == notes)
        if not ok:
            return None
        q = re.search(r"n_qstr=(\d+)", r.stdout)
        return {"baseline": int(m.group(1)), "end": int(m.group(2)), "qstrs": int(q.group(1)) if q else None,
                "note_bytes": size, "uploads": len(stt.uploads), "downloads": len(tg.downloads),
                "one_connection_at_a_time": "one connection at a time" in r.stdout}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5, help="voice notes per burst")
    ap.add_argument("--sizes", default="20k,500k", help="note sizes: 20k, 500k (comma-separated)")
    ap.add_argument("--board", default=None, help="a folder of boards/ whose memory profile the runs have")
    a = ap.parse_args(argv)
    sizes = {"20k": 20 * 1024, "500k": 500 * 1024}
    for name in a.sizes.split(","):
        size = sizes[name]
        kb, res = bench.min_heap(lambda scn, h, n: run_voice(size, h, n, a.board), name, a.n, a.n,
                                 lo=64, hi=200 if a.board else 160)
        print("voice %s ours: %s" % (name, dict(res or {}, min_heap_kb=kb)), flush=True)


if __name__ == "__main__":
    main()
