"""portal/check.py: the setup page's checks before it saves, each None or one line saying what
to fix, never a secret in it. getMe against the fake Telegram over TLS with the fake's CA (the
bot's @username; a bad token; nothing listening; a CA that does not match), one token from the
fake OpenAI and Anthropic APIs (ok; a bad key; a wrong api_base; a 400 with the provider's
message), the Wi-Fi join against the virtual board's network module on the unix port, and the
checks then the save from .mpy on the unix port in a 64k heap (the echo gateway's figure)."""
import json
import os
import sys
import types

import pytest

import unixport
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram
from picoclaw import Settings, config
from picoclaw.portal import check


def _old(tmp_path, base_url="", ca_file=None, verify=True):
    """The Settings the server hands the checks: config.load of the old file."""
    cfg = {"channels": {"telegram": {"token": "1:old"}}, "wifi": {"ssid": "x"}}
    if base_url:
        cfg["channels"]["telegram"]["base_url"] = base_url
    tls = {}
    if ca_file:
        tls["ca_file"] = ca_file
    if not verify:
        tls["verify"] = False
    if tls:
        cfg["tls"] = tls
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return config.load(str(p))


def _one_line(line, *secrets):
    assert isinstance(line, str) and line and "\n" not in line
    for s in secrets:
        assert s not in line, line
    return line


from setup_http import free_port as _closed_port  # noqa: E402  (a port nothing listens on)


# -- telegram ---------------------------------------------------------------------------------
def test_telegram_ok_gives_the_bots_username(tmp_path):
    with FakeTelegram() as tg:
        old = _old(tmp_path, tg.base_url, tg.ca_pem_path)
        assert check.telegram(tg.token, old) == ("fake_test_bot", None)
        assert [r["method"] for r in tg.requests] == ["getMe"]


def test_telegram_bad_token(tmp_path):
    with FakeTelegram() as tg:
        old = _old(tmp_path, tg.base_url, tg.ca_pem_path)
        bad = tg.token.split(":")[0] + ":WRONGwrongWRONG"
        name, line = check.telegram(bad, old)
        assert name is None
        assert _one_line(line, bad, "WRONGwrong") == "the bot token is not valid: copy it again from @BotFather"
        # characters no token has (they would end up in the request line): refused unsent
        n = len(tg.requests)
        assert check.telegram("123:abc def\r\nX: y", old) == (None, line)
        assert len(tg.requests) == n


def test_telegram_nothing_listening_names_the_route(tmp_path):
    port = _closed_port()
    old = _old(tmp_path, "http://127.0.0.1:%d" % port)
    name, line = check.telegram("123:secretTOKEN", old)
    assert name is None
    assert _one_line(line, "secretTOKEN").startswith("cannot reach 127.0.0.1: 127.0.0.1:%d refused the connection" % port)


def test_telegram_no_dns(tmp_path):
    old = _old(tmp_path, "https://no-such-host.invalid")
    name, line = check.telegram("123:secretTOKEN", old)
    assert _one_line(line, "secretTOKEN").startswith("cannot reach no-such-host.invalid: cannot resolve "
                                                     "no-such-host.invalid (DNS)")


def test_telegram_a_ca_that_does_not_match_says_the_tls_root_is_missing(tmp_path):
    with FakeTelegram(unknown_ca=True) as tg:  # its certificate is not from the CA in ca_pem_path
        old = _old(tmp_path, tg.base_url, tg.ca_pem_path)
        name, line = check.telegram(tg.token, old)
        assert name is None
        _one_line(line, tg.token)
        assert line.startswith("TLS with localhost:%d failed: certificate not trusted" % tg.port), line
        assert "tls.ca_file" in line
        assert not [r for r in tg.requests if r["method"]]  # no request went out unverified


def test_telegram_a_wrong_base_url_is_not_called_a_bad_token(tmp_path):
    with FakeLLM("openai", tls=False) as llm:  # JSON, but not the Bot API's
        old = _old(tmp_path, llm.origin)
        name, line = check.telegram("123:secretTOKEN", old)
        assert _one_line(line, "secretTOKEN").startswith("channels.telegram.base_url %s answered 404" % llm.origin)


def test_telegram_leaves_nothing_loaded(tmp_path):
    with FakeTelegram() as tg:
        old = _old(tmp_path, tg.base_url, tg.ca_pem_path)
        for m in [k for k in sys.modules if k.startswith("picoclaw.net")]:
            sys.modules.pop(m)
        before = {k for k in sys.modules if k.startswith("picoclaw.")}
        check.telegram(tg.token, old)
        assert {k for k in sys.modules if k.startswith("picoclaw.")} == before


# -- model ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_model_ok_bad_key_and_unknown_url(tmp_path, kind):
    with FakeLLM(kind) as llm:
        old = _old(tmp_path, ca_file=llm.ca_pem_path)
        provider = "anthropic" if kind == "anthropic" else "custom"
        assert check.model(provider, llm.base_url, llm.api_key, "m-1", old) is None
        body = llm.requests[-1]["body"]
        assert body["max_tokens"] == 1 and body["model"] == "m-1"
        assert body["messages"] == [{"role": "user", "content": "ping"}]
        line = check.model(provider, llm.base_url, "sk-WRONG-key-123", "m-1", old)
        assert _one_line(line, "sk-WRONG-key-123", llm.api_key) == \
            "the API key is refused by localhost: copy it again from the provider's site"
        line = check.model(provider, llm.base_url + "/nope", llm.api_key, "m-1", old)
        assert _one_line(line, llm.api_key) == "localhost knows no model m-1 (or api_base is wrong)"


