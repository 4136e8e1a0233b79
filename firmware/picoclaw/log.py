# Console log: uptime-stamped lines on stdout (the board's serial console), with every
# configured secret (bot token, API keys, Wi-Fi password: set_secrets) masked by scrub().
# The same secrets, and anything shaped like a key ("sk-" or "Bearer " and 16 or more key
# characters: a provider's error may quote the request's Authorization header), are masked
# in every file on its way to a chat, a session or a model: scrub.py.
#
# On a board, board/start.py sets `file` to its keep_log, which appends each line to a log on flash
# that survives resets (the ring of log.txt and log.1.txt: see there). The host CLI leaves it
# unset: the console only. (The ring's code lives with the board's start-up, which stays
# loaded on a board anyway: docs/memory.md.)
import time

from micropython import const

DEBUG = const(10)  # log.level = log.DEBUG shows debug lines too
_INFO = const(20)
_WARN = const(30)
_ERROR = const(40)

level = _INFO
last_error = ""  # the last warning or error, scrubbed (the /status command shows it)
file = None  # a function given each line (start.keep_log on a board), None: the console only
_secrets = []
_t0 = time.ticks_ms()


def set_secrets(values):
    """Values that must never leave: token, API keys, Wi-Fi password."""
    _secrets[:] = [v for v in values if v and len(v) >= 4]


def scrub(msg):
    """msg with every configured secret masked (files get the key shapes too:
    scrub.py)."""
    for s in _secrets:
        if s in msg:
            msg = msg.replace(s, "*" * len(s))
    return msg


def log(at, msg):
    if at >= level:
        t = time.ticks_diff(time.ticks_ms(), _t0)
        # one string for the level names (docs/memory.md)
        i = (at // 10 - 1) * 6
        name = "DEBUG INFO  WARN  ERROR "[i:i + 6].rstrip()
        msg = scrub(msg)
        if at >= _WARN:
            global last_error
            last_error = msg
        msg = "%d.%03d %s %s" % (t // 1000, t % 1000, name, msg)
        print(msg)
        if file:
            file(msg)


def debug(msg):
    if level <= DEBUG:
        log(DEBUG, msg)


def info(msg):
    log(_INFO, msg)


def warn(msg):
    log(_WARN, msg)


def error(msg):
    log(_ERROR, msg)
