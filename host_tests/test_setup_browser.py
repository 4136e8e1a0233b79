"""The board's setup page in a real browser: headless Chromium in a phone-sized window.

The setup server is the firmware's, from .mpy on the unix port, run exactly as the README
says (`micropython -m picoclaw setup --config FILE --listen 127.0.0.1:PORT`), with the virtual
board's `network` (host_tests/support/vboard_shim: the access point, the scan, a Wi-Fi join
that wants VBOARD_WIFI_KEY) and a fake Telegram and a fake model over TLS: the config it
starts from names their address (channels.telegram.base_url, a providers entry) and their CA
(tls.ca_file), which the page does not show and the save keeps. The browser fills in the
form as a person does; the tests read what the page says (text and elements, never timings),
then the config written, then the firmware started as the bot answering through the fakes.

One browser for the module (a second only for the concurrency test), one setup server for
the tests that never save and a fresh one for each that does. The screenshots the README
shows (docs/setup/*.png) are taken here, each run overwriting them.
"""
import json
import os
import subprocess
import tempfile
import threading

import pytest

import browser
import gatewayrun
import unixport
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

from picoclaw import config

ROOT = unixport.ROOT
SHOTS = os.path.join(ROOT, "docs", "setup")
VBOARD_SHIM = os.path.join(ROOT, "host_tests", "support", "vboard_shim")
WIFI_SSID = "home"           # one of the fake network's scan results
SCAN = (WIFI_SSID, "Neighbours-5G", "cafe guest")  # what the fake network shows (--scan, VBOARD_SCAN)
WIFI_KEY = "correct horse"   # the fake network's password (VBOARD_WIFI_KEY)
OWNER = 4242
SECRET_FIELDS = ("wifi_password", "token", "api_key")
HEAP = "128k"                # the setup server's integration runs (its minimum is measured elsewhere)
WAIT = 60                    # s the page may take to answer: the checks' TLS handshakes on the port


# ---------------------------------------------------------------------------------------------
# the fakes, the browser, the setup server


@pytest.fixture(scope="module")
def fakes():
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        tg.time_scale = 30.0  # the gateway's empty long polls held a second, not poll_timeout
        yield tg, llm


@pytest.fixture(scope="module")
def phone():
    b = browser.Browser()
    yield b
    b.quit()


from setup_http import free_port as _free_port  # noqa: E402


def _start_config(tg, llm):
    """The config a board in setup mode has before the page is filled in: no Wi-Fi, no token,
    but the fakes' address and trust, and keys the page never shows (all to be kept)."""
    d = tempfile.mkdtemp(prefix="picoclaw-setup-")
    cfg = {
        "channels": {"telegram": {"token": "", "base_url": tg.base_url, "poll_timeout": 1}},
        "tls": {"ca_file": gatewayrun.write_bundle(d + "/ca.pem", [tg.ca_pem_path, llm.ca_pem_path])},
        "agents": {"defaults": {"workspace": d + "/ws", "max_tokens": 256}},
        "x_kept": {"note": "an unknown PicoClaw key", "n": [1, 2]},
    }
    path = d + "/config.json"
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


