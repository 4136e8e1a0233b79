"""HTTP/1.1 (+TLS) server plumbing shared by the fake servers (telegram_server.py, llm_server.py). HOST ONLY: a CPython test fixture, never frozen or deployed.

What this module owns:
- TLS material: throwaway CAs and leaf certificates (trustme), cached per process, so one CA
  file trusts every fake of the same key type (_ca, _intermediate, _leaf). Like
  api.telegram.org, a fake presents leaf + intermediate (RSA-2048 unless key_type=ECDSA), so a
  client verifies a real-shaped chain; the files it writes for clients hold the root only.
  presented_chain(port) reads back the chain a server sends (for the fakes' own tests).
- Conn: one accepted connection with the strict HTTP/1.1 request reader (CRLF line endings,
  Host header, no Content-Length + Transfer-Encoding together, chunked bodies, size limits),
  peer_gone() for long polls, send_raw() and a close() that never sends a TLS close_notify.
  It writes no responses itself: each fake subclasses it with its own response writer and
  fault semantics.
- Server: the lifecycle and connection handling: the temporary directory with ca.pem/ca.der,
  the server SSLContext, start() (listen on 127.0.0.1, ephemeral port, accept thread),
  stop() (wake waiters, shut down live sockets, join threads), the context manager, the
  accept loop, one thread per connection, TCP_NODELAY, the TLS handshake (failures recorded
  in .handshake_errors), .connections counting, the idle timeout, the request loop, and
  exceptions escaping the fake recorded in .errors.

What a subclass provides (see Server):
- _conn_class: its Conn subclass (the response writer).
- _listening(origin): set its URLs once the port is known (origin "<scheme>://localhost:PORT").
- _malformed(conn, error): record and answer a request the reader refused (HttpError); the
  connection is closed afterwards.
- _handle(conn, req): answer one request; return True to keep the connection open.
"""
import os
import re
import select
import shutil
import socket
import ssl
import tempfile
import threading
import time
import weakref

import trustme

_MAX_LINE = 8192
_MAX_HEADERS = 32 * 1024
_MAX_BODY = 20 * 1024 * 1024


class _Closed(Exception):
    """The peer closed (or the fake is stopping): end the connection without a response."""


class _HttpError(Exception):
    """Malformed HTTP: answer 400 and close."""


def wants_close(version, headers):
    """True if the client asked to close the connection after this request ("Connection: close",
    or HTTP/1.0 without keep-alive)."""
    conn_hdr = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    return "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr)


# ---------------------------------------------------------------------------------------------
# TLS material (throwaway CAs, cached per process: generating keys is the slow part)

_tls_lock = threading.Lock()
_cas = {}
_leaves = {}


_intermediates = {}


def _ca(which, key_type):
    """The root of `which` ("trusted": in every fake's ca.pem; "unknown": in no file at all).
    trustme's RSA keys are 2048-bit, as api.telegram.org's."""
    with _tls_lock:
        k = (which, key_type)
        if k not in _cas:
            _cas[k] = trustme.CA(organization_name="FakeTelegram %s CA" % which, key_type=key_type)
        return _cas[k]


def _intermediate(which, key_type):
    """The intermediate CA under _ca(which, key_type) that issues the leaves: real servers
    send leaf + intermediate, and the client's trust file holds only the root."""
    root = _ca(which, key_type)
    with _tls_lock:
        k = (which, key_type)
        if k not in _intermediates:
            _intermediates[k] = root.create_child_ca(key_type=key_type)  # trustme's default is ECDSA
        return _intermediates[k]


def _leaf(which, hosts, key_type):
    """A leaf for hosts issued by the intermediate; its configure_cert(ctx) loads the chain
    leaf + intermediate (trustme leaves the root out), which the handshake sends."""
    ca = _intermediate(which, key_type)
    with _tls_lock:
        k = (which, tuple(hosts), key_type)
        if k not in _leaves:
            _leaves[k] = ca.issue_cert(*hosts, key_type=key_type)
        return _leaves[k]


