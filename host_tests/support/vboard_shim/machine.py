"""Fake `machine` for the virtual board (the unix port standing in for a board). HOST ONLY:
never frozen, never deployed; only host_tests/support/vboard.py puts this folder on MICROPYPATH (and
host tests import it by path). A file on the path replaces the unix port's built-in machine.

Pin/ADC hold values (an input with PULL_UP reads 1, as a released button does, or 0 with
VBOARD_BOOT_HELD=1: the BOOT button held at start, active low), Timer stores its callback without firing it (the unix port has no timer
interrupts: tests call `fire()`), WDT counts feeds, reset() prints the line vboard.py
watches for and ends the program, as a board's reset ends everything running.
"""
import os

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_LINE = "[vboard: reset]"

timers = []
wdts = []


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._v = 0 if value is None else value
        if mode == 0 and pull == 1:  # IN, PULL_UP: a button, pressed when VBOARD_BOOT_HELD=1
            self._v = 0 if os.getenv("VBOARD_BOOT_HELD") == "1" else 1
        self.changes = 0

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self.changes += 1
        self._v = v

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._v)


class ADC:
    def __init__(self, pin):
        self.pin = pin

    def read_u16(self):
        return 32768


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self.id = id
        self.callback = None
        self.period = 0
        if kw:
            self.init(**kw)

    def init(self, mode=1, period=-1, callback=None, freq=-1):
        self.period = period
        self.callback = callback
        timers.append(self)

    def deinit(self):
        self.callback = None

    def fire(self, n=1):
        for _ in range(n):
            if self.callback:
                self.callback(self)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        wdts.append(self)

    def feed(self):
        self.feeds += 1


def reset_cause():
    return int(os.getenv("VBOARD_RESET_CAUSE") or PWRON_RESET)


def reset():
    print(RESET_LINE)
    raise SystemExit(75)  # EX_TEMPFAIL: "reset", for a test that runs main.py directly


def unique_id():
    return b"vboard01"


def freq(hz=None):
    return 125000000
