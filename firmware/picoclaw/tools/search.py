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
# Every name a module uses is interned for good when it loads (docs/memory.md), and a burst
# that searches sits a few names under the qstr pool's 620 step: so the backends are told
# apart by their index in one long literal, the helpers are few, their parameters and
# attributes reuse names the agent has interned already, and a field's cleaning state is one
# small array indexed by private constants.
#
#     run("web_search", args, agent, out)  # agent.web[2] = ("brave", key, base_url, 5)
from micropython import const

from picoclaw.json.stream import ARR, END_ARR, OBJ, JsonError, JsonReader, utf8_boundary
from picoclaw.net.http import Connection

_TITLE = const(120)  # bytes of a result's title, after tags and entities are gone
_URL = const(240)  # bytes of a result's URL (a longer one is cut: rare)
_SNIPPET = const(300)  # bytes of a snippet: Brave's and DuckDuckGo's are 150-300
_QUERY = const(256)  # bytes of the query: a search engine cuts far shorter ones anyway
_TAG = const(512)  # bytes of one HTML tag DuckDuckGo sends (a result link's <a> with its href
#               is 200-500); a longer tag's tail is dropped, which cuts only a very long URL
_ENTITY = const(10)  # longest entity name decoded ("&#x1F600;" is 9)
_WAIT_S = const(15)  # the whole exchange: PicoClaw gives a search 10 s; a board's TLS is slower
_RAW = const(4)  # a field reads up to this many times its cap: tags and entities shrink
_IO = const(512)  # the connection buffer when there is no model connection to borrow from

# the backends by their index in _NAMES (tools.web's names, agent/setup.web's order aside)
_BRAVE = const(0)
_TAVILY = const(1)
_SEARXNG = const(2)
_DDG = const(3)
_NAMES = "brave tavily searxng duckduckgo"
# each one's default endpoint (base_url replaces it; for searxng base_url is the instance's
# root, to which /search is added, as in PicoClaw)
_ENDPOINTS = ("https://api.search.brave.com/res/v1/web/search https://api.tavily.com/search /search "
              "https://html.duckduckgo.com/html/")

# Field.st: the cleaning state of a field's text, as it comes in pieces
_CLEAN = const(0)  # 1: the text is HTML (tags dropped, entities decoded, whitespace folded)
_IN_TAG = const(1)  # 1: after "<", 2: inside a tag
_SPACE = const(2)  # 1: the last byte kept was a space, or none was kept yet
_ENT_LEN = const(3)  # bytes of an entity's name after "&", plus 1; 0: outside one
_ENT = const(4)  # the entity's name from here on


