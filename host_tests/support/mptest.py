# Helpers shared by tests that run on both runtimes (CPython under pytest, and the unix port).
import os
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    pass


def skip(why):
    """Skip the current test on this runtime (pytest.skip under pytest)."""
    if not MICROPYTHON:
        import pytest

        pytest.skip(why)
    raise SkipTest(why)


if not hasattr(os, "ilistdir"):  # CPython: the same iterator shape as MicroPython's

    def _ilistdir(d):
        # (name, type, inode) with the type of the entry itself, a link not followed, as
        # the unix port reports it (0x4000 folder, 0x8000 file, 0xA000 link)
        for name in os.listdir(d):
            yield (name, os.lstat(os.path.join(d, name)).st_mode & 0xF000, 0)

    os.ilistdir = _ilistdir


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def shared_dir():
    """../shared beside the repo (tests run from the repo root), or $PICOCLAW_SHARED."""
    for p in (os.getenv("PICOCLAW_SHARED"), "../shared", "../../shared"):
        if p and _isdir(p):
            return p
    raise AssertionError("shared/ references not found beside the repo; set PICOCLAW_SHARED")


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class Chunks:
    """A parser source that hands out `data` in the given window sizes, through `buf`.

    Used to prove results do not depend on where input is split.
    """

    def __init__(self, data, sizes, bufsize=512):
        self.data = data
        self.sizes = sizes
        self.buf = bytearray(bufsize)
        self.start = 0
        self.i = 0
        self.k = 0

    def fill(self):
        left = len(self.data) - self.i
        if left <= 0:
            return 0
        n = self.sizes[self.k % len(self.sizes)] if self.sizes else left
        self.k += 1
        n = min(n, left, len(self.buf))
        self.buf[0:n] = self.data[self.i:self.i + n]
        self.i += n
        return n