def presented_chain(port, host="localhost", timeout=5.0):
    """The DER certificates a TLS server on 127.0.0.1:port sends in its handshake, in the
    order sent (leaf first), unverified. For tests of the fakes: CPython before 3.13 has no
    SSLSocket.get_unverified_chain(), so this runs a TLS 1.2 handshake (whose Certificate
    message is not encrypted, unlike TLS 1.3's) through memory BIOs and parses the server's
    handshake records itself.

        ders = presented_chain(fake.port)   # [leaf, intermediate]
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=host)
    got = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(out.read())
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed during the handshake")
                got += data
                inc.write(data)
        sock.sendall(out.read())
    # TLS records: type(1) version(2) length(2); the handshake (22) bytes before the server's
    # ChangeCipherSpec (20) are plaintext, and one message may span records
    hs = bytearray()
    i = 0
    while i + 5 <= len(got) and got[i] != 20:
        n = int.from_bytes(got[i + 3:i + 5], "big")
        if got[i] == 22:
            hs += got[i + 5:i + 5 + n]
        i += 5 + n
    # handshake messages: type(1) length(3); Certificate (11) = list length(3), then per
    # certificate length(3) + DER
    i = 0
    while i + 4 <= len(hs):
        n = int.from_bytes(hs[i + 1:i + 4], "big")
        if hs[i] == 11:
            body = hs[i + 4:i + 4 + n]
            end = 3 + int.from_bytes(body[:3], "big")
            ders, j = [], 3
            while j < end:
                m = int.from_bytes(body[j:j + 3], "big")
                ders.append(bytes(body[j + 3:j + 3 + m]))
                j += 3 + m
            return ders
        i += 4 + n
    raise ValueError("no Certificate message in the server's handshake")


# ---------------------------------------------------------------------------------------------
# one HTTP connection


class Conn:
    """One accepted connection: strict request reading and raw writes. A subclass adds the
    fake's response writer."""

    def __init__(self, fake, sock, raw, num):
        self.fake = fake
        self.sock = sock      # what we read/write (SSLSocket or plain socket)
        self.raw = raw        # the TCP socket (a dup for TLS): used for shutdown()
        self.num = num
        self.buf = bytearray()

    # --- reading
    def _recv_more(self):
        if self.fake._stopping:
            raise _Closed()
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, OSError):
            raise _Closed()
        if not data:
            raise _Closed()
        self.buf += data

    def read_line(self, limit=_MAX_LINE):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if not line.endswith(b"\r\n"):
                    raise _HttpError("line not terminated by CRLF")
                return line[:-2]
            if len(self.buf) > limit:
                raise _HttpError("line too long")
            start = len(self.buf)
            self._recv_more()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._recv_more()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_request(self):
        """Return (verb, target, version, headers{lower: value}, body). Raises _Closed on EOF
        before a request starts, _HttpError on malformed input."""
        line = self.read_line()
        try:
            verb, target, version = line.decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise _HttpError("malformed request line %r" % line[:80])
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _HttpError("unsupported protocol %r" % version)
        if not verb.isalpha() or not verb.isupper():
            raise _HttpError("malformed method %r" % verb)
        if not target.startswith("/"):
            raise _HttpError("request target must be origin-form (start with /)")
        headers = {}
        total = 0
        while True:
            h = self.read_line()
            if not h:
                break
            total += len(h) + 2
            if total > _MAX_HEADERS:
                raise _HttpError("headers too large")
            if h[:1] in (b" ", b"\t"):
                raise _HttpError("obsolete header line folding")
            name, sep, value = h.partition(b":")
            if not sep or not name or name != name.strip() or b" " in name:
                raise _HttpError("malformed header line %r" % h[:80])
            try:
                name = name.decode("ascii").lower()
                value = value.decode("latin-1").strip(" \t")
            except UnicodeDecodeError:
                raise _HttpError("non-ASCII header name")
            if name in headers:
                if name in ("content-length", "transfer-encoding", "host", "content-type"):
                    raise _HttpError("duplicate %s header" % name)
                headers[name] += ", " + value
            else:
                headers[name] = value
        if version == "HTTP/1.1" and "host" not in headers:
            raise _HttpError("HTTP/1.1 request without Host header")
        te = headers.get("transfer-encoding")
        cl = headers.get("content-length")
        if te is not None and cl is not None:
            raise _HttpError("both Content-Length and Transfer-Encoding")
        if headers.get("expect", "").lower() == "100-continue" and (te or (cl and cl != "0")):
            self.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        if te is not None:
            if te.lower() != "chunked":
                raise _HttpError("unsupported Transfer-Encoding %r" % te)
            body = self._read_chunked()
        elif cl is not None:
            if not cl.isdigit():
                raise _HttpError("bad Content-Length %r" % cl)
            n = int(cl)
            if n > _MAX_BODY:
                raise _HttpError("body too large")
            body = self.read_exact(n)
        else:
            body = b""
        return verb, target, version, headers, body

    def _read_chunked(self):
        body = bytearray()
        while True:
            line = self.read_line(1024)
            m = re.match(rb"([0-9A-Fa-f]+)([ \t]*;.*)?\Z", line)
            if not m:
                raise _HttpError("bad chunk size line %r" % line[:40])
            size = int(m.group(1), 16)
            if size == 0:
                break
            if len(body) + size > _MAX_BODY:
                raise _HttpError("body too large")
            body += self.read_exact(size)
            if self.read_exact(2) != b"\r\n":
                raise _HttpError("chunk data not followed by CRLF")
        while self.read_line():  # trailer fields, ignored
            pass
        return bytes(body)

    def peer_gone(self):
        """Non-blocking: True if the client closed the connection (EOF or error). Pipelined data is
        kept in the buffer."""
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not r:
            return False
        self.sock.settimeout(0.0)
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            try:
                self.sock.settimeout(self.fake.idle_timeout)
            except OSError:
                pass
        if not data:
            return True
        self.buf += data
        return False

    # --- writing
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed()

    def close(self):
        # shutdown of the TCP socket, never SSLSocket.unwrap(): no close_notify, on purpose
        try:
            self.raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        for s in (self.sock, self.raw):
            try:
                s.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# the server


