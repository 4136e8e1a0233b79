# One conversation per chat, append-only on flash, read back line by line.
#
# `<workspace>/sessions/<chat_id>.jsonl`, one JSON object per line, provider-neutral:
#
#     {"u": "user text"}
#     {"u": ["media/<file>", "caption"]}                       (a photo: agent/photo.py)
#     {"n": 12, "a": "assistant text", "c": [["call id", "tool name", "{args JSON}"], ...]}
#     {"id": "call id", "t": "tool result text"}
#     {"s": "summary of the turns that were dropped"}          (first line only)
#
# ("n" is the byte length of the assistant text: Anthropic refuses an empty text block, and
# the request is written while the line is read, so the length must come first.)
# What a turn appends passes the scrubber (scrub.py) before the turn's next request is
# written and when the turn ends: a token or key the user pasted, or a provider quoted in
# an error, never reaches a model and does not stay on flash.
# A request carries the last lines that fit a byte budget, starting at a user line, and
# the provider module turns each line into its own message shape as it streams to the
# socket. Nothing here holds a line in RAM: strings go file -> parser -> JSON escaper.
#
# A turn that never finished (the board reset, or ran out of memory, or Telegram could not
# be reached with the answer) is noted in `sessions/<chat>.open`, written atomically:
#
#     <offset of the turn's user line> <update_id> <placeholder message_id> <pieces delivered>
#
# end_turn() removes the note once the answer is out. When the gateway hands the agent the
# same update again, the turn is resumed from the session (resume.py): tools that ran are
# not run again, and an answer that exists is delivered, not asked for again. Any other
# turn in that chat first cuts the session back to the noted offset, so no request ever
# carries a tool call without its result (which the providers refuse for good).
import os

from micropython import const

from picoclaw.json.files import FileOut
from picoclaw.state import makedirs, replace, write_atomic

_FIND_BUF = const(128)