class SetupServer:
    """`micropython -m picoclaw setup` from .mpy, its output collected by a thread."""

    def __init__(self, cfg_path):
        self.cfg = cfg_path
        self.port = _free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        path = ":".join((unixport.build(), VBOARD_SHIM, ".frozen"))
        env = unixport.env(path, VBOARD_WIFI_KEY=WIFI_KEY, VBOARD_SCAN=",".join(SCAN))
        self.proc = subprocess.Popen(
            [unixport.micropython(), "-X", "heapsize=" + HEAP, "-m", "picoclaw", "setup", "--config", cfg_path,
             "--listen", "127.0.0.1:%d" % self.port, "--scan", ",".join(SCAN)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(WAIT) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("the setup server did not start:\n" + self.output())

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if "setup page on http://" in line:
                self._ready.set()
        self._ready.set()

    def output(self):
        return "".join(self.lines)

    def wait(self, timeout=WAIT):
        """The exit status once serve() returned (0: saved)."""
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def fresh_server(fakes):
    """A setup server of its own: for the tests that save (the server then exits)."""
    s = SetupServer(_start_config(*fakes))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server(fakes):
    """One setup server for the tests that never save (errors leave it serving)."""
    s = SetupServer(_start_config(*fakes))
    yield s
    s.stop()
    out = s.output()
    for secret in (WIFI_KEY, fakes[0].token, fakes[1].api_key):
        assert secret not in out, "a secret in the setup server's output"


# ---------------------------------------------------------------------------------------------
# what a person does with the page


def _by(name):
    from selenium.webdriver.common.by import By

    return By.NAME, name


def _open(b, url):
    b.driver.get(url)
    _settled(b)
    return b.driver.find_element("tag name", "form")


def _settled(b):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b.driver, WAIT).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _set(b, name, value):
    """Give field `name` the value as a user would: choose it in a select (or a radio), or
    type it into a text field (a datalist's input too: typing is allowed there)."""
    from selenium.webdriver.support.ui import Select

    els = b.driver.find_elements(*_by(name))
    assert els, "the page has no field named %r" % name
    el = els[0]
    tag, kind = el.tag_name.lower(), (el.get_attribute("type") or "").lower()
    if tag == "select":
        sel = Select(el)
        values = [o.get_attribute("value") for o in sel.options]
        if value in values:
            sel.select_by_value(value)
            return
        # a scan list that also offers "type another": typed in a text field of the same name
        assert len(els) > 1, "%r: %r is not among the choices %r" % (name, value, values)
        el = els[1]
    elif kind == "radio":
        for r in els:
            if r.get_attribute("value") == value:
                r.click()
                return
        raise AssertionError("%r: no radio button %r" % (name, value))
    el.clear()
    el.send_keys(value)


def _fill(b, **fields):
    for name, value in fields.items():
        _set(b, name, value)


def _mark(b):
    """Mark the page shown now, so that _answered can tell when another one replaced it."""
    b.driver.execute_script("window.__picoclaw_old_page = true")


def _answered(b):
    """Wait until the marked page is replaced by the server's answer, loaded whole. (Not
    selenium's staleness_of: while a navigation replaces the page, chromedriver sometimes
    answers a question about an old element with an inspector error instead of "stale".)"""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def new_page(d):
        try:
            return d.execute_script("return !window.__picoclaw_old_page && document.readyState == 'complete'")
        except WebDriverException:  # the page is being replaced right now
            return False

    WebDriverWait(b.driver, WAIT).until(new_page)


def _submit(b):
    """Press the form's button, as a person does, and wait for the answer."""
    from selenium.common.exceptions import WebDriverException

    buttons = b.driver.find_elements("css selector", "form [type=submit], form button")
    assert buttons, "the form has no submit button"
    _mark(b)
    try:
        buttons[0].click()
    except WebDriverException as e:
        # chromedriver, now and then, when the click's navigation replaced the page before
        # it finished its own bookkeeping: the click was made (the wait below says so)
        if "does not belong to the document" not in str(e):
            raise
    _answered(b)


def _errors(b):
    return [e.text for e in b.driver.find_elements("css selector", "p.error") if e.text.strip()]


def _text(b):
    return b.driver.find_element("tag name", "body").text


def _value(b, name):
    els = b.driver.find_elements(*_by(name))
    return els[0].get_attribute("value") if els else None


def _good(tg, llm, **over):
    """Every field right for the fakes (provider "custom": the fake model's api_base)."""
    v = dict(ssid=WIFI_SSID, wifi_password=WIFI_KEY, token=tg.token, provider="custom",
             api_base=llm.base_url, api_key=llm.api_key, model="test-model", owner=str(OWNER))
    v.update(over)
    return v


SHOWN_API_BASE = "http://192.168.1.5:8080/v1"  # what the pictures show in the API base field


def _shot(b, name, bottom=False):
    """docs/setup/<name>: the screen as it is, except that the API base field shows a LAN
    server's address instead of the fake model's loopback port (a new one at every run):
    the same page gives the same PNG, so a test run leaves the committed pictures as they
    are. The field's real value is back before anything is submitted."""
    swap = ("var e = document.getElementsByName('api_base')[0]; if (!e) return null;"
            "var v = e.value; if (v) e.value = arguments[0]; return v;")
    real = b.driver.execute_script(swap, SHOWN_API_BASE)
    try:
        b.screenshot(os.path.join(SHOTS, name), bottom=bottom)
    finally:
        if real:
            b.driver.execute_script("document.getElementsByName('api_base')[0].value = arguments[0]", real)


def _assert_no_secrets(b, *secrets):
    """The secret fields are empty and none of the values typed is anywhere in the page."""
    src = b.driver.page_source
    for name in SECRET_FIELDS:
        assert _value(b, name) in ("", None), "%s echoed back into the page" % name
    for s in secrets:
        if s:
            assert s not in src, "a secret typed is in the page source"


# ---------------------------------------------------------------------------------------------
# the browser itself


def test_the_browser_is_installed():
    # first, so that a machine without it gets one FAILED with the line saying how to install
    # it (the other tests then error in their fixture with the same line): never a skip
    browser.require()


def test_browser_runs_here(phone, tmp_path):
    # the harness alone, against Python's own http.server: a phone-sized window that renders
    # a form, takes typed text, submits it and shows the answer
    import http.server

    page = (b"<!doctype html><meta name=viewport content='width=device-width'>"
            b"<form action=/echo><input name=x maxlength=8><button>Go</button></form>")

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page if self.path == "/" else ("<p id=got>%s</p>" % self.path).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    # threads: Chromium opens a speculative second connection that sends nothing, and a
    # one-connection-at-a-time server would wait on it before reading the real request
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        _open(phone, "http://127.0.0.1:%d/" % httpd.server_port)
        assert phone.driver.execute_script("return window.innerWidth") == browser.PHONE["width"]
        _set(phone, "x", "hello world")  # maxlength: the browser stops at 8
        _submit(phone)
        assert phone.driver.find_element("id", "got").text == "/echo?x=hello+wo"
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---------------------------------------------------------------------------------------------
# the setup page, from .mpy


def test_setup_from_a_phone_then_the_bot_answers(phone, fakes, fresh_server):
    tg, llm = fakes
    _open(phone, fresh_server.url)
    assert phone.driver.execute_script("return window.innerWidth") == browser.PHONE["width"]
    assert _value(phone, "csrf"), "the form has no csrf token"
    scanned = [o.get_attribute("value") for o in phone.driver.find_elements("css selector", "#networks option")]
    assert WIFI_SSID in scanned, scanned  # the scan is offered, the name can still be typed
    assert not _errors(phone)
    _shot(phone, "1-form.png")

    v = _good(tg, llm)
    _fill(phone, **v)
    _shot(phone, "2-filled.png", bottom=True)
    _submit(phone)
    text = _text(phone)
    assert not _errors(phone), _errors(phone)
    assert "Saved. @%s is starting" % tg.bot["username"] in text, text
    _assert_no_secrets(phone, WIFI_KEY, tg.token, llm.api_key)
    _shot(phone, "4-saved.png")
    assert fresh_server.wait() == 0, fresh_server.output()  # serve() returned: the board restarts
    out = fresh_server.output()
    for secret in (WIFI_KEY, tg.token, llm.api_key):
        assert secret not in out, "a secret in the setup server's output"

    # what the firmware will read: the page's values, and every key the page does not show
    cfg = config.load(fresh_server.cfg)
    assert (cfg.wifi_ssid, cfg.wifi_password, cfg.token) == (WIFI_SSID, WIFI_KEY, tg.token)
    assert cfg.allow_from == (str(OWNER),)
    assert cfg.model == "test-model"
    assert (cfg.base_url, cfg.poll_timeout, cfg.max_tokens) == (tg.base_url, 1, 256)
    assert cfg.ca_file.endswith("ca.pem") and os.path.isfile(cfg.ca_file)
    assert cfg.workspace == os.path.join(os.path.dirname(fresh_server.cfg), "ws")
    with open(fresh_server.cfg) as f:
        raw = json.load(f)
    assert raw["x_kept"] == {"note": "an unknown PicoClaw key", "n": [1, 2]}
    assert llm.api_key in json.dumps(raw) and llm.base_url in json.dumps(raw)

    # the board restarts into the bot: the gateway from .mpy, with what the page saved,
    # answers its owner through the fake Telegram with the fake model's words
    sent = len(tg.sent)
    asked = len(llm.requests)
    tg.send_text(tg.user(OWNER, "Owner", "owner"), "hello from my phone")
    llm.reply_text("Hello! Set up from a phone.")
    r = gatewayrun.run(fresh_server.cfg, cycles=2, heap=HEAP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    answers = [s["params"].get("text") for s in tg.sent[sent:] if s["params"].get("chat_id") == OWNER]
    assert "Hello! Set up from a phone." in answers, (answers, r.stdout[-3000:])
    assert len(llm.requests) > asked and not llm.errors, llm.errors
    assert tg.token not in r.stdout + r.stderr and llm.api_key not in r.stdout + r.stderr


def _no_browser_checks(b):
    """What the page's own constraints (required, pattern, maxlength, type=url) cannot stop:
    a browser that skips them, or a request made by hand. The server must refuse it alike."""
    b.driver.execute_script("document.querySelector('form').noValidate = true")


def _refused(b, *secrets):
    """The form came back with at least one error line and no secret: the error lines."""
    errs = _errors(b)
    assert errs, "no error line on the page:\n" + _text(b)
    assert b.driver.find_elements("tag name", "form"), "the form is not shown again"
    _assert_no_secrets(b, *secrets)
    return errs


@pytest.mark.parametrize("field,value,says", [
    ("token", "not-a-token", "Bot token"),
    ("token", "123456:has spaces in it", "Bot token"),
    ("owner", "@alice", "user id"),
    ("api_base", "", "API base URL"),            # provider custom without its api_base
    ("api_base", "ftp://example.com/v1", "API base URL"),
    ("ssid", "", "Wi-Fi network"),
    ("provider", "nonsense", "Provider"),        # not one of the select's options
])
def test_every_validation_error_is_a_line_on_the_page(phone, fakes, server, field, value, says):
    tg, llm = fakes
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm, **({} if field == "provider" else {field: value})))
    if field == "provider":  # a value the select does not offer, as a hand-made request sends
        phone.driver.execute_script(
            "var o = document.createElement('option'); o.value = arguments[0]; o.text = 'x';"
            "var s = document.getElementsByName('provider')[0]; s.add(o); s.value = arguments[0];", value)
    _no_browser_checks(phone)
    _submit(phone)
    errs = _refused(phone, WIFI_KEY, tg.token, llm.api_key)
    assert len(errs) == 1 and says in errs[0], errs
    # the user's other, non-secret, values are kept for the next try
    assert _value(phone, "model") == "test-model"
    if field != "ssid":
        assert _value(phone, "ssid") == WIFI_SSID
    if field == "token" and value == "not-a-token":
        _shot(phone, "3-error.png")
    assert server.proc.poll() is None  # still serving


