# TLS trust: an SSLContext that verifies certificates and host names against our roots.
#
# Trust anchors = the roots shipped in roots.py (api.telegram.org's chain) + the PEM or DER
# file named by config `tls.ca_file`. The context is built once and reused for every
# reconnect: building it parses certificates, which costs time and heap on a board.
import ssl
from binascii import a2b_base64

_MAX_CA_FILE = 16384  # a PEM bundle of ~8 roots; a bigger file is almost surely a mistake


def _pem_blocks(data):
    """DER bytes of each certificate in PEM text (MicroPython's mbedTLS wants DER here)."""
    begin = b"-----BEGIN CERTIFICATE-----"
    end = b"-----END CERTIFICATE-----"
    i = data.find(begin)
    while i >= 0:
        j = data.find(end, i)
        if j < 0:
            raise ValueError("unterminated certificate in PEM")
        yield a2b_base64(data[i + len(begin):j].replace(b"\r", b"").replace(b"\n", b""))
        i = data.find(begin, j)


def load_ca_file(path):
    """List of DER certificates from a PEM or DER file."""
    with open(path, "rb") as f:
        data = f.read(_MAX_CA_FILE + 1)
    if len(data) > _MAX_CA_FILE:
        raise ValueError("tls.ca_file %s is over %d bytes" % (path, _MAX_CA_FILE))
    if b"-----BEGIN" in data:
        ders = list(_pem_blocks(data))
        if not ders:
            raise ValueError("tls.ca_file %s holds no certificate" % path)
        return ders
    return [data]


def context(ca_file=None, verify=True, builtin_roots=True):
    """An SSLContext for clients. verify=False (config tls.verify) disables all checks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    if builtin_roots:
        from . import roots

        for b64 in roots.ALL:
            ctx.load_verify_locations(cadata=a2b_base64(b64))
    if ca_file:
        try:
            for der in load_ca_file(ca_file):
                ctx.load_verify_locations(cadata=der)
        except (OSError, ValueError) as e:
            raise ValueError("tls.ca_file %s: %s" % (ca_file, e))
    return ctx
