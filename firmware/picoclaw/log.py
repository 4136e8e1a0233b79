# Console log: uptime-stamped lines on stdout (the board's serial console), with every
# configured secret (bot token, API keys, Wi-Fi password: set_secrets) masked by scrub().
# The same secrets, and anything shaped like a key ("sk-" or "Bearer " and 16 or more key
# characters: a provider's error may quote the request's Authorization header), are masked
# in every file on its way to a chat, a session or a model: scrub.py.
#
# On a board (main.py sets `file`) each line is also appended to a log on flash that survives
# resets: a ring of two files, log.txt and, once log.txt would pass _RING bytes, the older
# lines renamed to log.1.txt (so at most 2 x 8 KB of flash, the last ~150-300 lines). Each
# line is opened, appended and closed: nothing is held in RAM, and a reset loses at most the
# line being written. Flash wear: littlefs rewrites the file's last block per append and
# spreads those writes over the free blocks; the gateway logs a few lines per message and
# none while idle, far below the flash's ~100,000 erase cycles per block. The host CLI
# leaves `file` unset: console only.
import time

from micropython import const

DEBUG = const(10)  # log.level = log.DEBUG shows debug lines too
_INFO = const(20)
_RING = const(8192)  # bytes of log.txt before it becomes log.1.txt
_LINE = const(240)  # characters of a line kept on flash (the console gets it whole)
_WARN = const(30)
_ERROR = const(40)

level = _INFO
last_error = ""  # the last warning or error, scrubbed (the /status command shows it)
file = None  # the log on flash ("log.txt": main.py on a board), None: the console only
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
        # one string for the level names: short strings are interned for good
        i = (at // 10 - 1) * 6
        name = "DEBUG INFO  WARN  ERROR "[i:i + 6].rstrip()
        msg = scrub(msg)
        if at >= _WARN:
            global last_error
            last_error = msg
        msg = "%d.%03d %s %s" % (t // 1000, t % 1000, name, msg)
        print(msg)
        if file:
            keep(file, msg)


def debug(msg):
    if level <= DEBUG:
        log(DEBUG, msg)


def info(msg):
    log(_INFO, msg)


def warn(msg):
    log(_WARN, msg)


def error(msg):
    log(_ERROR, msg)


def keep(path, line):
    """Append `line` to the log file `path`; once the file is within one line's worst case
    (4 UTF-8 bytes a character) of _RING bytes it becomes <name>.1.txt, replacing the older
    one, so neither file ever exceeds _RING bytes. A failing flash costs the line, never the
    bot."""
    try:
        with open(path, "a") as f:
            f.write(line[:_LINE])
            f.write("\n")
            full = f.tell() > _RING - 4 * _LINE - 1
        if full:
            import os

            old = path[:-4] + ".1.txt"
            try:
                os.remove(old)
            except OSError:
                pass
            os.rename(path, old)
    except OSError:
        pass
