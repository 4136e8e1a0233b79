# Answer -> Telegram messages (tgformat): Markdown to Telegram HTML, cuts at the UTF-16 unit
# cap, plain fallback, heap independent of the answer's length. Runs on CPython and the unix port.
import gc
import os
import sys

import micropython

from picoclaw.telegram import format as tgformat

TMP = "/tmp/picoclaw-tgformat-%s" % sys.implementation.name
NOTE = "\n[answer cut: too long]"
ALLOWED = ("b", "i", "s", "code", "pre", "a", "blockquote")
ENT = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}


def scan(h, keep=True):
    """(text Telegram shows for the HTML bytes h or None, its UTF-16 units). AssertionError
    where Telegram would refuse h: unknown tag or entity, unbalanced or badly nested tags,
    a raw < or >, invalid UTF-8. Works on bytes, so a big piece costs little RAM."""
    out = bytearray()
    stack = []
    units = 0
    i = 0
    n = len(h)
    while i < n:
        j = i
        while j < n and h[j] not in b"<&>":
            c = h[j]
            if c & 0xC0 != 0x80:  # a character, 2 units if outside the BMP
                units += 2 if c >= 0xF0 else 1
            j += 1
        if keep:
            out += h[i:j]
        if j >= n:
            break
        c = h[j]
        assert c != 62, h  # a raw ">"
        e = h.find(b">" if c == 60 else b";", j)
        assert e > j, h
        body = h[j + 1:e].decode()
        i = e + 1
        if c == 38:
            assert body in ENT, body
            units += 1
            if keep:
                out += ENT[body].encode()
        elif body.startswith("/"):
            assert stack and stack.pop() == body[1:], (body, h)
        else:
            name = body.split(" ")[0]
            attrs = body[len(name):]
            top = stack[-1] if stack else ""
            assert name in ALLOWED and name not in stack, (name, h)
            assert top != "code" and (top != "pre" or name == "code"), (name, top, h)
            if name == "a":
                assert attrs.startswith(' href="') and attrs.find('"', 7) == len(attrs) - 1, attrs
            elif name == "code" and top == "pre" and attrs:
                assert attrs.startswith(' class="language-') and attrs.endswith('"'), attrs
            else:
                assert attrs == "", attrs
            stack.append(name)
    assert not stack, ("unclosed", stack, h)
    return (out.decode() if keep else h.decode() and None), units


def visible(h):
    return scan(h if isinstance(h, bytes) else h.encode())[0]


def units(s):
    n = 0
    for ch in s:
        n += 2 if ord(ch) > 0xFFFF else 1
    return n


def write(*parts):
    """The answer file, written part by part (str or bytes; (part, count) repeats it)."""
    with open(TMP + ".in", "wb") as f:
        for p in parts:
            k = 1
            if isinstance(p, tuple):
                p, k = p
            p = p if isinstance(p, bytes) else p.encode()
            while k:
                f.write(p)
                k -= 1


def render(text=None, keep=-1, **kw):
    """Render text (or the file write() made); each piece is read back alone, checked
    (layout, valid HTML or UTF-8, caps) and returned as str, or with keep >= 0 (big
    answers, little RAM) as (UTF-16 units shown, its first keep bytes)."""
    if text is not None:
        write(text)
    index = tgformat.render(TMP + ".in", TMP + ".out", **kw)
    ucap = kw.get("units_cap", 4096)
    pieces = []
    pos = 0
    with open(TMP + ".out", "rb") as f:
        for off, n in index:
            assert off == pos and 0 < n <= kw.get("bytes_cap", 24576), index  # back to back
            pos += n
            f.seek(off)
            raw = f.read(n)
            if kw.get("html", True):
                u = scan(raw, False)[1]
            else:
                u = units(raw.decode())
            assert 0 < u <= ucap, (u, ucap)
            pieces.append(raw.decode() if keep < 0 else (u, raw[:keep]))
            del raw
    assert len(pieces) <= kw.get("max_pieces", 8)
    return pieces


def html(text):
    p = render(text)
    assert len(p) == 1, p
    return p[0]


