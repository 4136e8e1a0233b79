# Server-Sent Events (text/event-stream) as a parser source: one `data:` payload at a time.
#
# Streaming LLM answers arrive as lines `event: x`, `data: {json}` and blank lines. The JSON
# parser reads straight from the HTTP body through this source: fill() hands out the bytes
# of the current data line and returns 0 at its end, so each payload parses as one
# document; next_event() skips to the next data line. Nothing is copied or buffered here
# beyond the connection's own buffer. One-line data fields only (what the providers send).
from micropython import const

_DATA = b"data:"
_LBRACKET = const(91)  # "[": OpenAI's closing `data: [DONE]`


class SseSource:
    def __init__(self, body):
        self.body = body  # a source: buf, start, fill() (httpclient.Connection)
        self.buf = body.buf
        self.start = 0
        self._pos = 0
        self._end = 0
        self._in = False  # inside a data line

    def _more(self):
        if self._pos >= self._end:
            n = self.body.fill()
            if not n:
                return False
            self._pos = self.body.start
            self._end = self._pos + n
        return True

    def fill(self):
        if not self._in or not self._more():
            return 0
        i = self.buf.find(b"\n", self._pos, self._end)
        self.start = self._pos
        if i >= 0:
            self._in = False
            self._pos = i + 1
            return i - self.start
        self._pos = self._end
        return self._end - self.start

    def next_event(self):
        """Move to the next data payload; False at the end of the stream (or [DONE])."""
        while self._in and self.fill():
            pass
        self._in = False
        m = 0  # bytes of "data:" matched at the start of this line (6: and its space); -1: other line
        while self._more():
            c = self.buf[self._pos]
            if m == 5 and c == 32:
                self._pos += 1
                m = 6
                continue
            if 0 <= m < 5 and c == _DATA[m]:
                m += 1
                self._pos += 1
                continue
            if m >= 5:
                if c == _LBRACKET:
                    return False
                self._in = True
                return True
            i = self.buf.find(b"\n", self._pos, self._end)  # not a data line: skip it
            if i < 0:
                self._pos = self._end
                m = -1
                continue
            self._pos = i + 1
            m = 0
        return False
