# A fetched page made readable for the model, in one streaming pass: Text turns the page's
# bytes (UTF-8, or ISO-8859-1 / windows-1252) into valid UTF-8 within a character cap; Html
# turns HTML into text before it (tags dropped, entities decoded, whitespace folded, links
# kept as "text (url)").
#
#     t = Text(out, 4000)        # out: anything with write(bytes) (tools.Result)
#     h = Html(t)
#     while h.feed(buf, start, n):   # False once the cap is reached: stop reading
#         ...
#     h.end()
#
# Every piece of state is kept across feed() calls, so a tag, an entity, a comment or a UTF-8
# sequence may be split anywhere between two reads; nothing grows with the page: the fixed
# buffers below and a few ints. Loaded only while web_fetch runs (tools/fetch.py).
from micropython import const

_OUT = const(128)  # bytes of output batched before a write to flash (a Result file)
_TAG = const(200)  # bytes of a tag kept to read its name and href (longer tags: the rest skipped)
_ENT = const(12)  # bytes of an entity name: the longest common one, "hellip;", fits with room

# windows-1252's 0x80-0x9F (ISO-8859-1 there has only control codes, which pages labelled
# latin-1 never mean): their code points, 0 for the five unassigned
_CP1252 = (0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
           0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
           0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178)

# the named entities pages use (HTML has 2,231; the rest are left as written): one literal,
# searched for " name:", so no table of objects sits in RAM
_ENTITIES = (" amp:38 lt:60 gt:62 quot:34 apos:39 nbsp:32 ensp:32 emsp:32 thinsp:32 copy:169 "
             "reg:174 trade:8482 hellip:8230 mdash:8212 ndash:8211 lsquo:8216 rsquo:8217 "
             "sbquo:8218 ldquo:8220 rdquo:8221 bdquo:8222 laquo:171 raquo:187 bull:8226 "
             "middot:183 deg:176 times:215 divide:247 plusmn:177 minus:8722 euro:8364 pound:163 "
             "yen:165 cent:162 sect:167 para:182 shy:0 larr:8592 rarr:8594 uarr:8593 darr:8595 "
             "harr:8596 le:8804 ge:8805 ne:8800 asymp:8776 infin:8734 micro:181 frac12:189 "
             "frac14:188 frac34:190 sup2:178 sup3:179 iexcl:161 iquest:191 dagger:8224 "
             "auml:228 ouml:246 uuml:252 Auml:196 Ouml:214 Uuml:220 szlig:223 eacute:233 "
             "egrave:232 agrave:224 aacute:225 ccedil:231 ntilde:241 oacute:243 ")

# tags whose start and end are line breaks (" name " searched in one literal); "li" adds "- "
_BLOCK = (b" p div br li ul ol dl dt dd h1 h2 h3 h4 h5 h6 tr table thead tbody section article "
          b"header footer nav main aside pre blockquote hr form fieldset figure figcaption "
          b"address title caption details summary center body html option ")
# elements dropped with everything inside them, tags included (script and style are raw
# text: their content is not HTML and is skipped to their end tag)
_HIDDEN = b" head svg noscript template iframe object math select "
_RAW = b" script style "

# states of Html
_TEXT = const(0)
_LT = const(1)  # right after "<"
_TAGS = const(2)  # inside a tag, collecting it
_COMMENT = const(3)  # inside <!-- -->
_ENTITY = const(4)  # after "&"
_RAWTEXT = const(5)  # inside script or style, looking for its end tag


def _ws(c):
    return c == 32 or c == 10 or c == 9 or c == 13 or c == 12


