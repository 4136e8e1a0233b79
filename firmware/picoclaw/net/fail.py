# What a failed connection says: one line naming host:port, what failed (DNS, refused,
# timeout, no route, TLS) and what to check. Loaded by netio only when a connection fails,
# and dropped after, so none of this text stays in the heap of a bot that works.
from micropython import const

from picoclaw.net.stream import NetError

_ETIMEDOUT = const(110)
_ECONNREFUSED = const(111)  # the same numbers on Linux and MicroPython's lwIP ports
_EHOSTUNREACH = const(113)
_ENETUNREACH = const(101)
_ENOMEM = const(12)
_HANDSHAKE = const(32768)  # bytes a handshake needs above what is in use (a Pico W, measured: 29-32 KB)


def wrong_url(conn, status, model):
    html = conn.start < len(conn.buf) and conn.buf[conn.start] == 60  # "<"
    url = "%s://%s%s" % ("https" if conn.ctx else "http", conn._hostb.decode(), conn.prefix.decode())
    if model:
        return ("api_base %s answered %d %s: not the model's API; check the model's api_base in "
                "config.json" % (url, status, "with an HTML page" if html else "without the API's JSON error"))
    return ("channels.telegram.base_url %s answered %d %s: not the Telegram Bot API; check the URL"
            % (url, status, "with an HTML page" if html else "with something else than its JSON"))


def error(step, e, host, port, timeout_ms):
    """NetError for step 0 (resolving the name), 1 (TCP connect) or 2 (the TLS
    handshake) that failed with `e`; step 3: wrong_url(e, host, port)."""
    if step == 3:
        return wrong_url(e, host, port)
    if step == 0:
        return NetError("cannot resolve %s (DNS): check the network (Wi-Fi) and the host name in "
                        "config.json (channels.telegram.base_url, providers.*.api_base)" % host)
    code = e.args[0] if e.args and isinstance(e.args[0], int) else (getattr(e, "errno", None) or 0)
    text = str(e).strip() or repr(e)
    if code == _ETIMEDOUT or "timed out" in text:
        if step == 2:
            return NetError("TLS with %s:%d: no answer within %d s (timeout)" % (host, port, timeout_ms // 1000))
        return NetError("%s:%d did not answer within %d s (timeout): check the network and the port"
                        % (host, port, timeout_ms // 1000))
    if step == 2:
        up = text.upper()
        short = _short_of_memory(code, up)
        if short:
            return NetError("TLS handshake to %s ran out of memory: %s" % (host, short))
        # mbedTLS: -0x2700 X509_CERT_VERIFY_FAILED; CPython: [SSL: CERTIFICATE_VERIFY_FAILED]
        elif code == -0x2700 or "VERIFY_FAILED" in up or "CERTIFICATE" in up:
            why = ("certificate not trusted (%s): add the server's root CA with tls.ca_file in "
                   "config.json, and check the board's clock" % text)
        else:
            why = text
        return NetError("TLS with %s:%d failed: %s" % (host, port, why))
    if code == _ECONNREFUSED:
        return NetError("%s:%d refused the connection: nothing listens there (check the port in the URL)"
                        % (host, port))
    if code == _EHOSTUNREACH or code == _ENETUNREACH:
        return NetError("%s:%d is unreachable (no route): check the network (Wi-Fi)" % (host, port))
    return NetError("%s:%d: connect failed (%s)" % (host, port, text))


def _short_of_memory(code, up):
    """How the heap fell short, if that is why the handshake failed: ENOMEM or an mbedTLS
    allocation error; or, where TLS lives in the heap (net/tlsheap.py), a certificate
    "not correctly signed" with too little room for a handshake: mbedTLS reports an
    allocation that failed inside the signature check that way. None otherwise."""
    import gc
    import sys

    gc.collect()
    m = sys.modules.get("picoclaw.net.tlsheap")
    plan = m.plan if m else None
    need = plan.handshake if plan else _HANDSHAKE
    free = gc.mem_free()
    big = largest_block(free)
    # mbedTLS: -0x7F00 SSL_ALLOC_FAILED, -0x2880 X509_ALLOC_FAILED, -17040 RSA out of memory
    oom = code in (_ENOMEM, -17040, -0x7F00, -0x2880) or "ALLOC_FAILED" in up or "ENOMEM" in up
    if not oom and plan is not None and "NOT CORRECTLY SIGNED" in up:
        oom = free < need or big < plan.rx
    if not oom:
        return None
    return "%d KB free, largest block %d KB; needs about %d KB (docs/memory.md: what takes the heap)" % (
        free // 1024, big // 1024, need // 1024)


def largest_block(limit):
    """The largest block the heap can give now, to 1 KB (at most `limit`): found by trying."""
    lo, hi = 0, limit // 1024
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            b = bytearray(mid * 1024)
            b = None
            lo = mid
        except MemoryError:
            hi = mid - 1
    return lo * 1024