def test_inline_markup():
    cases = [
        ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>"),
        ("*it* and _it_", "<i>it</i> and <i>it</i>"),
        ("***both***", "<b><i>both</i></b>"),
        ("~~gone~~", "<s>gone</s>"),
        ("`x < y`", "<code>x &lt; y</code>"),
        ("`a **not bold** b`", "<code>a **not bold** b</code>"),
        ("``a ` b``", "<code>a ` b</code>"),
        ("**bold *and it* here**", "<b>bold <i>and it</i> here</b>"),
        ("a*b*c", "a<i>b</i>c"),
        ("\\*not it\\* \\_x\\_", "*not it* _x_"),
        ("C:\\Users\\me", "C:\\Users\\me"),
    ]
    for md, want in cases:
        assert html(md) == want, (md, html(md))


def test_markers_that_are_text():
    for md in ["snake_case_name and a_b_c", "2 * 3 * 4", "a lone ** here", "one ` tick",
               "~single~", "**** and ____", "** spaced **", "_a_b", "[x] y", "[x](javascript:alert(1))",
               "[x](ftp://h/f)", "[x](https://a b)", "1. numbered", "---"]:
        got = html(md)
        assert visible(got) == md, (md, got)
        assert "<" not in got, (md, got)


def test_overlapping_markers_stay_balanced():
    assert html("**a *b** c*") == "<b>a <i>b</i></b><i> c</i>"
    assert html("[a **b](http://x) c**") == '<a href="http://x">a <b>b</b></a><b> c</b>'
    assert html("*a *b* c*") == "<i>a *b</i> c*"  # italic does not nest in itself


def test_blocks():
    md = "# Title **x**\n\ntext\n> quote *a*\n> quote b\nafter\n- item\n* item two\n  + sub\n###### six\n####### seven"
    want = ("<b>Title x</b>\n\ntext\n<blockquote>quote <i>a</i>\nquote b</blockquote>\nafter\n"
            "\u2022 item\n\u2022 item two\n  \u2022 sub\n<b>six</b>\n####### seven")
    assert html(md) == want, html(md)
    assert html("> # q\n> - b") == "<blockquote><b>q</b>\n\u2022 b</blockquote>"


def test_fenced_code():
    md = "Here:\n```python\ndef f(x):\n    return x < 1 and `y`\n```\nafter"
    want = ('Here:\n<pre><code class="language-python">def f(x):\n    return x &lt; 1 and `y`'
            "</code></pre>\nafter")
    assert html(md) == want, html(md)
    assert html("```\n**no** *markup*\n\n  kept\n```") == "<pre>**no** *markup*\n\n  kept</pre>"
    assert html("  ```c++\nint a;\n  ```\n") == '<pre><code class="language-c++">int a;</code></pre>'
    assert html("```sh\nunclosed") == '<pre><code class="language-sh">unclosed</code></pre>'
    assert html("```x\n```\nafter") == "after"  # an empty block writes nothing
    assert html("a ```b``` c") == "a <code>b</code> c"  # inline, not a fence
    assert html("````\n```\n````") == "<pre>```</pre>"  # closed only by as many backticks


def test_links_and_escaping():
    assert html('[site](https://ex.com/?a=1&b="2"<>) & <tag> "q"') == (
        '<a href="https://ex.com/?a=1&amp;b=&quot;2&quot;&lt;&gt;">site</a> &amp; &lt;tag&gt; "q"')
    assert html("[me](tg://user?id=1) [m](mailto:a@b.c) [H](HTTP://X)") == (
        '<a href="tg://user?id=1">me</a> <a href="mailto:a@b.c">m</a> <a href="HTTP://X">H</a>')
    assert html("[**b** `c`](http://x)") == '<a href="http://x"><b>b</b> <code>c</code></a>'
    assert html("[a [b](http://x)") == '[a <a href="http://x">b</a>'  # the last [ starts it
    assert html("[long](http://x/" + "y" * 300 + ")").startswith("[long](http")  # URL too long


