"""Runs the shared test modules on the MicroPython unix port, from .mpy, under a tight heap.

The same files run under pytest on CPython (collected normally); here each runs again in
`micropython -X heapsize=N` with firmware compiled by mpy-cross (tools/mpybuild.py), which is
how the code runs on a board. A module that only works on CPython fails here.
"""
import os
import subprocess

import pytest

import unixport

# module -> heap the run gets. 64 KB is the board-sized heap of the foundation issue.
SHARED = {
    "test_jsonstream": "64k",
    "test_jsonwrite": "64k",
    "test_group": "64k",
    "test_trust": "64k",
    "test_llm_wire": "192k",  # the test builds 10 KB JSON bodies in RAM to feed the parser (passes at 152k)
    "test_tools": "256k",  # passes at 118k (from .mpy); the streaming tests need one 16 KB hole
    # after the test module: a tight heap left that hole to chance (found on one machine, not on
    # another); _squeeze fills the rest, so a bigger heap tests no less
    "test_tgformat": "128k",  # passes at 91k: the test + 20 KB pieces read back; tgformat runs in 16k
    "test_schedule": "100k",  # passes at 93k: its case tables, loaded, take 27 KB (tuples and str
    # objects on this 64-bit port); the tool test also loads jsonstream, tools and cron, the
    # time zone test zone.py
}


@pytest.mark.parametrize("module", sorted(SHARED))
def test_on_unix_port(module):
    path = ":".join((unixport.build(), unixport.build_tests([module]), ".frozen"))
    # -m: the runner compiled too, and no source folder first on sys.path (unixport.build_tests)
    r = unixport.run(["-m", "mp_runner", module], heap=SHARED[module], timeout=600, path=path)
    tail = r.stdout[-4000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert " passed, 0 failed" in last and not last.startswith("0 passed"), tail
