"""pytest setup: put the test support (host_tests/support), the host shim and firmware/ on
the path (CPython only). The test files are the test_*.py here; what they import besides the
firmware (fakes, runners, drivers, the virtual board, the shims) lives in support/."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import shim  # noqa: E402

shim.install()
import mptest  # noqa: E402,F401  (os.ilistdir on CPython, as the firmware uses it)

_module = [None]


def pytest_runtest_setup(item):
    # The firmware collects at every module load and unload (picoclaw.load/unload): hundreds
    # of times in one test under CPython, and a full collection walks every object of the
    # test process, which grows with every test module run before (test_tools' get_time test
    # took 160 s late in a full run, 1 s alone). At each new test module, what is alive by
    # then (imported modules, fakes, fixtures kept) is frozen out of those walks.
    import gc

    if item.module is not _module[0]:
        _module[0] = item.module
        gc.collect()
        gc.freeze()
