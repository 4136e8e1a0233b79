# Console log: uptime-stamped lines on stdout (the board's serial console), secrets scrubbed.
import time

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR"}

level = INFO
_secrets = []
_t0 = time.ticks_ms()


def set_secrets(values):
    """Values that must never reach the console (token, API keys, Wi-Fi password)."""
    _secrets[:] = [v for v in values if v and len(v) >= 4]


def scrub(msg):
    for s in _secrets:
        if s in msg:
            msg = msg.replace(s, "***")
    return msg


def log(lvl, msg):
    if lvl >= level:
        t = time.ticks_diff(time.ticks_ms(), _t0)
        print("%d.%03d %s %s" % (t // 1000, t % 1000, _NAMES.get(lvl, "?"), scrub(msg)))


def debug(msg):
    if level <= DEBUG:
        log(DEBUG, msg)


def info(msg):
    log(INFO, msg)


def warn(msg):
    log(WARN, msg)


def error(msg):
    log(ERROR, msg)