class Server:
    """Base of the fake servers: listening, threads, TLS, lifecycle (see module docstring).

    Sets the attributes the fakes share: tls, idle_timeout, connections, handshake_errors,
    errors, port, base_url (None until start()), ca_pem_path, ca_der_path; and the internals
    subclasses use: _cond (an RLock Condition guarding all shared state), _stopping,
    _stop_event (set by stop(): wait on it to sleep interruptibly).
    """

    _conn_class = Conn

    def __init__(self, name, tls, idle_timeout, hosts=("localhost", "127.0.0.1"),
                 key_type=trustme.KeyType.RSA, unknown_ca=False):
        self._name = name                  # for the temporary directory and thread names
        self.tls = tls
        self.idle_timeout = idle_timeout   # server closes a keep-alive connection idle this long
        self.connections = 0
        self.handshake_errors = []   # str(exception) of failed TLS handshakes
        self.errors = []             # unexpected exceptions inside the server (should stay empty)

        self._cond = threading.Condition(threading.RLock())
        self._stopping = False
        self._stop_event = threading.Event()
        self._lsock = None
        self._threads = []
        self._live = set()
        self.port = None
        self.base_url = None

        self._dir = tempfile.mkdtemp(prefix="fake-%s-" % name)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        pem = _ca("trusted", key_type).cert_pem.bytes()   # the root alone: one CA per file
        self.ca_pem_path = os.path.join(self._dir, "ca.pem")
        self.ca_der_path = os.path.join(self._dir, "ca.der")
        with open(self.ca_pem_path, "wb") as f:
            f.write(pem)
        with open(self.ca_der_path, "wb") as f:
            f.write(ssl.PEM_cert_to_DER_cert(pem.decode("ascii")))
        self._ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            _leaf("unknown" if unknown_ca else "trusted", hosts, key_type).configure_cert(ctx)
            self._ctx = ctx

    # ----- what a subclass provides
    def _listening(self, origin):
        """The port is bound: set the URLs from origin ("<scheme>://localhost:PORT")."""
        self.base_url = origin

    def _malformed(self, conn, error):
        """Record and answer a request the reader refused (_HttpError); _Closed is ignored."""
        raise NotImplementedError

    def _handle(self, conn, req):
        """Answer one request (the tuple of Conn.read_request); return True to keep the
        connection open. _Closed ends the connection silently."""
        raise NotImplementedError

    # ----- lifecycle
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        s.settimeout(0.05)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._listening("%s://localhost:%d" % ("https" if self.tls else "http", self.port))
        t = threading.Thread(target=self._accept_loop, name="fake-%s-accept" % self._name, daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def stop(self):
        if self._stopping:
            return
        self._stopping = True
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()   # waiters (long polls, wait_*) see _stopping at once
            live = list(self._live)
        for raw in live:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 3.0
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ----- connections
    def _accept_loop(self):
        while not self._stopping:
            try:
                s, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            t = threading.Thread(target=self._serve, args=(s,), name="fake-%s-conn" % self._name, daemon=True)
            with self._cond:
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
            t.start()

    def _serve(self, s):
        raw = s.dup() if self.tls else s
        with self._cond:
            self._live.add(raw)
        conn = None
        try:
            if self._stopping:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                s.settimeout(10.0)
                try:
                    sock = self._ctx.wrap_socket(s, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self._cond:
                        self.handshake_errors.append(str(e))
                    s.close()
                    return
            else:
                sock = s
            sock.settimeout(self.idle_timeout)
            with self._cond:
                self.connections += 1
                num = self.connections
            conn = self._conn_class(self, sock, raw, num)
            while not self._stopping:
                try:
                    req = conn.read_request()
                except _Closed:
                    break
                except _HttpError as e:
                    try:
                        self._malformed(conn, e)
                    except _Closed:
                        pass
                    break
                try:
                    if not self._handle(conn, req):
                        break
                except _Closed:
                    break
        except Exception as e:  # a bug in the fake: keep it visible
            with self._cond:
                self.errors.append(repr(e))
        finally:
            if conn is not None:
                conn.close()
            else:
                for x in (s, raw):
                    try:
                        x.close()
                    except OSError:
                        pass
            with self._cond:
                self._live.discard(raw)
