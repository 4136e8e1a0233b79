# Retry delays: exponential with full jitter and a cap, so a fleet of bots (or one bot and a
# flaky server) never retries in lockstep.
import os

from micropython import const

_BASE_MS = const(1000)
_CAP_MS = const(60000)  # a minute: a long outage is retried often enough, never hammered


def _rand16():
    b = os.urandom(2)
    return b[0] << 8 | b[1]


class Backoff:
    def __init__(self, base_ms=_BASE_MS, cap_ms=_CAP_MS):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.failures = 0

    def next_ms(self):
        """Delay before the next attempt: random in [ceiling/2, ceiling], ceiling doubling."""
        ceiling = min(self.cap_ms, self.base_ms << min(self.failures, 16))
        self.failures += 1
        half = ceiling // 2
        return half + (_rand16() * (ceiling - half)) // 65535

    def reset(self):
        self.failures = 0
