# Streaming JSON pull parser over a fixed buffer: pick out fields without building the tree.
#
# Bytes come from a *source*: any object with `buf` (a bytearray it owns), and `fill()`
# which returns how many new bytes sit at `buf[start:start+n]` (0 = end of input). The
# HTTP response body and StreamSource (files, BytesIO) are sources. The parser keeps no copy
# of the input; string and number values are decoded into `out`, a bytearray given by the
# caller, whose size is the cap for keys and ordinary values. Longer strings are truncated
# and flagged (`truncated`), or streamed piece by piece with copy_str().
#
#     p = JsonReader(StreamSource(f, bytearray(256)), bytearray(64))
#     p.expect(OBJ)
#     while p.next_key():
#         if p.key_is(b"update_id"):
#             uid = p.read_int()
#         else:
#             p.skip()
#     p.finish()
#
# Strings handed out are always valid UTF-8: escapes are decoded (surrogate pairs joined),
# invalid byte sequences and lone surrogates become U+FFFD.
from array import array

from micropython import const

from picoclaw.json.scan import NSLOTS, number, scan
from picoclaw.json.scan import ARR, END_ARR, END_OBJ, KEY, NUM, OBJ, STR  # noqa: F401 (the events callers name)

_DEFAULT_DEPTH = const(32)  # a Telegram update nests about 8 deep; 32 leaves room, stops bombs
_NOT_SMALL = const(0x3FFFFFFF)  # scan.number: not an integer of at most 9 digits
# scan's events again, as private constants: const() folds only within a module, and these
# comparisons run for every token
_OBJ = const(1)  # OBJ
_END_OBJ = const(2)  # END_OBJ
_ARR = const(3)  # ARR
_KEY = const(5)  # KEY
_STR = const(6)  # STR
_NUM = const(7)  # NUM
_TRUE = const(8)  # scan._E_TRUE
_FALSE = const(9)  # scan._E_FALSE
_NULL = const(10)  # scan._E_NULL
_PART = const(11)  # scan._PART: a piece of a streamed string
_E_EOF = const(12)  # scan._E_EOF: the input ended after the top-level value
_SKIPPED = const(13)  # scan._SKIPPED: skip() reached the end of the value
# the slots of scan's state array (st) used here, named as in json/scan.py
_POS = const(0)
_END = const(1)
_STATE = const(2)
_DEPTH = const(3)
_OLEN = const(4)
_MODE = const(6)
_SKIP = const(7)
_FLAGS = const(11)
_MAXD = const(12)
_EOF = const(13)
_KCAP = const(18)
_VMODE = const(19)
_VCAP = const(20)
_S_DONE = const(6)  # scan's state once the top-level value is complete

# messages for error codes -1..-7, and names of events 1..12: one string each, cheaper in
# RAM than a dict or tuple of strings
_ERRORS = const("unexpected character|invalid escape|control character in string|nesting too deep|"
                "invalid number|unexpected end of input|invalid literal")
_NAMES = "object|end of object|array|end of array|key|string|number|true|false|null|string|end of input"


def _name(table, i):
    return table.split("|")[i - 1] if 0 < i <= table.count("|") + 1 else str(i)


class JsonError(ValueError):
    """Malformed JSON, or JSON of a shape the caller did not expect. Says where."""


class StreamSource:
    """A parser source reading a stream (file, socket, BytesIO) through `buf`."""

    def __init__(self, stream, buf):
        self.stream = stream
        self.buf = buf
        self.start = 0

    def fill(self):
        return self.stream.readinto(self.buf) or 0


