# The setup page's HTTP server (setup mode): the form, its checks and the save, and the
# answers that make a phone open the page by itself (captive-portal probes).
#
# One thread, one select.poll loop over non-blocking sockets: the listening socket, at most
# _SLOTS clients, and the DNS responder's socket (portal/dns.py). Everything is allocated
# once: each client slot has a fixed 512-byte buffer that holds one request-head line at a
# time and is then the response's output buffer; the form parser (portal/form.py) has one
# fixed value buffer, which one POST at a time owns (a second POST's body waits, unread,
# until it is free); the page (page.html on flash) is streamed a line at a time through one
# 256-byte buffer with its placeholders filled in as it goes. So the heap does not depend
# on the form's size, up to the caps, nor on the number of requests.
#
# Every answer says `Connection: close` and the connection ends with it: the page's length
# is not known before its placeholders are filled in (no Content-Length, so the close ends
# the body), no keep-alive state has to be kept per slot, and a slot is free again at once
# for the next of a phone's many parallel requests.
#
# Safe by construction (docs/how-it-works.md, "Setup from a phone"): only clients inside the
# access point's own network (ap.net) are served; a request whose Host is not the board's
# address (a DNS-rebinding page, a probe for another name) is redirected to the page and
# never reaches /save; a POST needs a csrf token from a page this server issued (a fixed
# table of the last _TOKENS, each good once); in open-network mode also the one-time code;
# the request line, each header line, the header count, the body and every field are
# capped, each with a one-line answer; a request must be whole within _REQ_MS. The log
# names what happened, never a value: the submitted secrets are added to the log's scrubber
# before the checks run, so a check's error cannot show one either.
#
#     serve("config.json", ("192.168.4.1", 80), dns_port=53, ap=ap)  # 0: saved, 1: timed out
import select
import socket
import time

from micropython import const

from picoclaw import load, log, unload
from picoclaw.portal.form import BODY, Form

_SLOTS = const(4)  # clients at once: a phone opens 2-3 connections for a page; a 5th gets 503
_LINE = const(512)  # request line and each header line (a phone's are under 300 bytes)
_HEADERS = const(24)  # header lines (a phone sends 8-15)
_REQ_MS = const(10000)  # a request must be whole by then, or the slot is freed
_SEND_MS = const(3000)  # each send of an answer: the page fits in the TCP send window, so
#                         only a client that stops reading waits, and not for long
_LINGER_MS = const(2000)  # after the save: time for the other open requests to be told
_TOKENS = const(4)  # csrf tokens remembered: the last 4 pages issued (phones and retries)
_TOK = const(24)  # hex digits of a token: 12 random bytes, 96 bits
_TPL = const(256)  # one template line (page.html's longest is under 200: a test checks)
_SCAN = const(16)  # scanned networks offered (the strongest come first)
_POLL_MS = const(500)
_EAGAIN = const(11)

# what a request asks for (the path of its request line)
_R_OTHER = const(0)  # anything else: redirected to the page (probes among them)
_R_PAGE = const(1)  # GET /
_R_SAVE = const(2)  # POST /save
_R_NONE = const(3)  # /favicon.ico: 404 (a redirect would make every page load issue a token twice)
# where a request is
_S_LINE = const(0)
_S_HEAD = const(1)
_S_BODY = const(2)
_S_WAIT = const(3)  # a POST whose body waits for the form parser

_PROVIDERS = " none openai anthropic anthropic-messages openrouter groq deepseek gemini ollama custom "
_SECRET = " wifi_password token api_key "  # never echoed back into the page


class _Client:
    def __init__(self):
        self.buf = bytearray(_LINE)
        self.mv = memoryview(self.buf)
        self.sock = None

    def start(self, sock, now):
        self.sock = sock
        self.n = 0  # bytes in buf (the head line being read, or body bytes read with the head)
        self.state = _S_LINE
        self.lines = 0
        self.route = _R_OTHER
        self.post = False
        self.host = False  # the Host header names the board
        self.left = -1  # body bytes still to read (Content-Length); -1: none given
        self.deadline = time.ticks_add(now, _REQ_MS)


def _ip(a):
    """An IPv4 address (dotted str) as an int."""
    n = 0
    for p in a.split("."):
        n = n * 256 + int(p)
    return n