def run(name, args, ctx, out):
    web = getattr(ctx, "web", None)
    if not web or not web[2]:
        raise ValueError("web_search: no search backend is enabled in tools.web")
    backend, key, base, count = web[2]
    k = _NAMES.split().index(backend)
    q = Field(_QUERY, False)
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"query"):
            args.copy_str(q.write, _QUERY)
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
    query = bytes(q.done())
    if not query:
        raise ValueError("query is required and may not be empty")
    count = max(1, min(10, count))
    if not base:
        base = _ENDPOINTS.split()[k]
    elif k == _SEARXNG:
        base += _ENDPOINTS.split()[k]
    elif k == _DDG:
        base += "/"  # config drops a base_url's last "/": DuckDuckGo's page is /html/
    https = base.startswith("https://")
    if not https and not base.startswith("http://"):
        raise ValueError("web_search: %s's URL must start with https:// or http://: %s" % (backend, base[:80]))
    host = base[8 if https else 7:]
    i = host.find("/")
    path = (host[i:] if i >= 0 else "/").encode()
    host = host[:i] if i >= 0 else host
    port = 443 if https else 80
    i = host.rfind(":")
    if i > 0 and host[i + 1:].isdigit():
        host, port = host[:i], int(host[i + 1:])
    model = getattr(ctx, "conn", None)  # the model connection: its buffer and context borrowed
    conn = Connection(("https" if https else "http", host, port, ""),
                      model.buf if model is not None else bytearray(_IO),
                      _tls(host, ctx, model) if https else None)
    wait = min(getattr(ctx, "timeout_s", _WAIT_S), _WAIT_S) * 1000
    # Where TLS shares the board's heap (net/tlsheap) the search's connection takes the idle
    # model connection's place (closed now: it reconnects at the next model call), so no more
    # connections are open than the plan made room for, and the plan closes, counts and
    # reserves for it as for the two it knows (as llm/transcribe.py does)
    plan = conn.tls_plan if https else None
    if plan is not None:
        if model is not None:
            model.close()
        plan.conns.append(conn)
    out.write(b"Results for: %s (via %s)" % (bytes(query), backend.encode()))
    n = 0
    try:
        try:
            if k == _TAVILY:
                def body(w):
                    w.write(b'{"query":')
                    w.json_begin()
                    w.json_part(query, len(query))
                    w.json_end()
                    w.write(b',"max_results":%d,"search_depth":"basic","include_answer":false,'
                            b'"include_images":false,"include_raw_content":false,"api_key":' % count)
                    w.json_begin()
                    w.json_part(key)
                    w.json_end()
                    w.write(b"}")

                conn.request(b"POST", path, body, (b"Authorization: Bearer " + key.encode(),), wait)
            else:
                enc = bytearray()  # the query percent-encoded (RFC 3986's unreserved bytes kept)
                for c in query:
                    if 48 <= c <= 57 or 97 <= c | 32 <= 122 or c == 45 or c == 46 or c == 95 or c == 126:
                        enc.append(c)
                    else:
                        enc.extend(b"%%%02X" % c)
                path = (path, b"&q=" if b"?" in path else b"?q=", enc)
                h = ()  # SearXNG and DuckDuckGo: keyless (DuckDuckGo may answer a captcha: _status)
                if k == _BRAVE:
                    path += (b"&count=%d" % count,)
                    h = (b"X-Subscription-Token: " + key.encode(),)
                elif k == _SEARXNG:
                    path += (b"&format=json&categories=general",)
                conn.request(b"GET", path, None, h, wait)
            _status(conn, k, backend)
            n = _html(conn, count, out) if k == _DDG else _json(conn, k, count, out, getattr(ctx, "small", None))
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


def _status(conn, k, name):
    """A status other than 200 as one line for the model (ValueError); k: the backend."""
    s = conn.status
    if s == 200:
        return
    conn.close()
    if s == 429:
        raise ValueError("%s search: rate limit reached (HTTP 429)%s: try again later" % (
            name, " (retry after %d s)" % conn.retry_after if conn.retry_after >= 0 else ""))
    if s >= 500:
        raise ValueError("%s search failed on its side (HTTP %d): try again later" % (name, s))
    if k == _TAVILY and (s == 432 or s == 433):
        raise ValueError("tavily: the plan's search credits are used up (HTTP %d)" % s)
    if k == _SEARXNG and s == 403:
        raise ValueError("searxng refused the search (HTTP 403): enable the json format in the "
                         "instance's settings.yml (search: formats: [html, json])")
    if k == _DDG and (s == 202 or s == 403):
        # 202: its "anomaly" page, a captcha for addresses that search a lot
        raise ValueError("duckduckgo refused the search (HTTP %d, it blocks automated queries "
                         "for a while): try later, or enable another backend in tools.web" % s)
    if (s == 401 or s == 403 or s == 422) and (k == _BRAVE or k == _TAVILY):
        raise ValueError("%s refused the API key (HTTP %d): check tools.web.%s.api_key" % (name, s, name))
    raise ValueError("%s search answered HTTP %d: check tools.web.%s" % (name, s, name))


def _json(conn, k, count, out, small):
    """Results of a JSON answer: Brave's web.results[] (title, url, description), Tavily's
    and SearXNG's results[] (title, url, content). Stops reading at `count`."""
    p = JsonReader(conn, small if small is not None else bytearray(128))
    t, u, s = Field(_TITLE), Field(_URL, False), Field(_SNIPPET)
    n = 0
    inside = k != _BRAVE  # Brave's web results are under "web"
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
                t.reset()
                u.reset()
                s.reset()
                while p.next_key():
                    f = t if p.key_is(b"title") else u if p.key_is(b"url") else \
                        s if p.key_is(b"description" if k == _BRAVE else b"content") else None
                    if f is None:
                        p.skip()
                    else:
                        p.copy_str(f.write, f.cap * _RAW)
                n = _write(out, n, t, u, s)
            break
        else:
            p.skip()
    return n


