"""CPython stand-in for MicroPython's `micropython` module.

HOST ONLY: this file must never be frozen, uploaded to a board or named by a manifest.
The test runner (host_tests/conftest.py) puts host_tests/support/shim on sys.path under CPython.
"""


def const(x):
    """Compile-time constant on MicroPython; plain identity here."""
    return x


def native(f):
    return f


def viper(f):
    # The decorated function's source is written in the subset that both viper and
    # CPython run identically (ints, ptr8/ptr32 indexing), so identity is exact.
    return f


def opt_level(level=None):
    return 0


def heap_lock():
    return 0


def heap_unlock():
    return 0


def mem_info(verbose=False):
    print("mem: (CPython shim: no GC heap figures)")


def alloc_emergency_exception_buf(size):
    pass


def schedule(fn, arg):
    fn(arg)
