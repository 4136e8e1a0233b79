"""HTTP client: keep-alive, reconnect, chunked, timeouts (CPython), and the allocation-free
read path (unix port, heap locked)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import unixport
from fakes.telegram_server import FakeTelegram
from picoclaw import app
from picoclaw.net import http as httpclient
from picoclaw.net import trust
from picoclaw.json.stream import JsonReader, OBJ


def _conn(fake, **kw):
    ctx = trust.context(fake.ca_pem_path)
    return httpclient.Connection(app.split_url(fake.base_url), bytearray(512), ctx, **kw)


def _get_me(conn, fake, timeout_ms=5000):
    conn.request(b"POST", (b"/bot", fake.token.encode(), b"/getMe"), body=b"{}", timeout_ms=timeout_ms)
    p = JsonReader(conn, bytearray(64))
    p.expect(OBJ)
    ok = False
    while p.next_key():
        if p.key_is(b"ok"):
            ok = p.read_bool()
        else:
            p.skip()
    p.finish()
    conn.done()
    return conn.status, ok


def test_keep_alive_reuses_one_connection():
    with FakeTelegram() as fake:
        conn = _conn(fake)
        for _ in range(5):
            assert _get_me(conn, fake) == (200, True)
        assert fake.connections == 1 and conn.connects == 1


def test_reconnects_when_the_server_dropped_an_idle_connection():
    with FakeTelegram(idle_timeout=0.3) as fake:
        conn = _conn(fake)
        assert _get_me(conn, fake) == (200, True)
        import time

        time.sleep(0.8)  # the server closes the idle connection
        assert _get_me(conn, fake) == (200, True)  # sent again on a new connection, no error
        assert fake.connections == 2


def test_a_request_cut_short_by_an_error_is_not_continued_on_its_connection():
    # e.g. MemoryError while the body is being written: part of the request has gone out,
    # so the next request must go on a new connection, or the server reads garbage
    with FakeTelegram() as fake:
        conn = _conn(fake)
        assert _get_me(conn, fake) == (200, True)
        big = b'{"pad":"' + b"x" * 2000 + b'"}'

        def body(w):
            w.write(big[:1500])
            if not w.counting:
                raise MemoryError("memory allocation failed")
            w.write(big[1500:])

        with pytest.raises(MemoryError):
            conn.request(b"POST", (b"/bot", fake.token.encode(), b"/getMe"), body=body)
        assert _get_me(conn, fake) == (200, True)
        assert fake.connections == 2 and not fake.errors


def test_chunked_response_body():
    with FakeTelegram() as fake:
        conn = _conn(fake)
        fake.inject("getMe", "chunked")
        assert _get_me(conn, fake) == (200, True)
        assert _get_me(conn, fake) == (200, True)  # and the connection is still good


def test_stalled_server_times_out():
    with FakeTelegram() as fake:
        conn = _conn(fake)
        fake.inject("getMe", "stall", 3)
        with pytest.raises(httpclient.HTTPError) as e:
            _get_me(conn, fake, timeout_ms=500)
        assert "timed out" in str(e.value)
        assert _get_me(conn, fake) == (200, True)  # a new connection works


def test_a_stall_on_a_reused_connection_is_not_sent_again():
    # the server got the request and is slow: sending it again at once could do it twice
    # (a sendMessage); the caller gets the timeout and decides (the gateway backs off)
    with FakeTelegram() as fake:
        conn = _conn(fake)
        assert _get_me(conn, fake) == (200, True)
        fake.inject("getMe", "stall", 3)
        with pytest.raises(httpclient.HTTPError) as e:
            _get_me(conn, fake, timeout_ms=500)
        assert "timed out" in str(e.value)
        assert len(fake.requests) == 2 and fake.connections == 1  # asked once, not resent


def test_truncated_body_is_an_error_not_a_hang():
    with FakeTelegram() as fake:
        conn = _conn(fake)
        fake.inject("getMe", "truncate", 10)
        with pytest.raises(Exception) as e:
            _get_me(conn, fake)
        assert "missing" in str(e.value) or "JSON" in str(e.value)


class _Big(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"x" * 100000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_socket_read_path_does_not_allocate_on_the_unix_port():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        r = unixport.run(["host_tests/support/mp_read_heaplock.py", url], heap="64k")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "with the heap locked; status 200" in r.stdout
    finally:
        srv.shutdown()
