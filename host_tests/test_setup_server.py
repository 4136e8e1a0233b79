"""The setup server (portal/server.py, loop.py, form.py, page.html) from .mpy on the unix port,
driven over real sockets as a phone would (support/setup_http.py), not through a browser
(test_setup_browser.py does that):

- the page (its fields, a fresh csrf token each time, the security headers), the phones'
  captive-portal probes, the caps (a field, the body, the request line, a header line, the
  header count), csrf refused/reused, wrong Host (never reaches /save), a peer outside the
  setup network (127.0.0.2), a slow client that never finishes while others are served, a
  5th connection at once, validation lines, a failed check (a bad token), the one-time code;
- a whole save against the fake Telegram and the fake OpenAI API, the config it wrote loaded
  by picoclaw.config, then the gateway answering a message with it; no secret in any output;
- the form parser's shared cases (support/form_cases.py) here on CPython and on the unix
  port from .mpy, the inner loop under heap_lock.

One server process serves the module's tests that do not end it (a module fixture); the
whole flow runs at 64k, the echo gateway's heap, in fresh processes.
"""
import html
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import gatewayrun
import setup_http
import unixport
from form_cases import *  # noqa: F401,F403  (the shared parser tests, collected here too)
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

ROOT = unixport.ROOT
FIELDS = ("ssid", "wifi_password", "token", "provider", "api_base", "api_key", "model", "owner", "csrf")


@pytest.fixture(scope="module")
def tg():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def llm():
    with FakeLLM("openai") as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tg, llm):
    cfg = setup_http.old_config(tg, llm)
    # 72k, not the flow's 64k: this one process serves ~90 requests and three checks, and
    # what they leave scattered (measured: a refused peer, then a POST that waited for the
    # form, needed 68k for its getMe) is the long session's margin; the flow itself is
    # measured in fresh processes (test_the_whole_flow_fits_the_echo_gateways_heap)
    st = setup_http.Setup(cfg, "72k")
    yield st
    st.close()
    assert not os.path.exists(cfg) or "token" not in open(cfg).read()  # nothing here saved
    shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def errors(page):
    return [html.unescape(e) for e in setup_http.ERRORS.findall(page)]


# ------------------------------------------------------------------------------ form parser
def test_form_cases_on_the_unix_port():
    mpy = unixport.build_tests([])
    subprocess.run([unixport.mpybuild._tool("mpy-cross"), "-s", "form_cases", "-o",
                    os.path.join(mpy, "form_cases.mpy"), os.path.join(unixport.HERE, "form_cases.py")],
                   check=True, cwd=ROOT)
    path = ":".join((unixport.build(), mpy, ".frozen"))
    r = unixport.run(["-m", "mp_runner", "form_cases"], heap="64k", path=path)
    last = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 0 and " passed, 0 failed, 0 skipped" in last, r.stdout[-3000:] + r.stderr
    assert "PASS form_cases.test_feed_allocates_nothing" in r.stdout


# ------------------------------------------------------------------------------ the template
def test_template_lines_and_providers():
    with open(os.path.join(ROOT, "firmware", "picoclaw", "portal", "page.html"), "rb") as f:
        lines = f.read().split(b"\n")
    for n, line in enumerate(lines, 1):
        assert len(line) < 256, n  # loop.py streams it through a 256-byte line buffer
        assert line.count(b"{{") <= 1, n  # one placeholder a line
    sections = [ln for ln in lines if ln.startswith(b"@")]
    assert sections == [b"@form", b"@done", b"@finished", b"@end"]
    # the provider choices: agent/setup's built-in names, custom and none, nothing else
    with open(os.path.join(ROOT, "firmware", "picoclaw", "agent", "setup.py")) as f:
        src = f.read()
    bases = re.search(r"_BASES = \((.*?)\)\n", src, re.S).group(1)
    names = re.findall(r"(?:^|\s|\")([a-z-]+) https?://", bases)
    page = b"\n".join(lines).decode()
    offered = re.findall(r'<option value="([a-z-]+)"\{\{sel:\1\}\}>', page)
    assert sorted(offered) == sorted(names + ["custom", "none"]), (offered, names)
    with open(os.path.join(ROOT, "firmware", "picoclaw", "portal", "loop.py")) as f:
        providers = re.search(r'_PROVIDERS = "(.*?)"', f.read()).group(1).split()
    assert sorted(providers) == sorted(offered)


