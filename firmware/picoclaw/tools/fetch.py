# The web_fetch tool: GET a URL (http or https, certificates checked), follow redirects,
# and give the model the page as text: HTML through tools/html.py, text and JSON as they
# are, anything else as a one-line note of its type and size.
#
# Every hop goes through net/guard.py (the SSRF guard: loopback, private, link-local and
# metadata addresses refused after the lookup, unless tools.web.private_host_whitelist lists
# them) and connects to the address it checked. The body streams through the connection's
# 512-byte buffer into the converter and out to the result file: no page is ever in RAM, and
# reading stops at whichever comes first: the text cap (max_chars), the byte limit
# (tools.web.fetch_limit_bytes), the time limit. Loaded only while the tool runs.
import time

from micropython import const

from picoclaw.json.stream import OBJ
from picoclaw.net.http import Connection, _ieq

_BUF = const(512)  # the connection's buffer: a request head, then the body's windows (as app's)
_URL_CAP = const(1024)  # bytes of a URL (from the model or a Location header)
_CHARS = const(4000)  # text characters at most (the result's 4096 bytes less the head and notes)
_LIMIT = const(1048576)  # bytes read when tools.web.fetch_limit_bytes is 0 (PicoClaw's 10 MB is a Linux box's)
_TIME_MS = const(30000)  # the whole fetch, redirects included: a stalled or endless page ends here
_HOPS = const(5)  # redirects followed (PicoClaw's maxRedirects)
_TYPE_CAP = const(100)  # bytes of a Content-Type kept
_ALIVE = const(32)  # body windows between two watchdog feeds (ctx.alive: 16 KB)

# what the result's head and notes say (one literal each: docs/memory.md)
_HEAD = "url: %s\nstatus: %d%s\n"


class _Page(Connection):
    """A Connection that also keeps the two headers a page needs: Content-Type and Location
    (net/http reads only the ones its APIs need)."""

    def __init__(self, url, buf, ctx, opener):
        Connection.__init__(self, url, buf, ctx, opener)
        if ":" in self.host:  # an IPv6 literal: the Host header has it in brackets
            self._hostb = b"[%s]" % self._hostb if self.port == (443 if ctx else 80) else \
                b"[%s]:%d" % (self.host.encode(), self.port)
        self.ctype = b""
        self.location = None

    def _header(self, b, s, e):
        Connection._header(self, b, s, e)
        c = b.find(b":", s, e)
        if c < 0:
            return
        v = c + 1
        while v < e and (b[v] == 32 or b[v] == 9):
            v += 1
        n = c - s
        if n == 12 and _ieq(b, s, b"content-type"):
            self.ctype = bytes(b[v:min(e, v + _TYPE_CAP)])
        elif n == 8 and _ieq(b, s, b"location"):
            # a header line longer than net/http's line buffer arrives cut: b"", not followed
            self.location = b"" if b is self._line and e >= len(b) else bytes(b[v:e])


def split(url):
    """(https, host, port, target) of an http(s) URL (str); ValueError saying what is wrong.
    The target is what goes on the request line: its spaces and non-ASCII bytes
    percent-encoded, its #fragment dropped."""
    u = url.strip()
    low = u[:8].lower()
    if low.startswith("https://"):
        https, rest = True, u[8:]
    elif low.startswith("http://"):
        https, rest = False, u[7:]
    else:
        raise ValueError("only http:// and https:// URLs can be fetched: %s" % url[:200])
    i = len(rest)
    for ch in "/?#":
        k = rest.find(ch)
        if 0 <= k < i:
            i = k
    auth, target = rest[:i], rest[i:]
    if "@" in auth:
        raise ValueError("a URL with a user name or password is not fetched: %s" % url[:200])
    port = 443 if https else 80
    host = auth
    k = auth.rfind(":")
    if k >= 0 and "]" not in auth[k:]:
        host = auth[:k]
        if not auth[k + 1:].isdigit() or not 0 < int(auth[k + 1:]) < 65536:
            raise ValueError("bad port in URL: %s" % url[:200])
        port = int(auth[k + 1:])
    if host[:1] == "[":
        host = host[1:-1]
    if not host:
        raise ValueError("no host in URL: %s" % url[:200])
    for c in host.encode():
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 45 or c == 46 or c == 58):
            raise ValueError("the host of %s has characters a host name may not (an international "
                             "name goes in its xn-- form)" % url[:200])
    k = target.find("#")
    if k >= 0:
        target = target[:k]
    t = bytearray()
    for c in (target or "/").encode():
        if c <= 32 or c >= 127 or c == 34 or c == 60 or c == 62:
            t += b"%%%02X" % c
        else:
            t.append(c)
    if target[:1] == "?":
        t = b"/" + t
    return https, host.lower(), port, bytes(t)


