# web_fetch's logic tests, run on both runtimes: under pytest (host_tests/test_web_fetch.py
# imports them) and on the MicroPython unix port from .mpy (test_web_fetch.py compiles this
# file and runs it with mp_runner). The HTML->text converter (tools/html.py) and the SSRF
# guard's address rules (net/guard.py); no sockets besides a lookup of localhost.
import os

from picoclaw.net import guard
from picoclaw.tools.html import Html, Text

PAGES = "build/webfetch-pages"  # real-world pages the pytest side writes (pydoc's HTML), if any


class _Out:
    def __init__(self):
        self.b = bytearray()

    def write(self, d):
        self.b += d


def convert(page, step=512, chars=100000, latin=False, html=True, sniff=True):
    """page (bytes) through Html (or Text alone) in windows of `step` bytes; the text (bytes)."""
    o = _Out()
    t = Text(o, chars)
    t.latin = latin
    h = Html(t, None, sniff) if html else None
    buf = bytearray(512)
    i = 0
    while i < len(page):
        n = min(step, len(page) - i, 512)
        buf[0:n] = page[i:i + n]
        i += n
        if h:
            if not h.feed(buf, 0, n):
                break
        else:
            t.put(buf, 0, n)
            if t.full:
                break
    if h:
        h.end()
    else:
        t.end()
    return bytes(o.b)


SAMPLE = (b"<!DOCTYPE html>\n<html lang=en><head><meta charset='utf-8'><title>T&amp;C</title>"
          b"<style>p { color: red } /* <p>no</p> */</style>"
          b"<script>if (a < b && c > d) { s = '</scr' + 'ipt>'; }</script></head>\n"
          b"<body><h1>A  heading</h1><p>One&nbsp;two &lt;three&gt; &#233;&#x263a; &copy &bogus; &amp</p>"
          b"<!-- a comment -- with > inside --><ul><li>first<li>second</ul>"
          b"<p>See <a href=\"/doc?a=1&amp;b=2\">the docs</a> and <a href='#top'>top</a>, a < b.</p>"
          b"<svg><text>drawn</text></svg><noscript>enable JS</noscript>"
          b"<pre>line 1\n\nline 2</pre><table><tr><td>x</td><td>y</td></tr></table>"
          b"caf\xc3\xa9 \xf0\x9f\x98\x80</body></html>")
SAMPLE_TEXT = ("T&C\n\nA heading\n\nOne two <three> \u00e9\u263a \u00a9 &bogus; &\n\n- first\n- second\n\n"
               "See the docs (/doc?a=1&b=2) and top, a < b.\n\nline 1\n\nline 2\n\nx y\n\ncaf\u00e9 \U0001F600")


def test_html_sample_at_every_split():
    want = SAMPLE_TEXT.encode()
    for step in (1, 2, 3, 5, 7, 13, 64, 512):
        got = convert(SAMPLE, step)
        assert got == want, (step, got)


def test_html_drops_hidden_and_keeps_title():
    got = convert(b"<html><head><title>Only this</title><meta name=x content=y><link rel=a>"
                  b"<script src=x></script>head text</head><body>body</body>").decode()
    assert got == "Only this\n\nbody", got
    # a page that never closes its head: the body still shows
    assert convert(b"<head><title>t</title><body><p>shown").decode() == "t\n\nshown"
    # script bodies that look like tags, an end tag in capitals, a "</" that is not the end
    assert convert(b"<p>a</p><SCRIPT>x='<p>no</p>'; y = 1 </ 2</SCRIPT ><p>b").decode() == "a\n\nb"


def test_html_entities():
    cases = ((b"&lt;&gt;&amp;&quot;&apos;", "<>&\"'"), (b"&#65;&#x42;&#X43;", "ABC"),
             (b"&#0;&#xD800;&#x110000;", "\ufffd\ufffd\ufffd"), (b"&#150;&#153;", "\u2013\u2122"),
             (b"a&shy;b", "ab"), (b"&unknown;x", "&unknown;x"), (b"& x", "& x"),
             (b"&hellip;&mdash;&euro;", "\u2026\u2014\u20ac"), (b"&amp", "&"),
             (b"&averyveryverylongname;", "&averyveryverylongname;"))
    for page, want in cases:
        for step in (1, 3, 512):
            got = convert(page, step).decode()
            assert got == want, (page, step, got)


