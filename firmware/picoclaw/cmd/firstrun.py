# SIMULATE=1 as a first run: the settings a simulation needs (main, called by the CLI before
# the config check), and the two-sided transcript printed at its end (transcript).
#
# It works with exactly the config.json `onboard` writes: no token is needed (the Telegram
# is in-process) and, with an empty allow_from, the simulated user is admitted. Its state
# (offset, sessions, memory) goes to a fresh scratch folder that is removed at the end, so
# a rerun behaves the same and the real workspace is never touched. Loaded for each of the
# two steps and dropped after; none of it is in the heap while the simulation runs.
import os

from micropython import const

from picoclaw import log

_USER = const(1001)  # simulate.py's simulated user
_KEEP = const(120)  # simulate.py: bytes of each request body kept
_SHOW = const(160)  # characters of a message the transcript shows


def main(cfg):
    """Make the gateway's settings a simulation's: a stand-in token if there is none, the
    simulated user admitted if allow_from is empty, a fresh scratch workspace (created by
    the gateway's first write, so a start that fails leaves nothing behind)."""
    if not cfg.token:
        cfg.token = "0:simulated"  # never sent anywhere: the Telegram here is in-process
    if not cfg.allow_ids and not cfg.allow_names:
        cfg.allow_ids = {_USER} if isinstance(cfg.allow_ids, set) else [_USER]
        log.info("SIMULATE=1: allow_from is empty, so the simulated user %d is admitted "
                 "(a real bot admits nobody until you pair or list your id)" % _USER)
    r = os.urandom(4)
    cfg.workspace = "%s/picoclaw-simulate-%02x%02x%02x%02x" % (
        ((os.getenv("TMPDIR") or "/tmp").rstrip("/"),) + tuple(r))
    log.info("SIMULATE=1: state in %s (removed at the end; your workspace is not touched)"
             % cfg.workspace)


def remove_tree(path):
    """Delete a folder and everything in it (the scratch workspace)."""
    for e in os.ilistdir(path):
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            remove_tree(p)
        else:
            os.remove(p)
    os.rmdir(path)


def transcript(tg):
    try:
        _transcript(tg)
    except MemoryError:
        print("(no room left in the heap to print the conversation: run with a bigger -X heapsize)")
        cleanup(tg.workspace)


def _transcript(tg):
    """Print simulate.Telegram tg's conversation, both sides in order, as the app shows it:
    escapes decoded, the Telegram HTML as plain text, each message nobody answered (a
    stranger's, a photo) marked where it happened. Then remove the scratch workspace."""
    print("--- simulated conversation (you are user %d; eve is not in allow_from) ---" % tg.owner)
    rows = []  # (speaker, text); an edit replaces the bot's last message
    sent = 0
    for who, head, n, edit in tg.sent:
        if who is None:  # the scripted model called a tool
            rows.append(("", "(the model calls %s)" % head.decode()))
            continue
        if isinstance(who, str):  # the user's side: (name, the script's text, repeat, -)
            if rows and rows[-1][0] != "bot":
                rows.append(("bot", "(no answer)"))
            t = "(a photo)" if head is None else plain(head.encode())
            rows.append(("you" if who == "owner" else who,
                         t if n == 1 else "%s... (%d characters)" % ((t * 4)[:60], len(t) * n)))
            continue
        sent += 1
        t = plain(head, True)
        if n > _KEEP + 40:
            t = "%s... (%d bytes sent)" % (t[:_SHOW], n)
        if edit:  # the placeholder, edited into the answer: shown once, after the tool calls
            k = len(rows) - 1
            while k >= 0 and rows[k][0] == "":
                k -= 1
            if k >= 0 and rows[k][0] == "bot":
                rows.pop(k)
        rows.append(("bot", t if who == tg.owner else "(to %s) %s" % (who, t)))
    if rows and rows[-1][0] != "bot":
        rows.append(("bot", "(no answer)"))
    for who, t in rows:
        print("%4s%s %s" % (who, ":" if who else " ", t.replace("\n", "\n      ")))
    log.info("simulation done: %d polls, %d messages sent" % (tg.polls, sent))
    cleanup(tg.workspace)


def cleanup(path):
    try:
        remove_tree(path)
    except OSError:
        pass  # never created (nothing written), or already gone


def plain(b, html=False):
    """The text of a JSON string's first bytes (up to its closing quote, or cut anywhere):
    escapes decoded, UTF-16 surrogate pairs joined into one character (MicroPython's json
    module leaves them apart), an unfinished escape or character at the end dropped. With
    html=True, Telegram HTML back to plain text: tags removed, entities decoded."""
    out = bytearray()
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c == 34:  # the closing quote
            break
        if c != 92:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        e = b[i + 1]
        if e != 117:  # \n \t \" \\ \/ ...
            out.append({110: 10, 116: 9, 114: 13, 98: 8, 102: 12}.get(e, e))
            i += 2
            continue
        if i + 6 > n:
            break
        cp = int(bytes(b[i + 2:i + 6]).decode(), 16)
        i += 6
        if 0xD800 <= cp < 0xDC00 and i + 6 <= n and b[i] == 92 and b[i + 1] == 117:
            lo = int(bytes(b[i + 2:i + 6]).decode(), 16)
            if 0xDC00 <= lo < 0xE000:
                cp = 0x10000 + ((cp - 0xD800) << 10) + lo - 0xDC00
                i += 6
        if 0xD800 <= cp < 0xE000:
            cp = 0xFFFD  # a lone surrogate
        out.extend(chr(cp).encode())
    k = len(out)  # a character cut where the kept bytes end: dropped (no import: the heap
    while k and out[k - 1] & 0xC0 == 0x80:  # may have no room left for a module's code)
        k -= 1
    if k and out[k - 1] >= 0xC0 and len(out) - k + 1 < (2 if out[k - 1] < 0xE0 else 3 if out[k - 1] < 0xF0 else 4):
        out = out[:k - 1]
    t = bytes(out).decode()
    if not html:
        return t
    r = []
    i = 0
    while i < len(t):
        j = t.find("<", i)
        if j < 0:
            r.append(t[i:])
            break
        r.append(t[i:j])
        k = t.find(">", j)
        if k < 0:
            break  # a tag cut where the kept bytes end
        i = k + 1
    t = "".join(r)
    for ent, ch in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        t = t.replace(ent, ch)
    return t
