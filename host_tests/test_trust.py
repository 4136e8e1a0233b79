# Trust anchors from config tls.ca_file: PEM bundles are read one certificate at a time,
# DER files whole, and anything else is refused with a clear error. Runs on CPython and
# on the unix port (the PEM here is built from the roots the firmware ships). And the shipped
# roots themselves: every one loads, every group's hosts are in the map, the built-in providers'
# hosts too (the fallback between groups: test_anchors.py, CPython, with stand-in CAs).
import os
import ssl
import sys
from binascii import b2a_base64

from picoclaw.net import anchors
from picoclaw.net.roots import table
from picoclaw.net import trust

TMP = "/tmp/picoclaw-trust-test"


def _pem(der):
    b64 = b2a_base64(der).strip()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _write(data):
    with open(TMP, "wb") as f:
        f.write(data)
    return TMP


def _errors(data):
    try:
        list(trust.load_ca_file(_write(data)))
    except ValueError as e:
        return str(e)
    return None


def _ders():
    ders = list(trust.roots("godaddy").ALL)
    trust.unload()
    return ders


def test_pem_bundle_yields_each_certificate_in_order():
    ders = _ders()
    text = b"# a comment line\r\n" + _pem(ders[0]).replace(b"\n", b"\r\n") + b"junk between\n" + _pem(ders[1])
    assert list(trust.load_ca_file(_write(text))) == ders


def test_der_file_is_one_certificate():
    der = _ders()[0]
    assert list(trust.load_ca_file(_write(der))) == [der]


def test_context_accepts_a_ca_file():
    trust.context(_write(_pem(_ders()[1])))


def test_bad_files_are_refused_clearly():
    der = _ders()[0]
    assert "unterminated" in _errors(_pem(der)[:-30])
    assert "no certificate" in _errors(b"hello, not a certificate\n")
    assert "no certificate" in _errors(b"")
    assert "over" in _errors(b"\x30" + b"\x00" * 5000)
    huge = b"-----BEGIN CERTIFICATE-----\n" + (b"A" * 64 + b"\n") * 100 + b"-----END CERTIFICATE-----\n"
    assert "over" in _errors(huge)


def test_context_names_the_file_in_errors():
    path = _write(b"nothing here")
    try:
        trust.context(path)
    except ValueError as e:
        assert path in str(e) and "no certificate" in str(e)
    else:
        assert False, "a file without certificates was accepted"
    os.remove(path)


def _names():
    return [g[0].decode() for g in table.ALL]


def test_every_shipped_root_loads_into_a_context():
    n = 0
    for name in _names():
        ders = trust.roots(name).ALL
        trust.unload()
        assert ders, name
        for der in ders:
            assert der[0] == 0x30 and 400 < len(der) < 2048, name  # one DER certificate each
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=der)  # raises on anything TLS would refuse
            n += 1
        ctx = trust.context(None, True, (name,))  # the group as a connection loads it
        assert trust.resolve(name) == name
        assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert n == 14
    assert not [k for k in sys.modules if "roots_" in k]  # every group module left the heap


def test_each_groups_hosts_are_in_the_map():
    for g in table.ALL:
        for host in g[2].split():
            assert anchors.mapped(host.decode()) == g[0].decode(), host
            assert anchors.order(host.decode())[0] == g[0].decode()
    assert anchors.mapped("llm.example.com") is None
    assert anchors.order("llm.example.com") == _names()  # every group, in the table's order
    assert sorted(anchors.order("api.telegram.org")) == sorted(_names())


def test_the_builtin_providers_and_telegram_are_mapped():
    from picoclaw.app import split_url
    from picoclaw.agent.setup import default_base

    want = {"api.telegram.org": "godaddy"}
    for name in ("openai", "anthropic", "openrouter", "groq", "deepseek", "gemini"):
        if not default_base(name):  # not built in (yet): nothing to map
            continue
        host = split_url(default_base(name))[1]
        assert anchors.mapped(host), (name, host)
        want[host] = anchors.mapped(host)
    assert want["api.openai.com"] == "google" and want["api.anthropic.com"] == "google"
    assert anchors.mapped("generativelanguage.googleapis.com") == "google"  # gemini's OpenAI endpoint
    assert want["api.telegram.org"] == "godaddy"
    sys.modules.pop("picoclaw.agent.setup", None)