class Text:
    """Valid UTF-8 to `out`, at most `chars` characters: put() takes the page's bytes
    (charset UTF-8, or latin set by latin1(): ISO-8859-1 read as windows-1252, as browsers
    do); a broken UTF-8 sequence becomes U+FFFD; control characters other than tab and line
    feed are dropped (they are noise to the model, and some break JSON readers). `full`:
    the cap was reached (the rest of the input is dropped)."""

    def __init__(self, out, chars, room=1 << 30):
        self.out = out
        self.chars = chars
        self.room = room  # bytes it may write (a tool result has a byte cap too)
        self.used = 0
        self.n = 0  # characters written
        self.full = False
        self.latin = False
        self.wide = False  # a byte over 0x7F has come: the charset can no longer change
        self.o = bytearray(_OUT)
        self.k = 0  # bytes waiting in o
        self.need = 0  # continuation bytes the open UTF-8 sequence still needs
        self.lo = 0x80  # the range its next continuation byte must be in (overlongs, surrogates)
        self.hi = 0xBF
        self.seq = bytearray(4)  # the open sequence's bytes so far
        self.sl = 0

    def _admit(self, k):
        # one more character of k bytes, if the caps let it in
        if self.n >= self.chars or self.used + k > self.room:
            self.full = True
            return False
        self.n += 1
        self.used += k
        return True

    def _byte(self, c):
        if self.k == _OUT:
            self.flush()
        self.o[self.k] = c
        self.k += 1

    def code(self, cp):
        """Append code point cp (entities; 0xFFFD for a broken sequence)."""
        if self.full:
            return
        if self.need:  # a sequence left open by the page's bytes: it is broken
            self.need = 0
            self.code(0xFFFD)
        if cp < 0x80:
            if self._admit(1):
                self._byte(cp)
            return
        e = chr(cp).encode()
        if self._admit(len(e)):
            for c in e:
                self._byte(c)

    def put(self, b, i, j):
        """Append the page's bytes b[i:j]."""
        while i < j and not self.full:
            c = b[i]
            i += 1
            if c > 0x7F:
                self.wide = True
            if self.need:
                if self.lo <= c <= self.hi:
                    self.seq[self.sl] = c
                    self.sl += 1
                    self.lo = 0x80
                    self.hi = 0xBF
                    self.need -= 1
                    if not self.need:
                        if not self._admit(self.sl):
                            return
                        for k in range(self.sl):
                            self._byte(self.seq[k])
                    continue
                self.need = 0
                self.code(0xFFFD)
                # c starts afresh below
            if c < 0x80:
                if c < 32 and c != 10 and c != 9:
                    continue
                if not self._admit(1):
                    return
                self._byte(c)
            elif self.latin:
                self.code(_CP1252[c - 0x80] or 0xFFFD if c < 0xA0 else c)
            elif 0xC2 <= c <= 0xF4:
                self.seq[0] = c
                self.sl = 1
                self.need = 1 if c < 0xE0 else 2 if c < 0xF0 else 3
                self.lo = 0xA0 if c == 0xE0 else 0x90 if c == 0xF0 else 0x80
                self.hi = 0x9F if c == 0xED else 0x8F if c == 0xF4 else 0xBF
            else:  # a continuation byte without a start, or a byte UTF-8 never uses
                self.code(0xFFFD)

    def flush(self):
        if self.k:
            self.out.write(memoryview(self.o)[:self.k])
            self.k = 0

    def end(self):
        """The input is over: an open sequence is broken; what waits is written."""
        if self.need:
            self.need = 0
            self.code(0xFFFD)
        self.flush()