class Session:
    def __init__(self, workspace, chat_id, budget):
        self.dir = workspace + "/sessions"
        self.path = "%s/%d.jsonl" % (self.dir, chat_id)  # and <chat>.open: the note (above)
        self.budget = budget  # bytes of history a request may carry
        self.turn_start = -1  # offset of the current turn's user line
        self.update_id = 0  # the update the current turn answers (0: a timer's or the console's)

    def size(self):
        try:
            return os.stat(self.path)[6]
        except OSError:
            return 0

    def clear(self):
        try:
            os.remove(self.path)
        except OSError:
            pass

    def _append(self):
        makedirs(self.dir)
        return open(self.path, "ab")

    def _begin_turn(self, buf, update_id):
        # cut back an unfinished turn (see the top of this file), then note this one
        v = self.note()
        if v:
            try:
                truncate(self.path, v[0], buf)
            except OSError:
                pass  # its session is gone
        makedirs(self.dir)
        self.turn_start = self.size()
        self.update_id = update_id
        self.note(0, 0)

    def note(self, placeholder=-1, n=0):
        """note(): the unfinished turn's note, [offset, update_id, placeholder message_id,
        pieces delivered], or None. note(placeholder, n): record the turn's placeholder
        message and how many answer pieces (n) are out."""
        path = self.path[:-5] + "open"
        if placeholder >= 0:
            write_atomic(path, b"%d %d %d %d" % (self.turn_start, self.update_id, placeholder, n))
            return None
        try:
            with open(path, "rb") as f:
                v = [int(x) for x in f.read().split()]
            return v if len(v) == 4 else None
        except (OSError, ValueError):
            return None

    def end_turn(self):
        """The turn is answered and fully on flash: its lines pass the scrubber, and where
        it started is forgotten."""
        if self.turn_start >= 0:
            scrub(self.path, self.turn_start)
        try:
            os.remove(self.path[:-5] + "open")
        except OSError:
            pass

    def append_user(self, f, n, buf, prefix=None, update_id=0):
        """Begin a turn with the user's text: n bytes of open file f (the inbox) from its
        position (after `prefix` if given), answering update `update_id`."""
        pos = f.tell()
        self._begin_turn(buf, update_id)
        f.seek(pos)
        with self._append() as out:
            w = FileOut(out, buf)
            w.write(b'{"u":')
            w.json_begin()
            if prefix:
                w.json_part(prefix)
            w.json_copy(f, n)
            w.json_end()
            w.write(b"}\n")
            w._flush()

    def append_user_text(self, text, buf):
        """Begin a turn with the user's text (str)."""
        self._begin_turn(buf, 0)
        with self._append() as out:
            w = FileOut(out, buf)
            w.write(b'{"u":')
            w.json_str(text)
            w.write(b"}\n")
            w._flush()

    def append_assistant(self, reply_path, calls, buf):
        """The model's answer: its text (file) and tool calls [(id, name, args_path)]."""
        try:
            n = os.stat(reply_path)[6]
        except OSError:
            n = 0
        with self._append() as out:
            w = FileOut(out, buf)
            w.write(b'{"n":%d,"a":' % n)
            if n:
                w.json_file(reply_path)
            else:
                w.write(b'""')
            if calls:
                w.write(b',"c":[')
                for i in range(len(calls)):
                    cid, name, args = calls[i]
                    w.write(b',[' if i else b'[')
                    w.json_str(cid)
                    w.write(b",")
                    w.json_str(name)
                    w.write(b",")
                    w.json_file(args)
                    w.write(b"]")
                w.write(b"]")
            w.write(b"}\n")
            w._flush()

    def append_tool(self, call_id, result_path, buf):
        with self._append() as out:
            w = FileOut(out, buf)
            w.write(b'{"id":')
            w.json_str(call_id)
            w.write(b',"t":')
            w.json_file(result_path)
            w.write(b"}\n")
            w._flush()

    def history_start(self):
        """Offset of the first line a request carries: the first user line that starts
        within the last `budget` bytes, and never after the current turn's start."""
        size = self.size()
        cur = self.turn_start if 0 <= self.turn_start <= size else size
        if size - self.budget <= 0:
            return 0
        at = _find(self.path, b'\n{"u":', size - self.budget - 1)
        return cur if at < 0 or at + 1 > cur else at + 1

    def summary_end(self):
        """If the file starts with a summary line, the offset just after it; else 0."""
        try:
            with open(self.path, "rb") as f:
                if f.read(5) != b'{"s":':
                    return 0
        except OSError:
            return 0
        at = _find(self.path, b"\n", 0)
        return at + 1 if at >= 0 else 0


def scrub(path, start=0):
    """Mask every secret in the file at `path` from byte `start` on, in place (scrub.py,
    loaded for it and dropped after)."""
    from picoclaw import load, unload

    try:
        load("picoclaw.scrub").file(path, start)
    except OSError:
        pass  # the file is gone (cleared), or the flash is full: nothing more can be done
    finally:
        unload("picoclaw.scrub")


def truncate(path, n, buf):
    """Keep only the first n bytes of the file at path (atomically)."""
    if os.stat(path)[6] <= n:
        return
    tmp = path + ".new"
    with open(path, "rb") as f:
        with open(tmp, "wb") as out:
            while n > 0:
                k = f.readinto(memoryview(buf)[:min(n, len(buf))])
                if not k:
                    break
                out.write(memoryview(buf)[:k])
                n -= k
    replace(tmp, path)


def _find(path, pat, start):
    """Offset of the first `pat` at or after `start` in the file, or -1. Bounded buffer;
    matches across buffer edges are found by carrying the last len(pat)-1 bytes."""
    buf = bytearray(_FIND_BUF)
    keep = len(pat) - 1
    try:
        f = open(path, "rb")
    except OSError:
        return -1
    with f:
        f.seek(max(start, 0))
        base = max(start, 0)  # file offset of buf[0]
        have = 0
        while True:
            k = f.readinto(memoryview(buf)[have:])
            if not k:
                return -1
            have += k
            i = buf.find(pat, 0, have)
            if i >= 0:
                return base + i
            if have > keep:
                buf[:keep] = buf[have - keep:have]
                base += have - keep
                have = keep
