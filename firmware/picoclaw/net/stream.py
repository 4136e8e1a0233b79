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


class NetError(OSError):
    """A connection could not be made: DNS, refused, timeout, no route, or the TLS handshake
    (the certificate refused, not enough memory). Its message is one line naming host:port
    and what to check. (One class for all: docs/memory.md.)"""


def open_stream(host, port, ctx, timeout_ms):
    """Connect to host:port (TLS when ctx is an SSLContext) and return a Stream.

    Raises NetError saying what failed, with host:port: DNS, refused, timeout, no route, or
    the TLS handshake (the certificate refused, not enough memory).
    """
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    except OSError as e:  # MicroPython: OSError(-2) "addrinfo error"; CPython: socket.gaierror
        raise failure(0, e, host, port, timeout_ms)
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.settimeout(timeout_ms / 1000)
        try:
            s.connect(ai[-1])
        except OSError as e:
            raise failure(1, e, host, port, timeout_ms)
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
            except (OSError, ValueError) as e:  # MicroPython: a refused certificate is a ValueError
                raise failure(2, e, host, port, timeout_ms)
    except BaseException:
        s.close()
        raise
    return Stream(s)


def failure(step, e, host, port, timeout_ms):
    """The error to raise for a failed step (0 DNS, 1 connect, 2 TLS): NetError
    with one line naming host:port and what to check; step 3: the line for an answer that is
    not the API's (e: the Connection, host: the status, port: 1 for a model's api_base).
    The wording is in net/fail.py, loaded only now (a failure) and dropped after."""
    from picoclaw import load, unload

    try:
        return load("picoclaw.net.fail").error(step, e, host, port, timeout_ms)
    except MemoryError:  # no room for its code in this heap: the bare facts, still one line
        if step == 3:  # e: the Connection
            return "%s%s answered %d: not the API; check the URL" % (e._hostb.decode(), e.prefix.decode(), host)
        return NetError("%s:%d: connection failed (%s)" % (host, port, e))
    finally:
        unload("picoclaw.net.fail")


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
