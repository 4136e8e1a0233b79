# The setup page's server (setup mode): serve() runs it until a save or a timeout. This part
# stays loaded: the state every request shares, the old config, and the checks and the save
# of a sent form; the HTTP side (the poll loop, requests, answers, the page) is
# portal/loop.py, loaded while it serves and dropped while a form is checked, so that the
# checks' code (TLS, the HTTP client, the JSON parser: portal/check.py) finds the heap its
# code took (the checks are the peak of a setup run).
#
# Everything is allocated once: each of the _SLOTS client slots has a fixed 512-byte buffer
# that holds one request-head line at a time and is then the answer's output buffer; the
# form parser (portal/form.py) has one fixed value buffer, which one POST at a time owns (a
# second POST's body waits, unread, until it is free); the page (page.html on flash) is
# streamed a line at a time through one 256-byte buffer with its placeholders filled in as
# it goes. So the heap depends neither on the form's size, up to the caps, nor on how many
# requests came.
#
# Safe by construction (docs/how-it-works.md, "Setup from a phone"): only clients inside the
# access point's own network (ap.net) are served; a request whose Host is not the board's
# address (a DNS-rebinding page, a probe for another name) is redirected to the page and
# never reaches /save; a POST needs a csrf token from a page this server issued (a fixed
# table of the last 4, each good once); in open-network mode also the one-time code; the
# request line, each header line, the header count, the body and every field are capped,
# each with a one-line answer; a request must be whole within 10 s. The log names what
# happened, never a value: the submitted secrets are added to the log's scrubber before the
# checks run, so a check's error cannot show one either.
#
#     serve("config.json", ("192.168.4.1", 80), dns_port=53, ap=ap)  # 0: saved, 1: timed out
import socket
import time

from micropython import const

from picoclaw import load, log, unload

_SLOTS = const(4)  # clients at once: a phone opens 2-3 connections for a page; a 5th gets 503
_LINE = const(512)  # each slot's buffer: the longest request or header line (portal/loop.py)
_TOKENS = const(4)  # csrf tokens remembered: the last 4 pages issued (phones and retries)
_TOK = const(24)  # hex digits of a token
_TPL = const(256)  # one template line
_SCAN = const(16)  # scanned networks offered (the strongest come first)
_CHECK = const(2)  # loop.run's answer: a form is ready for the checks



class _Client:
    def __init__(self):
        self.buf = bytearray(_LINE)
        self.mv = memoryview(self.buf)
        self.sock = None

    def start(self, sock, now):
        self.sock = sock
        self.n = 0  # bytes in buf (the head line being read, or body bytes read with the head)
        self.state = 0  # portal/loop.py's _S_LINE
        self.lines = 0
        self.route = 0
        self.post = False
        self.host = False  # the Host header names the board
        self.left = -1  # body bytes still to read (Content-Length); -1: none given
        self.deadline = time.ticks_add(now, 10000)  # loop.py's _REQ_MS


def _ip(a):
    """An IPv4 address (dotted str) as an int."""
    n = 0
    for p in a.split("."):
        n = n * 256 + int(p)
    return n


class _State:
    """What the requests share, kept while portal/loop.py is out of the heap."""

    def __init__(self, cfg_path, listen, ap, code, timeout_s):
        self.path = cfg_path
        self.code = code
        self.timeout_s = timeout_s
        host, port = listen
        self.ip = ip = ap.net[0] if ap else host
        # who may connect: the access point's network, or on the unix port the listen
        # address itself
        net, mask = ap.net if ap else (host, "255.255.255.255")
        self.mask = _ip(mask)
        self.net = _ip(net) & self.mask
        p = b"" if port == 80 else b":%d" % port
        self.url = b"http://" + ip.encode() + p + b"/"
        # the Host values that are the board itself
        self.hosts = (ip.encode() + p, host.encode() + p)
        self.scan = []
        if ap:
            try:
                self.scan = ap.scan()[:_SCAN]
            except OSError as e:
                log.warn("setup: Wi-Fi scan failed (%s): the network is typed" % e)
        self.slots = [_Client() for _ in range(_SLOTS)]
        self.form = load("picoclaw.portal.form").Form()
        self.vals = None  # the sent form's values (a dict: the checks', the save's, the page's)
        self.owner = None  # the slot whose POST body the form is parsing
        self.pending = None  # the slot whose form is being checked
        self.errs = None  # what the checks found, for the pending slot's answer
        self.status = b""
        self.tokens = bytearray(b"-" * (_TOKENS * _TOK))
        self.tok_next = 0
        self.tpl = bytearray(_TPL)
        self.out = 0  # bytes in the answering slot's buffer
        self.done = None  # after the save: ticks_ms by which to stop
        self.user = ""
        self.busy = False  # a request came in: the timeout counts from the last one
        self.dns = None


def _old(path):
    """The existing config's Settings (the checks use its base_url and TLS settings), or
    the defaults when there is none (or it does not load: the save writes a whole one).
    The config loader and the JSON parser it brings leave the heap after."""
    import sys

    before = list(sys.modules)
    config = load("picoclaw.config")
    try:
        try:
            return config.load(path)
        except config.ConfigError as e:
            import os

            bad = False
            try:
                os.stat(path)
                bad = True  # it exists and does not load: the save keeps it aside, writes anew
                log.warn("setup: %s: starting from the defaults" % e)
            except OSError:
                pass  # no config yet: the defaults
            # the defaults are what config.load makes of an empty object
            tmp = path + ".defaults"
            with open(tmp, "w") as f:
                f.write("{}")
            try:
                cfg = config.load(tmp)
            finally:
                os.remove(tmp)
            cfg.path = path
            cfg.unusable = bad
            return cfg
    finally:
        config = None
        unload(*[m for m in sys.modules if m not in before])


