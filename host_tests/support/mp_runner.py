# Runs the shared test modules on the MicroPython unix port (pytest runs the same files on CPython).
#
#     MICROPYPATH=build/mpy:build/tests-mpy:.frozen micropython -X heapsize=64k -m mp_runner test_jsonstream
#
# build/tests-mpy holds the test modules, this runner and mptest/jsontree compiled by mpy-cross
# (unixport.build_tests, which test_unix_port.py calls).
#
# Every function named test_* that takes no argument is called; a test that needs something
# this runtime lacks raises SkipTest. Output ends with "N passed, N failed".
import gc
import sys

import mptest


def run(names):
    passed = failed = skipped = 0
    for modname in names:
        mod = __import__(modname)
        for name in sorted(dir(mod)):
            if not name.startswith("test_"):
                continue
            gc.collect()
            try:
                getattr(mod, name)()
            except mptest.SkipTest as e:
                skipped += 1
                print("SKIP %s.%s: %s" % (modname, name, e))
                continue
            except Exception as e:  # noqa: BLE001 - report every failure, keep going
                failed += 1
                print("FAIL %s.%s: %r" % (modname, name, e))
                sys.print_exception(e)
                continue
            passed += 1
            print("PASS %s.%s" % (modname, name))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return failed


if __name__ == "__main__":
    sys.exit(1 if run(sys.argv[1:]) else 0)
