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
import socket
import subprocess
import tempfile
import threading
import time

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


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
        env = unixport.env(path, VBOARD_WIFI_KEY=WIFI_KEY)
        self.proc = subprocess.Popen(
            [unixport.micropython(), "-X", "heapsize=" + HEAP, "-m", "picoclaw", "setup", "--config", cfg_path,
             "--listen", "127.0.0.1:%d" % self.port], cwd=ROOT, env=env, stdout=subprocess.PIPE,
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


def _submit(b):
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    html = b.driver.find_element("tag name", "html")
    buttons = b.driver.find_elements("css selector", "form [type=submit], form button")
    assert buttons, "the form has no submit button"
    buttons[0].click()
    WebDriverWait(b.driver, WAIT).until(EC.staleness_of(html))
    _settled(b)


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

    httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
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