def join(base, ref):
    """URL ref (str; a Location header, a link) read against the absolute URL base."""
    k = ref.find(":")
    if k > 0 and ref[:k].isalpha() and "/" not in ref[:k]:  # a scheme: http:, mailto:, file: ...
        return ref
    i = base.find("//") + 2
    if ref[:2] == "//":
        return base[:i - 2] + ref
    k = len(base)
    for ch in "/?#":
        j = base.find(ch, i)
        if 0 <= j < k:
            k = j
    origin = base[:k]
    if ref[:1] == "/":
        return origin + ref
    path = base[k:]
    for ch in "?#":
        j = path.find(ch)
        if j >= 0:
            path = path[:j]
    if ref[:1] == "?" or not ref:
        return origin + (path or "/") + ref
    if ref[:1] == "#":
        return base
    path = path[:path.rfind("/") + 1] or "/"
    parts = []
    for s in (path + ref).split("/")[1:]:
        if s == "..":
            if parts:
                parts.pop()
        elif s != ".":
            parts.append(s)
    if ref.endswith(("/..", "/.")) or ref in ("..", "."):
        parts.append("")
    return origin + "/" + "/".join(parts)


def _args(args):
    url = None
    chars = _CHARS
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"url"):
            url = args.read_str(_URL_CAP)
            if args.truncated:
                raise ValueError("url is over %d bytes" % _URL_CAP)
        elif args.key_is(b"max_chars"):
            v = args.value(args.next())
            if isinstance(v, str) and v.strip().isdigit():  # models send "2000" as well
                v = int(v)
            if v is not None and not isinstance(v, int):
                raise ValueError("max_chars must be a whole number")
            if v:
                chars = max(100, min(_CHARS, v))
        else:
            args.skip()
    if not url:
        raise ValueError("url is required")
    return url, chars


def _tls(ctx, host):
    """The SSLContext for an https fetch: the root group host starts with (or the table's
    first) and tls.ca_file's, as app.build made the model's; certificates unchecked only when
    tls.verify is false. A refused certificate then tries the other groups (net/anchors)."""
    from picoclaw import unload
    from picoclaw.net import trust

    t = Connection.trust  # (tls.ca_file, workspace) when certificates are checked (app.build)
    model = getattr(ctx, "conn", None)
    verify = t is not None or getattr(model, "ctx", None) is None  # tls.verify false: app set no trust
    ws = t[1] if t else getattr(ctx, "workspace", None)
    try:
        g = trust.resolve(host, ws) or trust.roots("table").ALL[0][0].decode()
        return trust.context(t and t[0], verify, (g,), ws), t if verify else None
    finally:
        trust.unload()
        unload("picoclaw.net.trust")


def run(name, args, ctx, out):
    from picoclaw import unload

    url, chars = _args(args)
    web = getattr(ctx, "web", None) or (0, (), None)
    # Where TLS shares the board's heap (net/tlsheap), the fetch is one connection at a time
    # whatever the plan chose: the plan's working heap does not count this tool's code and
    # buffers, so the idle Telegram and model connections make way for its handshake (they
    # reconnect after, a handshake each), and the reserve is taken back only once the page's
    # code has left the heap, not when the connection closes.
    plan = Connection.tls_plan
    single = plan is not None and plan.single
    if plan is not None:
        plan.single = True
    try:
        _fetch(url, chars, web[0] or _LIMIT, web[1], ctx, out)
    finally:
        unload("picoclaw.tools.html")
        if plan is not None:
            plan.busy = False
            plan.close(None)  # nothing of ours open: the reserve is taken again now
            plan.single = single


