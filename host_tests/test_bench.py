"""tools/bench.py works: each piece runs once, small, on the unix port (behaviour, not timing)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402


def test_scenarios_complete_for_ours_and_the_baseline():
    for scn in ("burst", "tools"):
        ours = bench.run_ours(scn, 512, 10)
        assert ours, scn
        assert ours["tg_conns"] == 1 and ours["llm_conns"] == (1 if scn == "tools" else 0)
        base = bench.run_base(scn, 1024, 10)
        assert base, scn
        # the baseline opens a connection per call: more than one per message
        assert base["tg_conns"] + base["llm_conns"] > 10


def test_a_heap_too_small_is_reported_as_not_completing():
    assert bench.run_ours("burst", 24, 10) is None


def test_min_heap_bisects_to_a_confirmed_heap():
    seen = []

    def runner(scn, kb, n):  # completes from 40 KB up
        seen.append((kb, n))
        return {"kb": kb} if kb >= 40 else None

    kb, res = bench.min_heap(runner, "burst", 10, 100, lo=24, hi=64)
    assert kb == 40 and res == {"kb": 40} and seen[-1] == (40, 100)


def test_parser_figures_and_the_heap_driver(tmp_path):
    p = bench.parser_figures(str(tmp_path))
    assert sorted(p) == [1, 10, 100]
    for d in p.values():
        assert d["loads"]["us"] > 0 and d["pick"]["us"] > 0 and d["skip"]["alloc"] < d["loads"]["alloc"]
    r = bench.run_ours("burst", 256, 20, driver=True)
    assert r and len(r["samples"]) >= 3  # a heap sample before every request


def test_overhead_and_boot_are_measured():
    boot, over, own = bench.paced("burst", 3, 256)
    assert boot and boot > 0 and len(over) == 3 and len(own) == 3 and all(o <= v for o, v in zip(own, over))


def test_markdown_and_picture(tmp_path):
    res = {"scenarios": {"burst": {"n": 10, "ours": {"min_heap_kb": 60, "working": 1000, "handshakes_per_100": 1,
                                                     "connections": 1},
                                   "base": {"min_heap_kb": 40, "working": 2000, "handshakes_per_100": 220,
                                            "connections": 22}}},
           "soak": {"n": 2, "heap_kb": 64, "start": 1, "end": 2, "samples": [(0, 1000), (5, 1100)]}}
    md = bench.markdown(res)
    assert "| min heap: 100-message burst (echo) (n=10) | 60k | 40k |" in md and "22 (220 per 100)" in md
    if bench.picture(res, str(tmp_path / "heap.png")):
        assert (tmp_path / "heap.png").stat().st_size > 1000
