# What a broken HTTP exchange says: loaded by net/http only when one breaks, dropped after,
# so none of this text stays in the heap of a bot whose exchanges work.
from picoclaw.net.http import HTTPError

# by net/http's _fail number
_WORDING = (
    "%s: timed out (no complete answer in time)",  # 0: host
    "request body changed between passes (%d != %d)",  # 1: second pass, first pass
    "%s: response head too long (over %d bytes or %d lines)",  # 2: host, bounds
    "connection closed before the response head ended",  # 3
    "not an HTTP response",  # 4
    "bad status line",  # 5
    "bad Content-Length",  # 6
    "connection closed inside a chunked body",  # 7
    "bad chunk size",  # 8
    "missing CRLF after chunk",  # 9
    "chunk too large",  # 10
    "connection closed with %d body bytes missing",  # 11: bytes
    "%s: %s",  # 12: host, the OSError that ended the exchange
)


def error(n, args):
    """The HTTPError for failure n of net/http, its wording filled in with args."""
    if n == 12:
        host, e = args
        code = e.args[0] if e.args else None
        why = ("timed out" if code == 110 else "connection reset" if code in (104, 103)
               else "connection refused" if code == 111 else str(e) or repr(e))
        args = (host, why)
    return HTTPError(_WORDING[n] % args)
