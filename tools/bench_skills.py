"""The two-tool burst's heap figure with a workspace holding skills and daily notes: the
smallest heap (from .mpy, the unix port) for tools/bench.py's "tools" scenario when every
request's system prompt carries 3 skills (agent/context.py, loaded for each pass) and today's
and yesterday's notes (1 KB each, cut), against the same burst with neither.

    .venv/bin/python tools/bench_skills.py            # both workspaces
    .venv/bin/python tools/bench_skills.py --only skills

Uses tools/bench.py's runner (run_ours, min_heap): the workspace is filled right after the
config is written, before the gateway starts.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402
from bench import gatewayrun  # noqa: E402

SKILLS = {
    "weather": "Current weather and a short forecast for a place, from wttr.in (no key needed).",
    "pins": "Which GPIO pins of this board drive what (LED, relay, sensor) and how to switch them.",
    "daily-review": "At the owner's request, sum up today's notes and what is left to do tomorrow.",
}


def fill(ws):
    """3 skills (front matter and a 2 KB body each) and 3 KB of notes for today and yesterday."""
    for name, desc in SKILLS.items():
        d = os.path.join(ws, "skills", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "SKILL.md"), "w") as f:
            f.write("---\nname: %s\ndescription: %s\n---\n# %s\n\n" % (name, desc, name))
            f.write(bench.words(2048) + "\n")
    t = int(__import__("time").time()) // 86400
    for day in (t, t - 1):
        import datetime

        dt = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        d = os.path.join(ws, "memory", dt.strftime("%Y%m"))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, dt.strftime("%Y%m%d.md")), "w") as f:
            f.write("# %s\n\n" % dt.isoformat() + bench.words(3000) + "\n")


def run(with_files, heap_kb, n):
    write_config = gatewayrun.write_config

    def write_and_fill(*a, **kw):
        cfg = write_config(*a, **kw)
        if with_files:
            fill(os.path.join(os.path.dirname(cfg), "ws"))
        return cfg

    gatewayrun.write_config = write_and_fill  # bench.run_ours calls it through the module
    try:
        return bench.run_ours("tools", heap_kb, n)
    finally:
        gatewayrun.write_config = write_config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="messages in the confirming run")
    ap.add_argument("--only", choices=("plain", "skills"))
    a = ap.parse_args(argv)
    for label, files in (("plain", False), ("skills", True)):
        if a.only and a.only != label:
            continue
        kb, r = bench.min_heap(lambda scn, heap, n: run(files, heap, n), "tools", min(40, a.n), a.n)
        print("%s: min heap %sk, start-up heap %s, interned names %s" % (
            label, kb, r and r["baseline"], r and r["qstrs"]))


if __name__ == "__main__":
    main()
