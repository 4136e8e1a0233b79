# The web_search tool: one query to the search backend tools.web configures (Brave, Tavily,
# SearXNG or DuckDuckGo's keyless HTML page), its results written to the tool result as they
# are parsed: numbered, each a title, a URL and a snippet, each capped.
#
# Loaded only while a search runs (tools.run), and dropped after. Nothing is held whole: the
# JSON backends' answers go through json/stream's JsonReader straight off the connection,
# DuckDuckGo's page through a scan of each window of the connection's buffer, and a result's
# fields sit in three fixed buffers (_TITLE, _URL, _SNIPPET) until it is written. The
# connection borrows the model connection's 512-byte buffer and TLS context (both idle while
# a tool runs; with TLS in the board's heap it takes that connection's place) and is closed
# at the end.
#
#     run("web_search", args, agent, out)  # agent.web[2] = ("brave", key, base_url, 5)
from micropython import const

from picoclaw.json.stream import END_ARR, OBJ, ARR, JsonError, JsonReader, utf8_boundary
from picoclaw.net.http import Connection

_TITLE = const(120)  # bytes of a result's title, after tags and entities are gone
_URL = const(240)  # bytes of a result's URL (a longer one is cut: rare, and said by its cut)
_SNIPPET = const(300)  # bytes of a snippet: Brave's and DuckDuckGo's are 150-300
_QUERY = const(256)  # bytes of the query: a search engine cuts far shorter ones anyway
_TAG = const(512)  # bytes of one HTML tag DuckDuckGo sends (a result link's <a> with its href
#               is 200-500); a longer tag's tail is dropped, which cuts only a very long URL
_ENTITY = const(10)  # longest entity name decoded ("&#x1F600;" is 9)
_WAIT_S = const(15)  # the whole exchange: PicoClaw gives a search 10 s; a board's TLS is slower
_RAW = const(4)  # a field reads up to this many times its cap: tags and entities shrink
_IO = const(512)  # the connection buffer when there is no model connection to borrow from

# each backend: its default endpoint (base_url replaces it: for searxng the instance's root,
# to which /search is added, as in PicoClaw; for the others the endpoint itself)
_ENDPOINTS = ("brave https://api.search.brave.com/res/v1/web/search tavily https://api.tavily.com/search "
              "searxng - duckduckgo https://html.duckduckgo.com/html/")


def run(name, args, ctx, out):
    web = getattr(ctx, "web", None)
    b = web[2] if web else None
    if not b:
        raise ValueError("web_search: no search backend is enabled in tools.web")
    backend, key, base, count = b
    q = Field(_QUERY, False)
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"query"):
            args.copy_str(q.add, _QUERY)
        elif args.key_is(b"count"):
            v = args.value(args.next())
            if isinstance(v, str) and v.strip().isdigit():  # models send "5" as well
                v = int(v)
            if isinstance(v, int) and not isinstance(v, bool):
                count = v
            elif v is not None:
                raise ValueError("count must be a whole number of results (1-10)")
        else:
            args.skip()
    q.trim()
    if not q.n:
        raise ValueError("query is required and may not be empty")
    count = max(1, min(10, count))
    if not base:
        e = _ENDPOINTS.split()
        base = e[e.index(backend) + 1]
    elif backend == "searxng":
        base += "/search"
    elif backend == "duckduckgo":
        base += "/"  # config drops a base_url's last "/": DuckDuckGo's page is /html/
    https, host, port, path = _split(base)
    borrowed = getattr(ctx, "conn", None)
    tls = _tls(host, ctx, borrowed) if https else None
    conn = Connection(("https" if https else "http", host, port, ""),
                      borrowed.buf if borrowed is not None else bytearray(_IO), tls)
    wait = min(getattr(ctx, "timeout_s", _WAIT_S), _WAIT_S) * 1000
    # Where TLS shares the board's heap (net/tlsheap) the search's connection takes the idle
    # model connection's place (closed now: it reconnects at the next model call), so no more
    # connections are open than the plan made room for, and the plan closes, counts and
    # reserves for it as for the two it knows (as llm/transcribe.py does)
    plan = conn.tls_plan if https else None
    if plan is not None:
        if borrowed is not None:
            borrowed.close()
        plan.conns.append(conn)
    out.write(b"Results for: ")
    out.write(memoryview(q.buf)[:q.n])
    out.write(" (via %s)" % backend)
    try:
        try:
            if backend == "tavily":
                def body(w):
                    w.write(b'{"query":')
                    w.json_begin()
                    w.json_part(q.buf, q.n)
                    w.json_end()
                    w.write(b',"max_results":%d,"search_depth":"basic","include_answer":false,'
                            b'"include_images":false,"include_raw_content":false,"api_key":' % count)
                    w.json_begin()
                    w.json_part(key)
                    w.json_end()
                    w.write(b"}")

                conn.request(b"POST", path, body, (b"Authorization: Bearer " + key.encode(),), wait)
            else:
                sep = b"&" if b"?" in path else b"?"
                target = (path, sep, b"q=", _quote(q.buf, q.n))
                if backend == "brave":
                    target += (b"&count=%d" % count,)
                    h = (b"X-Subscription-Token: " + key.encode(),)
                elif backend == "searxng":
                    target += (b"&format=json&categories=general",)
                    h = ()
                else:  # DuckDuckGo's HTML page: no key; it may answer a captcha (202, _check)
                    h = ()
                conn.request(b"GET", target, None, h, wait)
            _check(conn, backend)
            if backend == "duckduckgo":
                n = _scan_html(conn, count, out)
            else:
                n = _read_json(conn, backend, count, out, getattr(ctx, "small", None))
            conn.done()
        except JsonError as e:
            raise ValueError("%s answered with something that is not its search JSON (%s)" % (backend, e))
        except OSError as e:  # the connection failed or timed out: one line from net/
            raise ValueError("%s search failed: %s" % (backend, e))
    finally:
        conn.close()
        if plan is not None:
            plan.conns.remove(conn)
    if not n:
        out.write("\nNo results.")