class JsonReader:
    """Pull parser. `next()` returns an event (OBJ, KEY, STR, NUM, END_OBJ, ...).

    After KEY/STR/NUM the bytes are in `out[:n]`; `truncated` says whether they were cut.
    Those bytes are overwritten by the next call.
    """

    def __init__(self, src, out, max_depth=_DEFAULT_DEPTH):
        self.out = out
        self.st = array("i", range(NSLOTS))  # zeroed by reset(); no list of NSLOTS made first
        self.stack = bytearray(max_depth)
        self.reset(src)

    def reset(self, src):
        """Start a new document from `src`, reusing every buffer."""
        st = self.st
        for i in range(NSLOTS):
            st[i] = 0
        st[_MAXD] = len(self.stack)
        st[_KCAP] = len(self.out)  # keys up to the whole of out
        st[_VMODE] = 2  # values truncate...
        st[_VCAP] = len(self.out)  # ...at the size of out
        self.src = src
        self.n = 0
        self.offset = 0  # bytes of input before the current window
        self._wstart = 0

    # -- core -------------------------------------------------------------------------
    def _run(self):
        st = self.st
        while True:
            ev = scan(self.src.buf, st, self.out, self.stack)
            if ev:
                break
            self.offset += st[_END] - self._wstart
            n = self.src.fill()
            if n <= 0:
                st[_EOF] = 1
                st[_POS] = st[_END] = self._wstart = 0
            else:
                s = self.src.start
                st[_POS] = self._wstart = s
                st[_END] = s + n
        if ev < 0:
            # after the top-level value anything but whitespace is trailing data
            self._fail("trailing data" if st[_STATE] == _S_DONE else _name(_ERRORS, -ev))
        self.n = st[_OLEN]
        return ev

    def _fail(self, what):
        st = self.st
        raise JsonError("JSON %s at byte %d" % (what, self.offset + st[_POS] - self._wstart))

    @property
    def truncated(self):
        return bool(self.st[_FLAGS] & 2)  # bit 1: the token was truncated

    def next(self):
        """Next event; a string value longer than `out` is truncated (see `truncated`)."""
        st = self.st
        ev = scan(self.src.buf, st, self.out, self.stack)  # as in next_key
        if ev > 0:
            self.n = st[_OLEN]
            return ev
        return self._run()

    # -- helpers for picking fields ---------------------------------------------------
    def expect(self, want):
        st = self.st
        ev = scan(self.src.buf, st, self.out, self.stack)  # as in next_key
        if ev > 0:
            self.n = st[_OLEN]
        else:
            ev = self._run()
        if ev != want:
            self._fail("expected %s, found %s" % (_name(_NAMES, want), _name(_NAMES, ev)))
        return ev

    def next_key(self):
        """Inside an object: True with the key in out, or False at the end of the object."""
        # the scanner called here first: one Python call less per key in the common case
        # (the bytes are in the window); _run() refills or reports the error otherwise
        st = self.st
        ev = scan(self.src.buf, st, self.out, self.stack)
        if ev > 0:
            self.n = st[_OLEN]
        else:
            ev = self._run()
        if ev == _KEY:
            return True
        if ev == _END_OBJ:
            return False
        self._fail("expected key")

    def key_is(self, name):
        """Does the current key equal `name` (bytes)? Allocation-free."""
        return self.n == len(name) and self.out.startswith(name) and not self.truncated

    def skip(self):
        """Skip the next value, whatever its size, without copying it anywhere."""
        st = self.st
        st[_SKIP] = st[_DEPTH] + 1  # the value ends when we are back at this depth
        ev = scan(self.src.buf, st, self.out, self.stack)  # as in next_key
        if ev <= 0:
            ev = self._run()
        if ev != _SKIPPED:  # pragma: no cover - the scanner only stops early on errors
            self._fail("internal: skip ended on %d" % ev)

    def skip_value(self, ev):
        """Skip the rest of a value whose first event `ev` was already read."""
        if ev == _OBJ or ev == _ARR:
            st = self.st
            st[_SKIP] = st[_DEPTH]  # back at the depth before its opening bracket
            self._run()

    def value(self, ev):
        """The Python value of a scalar event just read (str, int, float, bool, None)."""
        if ev == _STR:
            return self.text()
        if ev == _NUM:
            return self.number()
        if ev == _TRUE:
            return True
        if ev == _FALSE:
            return False
        if ev == _NULL:
            return None
        self._fail("expected a scalar, found %s" % _name(_NAMES, ev))

    def text(self):
        """The current string as str (a new object: only for fields you keep)."""
        return str(memoryview(self.out)[: self.n], "utf-8")

    def number(self):
        out = self.out
        n = self.n
        if self.truncated:
            self._fail("number too long")
        # ids and counts: scan.number (viper, allocation-free); anything else through
        # int()/float()
        v = number(out, n)
        if v != _NOT_SMALL:
            return v
        if out.find(b".", 0, n) < 0 and out.find(b"e", 0, n) < 0 and out.find(b"E", 0, n) < 0:
            return int(bytes(out[:n]))
        return float(bytes(out[:n]))

    def read_int(self):
        """Next value must be an integer; returns it."""
        self.expect(_NUM)
        v = self.number()
        if not isinstance(v, int):
            self._fail("expected an integer")
        return v

    def read_bool(self):
        ev = self._run()
        if ev == _TRUE:
            return True
        if ev == _FALSE:
            return False
        self._fail("expected true or false")

    def read_str(self, cap=0):
        """Next value must be a string (or null -> None). Capped at `cap` bytes (default:
        the size of out), cut at a character boundary; `truncated` tells."""
        st = self.st
        if cap:
            st[_VCAP] = min(cap, len(self.out))
        ev = self._run()
        st[_VCAP] = len(self.out)
        if ev == _NULL:
            return None
        if ev != _STR:
            self._fail("expected a string, found %s" % _name(_NAMES, ev))
        return self.text()

    def copy_str(self, sink, cap):
        """Next value must be a string (or null: nothing is written): stream its UTF-8 bytes
        to `sink(buf, n)` in pieces, at most `cap` bytes in all, cut at a character boundary.
        Returns (bytes, truncated)."""
        st = self.st
        st[_VMODE] = 1  # stream in parts
        total = 0
        cut = False
        try:
            ev = self._run()
            if ev == _NULL:
                return 0, False
            if ev != _PART and ev != _STR:
                self._fail("expected a string, found %s" % _name(_NAMES, ev))
            while True:
                n = self.n
                if total + n > cap:
                    n = utf8_boundary(self.out, cap - total)
                    cut = True
                    st[_MODE] = 0  # discard the rest of this string
                if n:
                    sink(self.out, n)
                    total += n
                if ev == _STR:
                    break
                st[_OLEN] = 0  # the piece was taken
                ev = self._run()
        finally:
            st[_VMODE] = 2
        return total, cut or self.truncated

    def finish(self):
        """After the top-level value: only whitespace may follow, to the end of input."""
        ev = self._run()
        if ev != _E_EOF:
            self._fail("trailing data")


def utf8_boundary(buf, n):
    """Largest m <= n such that buf[:m] does not end inside a UTF-8 sequence."""
    if n <= 0:
        return 0
    i = n
    # step back over continuation bytes (at most 3) to the lead byte of the last sequence
    while i > 0 and n - i < 4 and buf[i - 1] & 0xC0 == 0x80:
        i -= 1
    if i == 0:
        return n
    lead = buf[i - 1]
    need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return n if n - (i - 1) >= need else i - 1