def test_the_browser_itself_stops_a_non_numeric_owner(phone, fakes, server):
    # the page's own pattern: a person gets the browser's hint before anything is sent
    tg, llm = fakes
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm, owner="alice"))
    assert phone.driver.execute_script("return document.getElementsByName('owner')[0].checkValidity()") is False
    assert phone.driver.execute_script("return document.querySelector('form').checkValidity()") is False


def test_all_the_problems_at_once_each_its_line(phone, fakes, server):
    tg, llm = fakes
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm, token="12345", owner="me", api_base=""))
    _no_browser_checks(phone)
    _submit(phone)
    errs = _refused(phone, WIFI_KEY, llm.api_key)
    assert len(errs) == 3, errs
    assert any("Bot token" in e for e in errs) and any("user id" in e for e in errs)
    assert any("API base URL" in e for e in errs)


@pytest.mark.parametrize("what", ["token", "api_key", "wifi_password", "ssid"])
def test_each_failed_check_is_the_line_saying_what_to_fix(phone, fakes, server, what):
    tg, llm = fakes
    bad = {"token": "987654:AAwrong-token_for-this-bot", "api_key": "sk-not-the-key-0000",
           "wifi_password": "not the password", "ssid": "Neighbours"}[what]
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm, **{what: bad}))
    _submit(phone)
    secrets = [WIFI_KEY, tg.token, llm.api_key, bad if what != "ssid" else ""]
    errs = _refused(phone, *secrets)
    says = {"token": "token", "api_key": "API key", "wifi_password": "password", "ssid": "no network named"}[what]
    assert len(errs) == 1 and says in errs[0], errs
    assert "Saved" not in _text(phone)
    assert server.proc.poll() is None
    if what != "ssid":  # nor in the log: the values typed are scrubbed before the checks run
        assert bad not in server.output()