def _check(conn, backend):
    """A status other than 200 as one line for the model (ValueError)."""
    s = conn.status
    if s == 200:
        return
    conn.close()
    if s == 429:
        after = conn.retry_after
        raise ValueError("%s search: rate limit reached (HTTP 429)%s: try again later" % (
            backend, " for %d s" % after if after >= 0 else ""))
    if s >= 500:
        raise ValueError("%s search failed on its side (HTTP %d): try again later" % (backend, s))
    if backend == "tavily" and (s == 432 or s == 433):
        raise ValueError("tavily: the plan's search credits are used up (HTTP %d)" % s)
    if backend == "searxng" and s == 403:
        raise ValueError("searxng refused the search (HTTP 403): enable the json format in the "
                         "instance's settings.yml (search: formats: [html, json])")
    if backend == "duckduckgo" and (s == 202 or s == 403):
        # 202: its "anomaly" page, a captcha for addresses that search a lot
        raise ValueError("duckduckgo refused the search (HTTP %d, it blocks automated queries "
                         "for a while): try later, or enable another backend in tools.web" % s)
    if (s == 401 or s == 403 or s == 422) and (backend == "brave" or backend == "tavily"):
        raise ValueError("%s refused the API key (HTTP %d): check tools.web.%s.api_key" % (backend, s, backend))
    raise ValueError("%s search answered HTTP %d: check tools.web.%s" % (backend, s, backend))


def _read_json(conn, backend, count, out, small):
    """Results of a JSON answer: Brave's web.results[] (title, url, description), Tavily's
    and SearXNG's results[] (title, url, content). Stops reading at `count`."""
    p = JsonReader(conn, small if small is not None else bytearray(128))
    snippet_key = b"description" if backend == "brave" else b"content"
    t, u, s = Field(_TITLE), Field(_URL, False), Field(_SNIPPET)
    n = 0
    inside = backend != "brave"  # Brave's web results are under "web"
    p.expect(OBJ)
    while p.next_key():
        if not inside and p.key_is(b"web"):
            p.expect(OBJ)
            inside = True  # its keys now
        elif inside and p.key_is(b"results"):
            p.expect(ARR)
            while n < count:
                ev = p.next()
                if ev == END_ARR:
                    break
                if ev != OBJ:
                    p.skip_value(ev)
                    continue
                t.n = u.n = s.n = 0
                while p.next_key():
                    f = t if p.key_is(b"title") else u if p.key_is(b"url") else \
                        s if p.key_is(snippet_key) else None
                    if f is None:
                        p.skip()
                    else:
                        f.begin()
                        p.copy_str(f.add, f.cap * _RAW)
                if t.n or u.n:
                    n += 1
                    _write(out, n, t, u, s)
            break
        else:
            p.skip()
    return n


