# The last crash, as main.py left it on flash before the reset: crash.txt (a header line, then
# the traceback, secrets masked), and crash.sent once the owner has been told. Read by
# `picoclaw status` and the /status command (note), and by main.py at the next start, which
# tells the owner in one Telegram line (report). Loaded for that and dropped after.
import os

from picoclaw import log


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def status(folder=""):
    """One line about the last crash in `folder` (the board's root: ""), or "" when there was
    none: its header, the exception's line, and whether the owner was told (the /status
    command shows it)."""
    path = folder + "crash.txt"
    try:
        f = open(path)
    except OSError:
        return ""
    last = ""
    with f:
        head = f.readline().strip()
        while True:
            line = f.readline()
            if not line:
                break
            if line.strip():
                last = line.strip()  # a traceback ends with the exception
    return "%s: %s%s" % (head, last[:160], "" if _exists(folder + "crash.sent") else " (not yet reported)")


def report(gw, allow_from):
    """Tell the owner about a crash they have not heard of: one line, sent once (crash.sent
    marks it). The owner: the paired one (<state>/owner), else the first user id in
    allow_from. Returns True when sent."""
    text = status()
    if not text or _exists("crash.sent"):
        return False
    from picoclaw.state import read_int

    owner = read_int(gw.state.dir + "/owner", 0)
    for e in allow_from:
        if owner:
            break
        for part in str(e).split("|"):
            part = part.strip()
            if part.isdigit() and int(part) > 0:  # a user, not a group (negative ids)
                owner = int(part)
                break
    if not owner:
        log.info("last crash not reported: no owner known yet")
        return False
    try:
        gw.tg.send_message(owner, "PicoClaw restarted after a crash (%s). Details: /status, or "
                           "python tools/flash.py log on the computer" % text[:300].replace(" (not yet reported)", ""))
    except Exception as e:  # noqa: BLE001 - the next start tries again
        log.warn("last crash not reported to %d: %s" % (owner, e))
        return False
    with open("crash.sent", "w"):
        pass
    log.info("last crash reported to %d" % owner)
    return True
