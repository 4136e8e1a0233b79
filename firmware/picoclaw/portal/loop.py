# The setup server's HTTP side (portal/server.py runs it): the poll loop, the requests, the
# answers and the page streamed from flash. Loaded while setup serves and dropped while the
# checks of a sent form run (server.py), so that their code (TLS, the HTTP client, the JSON
# parser) finds the heap this module's code took; everything it keeps between the two lives
# in server.py's state object (st): the sockets, the slots and their buffers, the form.
#
# Every answer says `Connection: close` and the connection ends with it: the page's length
# is not known before its placeholders are filled in (no Content-Length: the close ends the
# body), no keep-alive state has to be kept per slot, and a slot is free again at once for
# the next of a phone's parallel requests.
import select
import time

from micropython import const

from picoclaw import log
from picoclaw.portal.form import BODY

_SLOTS = const(4)  # as server.py's: a 5th client at once gets 503
_LINE = const(512)  # request line and each header line (a phone's are under 300 bytes); the
#                     size of each slot's buffer, which then holds the answer being sent
_HEADERS = const(24)  # header lines (a phone sends 8-15)
_REQ_MS = const(10000)  # a request must be whole by then, or the slot is freed (408)
_SEND_MS = const(3000)  # each send of an answer: the page fits in the TCP send window, so
#                         only a client that stops reading waits, and not for long
_LINGER_MS = const(2000)  # after the save: time for the other open requests to be told
_TOKENS = const(4)  # csrf tokens remembered (server.py's table): the last 4 pages issued
_TOK = const(24)  # hex digits of a token: 12 random bytes, 96 bits
_TPL = const(256)  # one template line (page.html's longest is under 200: a test checks)
_POLL_MS = const(500)  # longest wait for an event: the timeouts (a request's 10 s, setup's) are
#                        checked at least this often, and the board idles between
_EAGAIN = const(11)  # errno of a non-blocking socket with nothing to give yet
_CHECK = const(2)  # run()'s answer: a form is ready for the checks

# what a request asks for (the path of its request line)
_R_OTHER = const(0)  # anything else: redirected to the page (the phones' probes among them)
_R_PAGE = const(1)  # GET /
_R_SAVE = const(2)  # POST /save
_R_NONE = const(3)  # /favicon.ico: 404 (a redirect would make every page load issue a token twice)
# where a request is
_S_LINE = const(0)
_S_HEAD = const(1)
_S_BODY = const(2)
_S_WAIT = const(3)  # a POST whose body waits for the form parser; an answered request

_SECRET = " wifi_password token api_key "  # never echoed back into the page
_PROVIDERS = " none openai anthropic anthropic-messages openrouter groq deepseek gemini ollama custom "