def _html(conn, count, out):
    """Results of DuckDuckGo's HTML page, in one pass over the body's windows: each
    <a class="result__a" href="//duckduckgo.com/l/?uddg=URL&amp;..."> starts a result (its
    text the title, the uddg parameter the URL), the <a class="result__snippet"> after it is
    the snippet. Ads (links to duckduckgo.com/y.js) are left out."""
    t, u, s = Field(_TITLE), Field(_URL, False), Field(_SNIPPET)
    tag = bytearray(_TAG)
    tn = 0
    in_tag = False
    f = None  # the field the text goes to: t inside a title, s inside a snippet
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
                if f is not None:
                    # inside a title or a snippet only its end, </a>, matters (<b> marks
                    # the query's words)
                    if tn >= 2 and tag[0] == 47 and tag[1] | 32 == 97 and (tn == 2 or tag[2] <= 32):
                        if f is s:  # the snippet is the result's last part
                            pending = False
                            n = _write(out, n, t, u, s)
                        f = None
                    continue
                if tn < 2 or tag[0] | 32 != 97 or tag[1] > 32:  # only <a ...> links matter
                    continue
                c = tag.find(b'class="', 0, tn)
                if c < 0:
                    continue
                r = tag.find(b"result__a", c, tn)
                if 0 <= r < tn - 9 and (tag[r + 9] == 34 or tag[r + 9] == 32):  # the class, not a longer one
                    if pending:
                        n = _write(out, n, t, u, s)
                    if n >= count:
                        break
                    pending = True
                    t.reset()
                    u.reset()
                    s.reset()
                    _href(tag, tn, u)
                    f = t
                elif pending and tag.find(b"result__snippet", c, tn) >= 0:
                    f = s
            else:
                j = buf.find(b"<", i, e)
                end = e if j < 0 else j
                if f is not None and end > i:
                    f.write(mv[i:end], end - i)
                if j < 0:
                    break
                i = j + 1
                in_tag = True
                tn = 0
    if pending and n < count:
        n = _write(out, n, t, u, s)
    return n


def _href(tag, n, u):
    """The result's URL from its link's href in tag[:n]: DuckDuckGo's redirect
    //duckduckgo.com/l/?uddg=<the URL, percent-encoded>&amp;rut=..., decoded; any other
    href as it is (a scheme-relative one made https)."""
    i = tag.find(b'href="', 0, n)
    if i < 0:
        return
    i += 6
    end = tag.find(b'"', i, n)
    if end < 0:
        end = n
    d = tag.find(b"uddg=", i, end)
    if d >= 0:
        i = d + 5
        d = tag.find(b"&", i, end)
        if d >= 0:
            end = d
        while i < end:  # percent-decoding, "+" a space (as Go's url.QueryUnescape); bytes
            # past ASCII stay encoded: the URL still works, and the text stays valid UTF-8
            c = tag[i]
            if c == 37 and i + 2 < end and 48 <= tag[i + 1] <= 55 and (
                    48 <= tag[i + 2] <= 57 or 97 <= tag[i + 2] | 32 <= 102):
                u._put(int(bytes(tag[i + 1:i + 3]), 16))
                i += 3
                continue
            u._put(32 if c == 43 else c)
            i += 1
        return
    if tag.startswith(b"//", i):
        u.write(b"https:", 6)
    while i < end:  # &amp; in an attribute is "&"
        if tag.startswith(b"&amp;", i):
            u._put(38)
            i += 5
        else:
            u._put(tag[i])
            i += 1


def _write(out, n, t, u, s):
    """Write result n + 1 from fields t, u, s (title, URL, snippet) unless it is empty or a
    DuckDuckGo ad; returns how many are written now."""
    url = u.done()
    title = t.done()
    if not (len(title) or len(url)) or len(url) >= 27 and u.buf.startswith(b"https://duckduckgo.com/y.js"):
        return n
    out.write(b"\n%d. " % (n + 1))
    out.write(title if len(title) else b"(no title)")
    out.write(b"\n   ")
    out.write(url)
    s = s.done()
    if len(s):
        out.write(b"\n   ")
        out.write(s)
    return n + 1