def test_whitespace_crlf_and_invalid_utf8():
    assert html("\n\n  para one  \r\n\r\n\r\npara two \r\n\n") == "para one\n\n\npara two"
    assert html(b"a\xffb\xe2\x82c\xed\xa0\x80") == "a\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffd"
    assert render("") == [] and render(" \n \n") == [] and render("\n", html=False) == []


def test_utf16_units_are_counted():
    cjk = "\u4e2d" * 64
    assert render((cjk, 64), 0) == [(4096, b"")]  # 12288 bytes, 4096 units: one message
    assert render((cjk, 65), 0) == [(4096, b""), (64, b"")]
    emoji = "\U0001F600" * 64
    assert render((emoji, 32), 0) == [(4096, b"")]  # 2 units each
    write((emoji, 32), "\U0001F600")
    assert render(None, 0) == [(4096, b""), (2, b"")]
    assert render(("&" * 64, 64), 0) == [(4096, b"")]  # &amp; is one unit (20 KB of HTML)


def test_emoji_is_never_split():
    p = render("\U0001F600" * 30, units_cap=41)
    assert p == ["\U0001F600" * 20, "\U0001F600" * 10]
    p = render("a" + "\U0001F600" * 30, units_cap=40, html=False)
    assert p == ["a" + "\U0001F600" * 19, "\U0001F600" * 11]


def test_cut_preference_paragraph_line_space_anywhere():
    # the cap (60) falls in the second line of the second paragraph
    para = "alpha beta gamma delta epsilon\n\n"
    lines = "one two three four five six\nseven eight nine ten eleven\n"
    assert render(para + lines, units_cap=60) == [para.strip(), lines.strip()]
    # no paragraph break: the last line end
    assert render("x" * 31 + "\n" + lines, units_cap=60) == ["x" * 31 + "\none two three four five six",
                                                            "seven eight nine ten eleven"]
    # no line end: the last space
    assert render("word " * 20, units_cap=32) == ["word " * 5 + "word"] * 3 + ["word word"]
    # nothing: exactly at the cap
    assert render("x" * 100, units_cap=40) == ["x" * 40, "x" * 40, "x" * 20]
    # a paragraph break before half the piece would make a short piece: the space wins
    assert render("ab\n\n" + "word " * 12, units_cap=40)[0] == "ab\n\n" + "word " * 6 + "word"


def test_code_block_split_is_closed_and_reopened():
    intro = "The code below is explained in a sentence this long:"
    code = "\n".join("line_%02d = %d" % (k, k) for k in range(30))
    p = render(intro + "\n```py\n" + code + "\n```\ndone", units_cap=100)
    assert p[0] == intro, p  # a fence is a paragraph boundary
    for x in p[1:-1]:
        assert x.startswith('<pre><code class="language-py">line_') and x.endswith("</code></pre>"), x
    assert p[-1].endswith("</code></pre>\ndone")
    assert "\n".join(visible(x) for x in p) == intro + "\n" + code + "\ndone"


def test_tags_open_at_a_cut_are_reopened():
    p = render("**" + "bold words " * 10 + "end**", units_cap=40)
    assert len(p) == 3
    for x in p:
        assert x.startswith("<b>") and x.endswith("</b>"), x
    p = render("> " + "quoted text " * 10, units_cap=40)
    for x in p:
        assert x.startswith("<blockquote>") and x.endswith("</blockquote>"), x
    p = render("[" + "link text " * 10 + "](https://ex.com/?q=1&r=2)", units_cap=40)
    for x in p:
        assert x.startswith('<a href="https://ex.com/?q=1&amp;r=2">') and x.endswith("</a>"), x
    p = render("# " + "head " * 20, units_cap=40)
    assert all(x.startswith("<b>") and x.endswith("</b>") for x in p), p


def test_piece_cap_adds_a_note():
    p = render("x" * 200, units_cap=40, max_pieces=3)
    assert p == ["x" * 40, "x" * 40, "x" * 17 + NOTE]
    p = render(("word " * 100, 20), max_pieces=2)
    assert len(p) == 2 and p[1].endswith("word" + NOTE) and units(p[1]) <= 4096
    assert render("x" * 80, units_cap=40, max_pieces=2) == ["x" * 40, "x" * 40]  # fits: no note
    assert render("y" * 100, units_cap=40, max_pieces=1) == ["y" * 17 + NOTE]