@pytest.mark.parametrize("field,cap", [("ssid", 32), ("token", 64), ("api_base", 200), ("model", 64), ("owner", 20)])
def test_an_over_long_field_is_refused_naming_it(phone, fakes, server, field, cap):
    # as an attacker would: the maxlength taken off and the value set past the cap
    tg, llm = fakes
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm))
    long_value = {"api_base": "https://example.com/" + "v" * cap, "owner": "9" * (cap + 1)}.get(field, "x" * (cap + 1))
    phone.driver.execute_script(
        "var e = document.getElementsByName(arguments[0])[0]; e.removeAttribute('maxlength');"
        "e.removeAttribute('pattern'); e.value = arguments[1];", field, long_value)
    _no_browser_checks(phone)
    _submit(phone)
    errs = _refused(phone, WIFI_KEY, tg.token, llm.api_key, long_value if field == "token" else "")
    assert any("longer than %d characters" % cap in e for e in errs), errs
    assert long_value not in phone.driver.page_source  # not even the non-secret one is echoed


def test_a_form_without_its_csrf_token_is_refused(phone, fakes, server):
    tg, llm = fakes
    _open(phone, server.url)
    _fill(phone, **_good(tg, llm))
    phone.driver.execute_script("var e = document.getElementsByName('csrf')[0]; e.parentNode.removeChild(e);")
    _submit(phone)
    errs = _refused(phone, WIFI_KEY, tg.token, llm.api_key)
    assert len(errs) == 1 and "send it again" in errs[0], errs
    assert _value(phone, "csrf"), "the form shown again has a fresh token"
    # a made-up token is no better
    _fill(phone, **_good(tg, llm))
    phone.driver.execute_script("document.getElementsByName('csrf')[0].value = '0123456789abcdef01234567'")
    _submit(phone)
    assert "send it again" in " ".join(_refused(phone, WIFI_KEY, tg.token, llm.api_key))