def _peer(addr):
    """The peer's IPv4 address as an int: lwIP and CPython give (ip, port), the unix port a
    raw sockaddr_in (family 2, port 2, address 4 bytes)."""
    if isinstance(addr, tuple):
        return _ip(addr[0])
    return int.from_bytes(bytes(addr[4:8]), "big")


class Setup:
    """The server's state; serve() runs it."""

    def __init__(self, cfg_path, listen, ap, code, checks, saver):
        self.path = cfg_path
        self.code = code
        self.checks = checks
        self.saver = saver
        host, port = listen
        self.ip = ip = ap.net[0] if ap else host
        # who may connect: the access point's network, or on the unix port the listen
        # address itself
        net, mask = (ap.net[0], ap.net[1]) if ap else (host, "255.255.255.255")
        self.mask = _ip(mask)
        self.net = _ip(net) & self.mask
        p = b"" if port == 80 else b":%d" % port
        self.url = b"http://" + ip.encode() + p + b"/"
        # the Host values that are the board itself
        self.hosts = (ip.encode() + p, ip.encode(), host.encode() + p)
        self.scan = []
        if ap:
            try:
                self.scan = ap.scan()[:_SCAN]
            except OSError as e:
                log.warn("setup: Wi-Fi scan failed (%s): the network is typed" % e)
        self.old = self._old()
        self.slots = [_Client() for _ in range(_SLOTS)]
        self.form = Form()
        self.owner = None  # the slot whose POST body the form is parsing
        self.tokens = bytearray(b"-" * (_TOKENS * _TOK))
        self.tok_next = 0
        self.tpl = bytearray(_TPL)
        self.out = 0  # bytes in the answering slot's buffer
        self.done = None  # after the save: ticks_ms by which to stop
        self.user = ""

    # -- the old config -------------------------------------------------------------------
    def _old(self):
        """The existing config's Settings (the checks use its base_url and TLS settings), or
        the defaults when there is none (or it does not load: the save writes a whole one)."""
        config = load("picoclaw.config")
        try:
            try:
                return config.load(self.path)
            except config.ConfigError as e:
                import os

                try:
                    os.stat(self.path)
                    log.warn("setup: %s: starting from the defaults" % e)
                except OSError:
                    pass  # no config yet: the defaults
                # the defaults are what config.load makes of an empty object
                tmp = self.path + ".defaults"
                with open(tmp, "w") as f:
                    f.write("{}")
                try:
                    cfg = config.load(tmp)
                finally:
                    os.remove(tmp)
                cfg.path = self.path
                return cfg
        finally:
            unload("picoclaw.config")

    def _pre(self, name):
        """What the page shows in a field before anything was sent: the old config's value."""
        o = self.old
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

    # -- csrf tokens ------------------------------------------------------------------------
    def _issue(self):
        import binascii
        import os

        t = binascii.hexlify(os.urandom(_TOK // 2))
        i = self.tok_next
        self.tokens[i * _TOK:(i + 1) * _TOK] = t
        self.tok_next = (i + 1) % _TOKENS
        return t

    def _redeem(self, v):
        """Whether v (the form's csrf bytes) is an issued token; it is then used up."""
        if len(v) != _TOK:
            return False
        v = bytes(v)
        for c in v:
            if not (48 <= c <= 57 or 97 <= c <= 102):
                return False  # (a used slot holds "-", which no token matches)
        for i in range(_TOKENS):
            if self.tokens[i * _TOK:(i + 1) * _TOK] == v:
                self.tokens[i * _TOK:(i + 1) * _TOK] = b"-" * _TOK
                return True
        return False

    # -- the loop ---------------------------------------------------------------------------
    def run(self, listen, dns_port, timeout_s, ready):
        host, port = listen
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(socket.getaddrinfo(host, port)[0][-1])
        ls.listen(_SLOTS)
        ls.setblocking(False)
        self.poller = poller = select.poll()
        poller.register(ls, select.POLLIN)
        dns = None
        if dns_port:
            dns = load("picoclaw.portal.dns").Responder(self.ip, dns_port)
            poller.register(dns.sock, select.POLLIN)
        print("setup page on http://%s:%d/" % (host, port))
        log.info("setup: page on %s, %s" % (self.url.decode(), "one-time code" if self.code else "no code"))
        if ready:
            ready()
        idle = time.ticks_add(time.ticks_ms(), timeout_s * 1000)
        quiet = False  # the last poll found nothing to do
        try:
            while True:
                now = time.ticks_ms()
                if self.done is not None:
                    # not before a quiet poll: a phone that pressed the button during the
                    # checks waits in the listen queue, and is told setup has finished
                    if time.ticks_diff(now, self.done) > 0 or quiet and not any(c.sock for c in self.slots):
                        return 0
                elif time.ticks_diff(now, idle) > 0:
                    log.info("setup: no save in %d s: leaving setup mode" % timeout_s)
                    return 1
                for c in self.slots:
                    if c.sock and time.ticks_diff(now, c.deadline) > 0:
                        log.info("setup: a request was not whole in %d s: dropped" % (_REQ_MS // 1000))
                        self._answer(c, b"408 Request Timeout", "The request took too long: send it again")
                events = poller.poll(_POLL_MS)
                quiet = not events
                for s, ev in events:
                    if isinstance(s, int):  # CPython's poll gives file numbers
                        s = self._by_fd(s, ls, dns)
                    if s is ls:
                        self._accept(ls)
                    elif dns is not None and s is dns.sock:
                        dns.answer_one()
                    else:
                        for c in self.slots:
                            if c.sock is s:
                                if ev & (select.POLLERR | select.POLLHUP) and not ev & select.POLLIN:
                                    self._drop(c)
                                else:
                                    self._read(c)
                                break
                    if self.done is None and self.user:  # saved: finish the others' requests
                        self.done = time.ticks_add(time.ticks_ms(), _LINGER_MS)
                if self.done is None and self._busy:
                    idle = time.ticks_add(time.ticks_ms(), timeout_s * 1000)
                    self._busy = False
        finally:
            for c in self.slots:
                if c.sock:
                    self._drop(c)
            ls.close()
            if dns is not None:
                dns.sock.close()
                unload("picoclaw.portal.dns")

    _busy = False  # a request came in: the timeout counts from the last one

    def _by_fd(self, fd, ls, dns):
        if fd == ls.fileno():
            return ls
        if dns is not None and fd == dns.sock.fileno():
            return dns.sock
        for c in self.slots:
            if c.sock and c.sock.fileno() == fd:
                return c.sock
        return None

    def _accept(self, ls):
        try:
            s, addr = ls.accept()
        except OSError:
            return
        s.setblocking(False)
        now = time.ticks_ms()
        if (_peer(addr) & self.mask) != self.net:
            log.info("setup: refused a client outside the setup network")
            self._refuse(s, b"403 Forbidden", "Only devices on the board's own setup network are served")
            return
        for c in self.slots:
            if c.sock is None:
                c.start(s, now)
                self.poller.register(s, select.POLLIN)
                self._busy = True
                return
        self._refuse(s, b"503 Service Unavailable", "Too many connections at once: try again")

    def _refuse(self, s, status, line):
        try:
            s.settimeout(_SEND_MS / 1000)
            s.send(b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n"
                   % (status, line.encode()))
        except OSError:
            pass
        s.close()

    def _drop(self, c):
        try:
            self.poller.unregister(c.sock)
        except (OSError, KeyError, ValueError):
            pass
        c.sock.close()
        c.sock = None
        if self.owner is c:
            self._release()

    def _release(self):
        """The form parser is free: the next waiting POST's body may be read."""
        self.owner = None
        for c in self.slots:
            if c.sock and c.state == _S_WAIT:
                self._own(c)
                return

    def _own(self, c):
        self.owner = c
        c.state = _S_BODY
        self.form.reset()
        self.poller.modify(c.sock, select.POLLIN)
        if c.n:  # body bytes that came with the head
            n = min(c.n, c.left)
            self.form.feed(c.buf, 0, n)
            c.left -= n
            c.n = 0
        if c.left <= 0:
            self._post(c)

    # -- reading a request ------------------------------------------------------------------
    def _read(self, c):
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
            self._drop(c)
            return
        if c.state == _S_BODY:
            self.form.feed(c.buf, 0, n)
            c.left -= n
            if c.left <= 0:
                self._post(c)
            return
        c.n += n
        while c.sock and c.state <= _S_HEAD:
            i = c.buf.find(b"\n", 0, c.n)
            if i < 0:
                if c.n == _LINE:
                    if c.state == _S_LINE:
                        self._answer(c, b"414 URI Too Long", "The request line is longer than %d bytes" % _LINE)
                    else:
                        self._answer(c, b"431 Request Header Fields Too Large",
                                     "A header line is longer than %d bytes" % _LINE)
                return
            end = i - 1 if i and c.buf[i - 1] == 13 else i
            line = bytes(c.buf[0:end])
            c.buf[0:c.n - i - 1] = c.buf[i + 1:c.n]
            c.n -= i + 1
            if c.state == _S_LINE:
                self._request_line(c, line)
            elif line:
                c.lines += 1
                if c.lines > _HEADERS:
                    self._answer(c, b"431 Request Header Fields Too Large",
                                 "More than %d header lines" % _HEADERS)
                    return
                self._header(c, line)
            else:
                self._head_done(c)

    def _request_line(self, c, line):
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            self._answer(c, b"400 Bad Request", "Not an HTTP request")
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

    def _header(self, c, line):
        i = line.find(b":")
        if i < 0:
            return
        name = line[:i].strip().lower()
        v = line[i + 1:].strip()
        if name == b"host":
            c.host = v in self.hosts
        elif name == b"content-length":
            try:
                c.left = int(v)
            except ValueError:
                c.left = -2

    def _head_done(self, c):
        # saved: the finished page; a POST's after its body is read (_post): closing with
        # the body unread makes the kernel reset the connection, and the browser never
        # shows the answer
        if (self.done is not None or self.user) and not c.post:
            self._page(c, b"200 OK", "finished")
            return
        if not c.host:  # another name (a probe, a rebinding page): the page, by its address
            self._redirect(c)
            return
        if c.route == _R_NONE:
            self._answer(c, b"404 Not Found", "Not here")
            return
        if not c.post:
            if c.route == _R_PAGE:
                log.info("setup: page requested")
                self._page(c, b"200 OK", "form")
            else:  # a captive-portal probe, /save by GET, any other path
                self._redirect(c)
            return
        if c.route != _R_SAVE:
            self._redirect(c)
            return
        if c.left < 0:
            self._answer(c, b"411 Length Required", "The form came without a Content-Length")
            return
        if c.left > BODY:
            self._answer(c, b"413 Content Too Large", "The form is larger than %d bytes" % BODY)
            return
        c.state = _S_WAIT
        if self.owner is None:
            self._own(c)
        else:  # another POST's body is being parsed: this one waits, unread
            self.poller.modify(c.sock, 0)

    # -- the save ---------------------------------------------------------------------------
    def _post(self, c):
        if self.user:  # a POST that waited while another one saved
            self._page(c, b"200 OK", "finished")
            return
        f = self.form
        f.end()
        errs = f.errors()
        status = b"400 Bad Request"
        if not errs and not self._redeem(f.raw_value("csrf")):
            log.info("setup: a form without a valid csrf token: refused")
            errs = ["This form has expired or did not come from this page: send it again"]
        elif not errs and self.code is not None and f.get("code") != self.code:
            log.info("setup: a form with a wrong setup code: refused")
            errs = ["The setup code is wrong: it is shown on the board's console"]
        elif not errs:
            errs = self._validate(f)
        if errs:
            log.info("setup: form refused (%d problems)" % len(errs))
        else:
            status = b"200 OK"
            errs = self._check(f)
        if errs:
            self._page(c, status, "form", errs)
        else:
            self._page(c, b"200 OK", "done")

    def _validate(self, f):
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
        p = f.get("provider") or "none"
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

    def _check(self, f):
        """The checks (portal/check.py), then the save (portal/save.py): [] when saved, else
        one line per failure."""
        v = f.values()
        if not v["provider"]:
            v["provider"] = "none"
        log.set_secrets(list(log._secrets) + [v["wifi_password"], v["token"], v["api_key"]])
        log.info("setup: checking the Wi-Fi, the bot token%s" % (" and the model" if v["provider"] != "none" else ""))
        ck = self.checks or load("picoclaw.portal.check")
        errs = []
        try:
            e = ck.wifi(v["ssid"], v["wifi_password"])
            if e:
                errs.append(e)
            else:
                user, e = ck.telegram(v["token"], self.old)
                if e:
                    errs.append(e)
                if v["provider"] != "none":
                    e = ck.model(v["provider"], v["api_base"], v["api_key"], v["model"], self.old)
                    if e:
                        errs.append(e)
        finally:
            if self.checks is None:
                unload("picoclaw.portal.check")
            self._wait_over()
        if errs:
            log.info("setup: a check failed (%d): the form again" % len(errs))
            return [log.scrub(e) for e in errs]
        sv = self.saver or load("picoclaw.portal.save")
        try:
            sv.write(self.path, v)
        except (OSError, ValueError) as e:
            log.warn("setup: could not write %s: %s" % (self.path, e))
            return ["Could not save the settings: %s" % log.scrub(str(e))]
        finally:
            if self.saver is None:
                unload("picoclaw.portal.save")
        log.info("setup: saved %s for @%s" % (self.path, user))
        self.user = user or "the bot"
        return []

    def _wait_over(self):
        """The checks held the loop for seconds: the other requests get their time again."""
        now = time.ticks_add(time.ticks_ms(), _REQ_MS)
        for c in self.slots:
            if c.sock and time.ticks_diff(now, c.deadline) > 0:
                c.deadline = now

    # -- answers ----------------------------------------------------------------------------
    def _w(self, c, data):
        """Add data to the answer in c.buf, sending whenever it is full."""
        n = len(data)
        i = 0
        while i < n:
            k = min(n - i, _LINE - self.out)
            c.buf[self.out:self.out + k] = data[i:i + k]
            self.out += k
            i += k
            if self.out == _LINE:
                self._flush(c)

    def _flush(self, c):
        mv = c.mv[0:self.out]
        while mv:
            k = c.sock.send(mv)
            mv = mv[k:]
        self.out = 0

    def _esc(self, c, v):
        """v (str or bytes) HTML-escaped into the answer."""
        if isinstance(v, str):
            v = v.encode()
        j = 0
        for i in range(len(v)):
            e = b"&amp;&lt;&gt;&quot;&#39;"
            k = b"&<>\"'".find(v[i:i + 1])
            if k >= 0:
                self._w(c, v[j:i])
                self._w(c, e[(0, 5, 9, 13, 19)[k]:(5, 9, 13, 19, 24)[k]])
                j = i + 1
        self._w(c, v[j:])

    def _begin(self, c, status, extra=b""):
        c.sock.settimeout(_SEND_MS / 1000)
        self.out = 0
        self._w(c, b"HTTP/1.1 %s\r\n" % status)
        self._w(c, extra)
        self._w(c, b"Cache-Control: no-store\r\nConnection: close\r\n\r\n")

    def _finish(self, c):
        try:
            self._flush(c)
        except OSError:
            pass
        self._drop(c)

    def _answer(self, c, status, line):
        """A one-line plain-text answer, then the connection closes."""
        try:
            self._begin(c, status, b"Content-Type: text/plain; charset=utf-8\r\n")
            self._w(c, line.encode() + b"\n")
        except OSError:
            pass
        self._finish(c)

    def _redirect(self, c):
        try:
            self._begin(c, b"302 Found", b"Location: %s\r\nContent-Length: 0\r\n" % self.url)
        except OSError:
            pass
        self._finish(c)

    def _page(self, c, status, section, errs=None):
        """The page's `section` (page.html: form, done, finished) between its head and tail."""
        c.state = _S_WAIT  # (no more reading; the form is released when c is dropped: a
        #                    form sent back shows its values)
        try:
            self._begin(c, status, b"Content-Type: text/html; charset=utf-8\r\nX-Frame-Options: DENY\r\n"
                        b"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
                        b"form-action 'self'; frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n")
            self._template(c, section.encode(), errs)
        except OSError as e:
            log.info("setup: a client went away during the page (%s)" % e)
        self._finish(c)

    def _template(self, c, section, errs):
        buf = self.tpl
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
                    self._line(c, mv[0:i + 1], section, errs)
                buf[0:n - i - 1] = buf[i + 1:n]
                n -= i + 1

    def _line(self, c, line, section, errs):
        """One template line, its placeholder ({{name}} or {{name:arg}}) filled in."""
        s = bytes(line)
        a = s.find(b"{{")
        b = s.find(b"}}", a)
        if a < 0 or b < 0:
            self._w(c, line)
            return
        self._w(c, line[0:a])
        name = s[a + 2:b]
        arg = b""
        k = name.find(b":")
        if k >= 0:
            name, arg = name[:k], name[k + 1:].decode()
        f = self.form if errs is not None else None  # a form sent back: its values
        if name == b"v":
            self._esc(c, "" if arg in _SECRET else (f.get(arg) if f else self._pre(arg)))
        elif name == b"sel":
            p = (f.get("provider") or "none") if f else self._pre("provider")
            if p == arg:
                self._w(c, b" selected")
        elif name == b"csrf":
            self._w(c, self._issue())
        elif name == b"errors":
            for e in errs or ():
                self._w(c, b'<p class="error">')
                self._esc(c, e)
                self._w(c, b"</p>\n")
        elif name == b"networks":
            for ssid in self.scan:
                self._w(c, b'<option value="')
                self._esc(c, ssid)
                self._w(c, b'">\n')
        elif name == b"scan":
            self._w(c, b"Choose a scanned network or type its name." if self.scan
                    else b"Type the network's name.")
        elif name == b"code":
            if self.code is not None:
                self._w(c, b'<fieldset><legend>Setup code</legend><label for="code">The code shown on the '
                        b'board\'s console</label>\n<input id="code" name="code" maxlength="8" required></fieldset>\n')
        elif name == b"user":
            self._esc(c, self.user)
        self._w(c, line[b + 2:])


def _open_page():
    """page.html, beside this module (deploy copies it there, build/mpy has it), or where
    deploy puts it when this module is frozen into the firmware."""
    f = __file__
    try:
        return open(f[:f.rfind("/") + 1] + "page.html", "rb")
    except OSError:
        return open("/lib/picoclaw/portal/page.html", "rb")


def serve(cfg_path, listen, dns_port=None, ap=None, timeout_s=900, code=None, ready=None,
          checks=None, saver=None):
    """Run setup mode until a save (returns 0: restart into the bot) or `timeout_s` seconds
    without a request (returns 1). listen: (host, port). ap: .scan() -> SSIDs and .net = (ip,
    mask) of the access point's network, or None (the unix port: only the listen address is
    served). code: the one-time code the page must be given (open network), or None.
    ready: called once the page is served. checks, saver: stand-ins for portal/check.py and
    portal/save.py (tests); None: those modules, loaded for the save and dropped after."""
    s = Setup(cfg_path, listen, ap, code, checks, saver)
    return s.run(listen, dns_port, timeout_s, ready)


class _Scan:
    """--scan on the unix port: the networks a scan would show."""

    def __init__(self, names, host):
        self.names = names
        self.net = (host, "255.255.255.255")

    def scan(self):
        return self.names


def main(cfg_path, argv):
    """`picoclaw setup --config FILE --listen HOST:PORT [--dns PORT] [--timeout S]
    [--code CODE] [--scan SSID,SSID]`: 0 after a save, 1 on timeout, 2 on bad arguments."""
    host, port, dns, timeout, code, scan = "127.0.0.1", 8080, None, 900, None, None
    try:
        i = 0
        while i < len(argv):
            a = argv[i]
            if i + 1 >= len(argv):
                raise ValueError(a)
            v = argv[i + 1]
            if a == "--listen":
                host, _, p = v.rpartition(":")
                port = int(p)
                _ip(host)
            elif a == "--dns":
                dns = int(v)
            elif a == "--timeout":
                timeout = int(v)
            elif a == "--code":
                code = v
            elif a == "--scan":
                scan = v.split(",")
            else:
                raise ValueError(a)
            i += 2
    except ValueError as e:
        print("error: setup: bad argument %s (usage: picoclaw setup --config FILE --listen "
              "HOST:PORT [--dns PORT] [--timeout S] [--code CODE] [--scan SSID,SSID])" % e)
        return 2
    ap = _Scan(scan, host) if scan else None
    try:
        return serve(cfg_path, (host, port), dns, ap, timeout, code)
    except OSError as e:  # the port taken, the config's folder missing
        print("error: setup on %s:%d: %s" % (host, port, e))
        return 2