def test_bytes_cap_bounds_markup():
    p = render("&" * 3000, bytes_cap=4096)  # render() checks each piece's byte size
    assert len(p) == 4 and "".join(visible(x) for x in p) == "&" * 3000


def test_plain_fallback_is_the_text():
    md = "# T **b** <x> & `c`\n\n```py\na < b\n```\n" + "\U0001F600 word " * 40
    p = render(md, html=False, units_cap=64)
    assert p[0] == "# T **b** <x> & `c`\n\n```py\na < b\n```"  # no conversion, no escaping
    assert "\n".join(p).replace("\n", " ").split() == md.replace("\n", " ").split()
    assert render("  a  b  \n\n", html=False) == ["a  b  "]


def test_long_lines_are_read_in_windows():
    # markup far into a line longer than the 512-byte window, and spans across refills
    line = ("filler " * 70 + "**bold " + "x" * 200 + "** `code` _it_ ") * 5
    got = html(line)
    assert got.count("<b>") == 5 and got.count("<code>") == 5 and got.count("<i>") == 5, got
    assert visible(got) == line.replace("**", "").replace("`", "").replace("_", "").rstrip()
    assert render(line, buf=bytearray(1024)) == [got]
    far = "**" + "y" * 600 + "**"  # the partner is beyond the window: the markers are text
    assert html(far) == far
    assert render(far, buf=bytearray(1024)) == ["<b>" + "y" * 600 + "</b>"]  # a wider window


def write_answer(n):
    """A Markdown answer of about n bytes with every feature, written part by part."""
    with open(TMP + ".in", "wb") as f:
        size = k = 0
        while size < n:
            size += f.write((
                "## Part %d\n\nSome **bold**, *italic*, `code`, a [link](https://ex.com/%d?a=1&b=2) and "
                "\u4e2d\u6587 \U0001F600 & <tags>.\n> a quote\n- item one\n- item _two_\n\n"
                "```python\nfor i in range(%d):\n    print(i < 3)\n```\n\n" % (k, k, k)).encode())
            k += 1


def test_heap_does_not_depend_on_answer_length():
    # the core loop allocates nothing at all (heap_lock on the unix port), so a 20 KB
    # answer costs what a 200-byte one does
    for n in (200, 20000):
        write_answer(n)
        for mode in (True, False):
            r = tgformat._Renderer(bytearray(512), mode, 4096, 8, 24576)
            r.f = open(TMP + ".in", "rb")
            r.o = open(TMP + ".out", "wb")
            micropython.heap_lock()
            try:
                r.run()
            finally:
                micropython.heap_unlock()
                r.f.close()
                r.o.close()
            pieces = sum(1 for k in range(8) if r.out[2 * k + 1])  # (offset, length) pairs
            assert pieces == (1 if n < 1000 else 4 if mode else 5), pieces
    used = []
    for n in (200, 20000):
        write_answer(n)
        gc.collect()
        before = gc.mem_alloc()
        pieces = tgformat.render(TMP + ".in", TMP + ".out")
        used.append(gc.mem_alloc() - before)
        del pieces
    # only the returned index grows, and each cut's exception records a short traceback
    assert used[1] - used[0] <= 3 * 200, used


def test_whole_answer():
    write_answer(20000)
    p = render(None, 40)
    assert len(p) == 4 and p[0][1].startswith(b"<b>Part 0</b>\n\nSome <b>bold</b>"), p
    for u, head in p[1:]:
        assert head.startswith(b"<b>Part "), head  # cut before a heading
    p = render(None, 16, html=False)
    assert len(p) == 5 and p[0][1] == b"## Part 0\n\nSome ", p


def test_bad_arguments():
    for kw in ({"units_cap": 31}, {"bytes_cap": 2047}, {"max_pieces": 0}):
        try:
            render("x", **kw)
        except ValueError:
            continue
        raise AssertionError(kw)


def teardown_module():
    for ext in (".in", ".out"):
        try:
            os.remove(TMP + ext)
        except OSError:
            pass