def test_model_a_400_says_the_providers_message_on_one_line(tmp_path):
    with FakeLLM("openai") as llm:
        old = _old(tmp_path, ca_file=llm.ca_pem_path)
        llm.inject("status", status=400, body={"error": {"message": "max_tokens is too small\nfor this model %s"
                                                             % llm.api_key, "type": "invalid_request_error"}})
        line = check.model("openai", llm.base_url, llm.api_key, "o1", old)
        assert _one_line(line, llm.api_key) == \
            "localhost refused the request: max_tokens is too small for this model ********"


def test_model_a_redirect_says_to_check_api_base(tmp_path):
    with FakeLLM("openai", tls=False) as llm:
        llm.inject("status", status=301, headers={"Location": "https://localhost/v1/chat/completions"})
        line = check.model("custom", llm.base_url, llm.api_key, "m", _old(tmp_path))
        assert line == "localhost answered 301 (a redirect): check api_base (https://, the path)"


def test_model_unknown_model_404_from_a_server_that_says_so(tmp_path):
    # a provider that answers 404 for a model it does not have (OpenAI does): a stub on loopback
    with FakeLLM("openai", tls=False) as llm:
        llm.inject("status", status=404, body={"error": {"message": "The model `gpt-9` does not exist",
                                                  "code": "model_not_found"}})
        old = _old(tmp_path)
        line = check.model("custom", llm.base_url, llm.api_key, "gpt-9", old)
        assert line == "localhost knows no model gpt-9 (or api_base is wrong)"


def test_model_network_failures_and_the_choices_that_need_no_request(tmp_path):
    old = _old(tmp_path)
    port = _closed_port()
    line = check.model("custom", "http://127.0.0.1:%d/v1" % port, "sk-secret-key", "m", old)
    assert _one_line(line, "sk-secret-key").startswith("cannot reach 127.0.0.1: 127.0.0.1:%d refused" % port)
    line = check.model("groq", "https://no-such-host.invalid/v1", "sk-secret-key", "m", old)
    assert _one_line(line, "sk-secret-key").startswith("cannot reach no-such-host.invalid: cannot resolve")
    assert check.model("none", "", "", "", old) is None
    assert check.model("", "", "", "", old) is None
    assert "custom provider needs its api_base" in _one_line(check.model("custom", "", "k", "m", old))
    assert 'unknown provider "nosuch"' in _one_line(check.model("nosuch", "", "k", "m", old))
    assert "the model is not set" in _one_line(check.model("openai", "", "k", "", old))
    assert "paste it again" in _one_line(check.model("openai", "", "sk-a\nb", "m", old), "sk-a")


def test_model_tls_failure_names_tls_ca_file(tmp_path):
    with FakeLLM("openai") as llm:
        old = _old(tmp_path)  # no tls.ca_file: the shipped roots, which do not know the fake's CA
        line = check.model("custom", llm.base_url, llm.api_key, "m", old)
        assert _one_line(line, llm.api_key).startswith("TLS with localhost:%d failed" % llm.port)
        assert "tls.ca_file" in line


# -- wifi -------------------------------------------------------------------------------------
def test_wifi_without_a_network_module_is_the_host_online():
    assert "network" not in sys.modules
    assert check.wifi("home", "pw") is None


class _Radio:
    """A station that never gets an answer (the router out of reach): status CONNECTING."""
    STA_IF = 0
    STAT_CONNECTING = 1
    STAT_GOT_IP = 3

    def __init__(self, *_):
        self.calls = []

    def WLAN(self, _i):
        return self

    def active(self, on=None):
        return True

    def isconnected(self):
        return False

    def connect(self, *a):
        self.calls.append(("connect",) + a)

    def disconnect(self):
        self.calls.append(("disconnect",))

    def status(self):
        return self.STAT_CONNECTING


def test_wifi_timeout_is_one_line_and_the_join_is_dropped(monkeypatch):
    radio = _Radio()
    monkeypatch.setitem(sys.modules, "network", radio)
    line = check.wifi("far away", "secret-pw", timeout_ms=300)
    assert _one_line(line, "secret-pw").startswith("Wi-Fi: far away did not answer in 0 s")
    assert radio.calls == [("connect", "far away", "secret-pw"), ("disconnect",)]


def _vboard_wifi(ssid, password, **env):
    path = unixport.build() + ":" + os.path.join(unixport.HERE, "vboard_shim") + ":.frozen"
    r = unixport.run([os.path.join(unixport.HERE, "mp_setup_steps.py"), "wifi", ssid, password],
                     heap="64k", path=path, **env)
    assert r.returncode == 0, r.stdout + r.stderr
    return [l for l in r.stdout.splitlines() if l.startswith("wifi:")][0][6:]