def test_a_second_browser_gets_its_own_token_and_then_setup_has_finished(phone, fakes, fresh_server):
    # two phones on the board's network, each with its page and its own token, both pressing
    # the button at once: the server takes one POST at a time (the other waits, unread), so
    # one is checked and saved, and the other is told setup has finished (its values are not
    # saved). The model's answer to the check is held back a while, so the second POST
    # surely comes in during the first one's checks (a submit after the server has returned
    # finds nothing listening: on a board, the access point is gone by then).
    tg, llm = fakes
    llm.inject("stall", seconds=1.5)
    other = browser.Browser()
    try:
        _open(phone, fresh_server.url)
        _open(other, fresh_server.url)
        mine, theirs = _value(phone, "csrf"), _value(other, "csrf")
        assert mine and theirs and mine != theirs
        _fill(phone, **_good(tg, llm, model="model-of-phone-1"))
        _fill(other, **_good(tg, llm, model="model-of-phone-2"))
        for b in (phone, other):  # returns at once (a click would wait for the answer)
            _mark(b)
            b.driver.execute_script("setTimeout(function () { document.querySelector('form').requestSubmit() }, 0)")
        for b in (phone, other):
            try:
                _answered(b)
            except Exception:
                raise AssertionError("no answer to a submit:\n" + fresh_server.output())
        texts = [_text(phone), _text(other)]
        saved = [i for i, t in enumerate(texts) if "Saved. @%s is starting" % tg.bot["username"] in t]
        finished = [i for i, t in enumerate(texts) if "setup has finished" in t.lower()]
        assert len(saved) == 1 and len(finished) == 1 and saved != finished, texts
        for b in (phone, other):
            _assert_no_secrets(b, WIFI_KEY, tg.token, llm.api_key)
    finally:
        other.quit()
    assert fresh_server.wait() == 0, fresh_server.output()
    assert config.load(fresh_server.cfg).model == "model-of-phone-%d" % (saved[0] + 1)  # only the saved one