def _scan_html(conn, count, out):
    """Results of DuckDuckGo's HTML page, in one pass over the body's windows: each
    <a class="result__a" href="//duckduckgo.com/l/?uddg=URL&amp;..."> starts a result (its
    text the title, the uddg parameter the URL), the <a class="result__snippet"> after it is
    the snippet. Ads (links to duckduckgo.com/y.js) are left out."""
    t, u, s = Field(_TITLE), Field(_URL, False), Field(_SNIPPET)
    tag = bytearray(_TAG)
    tn = 0
    in_tag = False
    mode = None  # the field the text goes to: t inside a title, s inside a snippet
    pending = False  # a result started and not written yet
    n = 0
    buf = conn.buf
    mv = memoryview(buf)
    while n < count:
        k = conn.fill()
        if not k:
            break
        i = conn.start
        e = i + k
        while i < e:
            if in_tag:
                j = buf.find(b">", i, e)
                end = e if j < 0 else j
                c = min(end - i, _TAG - tn)
                tag[tn:tn + c] = mv[i:i + c]
                tn += c
                if j < 0:
                    break
                i = j + 1
                in_tag = False
                if mode is not None:
                    # inside a title or a snippet only its end, </a>, matters (<b> marks
                    # the query's words)
                    if tn >= 2 and tag[0] == 47 and tag[1] | 32 == 97 and (tn == 2 or tag[2] <= 32):
                        if mode is s:  # the snippet is the result's last part
                            pending = False
                            n = _keep(out, n, t, u, s)
                        mode = None
                    continue
                if tn < 2 or tag[0] | 32 != 97 or tag[1] > 32:  # only <a ...> links matter
                    continue
                cls = _attr(tag, tn, b'class="')
                if cls < 0:
                    continue
                r = tag.find(b"result__a", cls, tn)
                if 0 <= r < tn - 9 and (tag[r + 9] == 34 or tag[r + 9] == 32):  # the class, not a longer one
                    if pending:
                        n = _keep(out, n, t, u, s)
                    if n >= count:
                        break
                    pending = True
                    t.n = u.n = s.n = 0
                    t.begin()
                    s.begin()
                    _href(tag, tn, u)
                    mode = t
                elif pending and tag.find(b"result__snippet", cls, tn) >= 0:
                    mode = s
            else:
                j = buf.find(b"<", i, e)
                end = e if j < 0 else j
                if mode is not None and end > i:
                    mode.add(mv[i:end], end - i)
                if j < 0:
                    break
                i = j + 1
                in_tag = True
                tn = 0
    if pending and n < count:
        n = _keep(out, n, t, u, s)
    return n


def _keep(out, n, t, u, s):
    """Write the result unless it is an ad; the count of results written."""
    if u.n >= 27 and u.buf.startswith(b"https://duckduckgo.com/y.js") or not (t.n or u.n):
        return n
    _write(out, n + 1, t, u, s)
    return n + 1


def _attr(tag, tn, name):
    """Where the value of attribute `name` (b'href="') starts in tag[:tn], or -1."""
    i = tag.find(name, 0, tn)
    return i + len(name) if i >= 0 else -1


def _href(tag, tn, u):
    """The result's URL from its link's href: DuckDuckGo's redirect
    //duckduckgo.com/l/?uddg=<the URL, percent-encoded>&amp;rut=..., decoded; any other
    href as it is (a scheme-relative one made https)."""
    v = _attr(tag, tn, b'href="')
    if v < 0:
        return
    end = tag.find(b'"', v, tn)
    if end < 0:
        end = tn
    d = tag.find(b"uddg=", v, end)
    if d >= 0:
        v = d + 5
        amp = tag.find(b"&", v, end)
        if amp >= 0:
            end = amp
        i = v
        while i < end:  # percent-decoding, "+" a space (as Go's url.QueryUnescape); bytes
            # past ASCII stay encoded: the URL still works, and the text stays valid UTF-8
            c = tag[i]
            if c == 37 and i + 2 < end and 0 <= _hex(tag[i + 1]) < 8 and _hex(tag[i + 2]) >= 0:
                u.put(_hex(tag[i + 1]) * 16 + _hex(tag[i + 2]))
                i += 3
                continue
            u.put(32 if c == 43 else c)
            i += 1
        return
    if tag.startswith(b"//", v):
        u.add(b"https:", 6)
    i = v
    while i < end:  # &amp; in an attribute is "&"
        if tag.startswith(b"&amp;", i):
            u.put(38)
            i += 5
        else:
            u.put(tag[i])
            i += 1


def _hex(c):
    return c - 48 if 48 <= c <= 57 else (c | 32) - 87 if 97 <= c | 32 <= 102 else -1


def _write(out, i, t, u, s):
    out.write(b"\n%d. " % i)
    if t.n:
        t.write_to(out)
    else:
        out.write(b"(no title)")
    out.write(b"\n   ")
    u.write_to(out)
    if s.n:
        out.write(b"\n   ")
        s.write_to(out)


def _quote(b, n):
    """b[:n] percent-encoded for a query string (RFC 3986's unreserved characters kept)."""
    r = bytearray()
    for i in range(n):
        c = b[i]
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in (45, 46, 95, 126):
            r.append(c)
        else:
            r.extend(b"%%%02X" % c)
    return bytes(r)


