# JSON to and from files on flash: a buffered file writer and a line-by-line parser source.
#
# Session lines (agent/session.py) and a tool call's arguments (llm/anthropic.py) are
# written by FileOut with the same escaper as request bodies (json/write.JsonWriter), and
# read back by JsonReader over a LineSource, so no line is ever held in RAM whole.
from picoclaw.json.write import JsonWriter


class FileOut(JsonWriter):
    """JsonWriter into an open file; buf holds escaped text until it is full or _flush()."""

    def __init__(self, f, buf):
        JsonWriter.__init__(self, buf)
        self.f = f

    def _flush(self):
        if self._waiting:
            self.f.write(memoryview(self.buf)[:self._waiting])
            self._waiting = 0

    def _put(self, data, n):
        self._flush()
        self.f.write(memoryview(data)[:n] if n < len(data) else data)

    def json_str(self, data):
        """Write data (str or bytes) as one JSON string."""
        self.json_begin()
        self.json_part(data)
        self.json_end()

    def json_file(self, path, n=-1):
        """Write the first n bytes (all: -1) of a file as a JSON string."""
        self.json_begin()
        with open(path, "rb") as f:
            self.json_copy(f, n)
        self.json_end()

    def json_copy(self, f, n=-1):
        """Escape n bytes (-1: to the end) of open file f, from its position, into the
        string begun with json_begin."""
        buf = bytearray(128)  # the read side; self.buf is the escaped side
        while n:
            k = f.readinto(buf)
            if not k:
                break
            if 0 < n < k:
                k = n
            self.json_part(buf, k)
            n -= k if n > 0 else 0


class LineSource:
    """A parser source over one line of a file at a time (JSON Lines): fill() stops at the
    newline; next_line() moves to the following line.

        src = LineSource(f, bytearray(128)); p = JsonReader(src, out)
        while src.at_line(): ...read one object with p...; src.next_line()
    """

    def __init__(self, f, buf, left=-1):
        self.f = f
        self.buf = buf
        self.start = 0
        self._pos = 0
        self._end = 0
        self._eol = False
        self._left = left  # bytes of the file still to read (-1: to its end)

    def _more(self):
        if self._pos >= self._end:
            self._pos = 0
            if self._left < 0:
                self._end = self.f.readinto(self.buf) or 0
            elif self._left:
                self._end = self.f.readinto(memoryview(self.buf)[:min(self._left, len(self.buf))]) or 0
                self._left -= self._end
            else:
                self._end = 0
        return self._end > 0

    def fill(self):
        if self._eol or not self._more():
            return 0
        i = self.buf.find(b"\n", self._pos, self._end)
        self.start = self._pos
        if i >= 0:
            self._eol = True
            self._pos = i + 1
            return i - self.start
        self._pos = self._end
        return self._end - self.start

    def next_line(self):
        """Skip what is left of this line; True if another (non-empty) line follows."""
        while not self._eol and self.fill():
            pass
        self._eol = False
        return self.at_line()

    def at_line(self):
        """Skip empty lines; True if a line starts here."""
        while self._more():
            if self.buf[self._pos] != 10:  # not an empty line
                return True
            self._pos += 1
        return False