def _fetch(url, chars, limit, allow, ctx, out):
    start = time.ticks_ms()
    total = getattr(ctx, "fetch_ms", 0) or _TIME_MS
    buf = bytearray(_BUF)
    tls = None
    seen = []
    first = url

    def opener(host, port, c, timeout_ms):
        # the guard's code only while a connection is made: the page's converter comes after
        from picoclaw import load, unload

        try:
            return load("picoclaw.net.guard").connect(host, port, c, timeout_ms, allow)
        finally:
            unload("picoclaw.net.guard")

    while True:
        https, host, port, target = split(url)
        if https and tls is None:
            tls = _tls(ctx, host)
        conn = _Page(("https" if https else "http", host, port, ""), buf, tls[0] if https else None, opener)
        conn.trust = tls[1] if https else None
        plan = conn.tls_plan if https else None
        if plan is not None:
            plan.conns.append(conn)  # one of the plan's while it is open (see run)
        left = total - time.ticks_diff(time.ticks_ms(), start)
        if left <= 0:
            raise ValueError("%s: no answer within %d s" % (url[:200], total // 1000))
        try:
            try:
                conn.request(b"GET", target, headers=(b"Accept: text/html, text/plain, */*;q=0.8",),
                             timeout_ms=left)
            except OSError as e:
                raise ValueError("fetching %s failed: %s" % (url[:200], e))
            st = conn.status
            if st in (301, 302, 303, 307, 308) and conn.location is not None:
                if not conn.location:
                    raise ValueError("%s redirects to a URL too long to follow" % url[:200])
                seen.append(url)
                url = join(url, conn.location.decode())
                if url in seen:
                    raise ValueError("redirect loop: %s leads back to %s" % (seen[-1][:200], url[:200]))
                if len(seen) > _HOPS:
                    raise ValueError("more than %d redirects, the last to %s" % (_HOPS, url[:200]))
                continue
            out.write(_HEAD % (url, st, ", " + conn.ctype.decode() if conn.ctype else ""))
            if seen:
                out.write("redirected from: %s\n" % first)
            _body(conn, url, chars, limit, ctx, out, start, total)
            return
        finally:
            if plan is not None:
                plan.busy = True  # its close does not take the reserve back yet (see run)
            conn.close()
            if plan is not None:
                plan.conns.remove(conn)


def _kind(ctype):
    """(kind, latin charset): kind 1 HTML, 2 text as it is, 0 not text, -1 unknown (sniffed)."""
    from picoclaw.tools.html import latin

    t = ctype.lower()
    i = t.find(b";")
    media = (t if i < 0 else t[:i]).strip()
    j = t.find(b"charset=")
    cs = None if j < 0 else t[j + 8:].split(b";")[0]
    if not media:
        k = -1
    elif media == b"text/html" or media == b"application/xhtml+xml":
        k = 1
    elif media.startswith(b"text/") or media.endswith((b"/json", b"+json", b"/xml", b"+xml")) or \
            media in (b"application/javascript", b"application/x-ndjson", b"application/yaml"):
        k = 2
    else:
        k = 0
    return k, cs


def _body(conn, url, chars, limit, ctx, out, start, total):
    kind, cs = _kind(conn.ctype)
    if kind == 0:
        size = "%d bytes" % conn.length if conn.length >= 0 else "size not given"
        out.write("\n[not text: %s, %s; web_fetch reads only HTML, text, JSON and XML]" % (
            conn.ctype.decode(), size))
        return
    from picoclaw import load

    h = load("picoclaw.tools.html")
    text = h.Text(out, chars, out.cap - out.n - 200)  # room for the notes after the text
    text.latin = cs is not None and h.latin(cs)
    conv = None
    got = 0
    windows = 0
    end = None  # why reading stopped before the body's end, for the note
    out.write("\n")
    try:
        while True:
            n = conn.fill()
            if not n:
                break
            s = conn.start
            if kind < 0:  # no Content-Type: a page that starts with "<" is HTML, a NUL is not text
                first = bytes(conn.buf[s:s + n]).lstrip()
                if b"\x00" in first:
                    out.write("[not text: no Content-Type and binary bytes; not read]")
                    return
                kind = 1 if first[:1] == b"<" else 2
            if kind == 1 and conv is None:
                conv = h.Html(text, lambda ref: join(url, ref.decode()).encode(), cs is None)
            if got + n > limit:
                n = limit - got
                end = "[stopped at the %d-byte limit (tools.web.fetch_limit_bytes): the rest of the page was not read]" % limit
            got += n
            more = conv.feed(conn.buf, s, n) if conv else (text.put(conn.buf, s, s + n) or not text.full)
            if not more or end:
                break
            windows += 1
            if windows % _ALIVE == 0 and getattr(ctx, "alive", None):
                ctx.alive()
    except OSError as e:
        if time.ticks_diff(time.ticks_ms(), start) >= total - 50:
            end = "[stopped after %d s (the time limit): the page was still coming]" % (total // 1000)
        else:
            end = "[the connection broke after %d bytes: %s]" % (got, e)
    finally:
        if conv:
            conv.end()
        else:
            text.end()
    if text.full:
        if text.n < chars:  # the result's bytes ran out first (text beyond ASCII takes more)
            out.write("\n[cut at %d characters, the most one tool result holds]" % text.n)
        elif chars < _CHARS:
            out.write("\n[cut at %d characters: ask again with a larger max_chars (at most %d) for more]"
                      % (chars, _CHARS))
        else:
            out.write("\n[cut at %d characters, the most web_fetch returns]" % chars)
    elif end:
        out.write("\n" + end)
    elif not text.n:
        out.write("[no text in %d bytes]" % got)