def _split(url):
    """(https?, host, port, path) of an http(s) URL; ValueError for anything else."""
    https = url.startswith("https://")
    if not https and not url.startswith("http://"):
        raise ValueError("web_search: the backend's URL must start with https:// or http://: %s" % url[:80])
    rest = url[8 if https else 7:]
    i = rest.find("/")
    host, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    port = 443 if https else 80
    j = host.rfind(":")
    if j > 0 and host[j + 1:].isdigit():
        host, port = host[:j], int(host[j + 1:])
    return https, host, port, path.encode()


def _tls(host, ctx, borrowed):
    """The SSLContext for the backend: the model connection's (its roots and tls.ca_file's:
    no new context, no roots parsed) unless net/anchors.py remembered another root group for
    this host in state/anchors (its certificate was refused with those once), or the model
    has no TLS; then one with the host's roots (_context)."""
    ws = getattr(ctx, "workspace", None)
    try:
        with open(ws + "/state/anchors") as f:  # "host group" lines
            for line in f:
                if line.split()[:1] == [host]:
                    return _context(host, ws)
    except (OSError, TypeError):  # none yet, or no workspace
        pass
    t = borrowed.ctx if borrowed is not None else None
    return t if t is not None else _context(host, ws)


def _context(host, ws):
    """An SSLContext for the backend's host (the roots of its group, and tls.ca_file's)."""
    from picoclaw import unload
    from picoclaw.net import trust

    try:
        ca = Connection.trust[0] if Connection.trust else None
        return trust.context(ca, True, (host,), ws)
    finally:
        trust.unload()
        unload("picoclaw.net.trust")


class Field:
    """One result field in a fixed buffer of `cap` bytes. With `clean`, the text it is given
    is HTML: tags are dropped, entities decoded and whitespace folded to single spaces, as it
    comes in pieces. What does not fit is dropped (cut at a character when written)."""

    def __init__(self, cap, clean=True):
        self.buf = bytearray(cap)
        self.cap = cap
        self.n = 0
        self.clean = clean
        self.ent = bytearray(_ENTITY)
        self.begin()

    def begin(self):
        self.tag = 0  # 1: after "<", 2: inside <...>
        self.en = -1  # bytes of an entity name after "&", -1 outside one
        self.space = True  # the last byte kept was a space (or none yet): fold the next

    def put(self, c):
        if self.n < self.cap:
            self.buf[self.n] = c
            self.n += 1

    def add(self, b, k):
        """Take b[:k] (the sink JsonReader.copy_str calls)."""
        if not self.clean:
            c = min(k, self.cap - self.n)
            self.buf[self.n:self.n + c] = memoryview(b)[:c]
            self.n += c
            return
        for i in range(k):
            if self.n >= self.cap:
                return
            c = b[i]
            if self.tag == 2:
                if c == 62:  # >
                    self.tag = 0
                continue
            if self.tag == 1:  # after "<": a tag only if a name, "/", "!" or "?" follows (as in HTML)
                self.tag = 0
                if 97 <= c | 32 <= 122 or c == 47 or c == 33 or c == 63:
                    self.tag = 2
                    continue
                self.put(60)
                self.space = False
            if self.en >= 0:
                if c == 59:  # ;
                    self._entity()
                    continue
                if self.en < _ENTITY and (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 35):
                    self.ent[self.en] = c
                    self.en += 1
                    continue
                self._literal()  # not an entity: the "&" and what followed, as they were
            if c == 60:  # <
                self.tag = 1
            elif c == 38:  # &
                self.en = 0
            elif c <= 32:
                if not self.space:
                    self.put(32)
                    self.space = True
            else:
                self.put(c)
                self.space = False

    def _literal(self):
        self.put(38)
        for i in range(self.en):
            self.put(self.ent[i])
        self.en = -1
        self.space = False

    def _entity(self):
        e = bytes(self.ent[:self.en])
        c = -1
        if e[:1] == b"#":
            try:
                c = int(e[2:], 16) if e[1:2] in (b"x", b"X") else int(e[1:])
            except ValueError:
                c = -1
        else:
            names = b"amp lt gt quot apos nbsp".split()
            if e in names:
                c = b"&<>\"' "[names.index(e)]
        if c < 0 or c > 0x10FFFF or 0xD800 <= c < 0xE000:
            self.put(38)
            for x in e:
                self.put(x)
            self.put(59)
            self.en = -1
            self.space = False
            return
        self.en = -1
        if c <= 32:
            if not self.space:
                self.put(32)
                self.space = True
            return
        for x in chr(c).encode():
            self.put(x)
        self.space = False

    def trim(self):
        while self.n and self.buf[self.n - 1] == 32:
            self.n -= 1

    def write_to(self, out):
        if self.en >= 0:
            self._literal()
        if self.tag == 1:
            self.put(60)
        self.trim()
        out.write(memoryview(self.buf)[:utf8_boundary(self.buf, self.n)])