def test_wifi_on_the_virtual_board():
    key = {"VBOARD_WIFI_KEY": "right-key"}
    assert _vboard_wifi("vboard-net", "right-key", **key) == "None"
    assert _vboard_wifi("vboard-net", "wrong-key", **key) == "Wi-Fi: the password for vboard-net is wrong"
    line = _vboard_wifi("elsewhere", "right-key", **key)
    assert line.startswith("Wi-Fi: no network named elsewhere in range"), line
    assert "right-key" not in line


# -- the whole check then the save, from .mpy at 64k --------------------------------------------
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_checks_then_save_from_mpy_in_the_echo_gateways_heap(tmp_path, kind):
    with FakeTelegram() as tg, FakeLLM(kind) as llm:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({
            "version": 3,
            "channel_list": {"telegram": {"settings": {"token": "", "base_url": tg.base_url}}},
            "tls": {"ca_file": tg.ca_pem_path}, "custom_key": [1, {"x": None}]}))
        values = {"ssid": "vboard-net", "wifi_password": "pw", "token": tg.token,
                  "provider": "anthropic" if kind == "anthropic" else "custom", "api_base": llm.base_url,
                  "api_key": llm.api_key, "model": "m-1", "owner": ""}
        vals = tmp_path / "values.json"
        vals.write_text(json.dumps(values))
        r = unixport.run([os.path.join(unixport.HERE, "mp_setup_steps.py"), "all", str(cfg), str(vals)],
                         heap="64k")
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        assert "telegram: fake_test_bot None" in out and "model: None" in out and "saved" in out, out
        assert "left loaded: []" in out, out
        print(out)  # the heap after (pytest -s shows it)
        c = config.load(str(cfg))
        config.check(c)
        assert (c.token, c.base_url, c.ca_file) == (tg.token, tg.base_url, tg.ca_pem_path)
        assert json.loads(cfg.read_text())["custom_key"] == [1, {"x": None}]
        assert len(llm.requests) == 1 and llm.requests[0]["body"]["max_tokens"] == 1


def test_failures_from_mpy_say_the_same_lines(tmp_path):
    """mbedTLS and lwIP-style errors on the unix port: the same lines as on CPython."""
    port = _closed_port()
    with FakeTelegram(unknown_ca=True) as tg, FakeLLM("openai") as llm:
        cases = [  # (base_url, token, api_base, key): what the lines start with
            ((tg.base_url, tg.token, llm.base_url, "sk-WRONG-key-1"),
             ("telegram: None TLS with localhost:%d failed: certificate not trusted" % tg.port,
              "model: the API key is refused by localhost")),
            (("http://127.0.0.1:%d" % port, "123:secretTOKEN", llm.base_url + "/x", llm.api_key),
             ("telegram: None cannot reach 127.0.0.1: 127.0.0.1:%d refused the connection" % port,
              "model: localhost knows no model m (or api_base is wrong)")),
        ]
        for (base, token, api_base, key), says in cases:
            cfg = tmp_path / "config.json"
            cfg.write_text(json.dumps({"channels": {"telegram": {"token": "1:x", "base_url": base}},
                                       "tls": {"ca_file": tg.ca_pem_path}}))
            vals = tmp_path / "values.json"
            vals.write_text(json.dumps({"token": token, "provider": "custom", "api_base": api_base,
                                        "api_key": key, "model": "m"}))
            r = unixport.run([os.path.join(unixport.HERE, "mp_setup_steps.py"), "checks", str(cfg), str(vals)],
                             heap="64k")
            lines = [l for l in r.stdout.splitlines() if l.startswith(("telegram:", "model:"))]
            assert len(lines) == 2, r.stdout + r.stderr
            for line, start in zip(lines, says):
                assert line.startswith(start), (line, r.stdout)
                assert token not in line and key not in line
            assert "left loaded: []" in r.stdout, r.stdout


def test_the_url_and_getme_fields_are_read_as_app_and_the_parser_would():
    from picoclaw import app

    for url in ("https://api.telegram.org", "http://127.0.0.1:8081/", "https://h:99/pre/fix/",
                "http://[::1]", "https://host:notaport/x"):
        assert check._split(url) == app.split_url(url), url
    for bad in ("ftp://x", "https://", "https://a b", "https://x\r\nHost: y"):
        with pytest.raises(ValueError):
            check._split(bad)
    # a username-looking text inside a string (its quotes escaped there) is no match
    body = bytearray(b'{"ok" : true,"result":{"first_name":"x\\",\\"username\\":\\"evil","username":"real_bot"}}')
    assert check._field(body, len(body), b'"username"') == b"real_bot"
    assert check._field(body, len(body), b'"ok"') == b"true"
    assert check._field(body, len(body), b'"description"') is None
    body = bytearray(b'{"ok":false,"error_code":401,"description":"Unauthorized"}')
    assert [check._field(body, len(body), k) for k in (b'"ok"', b'"error_code"', b'"description"')] == \
        [b"false", b"401", b"Unauthorized"]
    assert check._field(body, 10, b'"description"') is None  # only what was read