def test_text_is_always_valid_utf8():
    cases = ((b"ok \xff end", "ok \ufffd end"), (b"\xc0\x80", "\ufffd\ufffd"),  # overlong
             (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # a surrogate
             (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),  # past U+10FFFF
             (b"\xe2\x82", "\ufffd"), (b"\xe2\x82x", "\ufffdx"), (b"\x80abc", "\ufffdabc"),
             (b"\xe2\x82\xac", "\u20ac"), (b"a\x00b\x1bc\td\r\ne", "abc\td\ne"))
    for page, want in cases:
        for step in (1, 2, 512):
            got = convert(page, step, html=False)
            assert got.decode() == want, (page, step, got)


def test_latin1_and_windows1252():
    assert convert(b"caf\xe9 \x93quoted\x94 \x80", html=False, latin=True).decode() == \
        "caf\u00e9 \u201cquoted\u201d \u20ac"
    # a <meta> charset, obeyed while only ASCII came before it
    page = b"<html><head><meta charset=\"ISO-8859-1\"></head><body>na\xefve</body>"
    assert convert(page).decode() == "na\u00efve"
    page = b"<meta http-equiv=Content-Type content='text/html; charset=windows-1252'><p>\x96"
    assert convert(page).decode() == "\u2013"
    # not when the Content-Type named the charset (sniff=False): the header wins
    assert convert(b"<meta charset=latin1><p>\xe9", sniff=False).decode() == "\ufffd"


def test_caps_end_on_a_whole_character():
    page = "\u00e9" * 50
    got = convert(("<p>" + page).encode(), 1, chars=7)
    assert got.decode() == "\u00e9" * 7
    o = _Out()
    t = Text(o, 100, room=9)  # 9 bytes: four 2-byte characters, not half of a fifth
    t.put(page.encode(), 0, 100)
    t.end()
    assert bytes(o.b).decode() == "\u00e9" * 4 and t.full


def _convert_file(path, step, chars):
    # the page streamed from flash through one buffer, as the tool streams it from a socket
    o = _Out()
    h = Html(Text(o, chars))
    buf = bytearray(step)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n or not h.feed(buf, 0, n):
                break
    h.end()
    return bytes(o.b)


def test_real_pages():
    # pydoc's HTML of stdlib modules (written by the pytest side): same text at any split,
    # valid UTF-8, no markup or entity left, and the module's own words in it
    try:
        names = sorted(os.listdir(PAGES))
    except OSError:
        return  # the pytest side runs this after writing them; a bare run has none
    assert names
    for name in names:
        a = _convert_file(PAGES + "/" + name, 512, 6000)
        assert _convert_file(PAGES + "/" + name, 61, 6000) == a, name
        s = a.decode()
        assert "<td" not in s and "<a " not in s and "&amp;" not in s and "&nbsp;" not in s, name
        assert name.split(".")[-2] in s, name


def test_guard_parse_and_rules():
    p = guard.parse
    assert p("1.2.3.4") == b"\x01\x02\x03\x04" and p("1.2.3") is None and p("1.2.3.256") is None
    assert p("::1") == bytes(15) + b"\x01" and p("[::1]") == p("::1") and p("fe80::1%eth0")
    assert p("::ffff:10.0.0.1")[12:] == b"\x0a\x00\x00\x01" and p("1::2::3") is None
    assert p("example.org") is None and p("2001:db8::") == b"\x20\x01\x0d\xb8" + bytes(12)
    refused = ("127.0.0.1", "127.255.0.1", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255",
               "192.168.1.1", "100.64.0.1", "100.127.0.1", "169.254.1.1", "169.254.169.254",
               "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "febf::1", "fc00::1",
               "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:192.168.0.1", "2002:0a00:0001::")
    public = ("1.1.1.1", "8.8.8.8", "172.15.0.1", "172.32.0.1", "100.63.0.1", "100.128.0.1",
              "192.169.0.1", "169.253.0.1", "223.255.255.255", "2001:4860::8888", "2606:4700::1111",
              "fec0::1", "::ffff:8.8.8.8", "2002:0808:0808::")
    for a in refused:
        assert guard.rule(p(a)) >= 0, a
    for a in public:
        assert guard.rule(p(a)) < 0, a
    assert guard.rule(p("169.254.169.254")) != guard.rule(p("169.254.1.1"))  # said as metadata


def test_guard_whitelist():
    a = guard.parse("192.168.1.20")
    assert guard._listed("nas.lan", a, ["192.168.1.20"]) and guard._listed("nas.lan", a, [" NAS.lan "])
    assert guard._listed("nas.lan", a, ["192.168.1.0/24"]) and guard._listed("x", a, ["192.168.0.0/16"])
    assert not guard._listed("x", a, ["192.168.2.0/24"]) and not guard._listed("x", a, ["192.168.1.21"])
    assert not guard._listed("x", a, ["fe80::/10", "bogus", "1.2.3.4/x", ""])
    assert guard._listed("x", guard.parse("fd00::5"), ["fd00::/8"])


def _refused(host, allow=(), why=""):
    try:
        guard.check(host, 80, allow)
    except ValueError as e:
        m = str(e)
        assert host in m and why in m and "tools.web.private_host_whitelist" in m and "\n" not in m, m
        return m
    raise AssertionError("%s was let through" % host)


class _Resolver:
    """A socket module stand-in whose getaddrinfo answers `addr` for every name, in the
    (text, port) shape lwIP and CPython give (the unix port's raw sockaddr is tested by
    the lookups of real names)."""

    SOCK_STREAM = 1

    def __init__(self, addr):
        self.addr = addr

    def getaddrinfo(self, host, port, *a):
        return [(2, 1, 6, "", (self.addr, port))]


def test_guard_checks_after_the_lookup():
    _refused("127.0.0.2", ("127.0.0.1",), "loopback")
    _refused("localhost", ("127.0.0.1",), "this machine")  # by its name, whatever it resolves to
    _refused("app.localhost", (), "this machine")
    _refused("metadata.google.internal", (), "metadata")
    _refused("[::1]", (), "loopback")
    assert guard.check("127.0.0.1", 80, ("127.0.0.1",))
    assert guard.check("localhost", 80, ("localhost",))
    real = guard.socket
    try:
        # a public-looking name whose DNS answer is a private address (DNS rebinding)
        guard.socket = _Resolver("10.0.0.7")
        _refused("intranet.example.com", (), "10.0.0.7")
        assert guard.check("intranet.example.com", 80, ("10.0.0.0/8",))
        assert guard.check("intranet.example.com", 80, ("intranet.example.com",))
        guard.socket = _Resolver("169.254.169.254")
        _refused("rebind.example.net", (), "metadata")
        guard.socket = _Resolver("93.184.215.14")
        assert guard.check("example.com", 80)[-1] == ("93.184.215.14", 80)
    finally:
        guard.socket = real
