# Chunked transfer decoding for httpclient.Connection, loaded only when a server uses it
# (Telegram answers with Content-Length; LLM streams are chunked).
from micropython import const

from .httpclient import HTTPError

_CH_SIZE = const(1)
_CH_EXT = const(2)  # chunk extension, ignored up to the line end
_CH_DATA = const(3)
_CH_CR = const(4)  # CRLF after chunk data
_CH_TRAILER = const(5)
_CH_DONE = const(6)


def fill_chunked(self):
    buf = self.buf
    while True:
        if self._ch == _CH_DONE:
            return self._end()
        if self._rpos >= self._rend:
            if not self._recv():
                self.close()
                raise HTTPError("connection closed inside a chunked body")
        st = self._ch
        if st == _CH_DATA:
            n = min(self._rend - self._rpos, self._left)
            self.start = self._rpos
            self._rpos += n
            self._left -= n
            if self._left == 0:
                self._ch = _CH_CR
            return n
        c = buf[self._rpos]
        self._rpos += 1
        if st == _CH_SIZE:
            if 48 <= c <= 57 or 97 <= c <= 102 or 65 <= c <= 70:
                self._csize = self._csize * 16 + int(chr(c), 16)
                if self._csize > 0x7FFFFFF:
                    raise HTTPError("chunk too large")
            elif c == 59 or c == 32 or c == 9:  # ';' extension, or padding
                self._ch = _CH_EXT
            elif c == 13:
                pass
            elif c == 10:
                _end_size_line(self)
            else:
                raise HTTPError("bad chunk size")
        elif st == _CH_EXT:
            if c == 10:
                _end_size_line(self)
        elif st == _CH_CR:
            if c == 10:
                self._ch = _CH_SIZE
                self._csize = 0
            elif c != 13:
                raise HTTPError("missing CRLF after chunk")
        elif st == _CH_TRAILER:
            # trailer lines end with an empty line; _csize counts bytes on this line
            if c == 10:
                if self._csize == 0:
                    self._ch = _CH_DONE
                self._csize = 0
            elif c != 13:
                self._csize += 1


def _end_size_line(self):
    if self._csize == 0:
        self._ch = _CH_TRAILER
    else:
        self._left = self._csize
        self._ch = _CH_DATA
    self._csize = 0