def serve(cfg_path, listen, dns_port=None, ap=None, timeout_s=900, code=None, ready=None,
          checks=None, saver=None):
    """Run setup mode until a save (returns 0: restart into the bot) or `timeout_s` seconds
    without a request (returns 1). listen: (host, port). ap: .scan() -> SSIDs and .net = (ip,
    mask) of the access point's network, or None (the unix port: only the listen address is
    served). code: the one-time code the page must be given (open network), or None.
    ready: called once the page is served. checks, saver: stand-ins for portal/check.py and
    portal/save.py (tests); None: those modules, loaded for the save and dropped after."""
    import select

    st = _State(cfg_path, listen, ap, code, timeout_s)
    st.checks = checks
    st.saver = saver
    st.old = _old(cfg_path)
    host, port = listen
    st.ls = ls = socket.socket()
    try:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(socket.getaddrinfo(host, port)[0][-1])
        ls.listen(_SLOTS)
        ls.setblocking(False)
        st.poller = select.poll()
        st.poller.register(ls, select.POLLIN)
        if dns_port:
            st.dns = load("picoclaw.portal.dns").Responder(st.ip, dns_port)
            st.poller.register(st.dns.sock, select.POLLIN)
        print("setup page on http://%s:%d/" % (host, port))
        log.info("setup: page on %s, %s" % (st.url.decode(), "one-time code" if code else "no code"))
        if ready:
            ready()
        st.idle = time.ticks_add(time.ticks_ms(), timeout_s * 1000)
        while True:
            lp = load("picoclaw.portal.loop")
            r = lp.run(st)
            lp = None
            if r != _CHECK:
                return r
            unload("picoclaw.portal.loop")
            # the form parser leaves too (the values wait in st.vals): its room is the checks'
            st.vals = st.form.values()
            st.vals["provider"] = st.vals["provider"] or "none"  # (as loop's validation read it)
            st.form = None
            unload("picoclaw.portal.form")
            st.errs = _check(st)
            st.status = b"200 OK"  # a check that failed: the form again, with its lines
            st.form = load("picoclaw.portal.form").Form()
    finally:
        for c in st.slots:
            if c.sock:
                c.sock.close()
        ls.close()
        if st.dns is not None:
            st.dns.sock.close()
            st.dns = None
            unload("picoclaw.portal.dns")
        unload("picoclaw.portal.loop")




def _check(st):
    """The checks (portal/check.py), then the save (portal/save.py): [] when saved, else
    one line per failure."""
    v = st.vals
    # the log's scrubber: the old config's secrets and this form's (not every form's so far)
    log.set_secrets(st.old.secrets + [v["wifi_password"], v["token"], v["api_key"]])
    log.info("setup: checking the Wi-Fi, the bot token%s" % (" and the model" if v["provider"] != "none" else ""))
    ck = st.checks or load("picoclaw.portal.check")
    errs = []
    try:
        e = ck.wifi(v["ssid"], v["wifi_password"])
        if e:
            errs.append(e)
        else:
            user, e = ck.telegram(v["token"], st.old)
            if e:
                errs.append(e)
            if v["provider"] != "none":
                e = ck.model(v["provider"], v["api_base"], v["api_key"], v["model"], st.old)
                if e:
                    errs.append(e)
    finally:
        ck = None
        if st.checks is None:
            unload("picoclaw.portal.check")
    if errs:
        log.info("setup: a check failed (%d): the form again" % len(errs))
        return [log.scrub(e) for e in errs]
    sv = st.saver or load("picoclaw.portal.save")
    try:
        if getattr(st.old, "unusable", False):  # a config that exists and does not load
            sv.write(st.path, v, True)
        else:
            sv.write(st.path, v)
    except (OSError, ValueError) as e:
        log.warn("setup: could not write %s: %s" % (st.path, e))
        return ["Could not save the settings: %s" % log.scrub(str(e))]
    finally:
        sv = None
        if st.saver is None:
            unload("picoclaw.portal.save")
    log.info("setup: saved %s for @%s" % (st.path, user))
    st.user = user or "the bot"
    return []


class _Scan:
    """--scan on the unix port: the networks a scan would show."""

    def __init__(self, names, host):
        self.names = names
        self.net = (host, "255.255.255.255")

    def scan(self):
        return self.names


def main(cfg_path, argv):
    """`picoclaw setup --config FILE --listen HOST:PORT [--dns PORT] [--timeout S]
    [--code CODE] [--scan SSID,SSID]`: 0 after a save, 1 on timeout, 2 on bad arguments.
    (The arguments are read by portal/loop.py, which is loaded now anyway.)"""
    a = load("picoclaw.portal.loop").args(argv)
    unload("picoclaw.portal.loop")
    if a is None:
        return 2
    host, port, dns, timeout, code, scan = a
    try:
        return serve(cfg_path, (host, port), dns, _Scan(scan, host) if scan else None, timeout, code)
    except OSError as e:  # the port taken, the config's folder missing
        print("error: setup on %s:%d: %s" % (host, port, e))
        return 2
