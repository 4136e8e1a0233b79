# HTTP/1.1 client: one kept-alive connection per origin, bodies streamed both ways.
#
# Not micropython-lib `requests`: it opens a new connection for every call (`Connection:
# close`: a TLS handshake each time, seconds of CPU and tens of KB of heap on a board),
# reads whole bodies into RAM and does not verify certificates. One Connection owns one
# fixed buffer (`buf`), used to write the request and then to read the response, whose body
# is handed out as windows of it (the `fill()` source that json/stream.JsonReader reads).
#
#     conn = Connection(app.split_url("https://api.telegram.org"), bytearray(512), trust.context())
#     resp = conn.request(b"POST", (b"/bot", token, b"/getMe"), body=b"{}")
#     p = JsonReader(resp, bytearray(64)); ...; resp.done()
import time

from micropython import const

from picoclaw.json.write import JsonWriter
from picoclaw.net.stream import NetError, open_stream

_IDLE_MS = const(240000)  # Telegram drops idle keep-alive connections after ~5 min: go first
_CONNECT_MS = const(15000)  # TCP connect and TLS handshake (seconds of CPU on a board)
_LINE = const(128)  # longest header line kept; longer ones (cookies) are skipped, never needed
_HEAD_MAX = const(16384)  # bytes of a response head: real servers send under 2 KB
_HEAD_LINES = const(64)  # header lines: nginx sends ~10, a proxy adds a few

# body framing (_framing): Content-Length or read-to-close, or a state of the chunked decoder
# (_next_chunk). It is part of this module, not loaded when a chunked body first comes: a
# module loaded then must find a block of free heap in one piece, and in a fragmented board
# heap it would fail at every poll (LLM streams are always chunked; a proxy may chunk
# Telegram's answers too).
_CH_NONE = const(0)
_CH_SIZE = const(1)  # at a chunk-size line
_CH_AFTER = const(2)  # after a chunk's data: its CRLF, then the next size line
_CH_TRAILER = const(3)  # after the last (empty) chunk: trailer lines up to a blank one
_CH_DONE = const(4)
_CHUNK_MAX = const(0x7FFFFFF)  # a bigger size is a broken or hostile peer

# what went wrong, for _fail: the wording is in net/httpfail.py, by these numbers
_TIMED_OUT = const(0)
_BODY_CHANGED = const(1)
_HEAD_TOO_LONG = const(2)
_CLOSED_IN_HEAD = const(3)
_NOT_HTTP = const(4)
_BAD_STATUS = const(5)
_BAD_LENGTH = const(6)
_CLOSED_IN_CHUNKS = const(7)
_BAD_CHUNK_SIZE = const(8)
_NO_CRLF = const(9)
_CHUNK_TOO_LARGE = const(10)
_CLOSED_IN_BODY = const(11)
_OS_ERROR = const(12)


class HTTPError(OSError):
    """The exchange failed below HTTP status level: connect, send, malformed or cut response."""


def _fail(n, *args):
    """The HTTPError for failure n, worded by net/httpfail.py (loaded only now, and dropped
    after)."""
    from picoclaw import load, unload

    try:
        return load("picoclaw.net.httpfail").error(n, args)
    except MemoryError:  # no room for its code in this heap: the bare facts
        return HTTPError(n, *args)
    finally:
        unload("picoclaw.net.httpfail")


