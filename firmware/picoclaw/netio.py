# The one module that touches sockets: open a TCP or TLS stream with timeouts, move bytes.
#
# MicroPython: the socket is put in non-blocking mode after the handshake and waited on
# with select.poll().ipoll(), because a blocking readinto() waits until the buffer is *full*
# (useless on a kept-alive connection) and ipoll() is the allocation-free poll. Reading is
# then allocation-free (proved under heap_lock in the tests). CPython (host tests) has no
# stream readinto; there a blocking socket with a timeout and recv_into() do the same job.
# Which one is used is probed from the socket object, never from the platform name.
import socket

from micropython import const

try:
    import select
except ImportError:  # pragma: no cover - every port we target has select
    select = None

_ETIMEDOUT = const(110)
_IPPROTO_TCP = const(6)  # the same numbers on Linux and lwIP; MicroPython names neither
_TCP_NODELAY = const(1)
_handshakes = [0]  # TLS handshakes since boot (a list so no `global` is needed to count)


def handshakes():
    """TLS handshakes performed since start (the benchmarks report this per 100 messages)."""
    return _handshakes[0]


class TLSError(OSError):
    """The TLS handshake failed: certificate refused, or not enough memory."""


def _tls_reason(e):
    msg = str(e).strip() or repr(e)
    code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
    # mbedTLS: -0x7F00 SSL_ALLOC_FAILED, -0x2880 X509_ALLOC_FAILED, -17040 RSA out of memory
    if code in (-17040, -0x7F00, -0x2880) or "ALLOC_FAILED" in msg.upper():
        return "not enough memory for TLS (%s); free heap or use a board with more RAM" % msg
    return msg


def open_stream(host, port, ctx, timeout_ms):
    """Connect to host:port (TLS when ctx is an SSLContext) and return a Stream.

    Raises OSError on connect failure or timeout, TLSError when the certificate is refused.
    """
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.settimeout(timeout_ms / 1000)
        s.connect(ai[-1])
        try:
            # requests go out in buffer-sized pieces: with Nagle's algorithm the last piece
            # waits for the peer's delayed ACK (40 ms on Linux) before it is sent
            s.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass  # a stack without it: slower, not wrong
        if ctx is not None:
            try:
                _handshakes[0] += 1
                s = ctx.wrap_socket(s, server_hostname=host)
            except OSError as e:
                if getattr(e, "errno", None) == _ETIMEDOUT or "timed out" in str(e):
                    raise
                raise TLSError("TLS with %s failed: %s" % (host, _tls_reason(e)))
            except ValueError as e:  # MicroPython reports a refused certificate this way
                raise TLSError("TLS with %s failed: %s" % (host, _tls_reason(e)))
    except BaseException:
        s.close()
        raise
    return Stream(s)


class Stream:
    """A connected socket with timeouts on every read and write."""

    def __init__(self, sock):
        self.sock = sock
        self._mp = hasattr(sock, "readinto")  # MicroPython stream protocol
        self._poll = None
        if self._mp and select is not None:
            sock.setblocking(False)
            p = select.poll()
            # ipoll() allocates its result tuple on the first event it reports, then reuses
            # it: take that allocation now (a fresh socket is writable) so reads never do.
            p.register(sock, select.POLLOUT)
            for _ in p.ipoll(0):
                pass
            p.modify(sock, select.POLLIN)
            self._poll = p

    def _wait(self, event, timeout_ms):
        p = self._poll
        if event != select.POLLIN:
            p.modify(self.sock, event)
        for _obj, _ev in p.ipoll(timeout_ms):
            if event != select.POLLIN:
                p.modify(self.sock, select.POLLIN)
            return
        if event != select.POLLIN:
            p.modify(self.sock, select.POLLIN)
        raise OSError(_ETIMEDOUT)

    def recv(self, buf, n, timeout_ms):
        """Read up to n bytes into buf[0:n]; returns how many (0: the peer closed).
        Raises OSError(ETIMEDOUT) when nothing arrives within timeout_ms."""
        if self._mp:
            r = self.sock.readinto(buf, n)
            while r is None:  # nothing buffered yet
                self._wait(select.POLLIN, timeout_ms)
                r = self.sock.readinto(buf, n)
            return r
        self.sock.settimeout(timeout_ms / 1000)
        try:
            return self.sock.recv_into(buf, n)
        except OSError as e:
            if "timed out" in str(e):
                raise OSError(_ETIMEDOUT)
            raise

    def send(self, buf, n, timeout_ms):
        """Write buf[0:n] completely, or raise OSError."""
        mv = memoryview(buf)
        off = 0
        while off < n:
            if self._mp:
                w = self.sock.write(mv[off:n])
                if w is None:  # socket buffer full: wait until it drains
                    self._wait(select.POLLOUT, timeout_ms)
                    continue
            else:
                self.sock.settimeout(timeout_ms / 1000)
                w = self.sock.send(mv[off:n])
            if not w:
                raise OSError("connection closed while sending")
            off += w

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
