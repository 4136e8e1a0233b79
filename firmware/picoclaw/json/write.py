# JSON output without building strings: escape text straight into a fixed output buffer.
#
# JsonWriter is the writer of request bodies (net/http.Connection) and of session lines
# (json/files.FileOut): the same code escapes both, into the writer's buffer.
# escape() is the hot loop of every request body (a 4096-character Telegram text, later an
# LLM history read back from flash), so it is viper like the scanner, and CPython runs the
# same source. It also counts UTF-16 code units, because Telegram caps a message at 4096 of
# those: a cap stops the copy at a character boundary.
from array import array

import micropython
from micropython import const

# slots of the state array handed to escape()
_SPOS = const(0)  # next input byte
_SEND = const(1)  # end of input
_DPOS = const(2)  # next output byte
_DEND = const(3)  # end of output space
_UNITS = const(4)  # UTF-16 code units copied so far
_UCAP = const(5)  # stop before exceeding this many units (0: no cap)
_CUT = const(6)  # set to 1 when the unit cap stopped the copy
_COUNT = const(7)  # 1: count output bytes only, write nothing
NSLOTS = const(8)

_HEX = const(b"0123456789abcdef")


@micropython.viper
def escape(src: ptr8, st: ptr32, dst: ptr8, hexd: ptr8) -> int:
    """Escape src[_SPOS:_SEND] as JSON string content into dst[_DPOS:_DEND].

    Stops when the input is consumed (returns 0), the output is full (1), or the unit cap
    is reached (2). Each escape is written whole or not at all, so a call can resume."""
    i = int(st[_SPOS])
    e = int(st[_SEND])
    o = int(st[_DPOS])
    oe = int(st[_DEND])
    units = int(st[_UNITS])
    ucap = int(st[_UCAP])
    count = int(st[_COUNT])
    r = 0
    while i < e:
        c = int(src[i])
        if c >= 0x80:
            if o >= oe:  # room first: a byte not written now is read again on resume,
                r = 1  # so nothing may be counted before this check
                break
            if c >= 0xC0:  # lead byte: a new character
                u = 2 if c >= 0xF0 else 1  # 4-byte sequences are surrogate pairs in UTF-16
                if ucap:
                    if units + u > ucap:
                        st[_CUT] = 1
                        r = 2
                        break
                units += u
            if not count:
                dst[o] = c
            o += 1
        elif c == 0x22 or c == 0x5C or c < 0x20:
            if ucap:
                if units + 1 > ucap:
                    st[_CUT] = 1
                    r = 2
                    break
            n = 2
            x = 0
            if c == 0x22 or c == 0x5C:
                x = c
            elif c == 0x0A:
                x = 0x6E
            elif c == 0x0D:
                x = 0x72
            elif c == 0x09:
                x = 0x74
            else:
                n = 6
            if o + n > oe:
                r = 1
                break
            if not count:
                dst[o] = 0x5C
                if n == 2:
                    dst[o + 1] = x
                else:
                    dst[o + 1] = 0x75
                    dst[o + 2] = 0x30
                    dst[o + 3] = 0x30
                    dst[o + 4] = hexd[c >> 4]
                    dst[o + 5] = hexd[c & 15]
            o += n
            units += 1
        else:
            if ucap:
                if units + 1 > ucap:
                    st[_CUT] = 1
                    r = 2
                    break
            if o >= oe:
                r = 1
                break
            if not count:
                dst[o] = c
            o += 1
            units += 1
        i += 1
    st[_SPOS] = i
    st[_DPOS] = o
    st[_UNITS] = units
    return r


class JsonWriter:
    """Writes bytes and JSON string values (escaped piece by piece, never joined in RAM)
    through a sink that the subclass supplies:

        _put(data, n)  hand data[:n] on (after what is waiting in buf)
        _flush()       hand on the `_waiting` bytes at the start of buf

    With `counting` set nothing is written, only `size` grows: a body is measured first
    (Content-Length), then written, and both passes must write the same bytes.

        w.json_begin(4096); w.json_part(text); cut = w.json_end()
    """

    def __init__(self, buf):
        self.buf = buf  # escape output; handed to the sink when full
        self._waiting = 0  # bytes of buf not yet handed to the sink
        self.counting = False
        self.size = 0  # bytes written (or counted) so far
        self._escape_state = array("i", bytes(4 * NSLOTS))

    def write(self, data, n=-1):
        """Write bytes/bytearray/str (str only for short constant text); n: only data[:n]."""
        if isinstance(data, str):
            data = data.encode()
        if n < 0:
            n = len(data)
        self.size += n
        if not self.counting:
            self._put(data, n)

    def json_begin(self, units_cap=0):
        """Start a JSON string written in pieces (json_part), cut after units_cap UTF-16
        units (0: no cap) at a character boundary."""
        st = self._escape_state
        st[_UNITS] = 0
        st[_UCAP] = units_cap
        st[_CUT] = 0
        self.write(b'"')

    def json_part(self, data, n=-1):
        """Escape the next piece (data[:n], UTF-8). Returns False once the cap was reached."""
        if isinstance(data, str):
            data = data.encode()
        st = self._escape_state
        if st[_CUT]:
            return False
        counting = self.counting
        st[_SPOS] = 0
        st[_SEND] = len(data) if n < 0 else n
        st[_COUNT] = 1 if counting else 0
        buf = self.buf
        while True:
            if counting:
                st[_DPOS] = 0
                st[_DEND] = 0x3FFFFFFF  # no end: only the byte count matters
            else:
                st[_DPOS] = self._waiting
                st[_DEND] = len(buf)
            before = st[_DPOS]
            r = escape(data, st, buf, _HEX)
            self.size += st[_DPOS] - before
            if not counting:
                self._waiting = st[_DPOS]
            if r == 1:  # buf is full: hand it on, then go on from where escape stopped
                self._flush()
                continue
            return r == 0

    def json_end(self):
        """Close the string; returns True when the cap cut it."""
        self.write(b'"')
        return bool(self._escape_state[_CUT])