class Connection(JsonWriter):
    """One persistent HTTP/1.1 connection to one origin, reopened when it drops."""

    # (tls.ca_file, workspace) for anchors.handle, set by app for https with tls.verify on; None:
    # a refused certificate is final. A class default: only those connections set their own
    trust = None
    tls_plan = None  # net/tlsheap.Plan where TLS shares the heap (app.build), else None

    def __init__(self, url, buf, ctx=None, opener=None):
        """url: (scheme, host, port, path prefix) as app.split_url gives; ctx: the
        SSLContext for https (None for http)."""
        https, self.host, self.port, prefix = url
        https = https == "https"
        self.prefix = prefix.encode()
        self.ctx = ctx if https else None
        JsonWriter.__init__(self, buf)
        self.opener = opener or open_stream
        self.stream = None
        self.last_used = 0
        self.connects = 0  # TCP connections opened (each is a TLS handshake under https)
        self.requests = 0
        self._timeout = 0  # ticks_ms by which the whole exchange must be over
        self._line = bytearray(_LINE)
        self._hostb = self.host.encode()
        if self.port != (443 if https else 80):
            self._hostb += b":%d" % self.port
        # response state (one response at a time per connection)
        self.status = 0
        self.length = -1  # Content-Length; -1: none given
        self.chunked = False
        self.keep_alive = True
        self.retry_after = -1  # Retry-After header, seconds; -1: none
        self.start = 0
        self._rpos = 0  # unread bytes in buf: [_rpos, _rend)
        self._rend = 0
        self._left = 0  # body bytes left: of the whole body, or of the current chunk
        self._framing = _CH_NONE
        self._open = False  # a response body is being read

    # -- connection -------------------------------------------------------------------
    def close(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None
            if self.tls_plan is not None:
                self.tls_plan.close(self)
        self._open = False

    def _connect(self):
        self.close()
        plan = self.tls_plan if self.ctx is not None else None
        # TLS in the heap: room made for the handshake (net/tlsheap.py)
        ctx = self.ctx if plan is None else plan.open(self, self.ctx)
        try:
            self.stream = self.opener(self.host, self.port, ctx, _CONNECT_MS)
        except NetError as e:
            if self.trust is None:
                raise
            # a refused certificate: the other shipped roots, in turn (anchors.py, loaded now)
            from picoclaw import load

            load("picoclaw.net.anchors").handle(self, e, _CONNECT_MS)
        finally:
            if plan is not None:
                plan.done(self)
        self.connects += 1

    # -- writing the request body -------------------------------------------------------
    # A body producer `body(conn)` is called twice: once counting (for Content-Length),
    # once sending, so a body read from flash is never held in RAM. It writes with
    # JsonWriter's write, json_begin, json_part and json_end; _put and _flush send.

    # -- sending ------------------------------------------------------------------------
    def _flush(self):
        if self._waiting:
            self.stream.send(self.buf, self._waiting, self._wait())
            self._waiting = 0

    def _wait(self):
        """How long the next read or write may wait: what is left of the exchange's time.
        Past it the exchange ends here, whatever the peer is doing (a byte every few
        seconds, a body that never ends)."""
        left = time.ticks_diff(self._timeout, time.ticks_ms())
        if left <= 0:
            raise _fail(_TIMED_OUT, self.host)
        return left

    def _put(self, data, n):
        buf = self.buf
        size = len(buf)
        i = 0
        while i < n:
            if self._waiting == size:
                self._flush()
            k = min(n - i, size - self._waiting)
            # data whole, or a view of the part: a slice of data would be a copy (as big as
            # the piece: up to 256 bytes at the heap's peak, in a model request)
            buf[self._waiting:self._waiting + k] = data if k == len(data) else memoryview(data)[i:i + k]
            self._waiting += k
            i += k

    def _send_request(self, method, path, body, headers):
        length = -1
        if callable(body):
            self.counting = True
            self.size = 0
            try:
                body(self)
            finally:
                self.counting = False
            length = self.size
        elif body is not None:
            length = len(body)
        self._waiting = 0
        w = self.write
        w(method)
        w(b" ")
        w(self.prefix)
        if isinstance(path, tuple):
            for part in path:
                w(part)
        else:
            w(path)
        w(b" HTTP/1.1\r\nHost: ")
        w(self._hostb)
        w(b"\r\nUser-Agent: picoclaw-mpy/0.1\r\nAccept: application/json\r\nConnection: keep-alive\r\n")
        for h in headers:
            w(h)
            w(b"\r\n")
        if length >= 0:
            w(b"Content-Type: application/json\r\nContent-Length: %d\r\n" % length)
        w(b"\r\n")
        if callable(body):
            before = self.size
            body(self)
            if self.size - before != length:
                raise _fail(_BODY_CHANGED, self.size - before, length)
        elif body is not None:
            w(body)
        self._flush()

    # -- the exchange -------------------------------------------------------------------
    def request(self, method, path, body=None, headers=(), timeout_ms=30000):
        """Send a request and read the response head; returns self, now the response.

        path: bytes, or a tuple of bytes written one after another (no concatenation).
        body: None, bytes, or a callable body(conn) that writes it with conn.write and
        conn.json_begin/json_part/json_end (called twice: counting, then sending).
        timeout_ms: for the whole exchange, every read and write, the body included (a long
        poll needs its poll time plus a margin): a peer that sends a byte now and then, or
        a body that never ends, is cut off by it.
        Afterwards: status, length, chunked, retry_after; read the body through fill()
        (or a JsonReader over this object) and call done(). A body not read to its end
        makes the connection unusable, so done() closes it then.
        """
        if self._open:
            self.close()  # the previous body was abandoned mid-way
        now = time.ticks_ms()
        self._timeout = time.ticks_add(now, timeout_ms)
        if self.stream is not None and time.ticks_diff(now, self.last_used) > _IDLE_MS:
            self.close()
        for attempt in (0, 1):
            fresh = self.stream is None
            if fresh:
                self._connect()
            got_bytes = [False]
            try:
                self._send_request(method, path, body, headers)
                self._read_head(got_bytes)
                break
            except NetError:
                self.close()
                raise
            except OSError as e:
                self.close()
                # A reused connection that dies before any byte of an answer was closed by
                # the server while idle: that request was not processed, so send it again.
                # Not after a timeout: the server may be working on it (a stall), and the
                # caller's back-off, not an instant second try, is the answer to that.
                code = e.args[0] if e.args else None
                if fresh or attempt or got_bytes[0] or code == 110 or \
                        time.ticks_diff(self._timeout, time.ticks_ms()) <= 0:
                    if isinstance(e, HTTPError):
                        raise
                    raise _fail(_OS_ERROR, self.host, e)
            except BaseException:
                # out of memory, or the body's own error, half way through a request: the
                # server holds part of it, so the connection can never carry another
                self.close()
                raise
        self.requests += 1
        self.last_used = time.ticks_ms()
        return self

    def _recv(self, want=0):
        """Read into the whole buffer (or its first `want` bytes); returns how many."""
        try:
            n = self.stream.recv(self.buf, want or len(self.buf), self._wait())
        except OSError as e:
            if e.args and e.args[0] == 110:  # the read waited for what was left of the time
                raise _fail(_TIMED_OUT, self.host)
            raise
        self._rpos = 0
        self._rend = n
        return n

    def _read_head(self, got_bytes):
        self.status = 0
        self.length = -1  # Content-Length; -1: none given
        self.chunked = False
        self.keep_alive = True
        self.retry_after = -1  # Retry-After header, seconds; -1: none
        self._rpos = self._rend = 0
        line = self._line
        ln = 0  # bytes of a line carried over from the previous read
        first = True
        buf = self.buf
        lines = size = 0
        while True:
            if self._rpos >= self._rend:
                if size > _HEAD_MAX or lines > _HEAD_LINES:
                    raise _fail(_HEAD_TOO_LONG, self.host, _HEAD_MAX, _HEAD_LINES)
                if not self._recv():
                    raise _fail(_CLOSED_IN_HEAD)
                got_bytes[0] = True
                size += self._rend
            i = buf.find(b"\n", self._rpos, self._rend)
            if i < 0:  # the line continues in the next read: keep what fits
                k = min(self._rend - self._rpos, _LINE - ln)
                line[ln:ln + k] = buf[self._rpos:self._rpos + k]
                ln += k
                self._rpos = self._rend
                continue
            if ln:
                k = min(i - self._rpos, _LINE - ln)
                line[ln:ln + k] = buf[self._rpos:self._rpos + k]
                src, s, e = line, 0, ln + k
            else:
                src, s, e = buf, self._rpos, i
            self._rpos = i + 1
            ln = 0
            lines += 1
            if e > s and src[e - 1] == 13:  # CR
                e -= 1
            if first:  # HTTP/1.1 200 OK
                if e - s < 12 or not src.startswith(b"HTTP/1.", s) or src[s + 8] != 32:
                    raise _fail(_NOT_HTTP)
                if src[s + 7] == 48:  # HTTP/1.0: no keep-alive unless the server says so
                    self.keep_alive = False
                self.status = _digits(src, s + 9, s + 12)
                if self.status < 100:
                    raise _fail(_BAD_STATUS)
                first = False
            elif e == s:  # blank line: end of head
                break
            else:
                self._header(src, s, e)
        if self.status == 100:  # "100 Continue": the real head follows
            return self._read_head(got_bytes)
        self._open = True
        if self.chunked:
            self._framing = _CH_SIZE
            self._left = 0
        else:
            self._framing = _CH_NONE
            self._left = self.length  # -1: until the server closes
            if self.length < 0:
                self.keep_alive = False

    def _header(self, b, s, e):
        c = b.find(b":", s, e)
        if c < 0:
            return
        v = c + 1
        while v < e and (b[v] == 32 or b[v] == 9):
            v += 1
        n = c - s
        if n == 14 and _ieq(b, s, b"content-length"):
            self.length = _digits(b, v, e)
            if self.length < 0:
                raise _fail(_BAD_LENGTH)
        elif n == 17 and _ieq(b, s, b"transfer-encoding"):
            self.chunked = _ifind(b, v, e, b"chunked")
        elif n == 10 and _ieq(b, s, b"connection"):
            if _ifind(b, v, e, b"close"):
                self.keep_alive = False
            elif _ifind(b, v, e, b"keep-alive"):
                self.keep_alive = True
        elif n == 11 and _ieq(b, s, b"retry-after"):
            self.retry_after = _digits(b, v, e)

    # -- the body as a parser source ----------------------------------------------------
    def fill(self):
        """Next piece of the body: n bytes at buf[start:start+n]; 0 at the end.

        Each call may overwrite what the previous one returned (the buffer is reused)."""
        if not self._open:
            return 0
        if self._framing and self._left == 0:
            # Between chunks: read up to the next chunk's data and set _left to its size,
            # or, after the last chunk, past the trailer lines (_framing = _CH_DONE). Extensions
            # after a ";" are ignored.
            size = -1  # no digit yet
            ext = False
            line = 0  # bytes on the current trailer line
            buf = self.buf
            while True:
                if self._rpos >= self._rend and not self._recv():
                    self.close()
                    raise _fail(_CLOSED_IN_CHUNKS)
                c = buf[self._rpos]
                self._rpos += 1
                st = self._framing
                if st == _CH_TRAILER:
                    if c == 10:
                        if not line:
                            self._framing = _CH_DONE
                            break
                        line = 0
                    elif c != 13:
                        line += 1
                elif c == 10:
                    if st == _CH_AFTER:
                        self._framing = _CH_SIZE  # the CRLF that ends a chunk's data
                    elif size < 0:
                        raise _fail(_BAD_CHUNK_SIZE)
                    elif size:
                        self._left = size
                        self._framing = _CH_AFTER
                        break
                    else:
                        self._framing = _CH_TRAILER
                elif c == 13 or ext:
                    pass
                elif st == _CH_AFTER:
                    raise _fail(_NO_CRLF)
                elif 48 <= c <= 57 or 97 <= c <= 102 or 65 <= c <= 70:
                    size = (0 if size < 0 else size * 16) + (c - 48 if c <= 57 else (c | 32) - 87)
                    if size > _CHUNK_MAX:
                        raise _fail(_CHUNK_TOO_LARGE)
                elif size >= 0 and (c == 59 or c == 32 or c == 9):  # ';' extension, or padding
                    ext = True
                else:
                    raise _fail(_BAD_CHUNK_SIZE)
        if self._framing == _CH_DONE or self._framing == _CH_NONE and self._left == 0:
            return self._end()
        if self._rpos >= self._rend:
            # chunked: read what comes (the next size line may follow in the same read)
            if not self._recv(0 if self._left < 0 or self._framing else min(len(self.buf), self._left)):
                if self._left < 0:  # body delimited by close
                    return self._end()
                self.close()
                raise _fail(_CLOSED_IN_BODY, self._left)
        n = self._rend - self._rpos
        if 0 <= self._left < n:
            n = self._left
        self.start = self._rpos
        self._rpos += n
        if self._left > 0:
            self._left -= n
        return n

    def _end(self):
        self._open = False
        if not self.keep_alive or self._rpos < self._rend:
            self.close()  # the server will close, or sent bytes we did not ask for
        return 0

    def done(self):
        """Finish with the response: the connection is kept only if the body was read
        to its end; otherwise it is closed (cheaper than draining a long body)."""
        if self._open:
            if self._left == 0 and self._framing in (_CH_NONE, _CH_DONE):
                self._end()
            else:
                self.close()


def _digits(b, s, e):
    """Non-negative decimal integer in b[s:e] (spaces after allowed); -1 if none."""
    v = -1
    while s < e:
        c = b[s]
        if 48 <= c <= 57:
            v = (0 if v < 0 else v * 10) + c - 48
        elif c == 32 or c == 9:
            break
        else:
            return -1
        s += 1
    return v


def _ieq(b, s, name):
    """b[s:s+len(name)] equals lowercase `name`, ignoring ASCII case."""
    for i in range(len(name)):
        if b[s + i] | 0x20 != name[i]:
            return False
    return True


def _ifind(b, s, e, name):
    """b[s:e] contains lowercase `name`, ignoring ASCII case."""
    n = len(name)
    while s + n <= e:
        if _ieq(b, s, name):
            return True
        s += 1
    return False