def _tls(host, ctx, conn):
    """The SSLContext for the backend: the model connection conn's (its roots and
    tls.ca_file's: no new context, no roots parsed) unless net/anchors.py remembered another
    root group for this host in state/anchors (its certificate was refused with those once),
    or the model has no TLS; then one with the host's roots (net/trust.py, loaded for it)."""
    ws = getattr(ctx, "workspace", None)
    t = conn.ctx if conn is not None else None
    try:
        with open(ws + "/state/anchors") as f:  # "host group" lines
            for line in f:
                if line.split()[:1] == [host]:
                    t = None
    except (OSError, TypeError):  # none yet, or no workspace
        pass
    if t is not None:
        return t
    from picoclaw import unload
    from picoclaw.net import trust

    try:
        return trust.context(Connection.trust[0] if Connection.trust else None, True, (host,), ws)
    finally:
        trust.unload()
        unload("picoclaw.net.trust")


class Field:
    """One result field in a fixed buffer of `cap` bytes. With `clean`, the text it is given
    is HTML: tags are dropped, entities decoded and whitespace folded to single spaces, as it
    comes in pieces. What does not fit is dropped (cut at a character by done())."""

    def __init__(self, cap, clean=True):
        self.buf = bytearray(cap)
        self.cap = cap
        self.st = bytearray(_ENT + _ENTITY)
        self.st[_CLEAN] = clean
        self.reset()

    def reset(self):
        self.n = 0
        st = self.st
        st[_IN_TAG] = 0
        st[_SPACE] = 1
        st[_ENT_LEN] = 0

    def _put(self, c):
        if self.n < self.cap:
            self.buf[self.n] = c
            self.n += 1

    def write(self, b, k):
        """Take b[:k] (the sink JsonReader.copy_str calls)."""
        st = self.st
        if not st[_CLEAN]:
            c = min(k, self.cap - self.n)
            self.buf[self.n:self.n + c] = memoryview(b)[:c]
            self.n += c
            return
        for i in range(k):
            if self.n >= self.cap:
                return
            c = b[i]
            if st[_IN_TAG] == 2:
                if c == 62:  # >
                    st[_IN_TAG] = 0
                continue
            if st[_IN_TAG]:  # after "<": a tag only if a name, "/", "!" or "?" follows (as in HTML)
                st[_IN_TAG] = 0
                if 97 <= c | 32 <= 122 or c == 47 or c == 33 or c == 63:
                    st[_IN_TAG] = 2
                    continue
                self._put(60)
                st[_SPACE] = 0
            if st[_ENT_LEN]:
                e = st[_ENT_LEN] - 1
                if c == 59:  # ;
                    self._entity(True)
                    continue
                if e < _ENTITY and (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 35):
                    st[_ENT + e] = c
                    st[_ENT_LEN] += 1
                    continue
                self._entity(False)  # not an entity: the "&" and what followed, as they were
            if c == 60:  # <
                st[_IN_TAG] = 1
            elif c == 38:  # &
                st[_ENT_LEN] = 1
            elif c <= 32:
                if not st[_SPACE]:
                    self._put(32)
                    st[_SPACE] = 1
            else:
                self._put(c)
                st[_SPACE] = 0

    def _entity(self, ended):
        """The entity after "&" (its name in st, ended by ";" if `ended`): decoded, or kept
        as it was when it is not one of the few known or a valid number."""
        st = self.st
        e = bytes(st[_ENT:_ENT + st[_ENT_LEN] - 1])
        st[_ENT_LEN] = 0
        c = -1
        if ended and e[:1] == b"#":
            try:
                c = int(e[2:], 16) if e[1:2] in (b"x", b"X") else int(e[1:])
            except ValueError:
                c = -1
        elif ended:
            e2 = b"amp lt gt quot apos nbsp".split()
            if e in e2:
                c = b"&<>\"' "[e2.index(e)]
        if c < 0 or c > 0x10FFFF or 0xD800 <= c < 0xE000:
            self._put(38)
            for x in e:
                self._put(x)
            if ended:
                self._put(59)
            st[_SPACE] = 0
        elif c <= 32:
            if not st[_SPACE]:
                self._put(32)
                st[_SPACE] = 1
        else:
            for x in chr(c).encode():
                self._put(x)
            st[_SPACE] = 0

    def done(self):
        """The text so far, finished (a pending "&" or "<" kept, trailing space dropped, cut
        at a character): a view of the buffer, overwritten by the next reset()."""
        st = self.st
        if st[_ENT_LEN]:
            self._entity(False)
        if st[_IN_TAG] == 1:
            self._put(60)
            st[_IN_TAG] = 0
        while self.n and self.buf[self.n - 1] == 32:
            self.n -= 1
        return memoryview(self.buf)[:utf8_boundary(self.buf, self.n)]
