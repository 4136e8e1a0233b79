"""Host shim: CPython stand-ins for what MicroPython provides. HOST ONLY, never deployed.

install() is called once by host_tests/conftest.py (and by host tools that import firmware
modules under CPython). It adds the names MicroPython has and CPython lacks:
- `micropython` module (this folder's micropython.py): const, viper, native, heap_lock...
- builtins `ptr8`, `ptr16`, `ptr32`, `uint`: viper type annotations, evaluated by CPython
  at def time, so they must exist as names;
- `time.ticks_ms/ticks_us/ticks_diff/ticks_add/sleep_ms`, `gc.mem_free/mem_alloc`.
"""
import builtins
import gc
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))  # host_tests/support/shim
_TICKS_PERIOD = 1 << 30  # MicroPython's ticks wrap at 2**30 on every port


def _ticks_ms():
    return int(time.monotonic() * 1000) & (_TICKS_PERIOD - 1)


def _ticks_us():
    return int(time.monotonic() * 1000000) & (_TICKS_PERIOD - 1)


def _ticks_diff(a, b):
    d = (a - b) & (_TICKS_PERIOD - 1)
    return d - _TICKS_PERIOD if d >= _TICKS_PERIOD // 2 else d


def _ticks_add(a, d):
    return (a + d) & (_TICKS_PERIOD - 1)


def _identity(x):
    return x


def install():
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    fw = os.path.join(_ROOT, "firmware")
    if fw not in sys.path:
        sys.path.insert(0, fw)
    for name in ("ptr8", "ptr16", "ptr32", "uint"):
        if not hasattr(builtins, name):
            # viper casts: ptr8(buf) indexes the buffer itself, which CPython does natively
            setattr(builtins, name, _identity)
    if not hasattr(time, "ticks_ms"):
        time.ticks_ms = _ticks_ms
        time.ticks_us = _ticks_us
        time.ticks_diff = _ticks_diff
        time.ticks_add = _ticks_add
        time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    if not hasattr(gc, "mem_free"):
        gc.mem_free = lambda: 1 << 20
        gc.mem_alloc = lambda: 0
