# Console log: uptime-stamped lines on stdout (the board's serial console), and the one
# scrubber every text that leaves goes through first: log lines, what is sent to Telegram,
# what is written to a session (and so to every later model request).
#
# A secret is any configured value (bot token, API keys, Wi-Fi password: set_secrets) and
# anything shaped like a key: "sk-" or "Bearer " followed by 16 or more key characters (a
# provider's error message may quote the request's Authorization header). Each is masked
# with "x" in place, at the same length, so a file can be scrubbed where it lies (its
# offsets stay true: session.scrub_file) and Markdown never sees a "*" run.
import time

from micropython import const

DEBUG = const(10)  # log.level = log.DEBUG shows debug lines too
_INFO = const(20)
_WARN = const(30)
_ERROR = const(40)
_KEY_MIN = const(16)  # key characters after "sk-"/"Bearer " that make a key (ids are shorter)

level = _INFO
last_error = ""  # the last warning or error, scrubbed (the /status command shows it)
_secrets = []  # as bytes
_t0 = time.ticks_ms()


def set_secrets(values):
    """Values that must never leave: token, API keys, Wi-Fi password."""
    _secrets[:] = [v.encode() for v in values if v and len(v) >= 4]


def scrub(msg, n=-1):
    """msg a str: returned with every secret masked. msg a bytearray: its first n bytes are
    masked in place; returns whether anything was."""
    b = msg if n >= 0 else bytearray(msg.encode())
    if n < 0:
        n = len(b)
    hit = False
    for s in _secrets:
        i = b.find(s, 0, n)
        while i >= 0:
            k = min(len(s), n - i)
            b[i:i + k] = b"x" * k
            hit = True
            i = b.find(s, i + k, n)
    for pat in (b"sk-", b"Bearer ", b"bearer "):
        i = b.find(pat, 0, n)
        while i >= 0:
            j = k = i + len(pat)
            while k < n:  # key characters: letters, digits, - _ . ~ + / =
                c = b[k]
                if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-_.~+/="):
                    break
                k += 1
            c = b[i - 1] if i else 32
            if k - j >= _KEY_MIN and not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                b[j:k] = b"x" * (k - j)
                hit = True
            i = b.find(pat, k, n)
    if n == len(b) and msg is not b:
        return b.decode() if hit else msg
    return hit


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
        print("%d.%03d %s %s" % (t // 1000, t % 1000, name, msg))


def debug(msg):
    if level <= DEBUG:
        log(DEBUG, msg)


def info(msg):
    log(_INFO, msg)


def warn(msg):
    log(_WARN, msg)


def error(msg):
    log(_ERROR, msg)