# ------------------------------------------------------------------------------ the page
def test_page_has_the_fields_and_a_token(server):
    status, h, page = server.get()
    assert status == 200 and h["connection"] == "close" and h["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in h["content-security-policy"] and h["x-frame-options"] == "DENY"
    for name in FIELDS:
        assert 'name="%s"' % name in page, name
    assert 'name="code"' not in page  # no code asked for without --code
    assert "empty: pair with /pair" in page
    assert re.fullmatch(r"[0-9a-f]{24}", setup_http.CSRF.search(page).group(1))
    assert page.rstrip().endswith("</html>") and "{{" not in page and "\n@" not in page
    assert "<script" not in page  # no JavaScript needed


def test_two_pages_two_tokens(server):
    assert server.token() != server.token()


def test_probes_and_other_paths_redirect(server):
    want = "http://127.0.0.1:%d/" % server.port
    for path, host in (("/generate_204", "connectivitycheck.gstatic.com"),
                       ("/hotspot-detect.html", "captive.apple.com"),
                       ("/connecttest.txt", "www.msftconnecttest.com"), ("/ncsi.txt", "www.msftncsi.com"),
                       ("/generate_204", None), ("/anything?x=1", None), ("/save", None), ("/", "example.com")):
        status, h, _ = server.get(path, host)
        assert status == 302 and h["location"] == want, (path, host, status)
    assert server.get("/favicon.ico")[0] == 404
    # no Host at all (HTTP/1.0): redirected too
    status, h, _ = server.exchange(b"GET / HTTP/1.0\r\n\r\n")
    assert status == 302 and h["location"] == want


# ------------------------------------------------------------------------------ refusals
def test_post_needs_a_valid_token(server, tg):
    good = setup_http.form(tg)
    for csrf in (None, "0" * 24, "x" * 24, "-" * 24, "%00" * 8):
        fields = dict(good) if csrf is None else dict(good, csrf=csrf)
        status, _, page = server.post(fields, csrf=False)
        assert status == 400, csrf
        assert errors(page) == ["This form has expired or did not come from this page: send it again"], page
        assert tg.token not in page and "hunter22" not in page and 'value="HomeNet"' in page
        assert setup_http.CSRF.search(page)  # a fresh token to send it again with
    # a token is good once
    t = server.token()
    assert server.post(dict(good, token="bad", csrf=t), csrf=False)[0] == 400  # (validation)
    status, _, page = server.post(dict(good, token="bad", csrf=t), csrf=False)
    assert status == 400 and "expired" in errors(page)[0]


def test_a_token_table_of_four(server, tg):
    tokens = [server.token() for _ in range(5)]
    bad = dict(setup_http.form(tg), owner="x")  # refused by validation after the csrf check
    page = server.post(dict(bad, csrf=tokens[0]), csrf=False)[2]
    assert "expired" in errors(page)[0]  # the oldest was evicted
    for t in tokens[4:1:-1]:  # (each answer's new token takes the slot its own left)
        assert errors(server.post(dict(bad, csrf=t), csrf=False)[2]) == [
            "Your Telegram user id: digits only, or empty to pair with /pair"]


def test_caps(server, tg):
    base = setup_http.form(tg)
    status, _, page = server.post(dict(base, token="1:" + "a" * 63))
    assert status == 400 and errors(page) == ["Bot token is longer than 64 characters"]
    status, _, page = server.post(dict(base, ssid="s" * 33, api_key="k" * 201))
    assert errors(page) == ["Wi-Fi network name is longer than 32 characters", "API key is longer than 200 characters"]
    assert "s" * 32 not in page  # a value past its cap is not shown either
    # a body over 2048 bytes: one line, before any of it is read
    status, h, body = server.exchange(b"POST /save HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 3000\r\n\r\n"
                                      % server.port)
    assert status == 413 and body == "The form is larger than 2048 bytes\n"
    status, _, body = server.exchange(b"POST /save HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port)
    assert status == 411
    # the request line, a header line, the header count
    status, _, body = server.exchange(b"GET /" + b"a" * 600 + b" HTTP/1.1\r\n\r\n")
    assert status == 414 and body == "The request line is longer than 512 bytes\n"
    status, _, body = server.exchange(b"GET / HTTP/1.1\r\nCookie: " + b"c" * 600 + b"\r\n\r\n")
    assert status == 431 and body == "A header line is longer than 512 bytes\n"
    status, _, body = server.exchange(b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * 25 + b"\r\n")
    assert status == 431 and body == "More than 24 header lines\n"
    assert server.get()[0] == 200  # and it serves on
    status, _, body = server.exchange(b"BREW\r\n\r\n")
    assert status == 400


def test_validation_lines_keep_values_not_secrets(server, tg):
    f = dict(setup_http.form(tg), ssid="", token="98765", owner="me", provider="custom", api_base="",
             api_key="sk-secret-value-123", model="llama & <friends>")
    status, _, page = server.post(f)
    assert status == 400
    assert errors(page) == ["Wi-Fi network: enter its name",
                            "Bot token: it looks like 123456789:AA... (from @BotFather)",
                            "Your Telegram user id: digits only, or empty to pair with /pair",
                            "API base URL: a custom provider needs one (https://...)"]
    assert 'value="llama &amp; &lt;friends&gt;"' in page  # kept, escaped
    assert 'value="me"' in page and 'value="custom" selected' in page
    assert "sk-secret-value-123" not in page and "hunter22" not in page and "98765" not in page
    page = server.post(dict(setup_http.form(tg), provider="openai", api_base="ftp://x", api_key="", model=""))[2]
    assert errors(page) == ["API base URL: it must start with https:// or http://", "API key: the provider needs one",
                            "Model: enter the model's name"]
    assert errors(server.post(dict(setup_http.form(tg), provider="skynet"))[2]) == ["Provider: choose one from the list"]


def test_a_failed_check_is_a_line_on_the_page(server, tg):
    status, _, page = server.post(dict(setup_http.form(tg), token="123456:WRONG-token-abcdefghijkl"))
    assert status == 200
    [line] = errors(page)
    assert "token" in line.lower() and "WRONG" not in page
    assert server.get()[0] == 200  # setup goes on


def test_wrong_host_never_reaches_save(server, tg):
    want = "http://127.0.0.1:%d/" % server.port
    for host in ("evil.example", "127.0.0.1", "localhost:%d" % server.port, "127.0.0.1:1"):
        status, h, _ = server.post(setup_http.form(tg), host=host)
        assert status == 302 and h["location"] == want, host
    assert "token" not in open(server_config(server)).read()


def server_config(st):
    return st.p.args[st.p.args.index("--config") + 1]


def test_a_peer_outside_the_setup_network_is_refused(server):
    status, _, body = server.exchange(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port,
                                      source="127.0.0.2")
    assert status == 403 and body == "Only devices on the board's own setup network are served\n"


def test_slow_clients_and_a_fifth_connection(server):
    slow = []
    try:
        for _ in range(3):  # three that never finish their request
            s = server.connect()
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1")
            slow.append(s)
        t0 = time.monotonic()
        for _ in range(3):
            assert server.get()[0] == 200  # the others are served meanwhile
        s = server.connect()
        s.sendall(b"GET / HTTP/1.1\r\n")
        slow.append(s)
        time.sleep(0.3)
        status, _, body = server.get()  # a 5th at once
        assert status == 503 and body == "Too many connections at once: try again\n"
        # each slow one is answered 408 and closed once its 10 s are up
        for s in slow:
            status, _, body = setup_http.read_answer(s)
            assert status == 408 and body == "The request took too long: send it again\n"
        print("slow clients dropped after %.1f s" % (time.monotonic() - t0))
        assert server.get()[0] == 200
    finally:
        for s in slow:
            s.close()


def test_no_config_starts_from_the_defaults_and_times_out():
    d = setup_http.old_config(None)
    st = setup_http.Setup(d, "64k", ["--timeout", "2", "--scan", "Home<Net>,Office"])
    try:
        status, _, page = st.get()
        assert status == 200 and '<option value="Home&lt;Net&gt;">' in page and '<option value="Office">' in page
        assert 'value="none" selected' in page
        rc, out = st.output()
        assert rc == 1 and "no save in 2 s" in out, out
        assert not os.listdir(os.path.dirname(d))  # nothing written, the defaults file removed
    finally:
        st.close()


def test_the_one_time_code(tg):
    cfg = setup_http.old_config(tg)
    st = setup_http.Setup(cfg, "64k", ["--code", "7f3k9q2m"])
    try:
        page = st.get()[2]
        assert 'name="code"' in page and "7f3k9q2m" not in page
        for code in ("", "7f3k9q2x"):
            status, _, page = st.post(dict(setup_http.form(tg), token="bad", code=code))
            assert status == 400 and errors(page) == ["The setup code is wrong: it is shown on the board's console"]
        page = st.post(dict(setup_http.form(tg), token="bad", code="7f3k9q2m"))[2]
        assert errors(page) == ["Bot token: it looks like 123456789:AA... (from @BotFather)"]
    finally:
        st.close()
        shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def test_bad_arguments():
    r = unixport.run(["-m", "picoclaw", "setup", "--config", "x.json", "--listen", "nowhere"],
                     path=unixport.build() + ":.frozen")
    assert r.returncode == 2 and r.stdout.startswith("error: setup: bad argument --listen"), r.stdout


# ------------------------------------------------------------------------------ a whole save
def test_a_whole_save_then_the_bot_answers(tg, llm):
    cfg = setup_http.old_config(tg, llm)
    st = setup_http.Setup(cfg, "64k")
    secrets = (tg.token, llm.api_key, "hunter22")
    try:
        status, _, page = st.post(setup_http.form(tg, llm))
        assert status == 200 and "Saved. @fake_test_bot is starting: send it a message." in page, page
        for s in secrets:
            assert s not in page
        rc, out = st.output()
    finally:
        st.close()
    assert rc == 0, out
    for s in secrets:
        assert s not in out
    assert "saved" in out and "fake_test_bot" in out
    # the file: kept keys and the page's, loaded by the firmware's own loader
    from picoclaw import config

    c = config.load(cfg)
    assert c.token == tg.token and c.base_url == tg.base_url and c.wifi_ssid == "HomeNet"
    assert c.wifi_password == "hunter22" and c.allow_ids == {111} and c.provider == "openai"
    assert c.providers["openai"]["api_key"] == llm.api_key and c.model == "test-model"
    assert c.ca_file.endswith("ca.pem") and c.poll_timeout == 1
    # and the bot answers with it
    alice = tg.user(111, "Alice", "alice")
    llm.reply_text("Hello from the model")
    tg.send_text(alice, "hi")
    r = gatewayrun.run(cfg, 2)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert any("Hello from the model" in s["params"].get("text", "") for s in tg.sent), tg.sent
    shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def test_the_whole_flow_fits_the_echo_gateways_heap(tg, llm):
    # the figure (tools/bench_setup.py bisects it): the whole flow at 64k, a cap-sized form too
    for size in ("small", "cap"):
        rc, out, cfg, page = setup_http.full_flow("64k", tg, llm, size)
        shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
        assert rc == 0 and page, (size, out[-2000:])


def test_the_checks_with_a_pico_ws_tls_in_the_heap(tg, llm):
    # mbedTLS's buffers and handshake peak allocated inside the heap, as on a Pico W
    # (support/mp_setup_tls.py; tools/bench_setup.py --board RPI_PICO_W: from 100k on this port)
    rc, out, cfg, page = setup_http.full_flow("108k", tg, llm, "cap", board="RPI_PICO_W")
    shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
    assert rc == 0 and page, out[-2000:]
    assert "TLS in the heap: 23 KB per connection, 32 KB a handshake" in out  # the stand-in was on
    # a heap without room for a handshake: the page says so in a line, and nothing is saved
    rc, out, cfg, page = setup_http.full_flow("88k", tg, llm, "small", board="RPI_PICO_W")
    with open(cfg) as f:
        saved = json.load(f)
    shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
    assert rc == -3 and "TLS handshake to localhost ran out of memory" in out.splitlines()[-1], out[-2000:]
    assert "token" not in saved["channels"]["telegram"]


# ------------------------------------------------------------------------------ on CPython
class _Checks:
    """A stand-in for portal/check.py (serve's `checks`): records what it was asked."""

    def __init__(self):
        self.calls = []

    def wifi(self, ssid, password):
        self.calls.append(("wifi", ssid))
        return None

    def telegram(self, token, old):
        self.calls.append(("telegram", token, old.base_url))
        return ("stand_in_bot", None) if token.startswith("1:") else (None, "the bot token is refused")

    def model(self, provider, api_base, api_key, model, old):
        self.calls.append(("model", provider, model))
        return None


class _Saver:
    def __init__(self):
        self.saved = []

    def write(self, path, values, fresh=False):
        self.saved.append((path, dict(values), fresh))


@pytest.mark.parametrize("old", ["none", "unreadable"])
def test_the_server_on_cpython(old):
    # the same modules under CPython (the host shim), with stand-ins for the checks and the
    # save; no config yet, or one the firmware cannot read (a wrong type): the checks get the
    # defaults, and the save is told to keep that file aside and write a new one (fresh)
    import threading

    from picoclaw.portal import server as srv

    cfg = setup_http.old_config(None)
    if old == "unreadable":
        with open(cfg, "w") as f:
            f.write('{"channels": {"telegram": {"poll_timeout": "30"}}}')
    checks, saver, rc = _Checks(), _Saver(), []
    port = setup_http.free_port()
    ready = threading.Event()
    t = threading.Thread(target=lambda: rc.append(srv.serve(cfg, ("127.0.0.1", port), timeout_s=30, ready=ready.set,
                                                            checks=checks, saver=saver)))
    t.start()
    assert ready.wait(10)
    st = setup_http.Setup.__new__(setup_http.Setup)
    st.port = port
    f = {"ssid": "Home", "wifi_password": "pw", "token": "2:BAD", "provider": "openai", "api_base": "",
         "api_key": "sk-x", "model": "gpt-4o-mini", "owner": ""}
    status, _, page = st.post(f)
    assert status == 200 and errors(page) == ["the bot token is refused"]
    status, _, page = st.post(dict(f, token="1:GOOD"))
    assert status == 200 and "Saved. @stand_in_bot is starting" in page
    t.join(10)
    assert rc == [0]
    assert saver.saved == [(cfg, dict(f, token="1:GOOD", csrf=saver.saved[0][1]["csrf"], code=""),
                            old == "unreadable")]
    assert checks.calls[-2:] == [("telegram", "1:GOOD", "https://api.telegram.org"), ("model", "openai", "gpt-4o-mini")]
    shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def test_page_html_goes_where_the_modules_go():
    # build/mpy (the unix port), deploy (lib/ on the board, frozen firmware too) and package.json
    rel = "picoclaw/portal/page.html"
    assert rel in list(unixport.mpybuild.data())
    assert os.path.exists(os.path.join(unixport.build(), rel))
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import flash

    with open(os.path.join(ROOT, "package.json")) as f:
        assert [rel, "firmware/" + rel] in json.load(f)["urls"]
    assert json.loads(flash.package_json())["urls"] == json.load(open(os.path.join(ROOT, "package.json")))["urls"]


def test_a_second_post_waits_for_the_form(server, tg):
    # A's body is half sent (A has the form parser); B's whole POST waits, unread, and is
    # checked once A is answered
    import urllib.parse

    a_body = urllib.parse.urlencode(dict(setup_http.form(tg), owner="x", csrf=server.token())).encode()
    b_body = urllib.parse.urlencode(dict(setup_http.form(tg), token="123456:WRONG-token-abcdefghijkl",
                                         csrf=server.token())).encode()
    head = b"POST /save HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
    a = server.connect()
    b = server.connect()
    try:
        a.sendall(head % (server.port, len(a_body)) + a_body[:20])
        time.sleep(0.2)
        b.sendall(head % (server.port, len(b_body)) + b_body)
        time.sleep(0.2)
        a.sendall(a_body[20:])
        status, _, page = setup_http.read_answer(a)
        assert status == 400 and errors(page) == ["Your Telegram user id: digits only, or empty to pair with /pair"]
        status, _, page = setup_http.read_answer(b)
        assert status == 200 and len(errors(page)) == 1 and "token" in errors(page)[0].lower()
    finally:
        a.close()
        b.close()
