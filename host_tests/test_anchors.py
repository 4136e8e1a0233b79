"""Which shipped roots a connection trusts, and the fallback when they do not verify (trust.py,
anchors.py).

The real roots' private keys are nobody's to have, so the mechanism is proved with stand-ins:
throwaway CAs (trustme) play the groups, put in place of roots/table.ALL and roots/<group> through
sys.modules (trust.roots uses a module found there as it is). A real TLS server on loopback
serves each host name (SNI) a chain leaf + intermediate from the CA the test picks, and the
firmware's own Connection and netio.open_stream connect to it (host names resolve to
loopback). CPython only: the unix port runs the shared part (test_trust.py).
"""
import socket
import ssl
import sys
import threading
import time
import types

import pytest
import trustme

from picoclaw.net import anchors
from picoclaw.net import http as httpclient
from picoclaw.net import stream as netio
from picoclaw.cmd import status
from picoclaw.net import trust

GROUPS = ("alpha", "beta", "gamma")


def _der(ca):
    return ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())


class Server:
    """TLS on 127.0.0.1; the chain served for a host name is issued by self.ca_for[host]."""

    def __init__(self, ca_for):
        self.ca_for = ca_for
        self.cert_host = {}  # host -> the name its certificate is for (default: the host)
        self.handshakes = []  # (host, True if the client accepted the chain)
        self._ctx = {}
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _context(self, host):
        ca = self.ca_for[host]
        k = (id(ca), host)
        if k not in self._ctx:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.create_child_ca().issue_cert(self.cert_host.get(host, host)).configure_cert(ctx)  # + intermediate
            self._ctx[k] = ctx
        return self._ctx[k]

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        seen = []
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

        def sni(obj, name, _ctx):
            seen.append(name)
            obj.context = self._context(name)

        base.sni_callback = sni
        try:
            t = base.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes.append((seen and seen[0], False))
            c.close()
            return
        self.handshakes.append((seen[0], True))
        try:
            data = b""
            while True:
                got = t.recv(4096)
                if not got:
                    break
                data += got
                while b"\r\n\r\n" in data:
                    data = data.split(b"\r\n\r\n", 1)[1]
                    t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        t.close()

    def close(self):
        self._stop = True
        self.sock.close()

    def tries(self, host, want=1):
        """The handshakes for host, in order (True: verified). A refused one is recorded by its
        server thread only after the client has already gone on (to its next group, or to
        its error), so this waits until `want` of them are in (5 s at most)."""
        deadline = time.monotonic() + 5
        while True:
            got = [ok for h, ok in self.handshakes if h == host]
            if len(got) >= want or time.monotonic() > deadline:
                return got
            time.sleep(0.01)


class _Loopback:
    """netio's socket module with every name resolving to the test server."""

    def __init__(self, port):
        self.port = port

    def __getattr__(self, name):
        return getattr(socket, name)

    def getaddrinfo(self, host, port, *a):
        return socket.getaddrinfo("127.0.0.1", self.port, *a)


@pytest.fixture
def world(monkeypatch, tmp_path):
    cas = {n: trustme.CA(organization_name="Root %s" % n) for n in GROUPS + ("stranger",)}
    table = types.SimpleNamespace(ALL=(
        (b"alpha", b"Alpha Root", b"api.alpha.test"),
        (b"beta", b"Beta Root", b"api.beta.test other.beta.test"),
        (b"gamma", b"Gamma Root", b""),
    ))
    monkeypatch.setitem(sys.modules, "picoclaw.net.roots.table", table)
    for n in GROUPS:
        monkeypatch.setitem(sys.modules, "picoclaw.net.roots." + n, types.SimpleNamespace(ALL=(_der(cas[n]),)))
    srv = Server({})
    monkeypatch.setattr(netio, "socket", _Loopback(srv.port))
    w = types.SimpleNamespace(cas=cas, srv=srv, ws=str(tmp_path / "ws"))
    monkeypatch.setattr(httpclient.Connection, "trust", None)  # app sets it; undone after
    yield w
    srv.close()


