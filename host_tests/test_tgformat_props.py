# Property tests of tgformat (CPython only: hypothesis, html.parser): for random Markdown-ish
# text every piece is valid Telegram HTML within the caps, and cutting loses only whitespace.
import os
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picoclaw.telegram import format as tgformat

TMP = "/tmp/picoclaw-tgformat-props"
NOTE = "\n[answer cut: too long]"
ALLOWED = ("b", "i", "s", "code", "pre", "a", "blockquote")
SCHEMES = ("http://", "https://", "tg://", "mailto:")
ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}


class _Checker(HTMLParser):
    """Telegram's HTML rules for what tgformat may emit; collects the visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack = []
        self.text = []
        self.errors = []

    def handle_starttag(self, tag, attrs):
        top = self.stack[-1] if self.stack else None
        if tag not in ALLOWED:
            self.errors.append("tag %s" % tag)
        if tag == "a":
            if len(attrs) != 1 or attrs[0][0] != "href" or not attrs[0][1].lower().startswith(SCHEMES):
                self.errors.append("a attrs %r" % attrs)
        elif tag == "code" and top == "pre":
            if attrs and (len(attrs) != 1 or attrs[0][0] != "class" or not attrs[0][1].startswith("language-")):
                self.errors.append("code attrs %r" % attrs)
        elif attrs:
            self.errors.append("attrs on %s" % tag)
        if top in ("code", "pre") and not (top == "pre" and tag == "code"):
            self.errors.append("%s inside %s" % (tag, top))
        if tag in self.stack:
            self.errors.append("%s nested in itself" % tag)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("end %s, open %r" % (tag, self.stack))
        else:
            self.stack.pop()

    def handle_data(self, data):
        for c in "<>&":
            if c in data:
                self.errors.append("raw %r in text" % c)
        self.text.append(data)

    def handle_entityref(self, name):
        if name not in ENTITIES:
            self.errors.append("entity %s" % name)
        self.text.append(ENTITIES.get(name, ""))

    def handle_charref(self, name):
        self.errors.append("charref %s" % name)

    def handle_startendtag(self, tag, attrs):
        self.errors.append("self-closing %s" % tag)

    def handle_comment(self, data):
        self.errors.append("comment")

    def handle_decl(self, decl):
        self.errors.append("decl")

    def handle_pi(self, data):
        self.errors.append("pi")

    def unknown_decl(self, data):
        self.errors.append("decl")


def visible(html):
    """The text Telegram shows for html, or AssertionError if Telegram would refuse it."""
    c = _Checker()
    c.feed(html)
    c.close()
    assert not c.errors, (c.errors, html)
    assert not c.stack, ("unclosed", c.stack, html)
    assert not c.rawdata, ("left over", c.rawdata, html)
    return "".join(c.text)


def units(s):
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in s)


def render(text, **kw):
    with open(TMP + ".in", "wb") as f:
        f.write(text.encode())
    index = tgformat.render(TMP + ".in", TMP + ".out", **kw)
    with open(TMP + ".out", "rb") as f:
        data = f.read()
    pos = 0
    for off, n in index:
        assert off == pos and n > 0, index  # back to back
        pos += n
    return [data[off:off + n] for off, n in index]


def gaps(whole, pieces):
    """Check whole == ws + pieces[0] + ws + pieces[1] + ... (each ws only spaces and
    newlines); return what follows the last piece."""
    pos = 0
    for p in pieces:
        while pos < len(whole) and whole[pos] in " \n" and not whole.startswith(p, pos):
            pos += 1
        assert whole.startswith(p, pos), (whole, pieces, pos, p)
        pos += len(p)
    return whole[pos:]


def check_cuts(whole, pieces, maxp):
    """pieces are whole cut at whitespace; a "too long" note only when something is left."""
    if pieces and pieces[-1].endswith(NOTE) and len(pieces) == maxp:
        rest = gaps(whole, pieces[:-1] + [pieces[-1][: -len(NOTE)]])
        if rest.strip(" \n"):
            return
    assert gaps(whole, pieces).strip(" \n") == "", (whole, pieces)


TOKENS = st.sampled_from([
    "word", "snake_case_name", "x", "42", "é", "中文", "\U0001F600", "\U0001F44D\U0001F3FD", "a-b",
    " ", "  ", "\n", "\n\n", "\n\n\n", "\r\n", "\t",
    "*", "**", "***", "_", "__", "~~", "~", "`", "``", "```", "```py\n", "\n```\n", "```\n",
    "[", "]", "(", ")", "](https://ex.com/a?b=1&c=\"2\")", "](javascript:alert(1))", "](tg://user?id=1)",
    "# ", "## ", "\n# ", "\n> ", "> ", "\n- ", "\n* ", "\n  - ", "\\", "\\*", "\\_",
    "<", ">", "&", "&amp;", "<b>", '"', "'",
    "**bold**", "*it*", "_it_", "~~gone~~", "`co<de>`", "***both***", "**a *b** c*",
    "[link](https://ex.com/a?b=1&c=\"2\")", "[**b** x](http://x.y)", "[`c`](tg://resolve?d=x)",
    "\n```python\nif a < b:\n    pass\n```\n", "\n> **q** uote\n", "\n## Head *x*\n",
])
TEXTS = st.lists(TOKENS, min_size=20, max_size=300).map("".join) | st.text(min_size=50, max_size=600)
SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(TEXTS, st.integers(32, 120), st.integers(1, 12), st.sampled_from([2048, 16384]), st.sampled_from([512, 40, 1024]))
def test_html_pieces_are_valid_capped_and_lose_only_whitespace(text, ucap, maxp, bcap, win):
    # win 40: a tiny input window, so lines, markers and characters straddle its refills;
    # 1024: one wider than the default
    pieces = render(text, units_cap=ucap, max_pieces=maxp, bytes_cap=bcap, buf=bytearray(win))
    shown = []
    for raw in pieces:
        assert len(raw) <= bcap
        v = visible(raw.decode())  # valid UTF-8 and valid Telegram HTML
        assert 0 < units(v) <= ucap, (v, ucap)
        shown.append(v)
    assert len(pieces) <= maxp
    # the same text unsplit: cutting and resuming must change nothing but whitespace
    whole = render(text, units_cap=1 << 30, max_pieces=1, bytes_cap=1 << 30, buf=bytearray(win))
    check_cuts(visible(whole[0].decode()) if whole else "", shown, maxp)


@SETTINGS
@given(st.text(st.sampled_from("ab1 <&\"'.,;!?\n\u00e9\u4e2d\U0001F600"), max_size=400), st.integers(32, 120))
def test_html_of_text_without_markdown_shows_it_exactly(text, ucap):
    # nothing to convert (">" left out: a quote at a line start): the pieces show the text
    # (& < escaped), cut at whitespace; spaces ending a line are the only other loss
    text += " a > 1"
    pieces = [visible(p.decode()) for p in render(text, units_cap=ucap, max_pieces=100)]
    check_cuts("\n".join(line.rstrip(" ") for line in text.split("\n")), pieces, 100)


@SETTINGS
@given(TEXTS.map(lambda t: t.replace("\r", "").replace("\t", " ")), st.integers(32, 120), st.integers(1, 12))
def test_plain_pieces_are_the_text_cut_at_whitespace(text, ucap, maxp):
    pieces = [p.decode() for p in render(text, html=False, units_cap=ucap, max_pieces=maxp)]
    for p in pieces:
        assert 0 < units(p) <= ucap and p.strip(" \n"), (p, ucap)
    assert len(pieces) <= maxp
    check_cuts(text, pieces, maxp)


WORDS = st.text(st.sampled_from("abcdefgh\u00e9\u4e2d\U0001F600"), min_size=1, max_size=6)


def _line(words):
    return " ".join(words)


def _ends(text, pieces):
    """Where each piece ends in text (pieces are text cut at whitespace, in order)."""
    pos, ends = 0, []
    for p in pieces:
        pos = text.index(p, pos) + len(p)
        ends.append(pos)
    return ends


@SETTINGS
@given(st.lists(st.lists(WORDS, min_size=1, max_size=4).map(_line), min_size=2, max_size=80),
       st.integers(64, 160))
def test_splits_fall_at_line_ends_when_lines_are_short(lines, ucap):
    # a line shorter than half a piece never has to be cut inside: each piece ends a line
    lines = [ln for ln in lines if units(ln) <= ucap // 2 - 1] or ["x"]
    text = "\n".join(lines)
    pieces = [p.decode() for p in render(text, html=False, units_cap=ucap, max_pieces=1000)]
    squeeze = lambda t: t.replace("\n", "").replace(" ", "")  # noqa: E731 - only whitespace is lost
    assert squeeze("".join(pieces)) == squeeze(text)
    for e in _ends(text, pieces):
        assert e == len(text) or text[e] == "\n", (text[max(0, e - 20):e + 20], ucap)


@SETTINGS
@given(st.lists(st.lists(st.lists(WORDS, min_size=1, max_size=3).map(_line), min_size=1, max_size=3)
                .map("\n".join), min_size=2, max_size=30), st.integers(64, 160))
def test_splits_fall_at_paragraph_ends_when_paragraphs_are_short(paras, ucap):
    # with every paragraph under half a piece, cuts prefer the blank lines between them
    paras = [p for p in paras if units(p) <= ucap // 2 - 3] or ["x"]
    text = "\n\n".join(paras)
    for html in (False, True):
        raw = render(text, html=html, units_cap=ucap, max_pieces=1000)
        pieces = [visible(p.decode()) if html else p.decode() for p in raw]
        for e in _ends(text, pieces):
            assert e == len(text) or text.startswith("\n\n", e), (text[max(0, e - 30):e + 30], ucap, html)


def teardown_module():
    for ext in (".in", ".out"):
        try:
            os.remove(TMP + ext)
        except OSError:
            pass
