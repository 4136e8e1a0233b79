# Trust anchors from config tls.ca_file: PEM bundles are read one certificate at a time,
# DER files whole, and anything else is refused with a clear error. Runs on CPython and
# on the unix port (the PEM here is built from the roots the firmware ships).
import os
from binascii import a2b_base64, b2a_base64

from picoclaw import roots, trust

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


def test_pem_bundle_yields_each_certificate_in_order():
    ders = [a2b_base64(b) for b in roots.ALL]
    text = b"# a comment line\r\n" + _pem(ders[0]).replace(b"\n", b"\r\n") + b"junk between\n" + _pem(ders[1])
    assert list(trust.load_ca_file(_write(text))) == ders


def test_der_file_is_one_certificate():
    der = a2b_base64(roots.ALL[0])
    assert list(trust.load_ca_file(_write(der))) == [der]


def test_context_accepts_a_ca_file():
    trust.context(_write(_pem(a2b_base64(roots.ALL[1]))))


def test_bad_files_are_refused_clearly():
    der = a2b_base64(roots.ALL[0])
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
