# TLS trust: an SSLContext that verifies certificates and host names against our roots.
#
# Trust anchors = the roots shipped in roots.py (api.telegram.org's chain) + the PEM or DER
# file named by config `tls.ca_file`. The context is built once and reused for every
# reconnect: building it parses certificates, which costs time and heap on a board.
import ssl
from binascii import a2b_base64

from micropython import const

_MAX_CERT = const(4096)  # bytes of DER per certificate (real roots are 0.5-2 KB); one cert is in
#                   RAM at a time, so a bundle of any length costs only its biggest member


def load_ca_file(path):
    """Yield the DER certificates of a PEM or DER file, one at a time: the file is read
    line by line so a big bundle never sits in RAM whole."""
    with open(path, "rb") as f:
        first = f.read(1)
        if first == b"\x30":  # DER: an ASN.1 SEQUENCE
            der = first + f.read(_MAX_CERT)
            if len(der) > _MAX_CERT:
                raise ValueError("certificate over %d bytes" % _MAX_CERT)
            yield der
            return
        f.seek(0)
        b64 = None  # base64 of the certificate being read, None outside one
        found = 0
        for line in f:
            line = line.strip()
            if line == b"-----BEGIN CERTIFICATE-----":
                b64 = bytearray()
            elif line == b"-----END CERTIFICATE-----" and b64 is not None:
                found += 1
                yield a2b_base64(b64)
                b64 = None
            elif b64 is not None:
                b64 += line
                if len(b64) > _MAX_CERT * 4 // 3 + 4:
                    raise ValueError("certificate over %d bytes" % _MAX_CERT)
        if b64 is not None:
            raise ValueError("unterminated certificate in PEM")
        if not found:
            raise ValueError("no certificate found (want PEM or DER)")


def context(ca_file=None, verify=True):
    """An SSLContext for clients. verify=False (config tls.verify) disables all checks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    from . import roots  # the shipped roots, then tls.ca_file

    for b64 in roots.ALL:
        ctx.load_verify_locations(cadata=a2b_base64(b64))
    if ca_file:
        try:
            for der in load_ca_file(ca_file):
                ctx.load_verify_locations(cadata=der)
        except (OSError, ValueError) as e:
            raise ValueError("tls.ca_file %s: %s" % (ca_file, e))
    return ctx
