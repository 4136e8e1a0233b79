"""Fake `ntptime` for the virtual board. HOST ONLY: never frozen, never deployed; only
host_tests/support/vboard.py puts this folder on MICROPYPATH. The host's clock is already right, so
settime() changes nothing; VBOARD_NTP=fail makes it time out like an unreachable server."""
import os
import time as _time

host = "pool.ntp.org"
timeout = 1


def time():
    return _time.time()


def settime():
    if os.getenv("VBOARD_NTP") == "fail":
        raise OSError(110)  # ETIMEDOUT
