"""pytest setup: put the test support (host_tests/support), the host shim and firmware/ on
the path (CPython only). The test files are the test_*.py here; what they import besides the
firmware (fakes, runners, drivers, the virtual board, the shims) lives in support/."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import shim  # noqa: E402

shim.install()
import mptest  # noqa: E402,F401  (os.ilistdir on CPython, as the firmware uses it)


def pytest_collection_finish(session):
    # The firmware collects at every module load and unload (picoclaw.load/unload), hundreds
    # of times a test under CPython; a full collection walks every object of the test process
    # (tens of thousands once all test modules are imported). Frozen, what collection made
    # (the test modules, the fakes, the libraries) is left out of those walks.
    import gc

    gc.collect()
    gc.freeze()