def _start(w, host, ca_file=None):
    """What app.build does for one https connection."""
    url = ("https", host, 443, "")
    httpclient.Connection.trust = (ca_file, w.ws)
    return httpclient.Connection(url, bytearray(512), trust.context(ca_file, True, [host], w.ws))


def _get(conn):
    r = conn.request("GET", b"/")
    assert r.status == 200
    conn.done()
    conn.close()


def _state(w):
    try:
        with open(w.ws + "/state/anchors") as f:
            return f.read()
    except OSError:
        return None


def test_a_host_in_the_map_uses_its_group(world):
    world.srv.ca_for["api.beta.test"] = world.cas["beta"]
    conn = _start(world, "api.beta.test")
    assert trust.resolve("api.beta.test", world.ws) == "beta"
    _get(conn)
    assert world.srv.tries("api.beta.test", 1) == [True]  # one handshake: no group tried in vain
    assert _state(world) is None  # nothing to remember: the map said it
    assert anchors.order("api.alpha.test", world.ws) == ["alpha", "beta", "gamma"]


def test_one_context_for_two_hosts_holds_both_groups(world):
    for host, g in (("api.alpha.test", "alpha"), ("other.beta.test", "beta")):
        world.srv.ca_for[host] = world.cas[g]
    urls = [("https", "api.alpha.test", 443, ""), ("https", "other.beta.test", 443, "")]
    ctx = trust.context(None, True, [u[1] for u in urls], world.ws)
    for url in urls:
        _get(httpclient.Connection(url, bytearray(512), ctx))  # no fallback set: must verify at once
    assert world.srv.tries("api.alpha.test", 1) == [True] and world.srv.tries("other.beta.test", 1) == [True]
    ctx = trust.context(None, False, ["api.alpha.test"], world.ws)
    assert ctx.verify_mode == ssl.CERT_NONE  # tls.verify false


def test_an_unknown_host_tries_the_groups_in_turn_and_the_one_that_verified_is_remembered(world):
    host = "llm.example.test"  # a custom api_base: not in the map
    world.srv.ca_for[host] = world.cas["gamma"]
    conn = _start(world, host)
    assert trust.resolve(host, world.ws) is None and anchors.order(host, world.ws)[0] == "alpha"  # the table's order
    _get(conn)
    assert world.srv.tries(host, 3) == [False, False, True]  # alpha, beta refused; gamma verified
    assert trust.resolve(host, world.ws) == "gamma" and _state(world) == "%s gamma\n" % host
    _get(conn)  # a reconnect uses gamma's context at once
    assert world.srv.tries(host, 4) == [False, False, True, True]
    # the next start: the remembered group first, one handshake
    _get(_start(world, host))
    assert world.srv.tries(host, 5)[4:] == [True]


def test_when_the_remembered_group_stops_verifying_the_others_are_tried_again(world):
    host = "llm.example.test"
    world.srv.ca_for[host] = world.cas["gamma"]
    _get(_start(world, host))
    world.srv.ca_for[host] = world.cas["beta"]  # the provider changed CA
    del world.srv.handshakes[:]
    _get(_start(world, host))
    assert world.srv.tries(host, 3) == [False, False, True]  # gamma (remembered), alpha, beta
    assert _state(world) == "%s beta\n" % host


def test_a_mapped_host_whose_ca_changed_falls_back_and_is_remembered(world):
    world.srv.ca_for["api.alpha.test"] = world.cas["gamma"]
    conn = _start(world, "api.alpha.test")
    _get(conn)
    assert world.srv.tries("api.alpha.test", 3) == [False, False, True]
    assert _state(world) == "api.alpha.test gamma\n"
    assert "remembered" in anchors.describe("api.alpha.test", None, True, world.ws)
    # back to the mapped group later: remembered again (the stale entry would cost a try)
    world.srv.ca_for["api.alpha.test"] = world.cas["alpha"]
    _get(_start(world, "api.alpha.test"))
    assert _state(world) == "api.alpha.test alpha\n"


