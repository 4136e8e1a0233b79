# Secrets masked in a file, in place: the configured ones (log.set_secrets: bot token, API
# keys, Wi-Fi password) and anything shaped like a key, "sk-" or "Bearer " followed by 16 or
# more key characters (a provider's error may quote the request's Authorization header).
# Run on a turn's session lines before each request and when the turn ends, on an answer
# before it is sent, and on what the file tools write (session.scrub loads this module for
# each and drops it after).
from micropython import const

from picoclaw import log

_KEY_MIN = const(16)  # key characters after "sk-"/"Bearer " that make a key (ids are shorter)
_OVERLAP = const(128)  # bytes a window shares with the next: the longest secret masked whole
#                        (API keys are up to ~110 characters)


def file(path, start=0):
    """Mask every secret in the file at `path` from byte `start` on, in place (the file
    keeps its size): the configured ones (log.set_secrets) and anything shaped like a key,
    "sk-" or "Bearer " followed by 16 or more key characters. Each is masked with "x" at the
    same length, so offsets stay true and Markdown never sees a "*" run. Read in windows
    that overlap by _OVERLAP bytes, so a secret across a window's end is found whole in the
    next one."""
    secrets = [v.encode() for v in log._secrets]
    buf = bytearray(2 * _OVERLAP)
    with open(path, "r+b") as f:
        while True:
            f.seek(start)
            n = f.readinto(buf)
            if not n:
                return
            hit = False
            for s in secrets:
                i = buf.find(s, 0, n)
                while i >= 0:
                    k = min(len(s), n - i)
                    buf[i:i + k] = b"x" * k
                    hit = True
                    i = buf.find(s, i + k, n)
            for pat in (b"sk-", b"Bearer ", b"bearer "):
                i = buf.find(pat, 0, n)
                while i >= 0:
                    j = k = i + len(pat)
                    while k < n:  # key characters: letters, digits, - _ . ~ + / =
                        c = buf[k]
                        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-_.~+/="):
                            break
                        k += 1
                    c = buf[i - 1] if i else 32  # a word's start: "task-..." is no key
                    if k - j >= _KEY_MIN and not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                        buf[j:k] = b"x" * (k - j)
                        hit = True
                    i = buf.find(pat, k, n)
            if hit:
                f.seek(start)
                f.write(memoryview(buf)[:n])
            if n < len(buf):
                return
            start += n - _OVERLAP
