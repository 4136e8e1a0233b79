# Small persistent state on flash, written atomically (temp file, then rename).
#
# The Telegram offset lives here: it is saved after each update is handled, so a restart
# neither repeats a handled update nor loses one that was fetched but not yet handled
# (Telegram keeps unconfirmed updates and sends them again). The offset is the only
# acknowledgement: written right after Telegram confirms the reply, it makes replies
# at-least-once and at-most-once except for one window no Bot API client can close, a crash
# after Telegram took the sendMessage and before the rename (no idempotency key, no way to ask
# "did I answer message M?"); host_tests/test_crash.py measures it.
#
# Loaded in echo mode too: no stored paths and no short literals beyond ".tmp" (docs/memory.md).
import os


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            cur = "/" if not cur else cur
            continue
        cur = cur + part if cur.endswith("/") or not cur else cur + "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            pass


def write_atomic(path, data):
    """Replace the file at `path` with `data` so a crash leaves the old or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    replace(tmp, path)


def replace(src, path):
    """Rename a fully written temp file `src` onto `path`."""
    try:
        os.rename(src, path)  # atomic on POSIX and littlefs
    except OSError:
        # FAT cannot rename onto an existing file: a crash between these two lines loses
        # only this write (the reader then falls back to the temp file)
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(src, path)


def read_int(path, default=0):
    for p in (path, path + ".tmp"):
        try:
            with open(p) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            pass
    return default


class State:
    """The gateway's persistent state in `<workspace>/state/`."""

    def __init__(self, workspace):
        self.inbox_path = workspace + "/state/inbox"  # the last getUpdates body, as records
        self.dir = self.inbox_path[:-6]  # <workspace>/state, without a short literal
        makedirs(self.dir)
        self.offset = read_int(self.dir + "/telegram_offset", 0)
        if not 0 <= self.offset <= 0x80000000:
            # update ids are 32-bit: an offset beyond them (saved by a version that trusted a
            # poisoned update) would silence the bot for good; 0 asks for all that is waiting
            self.offset = 0

    def save_offset(self, offset):
        if offset != self.offset:
            try:
                write_atomic(self.dir + "/telegram_offset", b"%d" % offset)
            except OSError as e:
                # a full flash must not make the gateway answer this update again: the
                # offset in RAM still confirms it to Telegram at the next poll
                from picoclaw import log

                log.error("offset %d not saved (%s): flash full?" % (offset, e))
            self.offset = offset