def _issue(st):
    """A new csrf token for a page: into a used slot of the table, else over the oldest."""
    import binascii
    import os

    t = binascii.hexlify(os.urandom(_TOK // 2))
    i = st.tokens.find(b"-")
    if i >= 0:
        i //= _TOK
    else:
        i = st.tok_next
        st.tok_next = (i + 1) % _TOKENS
    st.tokens[i * _TOK:(i + 1) * _TOK] = t
    return t


def _redeem(st, v):
    """Whether v (the form's csrf bytes) is an issued token; it is then used up."""
    if len(v) != _TOK:
        return False
    v = bytes(v)
    for c in v:
        if not (48 <= c <= 57 or 97 <= c <= 102):
            return False  # (a used slot holds "-", which no token matches)
    for i in range(_TOKENS):
        if st.tokens[i * _TOK:(i + 1) * _TOK] == v:
            st.tokens[i * _TOK:(i + 1) * _TOK] = b"-" * _TOK
            return True
    return False


# -- the loop ---------------------------------------------------------------------------
def run(st):
    """Serve until a form is ready for the checks (2: st.pending is its client), the save's
    goodbyes are over (0) or setup times out (1). A pending client is answered first
    (st.errs: the form again with them, else the success page)."""
    c = st.pending
    if c is not None:
        st.pending = None
        _wait_over(st)
        if st.errs:
            _page(st, c, st.status, "form", st.errs)
        else:
            _page(st, c, b"200 OK", "done")
            st.done = time.ticks_add(time.ticks_ms(), _LINGER_MS)
        st.errs = None
    quiet = False  # the last poll found nothing to do
    while True:
        if st.pending is not None:  # a waiting POST took the form as the last answer's ended
            return _CHECK
        now = time.ticks_ms()
        if st.done is not None:
            # not before a quiet poll: a phone that pressed the button during the
            # checks waits in the listen queue, and is told setup has finished
            if time.ticks_diff(now, st.done) > 0 or quiet and not any(c.sock for c in st.slots):
                return 0
        elif time.ticks_diff(now, st.idle) > 0:
            log.info("setup: no save in %d s: leaving setup mode" % st.timeout_s)
            return 1
        for c in st.slots:
            if c.sock and time.ticks_diff(now, c.deadline) > 0:
                log.info("setup: a request was not whole in %d s: dropped" % (_REQ_MS // 1000))
                _answer(st, c, b"408 Request Timeout", "The request took too long: send it again")
        events = st.poller.poll(_POLL_MS)
        quiet = not events
        for s, ev in events:
            if isinstance(s, int):  # CPython's poll gives file numbers
                s = _by_fd(st, s)
            if s is st.ls:
                _accept(st)
            elif st.dns is not None and s is st.dns.sock:
                st.dns.answer_one()
            else:
                for c in st.slots:
                    if c.sock is s:
                        if ev & (select.POLLERR | select.POLLHUP) and not ev & select.POLLIN:
                            _drop(st, c)
                        else:
                            _read(st, c)
                        break
            if st.pending is not None:
                return _CHECK
        if st.busy and st.done is None:  # the timeout counts from the last request
            st.idle = time.ticks_add(time.ticks_ms(), st.timeout_s * 1000)
            st.busy = False


def _wait_over(st):
    """The checks held the loop for seconds: the other requests get their time again."""
    now = time.ticks_add(time.ticks_ms(), _REQ_MS)
    for c in st.slots:
        if c.sock and time.ticks_diff(now, c.deadline) > 0:
            c.deadline = now


def _by_fd(st, fd):
    for s in (st.ls, st.dns.sock if st.dns else None) + tuple(c.sock for c in st.slots):
        if s is not None and s.fileno() == fd:
            return s
    return None


def _accept(st):
    try:
        s, addr = st.ls.accept()
    except OSError:
        return
    s.setblocking(False)
    now = time.ticks_ms()
    if (_peer(addr) & st.mask) != st.net:
        log.info("setup: refused a client outside the setup network")
        _refuse(st, s, b"403 Forbidden", "Only devices on the board's own setup network are served")
        return
    for c in st.slots:
        if c.sock is None:
            c.start(s, now)
            st.poller.register(s, select.POLLIN)
            st.busy = True
            return
    _refuse(st, s, b"503 Service Unavailable", "Too many connections at once: try again")


def _refuse(st, s, status, line):
    try:
        s.settimeout(_SEND_MS / 1000)
        s.send(b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n"
               % (status, line.encode()))
    except OSError:
        pass
    s.close()


def _drop(st, c):
    try:
        st.poller.unregister(c.sock)
    except (OSError, KeyError, ValueError):
        pass
    c.sock.close()
    c.sock = None
    if st.owner is c:
        _release(st)


def _release(st):
    """The form parser is free: the next waiting POST's body may be read."""
    st.owner = None
    for c in st.slots:
        if c.sock and c.state == _S_WAIT:
            _own(st, c)
            return


def _own(st, c):
    st.owner = c
    c.state = _S_BODY
    st.form.reset()
    st.poller.modify(c.sock, select.POLLIN)
    if c.n:  # body bytes that came with the head
        n = min(c.n, c.left)
        st.form.feed(c.buf, 0, n)
        c.left -= n
        c.n = 0
    if c.left <= 0:
        _post(st, c)


# -- reading a request ------------------------------------------------------------------
def _read(st, c):
    rd = getattr(c.sock, "readinto", None) or c.sock.recv_into  # (CPython: recv_into)
    try:
        n = rd(c.mv[0:min(c.left, _LINE)] if c.state == _S_BODY else c.mv[c.n:])
    except OSError as e:
        if e.args[0] == _EAGAIN:  # CPython's non-blocking "nothing yet"
            return
        n = 0
    if n is None:  # nothing after all (non-blocking)
        return
    if not n:  # the client closed
        _drop(st, c)
        return
    if c.state == _S_BODY:
        st.form.feed(c.buf, 0, n)
        c.left -= n
        if c.left <= 0:
            _post(st, c)
        return
    c.n += n
    while c.sock and c.state <= _S_HEAD:
        i = c.buf.find(b"\n", 0, c.n)
        if i < 0:
            if c.n == _LINE:
                if c.state == _S_LINE:
                    _answer(st, c, b"414 URI Too Long", "The request line is longer than %d bytes" % _LINE)
                else:
                    _answer(st, c, b"431 Request Header Fields Too Large",
                                 "A header line is longer than %d bytes" % _LINE)
            return
        end = i - 1 if i and c.buf[i - 1] == 13 else i
        line = bytes(c.buf[0:end])
        c.buf[0:c.n - i - 1] = c.buf[i + 1:c.n]
        c.n -= i + 1
        if c.state == _S_LINE:
            _request_line(st, c, line)
        elif line:
            c.lines += 1
            if c.lines > _HEADERS:
                _answer(st, c, b"431 Request Header Fields Too Large",
                             "More than %d header lines" % _HEADERS)
                return
            _header(st, c, line)
        else:
            _head_done(st, c)


def _request_line(st, c, line):
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        _answer(st, c, b"400 Bad Request", "Not an HTTP request")
        return
    path = parts[1].split(b"?")[0]
    c.post = parts[0] == b"POST"
    if path == b"/":
        c.route = _R_PAGE
    elif path == b"/save":
        c.route = _R_SAVE
    elif path == b"/favicon.ico":
        c.route = _R_NONE
    c.state = _S_HEAD


def _header(st, c, line):
    i = line.find(b":")
    if i < 0:
        return
    name = line[:i].strip().lower()
    v = line[i + 1:].strip()
    if name == b"host":
        c.host = v in st.hosts
    elif name == b"content-length":
        try:
            c.left = int(v)
        except ValueError:
            c.left = -2


def _head_done(st, c):
    # saved: the finished page; a POST's after its body is read (_post): closing with the
    # body unread makes the kernel reset the connection, and the browser shows nothing
    if (st.done is not None or st.user) and not c.post:
        _page(st, c, b"200 OK", "finished")
        return
    if not c.host:  # another name (a probe, a rebinding page): the page, by its address
        _redirect(st, c)
        return
    if c.route == _R_NONE:
        _answer(st, c, b"404 Not Found", "Not here")
        return
    if not c.post:
        if c.route == _R_PAGE:
            log.info("setup: page requested")
            _page(st, c, b"200 OK", "form")
        else:  # a captive-portal probe, /save by GET, any other path
            _redirect(st, c)
        return
    if c.route != _R_SAVE:
        _redirect(st, c)
        return
    if c.left < 0:
        _answer(st, c, b"411 Length Required", "The form came without a Content-Length")
        return
    if c.left > BODY:
        _answer(st, c, b"413 Content Too Large", "The form is larger than %d bytes" % BODY)
        return
    c.state = _S_WAIT
    if st.owner is None:
        _own(st, c)
    else:  # another POST's body is being parsed: this one waits, unread
        st.poller.modify(c.sock, 0)


# -- a sent form -----------------------------------------------------------------------
def _post(st, c):
    if st.user:  # a POST that waited while another one saved
        _page(st, c, b"200 OK", "finished")
        return
    f = st.form
    f.end()
    errs = f.errors()
    st.vals = f.values()
    if not errs and not _redeem(st, f.raw_value("csrf")):
        log.info("setup: a form without a valid csrf token: refused")
        errs = ["This form has expired or did not come from this page: send it again"]
    elif not errs and st.code is not None and f.get("code") != st.code:
        log.info("setup: a form with a wrong setup code: refused")
        errs = ["The setup code is wrong: it is shown on the board's console"]
    if not errs:
        errs = _validate(st.vals)
    if errs:
        log.info("setup: form refused (%d problems)" % len(errs))
        _page(st, c, b"400 Bad Request", "form", errs)
        return
    # the checks (server.py), with this module out of the heap; c keeps the form, and the
    # values are made again from it once this module's code has left (not islands in it)
    st.vals = None
    c.state = _S_WAIT
    st.poller.modify(c.sock, 0)
    st.pending = c


# -- answers ---------------------------------------------------------------------------
def _w(st, c, data):
    """Add data to the answer in c.buf, sending whenever it is full."""
    n = len(data)
    i = 0
    while i < n:
        k = min(n - i, _LINE - st.out)
        c.buf[st.out:st.out + k] = data[i:i + k]
        st.out += k
        i += k
        if st.out == _LINE:
            _flush(st, c)


def _flush(st, c):
    mv = c.mv[0:st.out]
    while mv:
        k = c.sock.send(mv)
        mv = mv[k:]
    st.out = 0


def _esc(st, c, v):
    """v (str or bytes) HTML-escaped into the answer."""
    if isinstance(v, str):
        v = v.encode()
    j = 0
    for i in range(len(v)):
        e = b"&amp;&lt;&gt;&quot;&#39;"
        k = b"&<>\"'".find(v[i:i + 1])
        if k >= 0:
            _w(st, c, v[j:i])
            _w(st, c, e[(0, 5, 9, 13, 19)[k]:(5, 9, 13, 19, 24)[k]])
            j = i + 1
    _w(st, c, v[j:])


def _begin(st, c, status, extra=b""):
    c.sock.settimeout(_SEND_MS / 1000)
    st.out = 0
    _w(st, c, b"HTTP/1.1 %s\r\n" % status)
    _w(st, c, extra)
    _w(st, c, b"Cache-Control: no-store\r\nConnection: close\r\n\r\n")


def _finish(st, c):
    try:
        _flush(st, c)
    except OSError:
        pass
    _drop(st, c)


def _answer(st, c, status, line):
    """A one-line plain-text answer, then the connection closes."""
    try:
        _begin(st, c, status, b"Content-Type: text/plain; charset=utf-8\r\n")
        _w(st, c, line.encode() + b"\n")
    except OSError:
        pass
    _finish(st, c)


def _redirect(st, c):
    try:
        _begin(st, c, b"302 Found", b"Location: %s\r\nContent-Length: 0\r\n" % st.url)
    except OSError:
        pass
    _finish(st, c)


def _page(st, c, status, section, errs=None):
    """The page's `section` (page.html: form, done, finished) between its head and tail."""
    c.state = _S_WAIT  # (no more reading; the form is released when c is dropped: a
    #                    form sent back shows its values)
    try:
        _begin(st, c, status, b"Content-Type: text/html; charset=utf-8\r\nX-Frame-Options: DENY\r\n"
                    b"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
                    b"form-action 'self'; frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n")
        _template(st, c, section.encode(), errs)
        st.vals = None  # (the sent secrets: not kept longer than needed)
    except OSError as e:
        log.info("setup: a client went away during the page (%s)" % e)
    _finish(st, c)


def _template(st, c, section, errs):
    buf = st.tpl
    mv = memoryview(buf)
    on = True  # the head, before the first section
    n = 0
    with _open_page() as f:
        while True:
            k = f.readinto(mv[n:]) if n < _TPL else 0
            n += k or 0
            if not n:
                return
            i = buf.find(b"\n", 0, n)
            if i < 0:
                i = n - 1  # the last line (or one past _TPL: out as it is)
            if buf[0] == 64:  # "@name": a section starts; "@end": the tail
                name = bytes(buf[1:i]).strip()
                on = name == section or name == b"end"
            elif on:
                _line(st, c, mv[0:i + 1], section, errs)
            buf[0:n - i - 1] = buf[i + 1:n]
            n -= i + 1


def _line(st, c, line, section, errs):
    """One template line, its placeholder ({{name}} or {{name:arg}}) filled in."""
    s = bytes(line)
    a = s.find(b"{{")
    b = s.find(b"}}", a)
    if a < 0 or b < 0:
        _w(st, c, line)
        return
    _w(st, c, line[0:a])
    name = s[a + 2:b]
    arg = b""
    k = name.find(b":")
    if k >= 0:
        name, arg = name[:k], name[k + 1:].decode()
    f = st.vals if errs is not None else None  # a form sent back: its values
    if name == b"v":
        _esc(st, c, "" if arg in _SECRET else (f.get(arg, "") if f else _pre(st, arg)))
    elif name == b"sel":
        p = (f.get("provider") or "none") if f else _pre(st, "provider")
        if p == arg:
            _w(st, c, b" selected")
    elif name == b"csrf":
        _w(st, c, _issue(st))
    elif name == b"errors":
        for e in errs or ():
            _w(st, c, b'<p class="error">')
            _esc(st, c, e)
            _w(st, c, b"</p>\n")
    elif name == b"networks":
        for ssid in st.scan:
            _w(st, c, b'<option value="')
            _esc(st, c, ssid)
            _w(st, c, b'">\n')
    elif name == b"scan":
        _w(st, c, b"Choose a scanned network or type its name." if st.scan
                else b"Type the network's name.")
    elif name == b"code":
        if st.code is not None:
            _w(st, c, b'<fieldset><legend>Setup code</legend><label for="code">The code shown on the '
                    b'board\'s console</label>\n<input id="code" name="code" maxlength="8" required></fieldset>\n')
    elif name == b"user":
        _esc(st, c, st.user)
    _w(st, c, line[b + 2:])


def _pre(st, name):
    """What the page shows in a field before anything was sent: the old config's value."""
    o = st.old
    if name == "ssid":
        return o.wifi_ssid
    prov = getattr(o, "provider", "")
    if name == "provider":
        return prov or ("none" if not o.providers else "")
    if name == "model":
        return getattr(o, "model", "") or ""
    if name == "api_base":
        return o.providers.get(prov, {}).get("api_base", "") if prov else ""
    if name == "owner":
        ids = o.allow_ids
        return str(next(iter(ids))) if len(ids) == 1 else ""
    return ""


def _peer(addr):
    """The peer's IPv4 address as an int: lwIP and CPython give (ip, port), the unix port a
    raw sockaddr_in (family 2, port 2, address 4 bytes)."""
    if isinstance(addr, tuple):
        n = 0
        for p in addr[0].split("."):
            n = n * 256 + int(p)
        return n
    return int.from_bytes(bytes(addr[4:8]), "big")


def _open_page():
    """page.html, beside this module (deploy copies it there, build/mpy has it), or where
    deploy puts it when this module is frozen into the firmware."""
    f = __file__
    try:
        return open(f[:f.rfind("/") + 1] + "page.html", "rb")
    except OSError:
        return open("/lib/picoclaw/portal/page.html", "rb")


def _validate(f):
    """The sent values (f: a dict) checked for their shape: [] or one line per problem."""
    errs = []
    if not f.get("ssid"):
        errs.append("Wi-Fi network: enter its name")
    t = f.get("token")
    i = t.find(":")
    ok = 0 < i < len(t) - 1 and t[:i].isdigit()
    for ch in t[i + 1:]:
        if not (ch.isalpha() or ch.isdigit() or ch in "-_"):
            ok = False
    if not ok:
        errs.append("Bot token: it looks like 123456789:AA... (from @BotFather)")
    o = f.get("owner")
    if o and not o.isdigit():
        errs.append("Your Telegram user id: digits only, or empty to pair with /pair")
    if not f["provider"]:
        f["provider"] = "none"
    p = f["provider"]
    if not p or (" %s " % p) not in _PROVIDERS:
        errs.append("Provider: choose one from the list")
    elif p != "none":
        b = f.get("api_base")
        if p == "custom" and not b:
            errs.append("API base URL: a custom provider needs one (https://...)")
        if b and not (b.startswith("https://") or b.startswith("http://")):
            errs.append("API base URL: it must start with https:// or http://")
        if not f.get("api_key") and p not in ("ollama", "custom"):
            errs.append("API key: the provider needs one")
        if not f.get("model"):
            errs.append("Model: enter the model's name")
    return errs


def args(argv):
    """setup's arguments (server.main): (host, port, dns port, timeout s, code, scan), or
    None after saying what is wrong."""
    host, port, dns, timeout, code, scan = "127.0.0.1", 8080, None, 900, None, None
    i = 0
    a = ""
    try:
        while i < len(argv):
            a = argv[i]
            v = argv[i + 1] if i + 1 < len(argv) else ""
            if a == "--listen":
                host, _, p = v.rpartition(":")
                port = int(p)
                if len(host.split(".")) != 4:
                    raise ValueError(a)
            elif a == "--dns":
                dns = int(v)
            elif a == "--timeout":
                timeout = int(v)
            elif a == "--code":
                code = v
            elif a == "--scan":
                scan = v.split(",")
            else:
                raise ValueError
            if not v:
                raise ValueError
            i += 2
    except ValueError:
        print("error: setup: bad argument %s (usage: picoclaw setup --config FILE --listen "
              "HOST:PORT [--dns PORT] [--timeout S] [--code CODE] [--scan SSID,SSID])" % a)
        return None
    return host, port, dns, timeout, code, scan