def test_an_unknown_root_is_refused_in_one_line_naming_ca_file_and_the_helper(world):
    host = "llm.example.test"
    world.srv.ca_for[host] = world.cas["stranger"]
    conn = _start(world, host)
    ctx = conn.ctx
    with pytest.raises(netio.NetError) as e:
        conn.request("GET", b"/")
    msg = str(e.value)
    assert "\n" not in msg and "TLS with %s:443 failed: " % host in msg and "tls.ca_file" in msg
    assert "python tools/flash.py ca %s --chain chain.pem" % host in msg
    assert "alpha beta gamma" in msg  # the groups it tried
    assert world.srv.tries(host, 3) == [False, False, False]
    assert conn.ctx is ctx  # still verifying (never None: that would be plain TCP)
    assert _state(world) is None


def test_a_certificate_for_another_host_is_refused_at_once(world):
    world.srv.ca_for["api.alpha.test"] = world.cas["alpha"]
    world.srv.cert_host["api.alpha.test"] = "elsewhere.test"  # a trusted root, the wrong name
    conn = _start(world, "api.alpha.test")
    with pytest.raises(netio.NetError) as e:
        conn.request("GET", b"/")
    assert "TLS with api.alpha.test:443 failed" in str(e.value) and "shipped roots" not in str(e.value)
    assert world.srv.tries("api.alpha.test", 1) == [False]  # no other group tried: none would do
    assert _state(world) is None


def test_tls_ca_file_is_in_every_context(world, tmp_path):
    host = "llm.example.test"
    world.srv.ca_for[host] = world.cas["stranger"]
    path = str(tmp_path / "my-ca.pem")
    world.cas["stranger"].cert_pem.write_to_path(path)
    _get(_start(world, host, path))
    assert world.srv.tries(host, 1) == [True]


def test_a_failure_that_is_not_the_certificate_is_not_retried(world):
    class Conn:
        trust = (None, world.ws)

    err = netio.NetError("TLS with x:443 failed: not enough memory for TLS (-0x7f00)")
    with pytest.raises(netio.NetError) as e:
        anchors.handle(Conn(), err, 1000)
    assert e.value is err


def test_the_state_file_keeps_a_few_hosts(world):
    for i in range(12):
        anchors.remember("h%d.test" % i, "beta", world.ws)
    anchors.remember("h11.test", "gamma", world.ws)
    lines = _state(world).splitlines()
    assert len(lines) == 8 and lines[-1] == "h11.test gamma" and "h11.test beta" not in lines
    assert anchors.order("h11.test", world.ws)[0] == "gamma"
    with open(world.ws + "/state/anchors", "w") as f:
        f.write("garbage\nh1.test nosuchgroup\n")  # a damaged or stale file: ignored
    assert anchors.order("h1.test", world.ws) == ["alpha", "beta", "gamma"]


def test_status_shows_the_anchors_per_host(world, capsys):
    anchors.remember("llm.example.test", "gamma", world.ws)
    cfg = types.SimpleNamespace(base_url="https://api.alpha.test", api_base="https://llm.example.test/v1",
                                providers={}, ca_file="", tls_verify=True, workspace=world.ws)
    status.anchors(cfg)
    cfg.api_base = "https://new.example.test/v1"
    cfg.ca_file = "/cas.pem"
    status.anchors(cfg)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  tls api.alpha.test: roots alpha (Alpha Root), from the built-in map; if refused, the other groups in turn"
    assert out[1].startswith("  tls llm.example.test: roots gamma (Gamma Root), from remembered")
    assert out[3] == ("  tls new.example.test: not in the built-in map: tls.ca_file's roots; if refused, "
                      "the groups alpha, beta, gamma in turn, and remembers the one that verifies")
    cfg.tls_verify = False
    status.anchors(cfg)
    assert "NOT checked" in capsys.readouterr().out