class Html:
    """HTML to text into a Text (see the module's head). link(href) may turn a link's
    target (bytes) into the text shown after it (an absolute URL); by default it is kept
    as the page wrote it. sniff: the charset may come from a <meta> tag (the Content-Type
    gave none)."""

    def __init__(self, text, link=None, sniff=True):
        self.t = text
        self.sniff = sniff  # no charset in the Content-Type: a <meta> one is obeyed
        self.link = link
        self.state = _TEXT
        self.tag = bytearray(_TAG)
        self.tl = 0  # bytes of the tag collected (past _TAG: counted, not kept)
        self.quote = 0  # the quote character open inside the tag, or 0
        self.ent = bytearray(_ENT)
        self.el = 0
        self.dashes = 0  # "-" seen in a row inside a comment (its end is "-->")
        self.raw = b""  # the raw-text element being skipped ("script"), its end tag looked for
        self.rm = 0  # bytes of "</" + raw matched so far
        self.hide = 0  # open elements whose content is dropped (svg, noscript, ...)
        self.head = False  # inside <head> (dropped, except its <title>)
        self.title = False
        self.pre = 0  # inside <pre>: line breaks kept
        self.href = None  # the open <a>'s target
        self.space = False  # whitespace seen since the last character written
        self.lines = 2  # line breaks just written (2 at the start: none are written there)
        self.brk = 0  # line breaks wanted before the next character

    def _visible(self):
        return not self.hide and (not self.head or self.title)

    def _gap(self):
        # the whitespace before the next character: the line breaks wanted, else one space
        if self.brk:
            while self.lines < self.brk:
                self.t.code(10)
                self.lines += 1
            self.brk = 0
        elif self.space and not self.lines:
            self.t.code(32)
        self.space = False
        self.lines = 0

    def _breaks(self, k):
        """At least k line breaks (at most 2 in a row) before the next character (none at the
        start or the end of the text)."""
        if self._visible() and self.brk < k:
            self.brk = k

    def _text(self, b, i, j):
        """Page text from b[i] up to the next "<" or "&" (or j): whitespace folded. Returns
        where it stopped."""
        if not self._visible():  # dropped: only its end matters (entities in it too)
            k = b.find(b"<", i, j)
            return j if k < 0 else k
        t = self.t
        s = -1  # start of the run of non-space bytes being passed on
        while i < j:
            c = b[i]
            if c == 60 or c == 38:  # "<", "&"
                break
            if c == 32 or c == 10 or c == 9 or c == 13 or c == 12:
                if s >= 0:
                    t.put(b, s, i)
                    s = -1
                if c == 10 and self.pre:
                    self.brk = min(self.brk + 1, 2)
                else:
                    self.space = True
            elif s < 0:
                self._gap()
                s = i
            i += 1
        if s >= 0:
            t.put(b, s, i)
        return i

    def _lit(self, b):
        """Text the converter writes as it is (a "<" that opened no tag, an unknown entity)."""
        if self._visible():
            self._gap()
            self.t.put(b, 0, len(b))

    def feed(self, b, i, n):
        """Convert the page's bytes b[i:i+n]; False once the text is full (stop reading)."""
        j = i + n
        t = self.t
        while i < j and not t.full:
            st = self.state
            if st == _TEXT:
                i = self._text(b, i, j)
                if i < j:
                    self.state = _LT if b[i] == 60 else _ENTITY
                    self.el = 0
                    i += 1
            elif st == _RAWTEXT:
                i = self._rawtext(b, i, j)
            elif st == _COMMENT:  # its end: a ">" after two "-", which may be in the last read
                k = b.find(b">", i, j)
                e = j if k < 0 else k
                d = 0
                while d < 2 and e - d > i and b[e - d - 1] == 45:
                    d += 1
                if d == e - i:
                    d += self.dashes
                if k < 0:
                    self.dashes = d
                    i = j
                else:
                    if d >= 2:
                        self.state = _TEXT
                    self.dashes = 0
                    i = k + 1
            elif st == _ENTITY:
                c = b[i]
                if c == 59 or not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 35) \
                        or self.el == _ENT:
                    self._entity(c == 59)
                    if c == 59:
                        i += 1
                    self.state = _TEXT
                else:
                    self.ent[self.el] = c
                    self.el += 1
                    i += 1
            elif st == _LT:
                c = b[i]
                if 65 <= c <= 90 or 97 <= c <= 122 or c == 47 or c == 33 or c == 63:  # a tag, "/", "!", "?"
                    self.state = _TAGS
                    self.tl = 0
                    self.quote = 0
                else:  # "a < b": the "<" was text
                    self.state = _TEXT
                    self._lit(b"<")
            else:  # _TAGS
                i = self._tagbytes(b, i, j)
        return not t.full

    def _tagbytes(self, b, i, j):
        tag = self.tag
        while i < j:
            c = b[i]
            i += 1
            q = self.quote
            if q:
                if c == q:
                    self.quote = 0
            elif c == 62:  # ">"
                self.state = _TEXT
                self._tag()
                return i
            elif (c == 34 or c == 39) and self.tl and tag[0] != 33:  # quotes in attributes, not in <!...>
                self.quote = c
            if self.tl < _TAG:
                tag[self.tl] = c
            self.tl += 1
            if self.tl == 3 and tag[0] == 33 and tag[1] == 45 and tag[2] == 45:  # "<!--"
                self.state = _COMMENT
                self.dashes = 0
                return i
        return i

    def _rawtext(self, b, i, j):
        raw = self.raw
        while i < j:
            m = self.rm
            if m == 0:
                k = b.find(b"<", i, j)
                if k < 0:
                    return j
                self.rm = 1
                i = k + 1
                continue
            c = b[i]
            if m == 1:
                self.rm = 2 if c == 47 else 0
            elif m - 2 < len(raw):
                self.rm = m + 1 if c | 0x20 == raw[m - 2] else 0
            else:  # "</script" matched: the end tag when a space, "/" or ">" follows
                if _ws(c) or c == 47 or c == 62:
                    self.state = _TAGS  # the rest of the end tag is read and dropped
                    self.tl = 0
                    self.quote = 0
                    self.raw = b""
                    self.rm = 0
                    return i
                self.rm = 0
            if self.rm == 0 and c == 60:
                self.rm = 1
            i += 1
        return i

    def _entity(self, semi):
        e = bytes(memoryview(self.ent)[:self.el])
        cp = -1
        if e[:1] == b"#":
            try:
                cp = int(e[2:], 16) if e[1:2] in (b"x", b"X") else int(e[1:])
            except ValueError:
                cp = -1
            if cp == 0 or 0xD800 <= cp < 0xE000 or cp > 0x10FFFF:
                cp = 0xFFFD
            elif 0x80 <= cp < 0xA0:  # what pages mean by &#150; (windows-1252)
                cp = _CP1252[cp - 0x80] or 0xFFFD
        elif e:
            k = _ENTITIES.find(" %s:" % e.decode())
            if k >= 0:
                k += len(e) + 2
                cp = int(_ENTITIES[k:_ENTITIES.find(" ", k)])
        if cp < 0:  # not one we know: the text as the page wrote it
            self._lit(b"&" + e + (b";" if semi else b""))
            return
        if not self._visible() or cp == 0:  # &shy;: a hyphenation hint, nothing to show
            return
        if cp == 32:  # &nbsp; and kin: a space like any other (folded)
            self.space = True
            return
        self._gap()
        self.t.code(cp)

    def _tag(self):
        n = min(self.tl, _TAG)
        tag = self.tag
        if not n or tag[0] == 33 or tag[0] == 63:  # <!DOCTYPE ...>, <?xml ...?>
            return
        close = tag[0] == 47
        s = 1 if close else 0
        e = s
        while e < n and not _ws(tag[e]) and tag[e] != 47 and tag[e] != 62:
            e += 1
        name = bytes(tag[s:e]).lower()
        if not name:
            return
        key = b" " + name + b" "
        if not close and _RAW.find(key) >= 0:
            self.state = _RAWTEXT
            self.raw = name
            self.rm = 0
            return
        if _HIDDEN.find(key) >= 0:
            if name == b"head":
                self.head = not close
            elif close:
                self.hide = max(0, self.hide - 1)
            elif tag[n - 1] != 47:  # <svg ... />: nothing inside
                self.hide += 1
            return
        if name == b"body":
            self.head = False  # a page that never closed its head
        elif name == b"title":
            self.title = not close
        elif name == b"pre":
            self.pre = max(0, self.pre + (-1 if close else 1))
        elif name == b"meta" and not close:
            self._meta(n)
        elif name == b"a":
            if close:
                self._link()
            else:
                self.href = self._attr(n, b"href")
        elif name == b"td" or name == b"th":
            self.space = True
        if _BLOCK.find(key) >= 0:
            self._breaks(1 if name == b"br" or name == b"li" or name == b"tr" or name == b"option" else 2)
            if name == b"li" and not close:
                self._lit(b"- ")

    def _attr(self, n, want):
        """The value of attribute `want` in the tag collected (bytes), or None."""
        tag = self.tag
        i = 0
        w = len(want)
        while True:
            i = tag.find(want, i, n)
            if i < 0:
                return None
            k = i + w
            if _ws(tag[i - 1]) and k < n and tag[k] == 61:  # " href="
                break
            i = k
        k += 1
        q = tag[k] if k < n else 0
        if q == 34 or q == 39:
            e = tag.find(bytes((q,)), k + 1, n)
            v = tag[k + 1:e if e >= 0 else n]
        else:
            e = k
            while e < n and not _ws(tag[e]) and tag[e] != 62:
                e += 1
            v = tag[k:e]
        return bytes(v).replace(b"&amp;", b"&").strip()

    def _link(self):
        h = self.href
        self.href = None
        if not h or h[:1] == b"#" or h[:11].lower() == b"javascript:" or not self._visible():
            return
        if self.link:
            h = self.link(h)
        if not h:
            return
        self._gap()
        self.t.code(32)
        self.t.code(40)  # " (url)"
        self.t.put(h, 0, len(h))
        self.t.code(41)

    def _meta(self, n):
        # <meta charset="iso-8859-1"> or <meta http-equiv=... content="text/html; charset=...">:
        # obeyed while nothing but ASCII has been written (a header's charset came first)
        if not self.sniff or self.t.wide:
            return
        v = self._attr(n, b"charset")
        if v is None:
            v = self._attr(n, b"content")
            i = v.lower().find(b"charset=") if v else -1
            v = v[i + 8:] if i >= 0 else None
        if v is not None:
            self.t.latin = latin(v)

    def end(self):
        if self.state == _ENTITY:
            self._entity(False)
        self.t.end()


def latin(charset):
    """True for the charsets read as windows-1252 (ISO-8859-1, US-ASCII and their aliases);
    anything else is read as UTF-8, its broken bytes replaced."""
    c = bytes(charset).strip(b" \"';").lower()
    return c in (b"iso-8859-1", b"latin1", b"latin-1", b"windows-1252", b"cp1252", b"iso8859-1",
                 b"l1", b"us-ascii", b"ascii", b"iso-8859-15")
