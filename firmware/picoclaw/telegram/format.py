# LLM answer (Markdown-ish UTF-8 on flash) -> Telegram messages: split at the 4096 UTF-16
# unit limit and converted to Telegram HTML (or kept as plain text), file -> buffer -> file.
"""Turn an answer file into Telegram message texts.

    pieces = tgformat.render("answer.md", "answer.tg")              # parse_mode "HTML"
    pieces = tgformat.render("answer.md", "answer.tg", html=False)  # plain fallback
    for off, n in pieces:  # stream n bytes of answer.tg from off as one sendMessage text
        ...

The pieces lie back to back in the output file (bytes past the last one are undefined);
render() returns their index. Each piece has at most units_cap visible UTF-16 units (what
Telegram counts, after entity parsing) and bytes_cap bytes with its markup; past max_pieces
the last one ends with a "too long" note. A cut goes at a blank line, else a line end, else
a space, at least half way into the piece. HTML uses b, i, s, code, pre, a and blockquote,
balanced in every piece (a tag open at a cut is closed, and opened again in the next
piece); whatever is not well-formed Markdown stays text. Buffers and state are made at the
start: rendering allocates nothing, whatever the answer's length.
"""
from array import array

from micropython import const

_WIN = const(512)  # input window: lines longer than this are read in pieces; it also
#                    bounds how far a marker looks for its partner on the line
_OUT = const(128)  # output buffer (writes to flash in chunks, not per character)
_RUN = const(64)  # longest plain run written in one go (leaves byte room for open tags)
_URL_MAX = const(256)  # longer link targets stay text: an opening <a> tag is bounded
_LANG_MAX = const(32)  # code block language tag
_RESERVE = const(80)  # bytes kept in each piece for the closing tags (<= 40 bytes, the
#                       stack is at most 8 deep) and the "too long" note (23)
_NOTE_UNITS = const(23)  # "\n" + the note
_DEPTH = const(8)  # open tags at once: quote, heading, b, i, s, a, code (+1 spare)

# tags, as stack entries (tag, pos, len)
_B = const(1)  # pos: input position of the closing marker run, len: its length
_I = const(2)
_S = const(3)
_CODE = const(4)  # inline code: the text up to pos is literal
_A = const(5)  # pos: the "]", len: bytes of "](url)"
_PRE = const(6)  # fenced block; pos, len: its language tag in the input (len 0: none)
_Q = const(7)  # blockquote, pos -1
_H = const(8)  # heading (bold), pos -1
_NUL = const(9)  # **bold** inside a heading: it is bold already, writes nothing

# state slots, one int array. A cut candidate is a copy of the first _NST slots.
_P = const(0)  # next input byte
_U = const(1)  # visible UTF-16 units in the current piece
_O = const(2)  # output position, buffered bytes included
_DONE = const(3)  # stack entries whose opening tag is written
_DEP = const(4)  # stack entries in force
_NL = const(5)  # newlines read and not written yet (dropped at a cut or the end)
_BOL = const(6)  # 1: at a line start, its block markers not parsed yet
_FEN = const(7)  # backticks of the open code fence (0: not in a fenced block)
_PREV = const(8)  # previous input byte (newline at a line start)
_BUL = const(9)  # input position of a list marker shown as a bullet (-1: none)
_PK = const(10)  # the next line start: 1 a paragraph boundary (after a fence), 2 not one
#                 (after a heading)
_STK = const(11)  # the tag stack, 3 ints per entry
_NST = const(35)  # _STK + 3 * _DEPTH
_WP = const(35)  # input position of buf[0]
_WN = const(36)  # bytes in buf
_EOF = const(37)  # 1: buf reaches the end of the input
_ON = const(38)  # bytes in ob
_FP = const(39)  # output file position of ob[0]
_UC = const(40)  # units cap
_UL = const(41)  # where the last piece must end for the note to fit (_UC in the others)
_BCAP = const(42)
_MAXP = const(43)
_PS = const(44)  # output position where the current piece starts
_NP = const(45)  # pieces done
_HTML = const(46)
_NALL = const(47)

# every constant byte string (tags, entities, the note, URL schemes) and the tag table, in
# one object: offsets below
_MARKUP = (b"<b></b><i></i><s></s>"  # 0 3 7 10 14 17
      b'<pre><code class="language-</code></pre>'  # 21; 48: "</code>", 55: "</pre>"
      b'<code><a href="</a><blockquote></blockquote>">'  # 61 67 76 80 92 105
      b"&amp;&lt;&gt;&quot;"  # 107 112 116 120
      b"\n[answer cut: too long]"  # 126
      b"\xe2\x80\xa2\xef\xbf\xbd"  # 149 bullet (U+2022), 152 U+FFFD (for invalid UTF-8)
      b"http://https://tg://mailto:"  # 155
      # 182, per tag: opening tag offset, length, closing tag offset, length
      b"\x00\x00\x00\x00"  # -
      b"\x00\x03\x03\x04"  # _B
      b"\x07\x03\x0a\x04"  # _I
      b"\x0e\x03\x11\x04"  # _S
      b"\x3d\x06\x30\x07"  # _CODE
      b"\x43\x09\x4c\x04"  # _A: then the URL and '">'
      b"\x15\x05\x37\x06"  # _PRE: "<pre>", or _PREL, the language and '">', _PREC
      b"\x50\x0c\x5c\x0d"  # _Q
      b"\x00\x03\x03\x04"  # _H
      b"\x00\x00\x00\x00"  # _NUL
      b"\x07\x08\x05\x07")  # 222: lengths of the URL schemes at 155
_PREL = const(21)
_PREC = const(48)
_QGT = const(105)
_AMP = const(107)
_LT = const(112)
_GT = const(116)
_QUOT = const(120)
_NOTE = const(126)
_BULLET = const(149)
_FFFD = const(152)
_SCH = const(155)
_TT = const(182)
_SCHN = const(222)
_SPECIAL = b"\n \r&<>*_~`[]\\"  # bytes that end a plain run (HTML)
_CODESP = b"\n\r&<>`"  # bytes that end a run of code
_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # a backslash makes these literal


class _Cut(Exception):
    # unwinds the parse to the main loop after a cut restored an earlier state
    pass


def render(src_path, dst_path, html=True, units_cap=4096, max_pieces=8, bytes_cap=24576, buf=None):
    """Write the Telegram texts for the answer in src_path to dst_path.

    html: True for Telegram HTML (send with parse_mode "HTML"), False for the text as it
    is (the fallback when Telegram refuses the HTML).
    units_cap: visible UTF-16 units per piece (Telegram's limit is 4096; at least 32).
    max_pieces: at most this many pieces; the last one then ends with a "too long" note.
    bytes_cap: bytes per piece, markup included (at least 2048).
    buf: a bytearray to use as the input window (default: a new bytearray(512)); at least
    32 bytes, and how far a marker looks for its partner.
    Returns [(offset, byte_length), ...] of the pieces in dst_path.
    """
    buf = buf or bytearray(_WIN)
    if units_cap < 32 or bytes_cap < 2048 or max_pieces < 1 or len(buf) < 32:
        raise ValueError("tgformat: units_cap >= 32, bytes_cap >= 2048, max_pieces >= 1, buf >= 32")
    r = _Renderer(buf, html, units_cap, max_pieces, bytes_cap)
    r.f = open(src_path, "rb")
    try:
        r.o = open(dst_path, "wb")
        try:
            r.run()
            r.o.write(memoryview(r.ob)[: r.st[_ON]])
        finally:
            r.o.close()
    finally:
        r.f.close()
    a = r.out
    return [(a[2 * k], a[2 * k + 1]) for k in range(r.st[_NP])]


class _Renderer:
    # One rendering. Positions in the state are absolute input/output offsets, so a cut
    # can go back to a candidate by copying its state and reading the input again there.
    # run() allocates nothing (the unix-port test runs it under heap_lock): the buffers,
    # the state, the candidates, the piece index and the exception are all made here.

    def __init__(self, buf, html, ucap, maxp, bcap):
        self.f = self.o = None  # input and output files, opened by the caller
        self.buf = buf
        self.ob = bytearray(_OUT)
        self.sb = bytearray(32)  # URLs and language tags read again from the input
        self.out = array("i", bytes(8 * maxp))  # (offset, length) of each piece
        self.cx = _Cut()
        self.st = st = array("i", bytes(4 * _NALL))
        self.stm = memoryview(st)[:_NST]  # the part a candidate copies
        # cut candidates (valid when [_U] > 0): a blank line, a line start, a space; and
        # in the last piece the point where the note still fits
        self.sm = (memoryview(array("i", bytes(4 * _NST))), memoryview(array("i", bytes(4 * _NST))),
                   memoryview(array("i", bytes(4 * _NST))), memoryview(array("i", bytes(4 * _NST))))
        st[_BOL] = 1
        st[_PREV] = 10
        st[_BUL] = -1
        st[_HTML] = 1 if html else 0
        st[_UC] = ucap
        st[_UL] = ucap if maxp > 1 else ucap - _NOTE_UNITS
        st[_MAXP] = maxp
        st[_BCAP] = bcap

    def run(self):
        # render everything; the caller writes out what is left in ob
        st = self.st
        while True:
            try:
                self._loop()
                self._end(0, 0)
                if st[_U]:
                    k = 2 * st[_NP]
                    self.out[k] = st[_PS]
                    self.out[k + 1] = st[_O] - st[_PS]
                    st[_NP] += 1
                return
            except _Cut:
                if st[_NP] >= st[_MAXP]:
                    return

    def _need(self, p, k):
        # window index of input position p, with k bytes after it unless the input ends
        st = self.st
        i = p - st[_WP]
        if i < 0 or (i + k > st[_WN] and not st[_EOF]):
            self.f.seek(p)
            n = self.f.readinto(self.buf) or 0
            st[_WP] = p
            st[_WN] = n
            st[_EOF] = 1 if n < len(self.buf) else 0
            i = 0
        return i

    def _w(self, src, i, n):
        # n bytes of src from i to the output; ob goes to the file only when full (a
        # partial write would need a slice, an allocation)
        st = self.st
        ob = self.ob
        on = st[_ON]
        st[_O] += n
        n += i
        while i < n:
            if on >= _OUT:
                self.o.write(ob)
                st[_FP] += _OUT
                on = 0
            ob[on] = src[i]
            on += 1
            i += 1
        st[_ON] = on

    def _put(self, src, i, n, u):
        # write src[i:i+n], u visible units: pending newlines first, then the opening
        # tags in force, then the text; cut first if the piece would exceed a cap
        st = self.st
        nl = st[_NL] if st[_U] else 0  # blank lines at a piece start are dropped
        if st[_U] + nl + u > st[_UL]:
            if st[_U] + nl + u > st[_UC]:
                self._cut()
            if not self.sm[3][_U]:  # the last piece: remember where the note still fits
                self.sm[3][0:_NST] = self.stm
        o0 = st[_O]
        d0 = st[_DONE]
        st[_NL] = 0
        k = nl
        while k:
            self._w(_MARKUP, _NOTE, 1)  # "\n"
            k -= 1
        st[_U] += nl
        if st[_DONE] < st[_DEP]:
            self._sync()
        c = src[i]
        e = 0  # an entity instead of the byte
        if n == 1 and st[_HTML]:
            e = _AMP if c == 38 else _LT if c == 60 else _GT if c == 62 else 0
        if st[_O] + (5 if e else n) + _RESERVE - st[_PS] > st[_BCAP]:
            # undo: the cut goes back to before the newlines and the tags
            st[_O] = o0
            st[_DONE] = d0
            st[_U] -= nl
            st[_NL] = nl
            self._cut()
        if e:
            self._w(_MARKUP, e, 5 if e == _AMP else 4)
        else:
            self._w(src, i, n)
        st[_U] += u

    # -- the tag stack ------------------------------------------------------------------
    def _push(self, t, pos, n):
        st = self.st
        d = _STK + 3 * st[_DEP]
        st[d] = t
        st[d + 1] = pos
        st[d + 2] = n
        st[_DEP] += 1

    def _end(self, k, one):
        # close the written tags from the top down to entry k; then end entry k alone
        # (one: the entries above it stay in force and are opened again when text
        # comes) or all entries from k up
        st = self.st
        d = st[_DONE]
        while d > k:
            d -= 1
            t = st[_STK + 3 * d]
            if t == _PRE and st[_STK + 3 * d + 2]:
                self._w(_MARKUP, _PREC, 13)
            else:
                self._w(_MARKUP, _MARKUP[_TT + 4 * t + 2], _MARKUP[_TT + 4 * t + 3])
            st[_DONE] = d
        d = st[_DEP]
        if one:
            k = _STK + 3 * k
            while k < _STK + 3 * d - 3:
                st[k] = st[k + 3]
                k += 1
            st[_DEP] = d - 1
        elif d > k:
            st[_DEP] = k

    def _find(self, v, j):
        # the topmost entry whose tag (j 0) or position (j 1) is v, or -1
        st = self.st
        k = st[_DEP]
        while k:
            k -= 1
            if st[_STK + 3 * k + j] == v:
                return k
        return -1

    def _sync(self):
        # write the opening tags of the entries in force that are not written yet
        st = self.st
        sb = self.sb
        d = st[_DONE]
        while d < st[_DEP]:
            b = _STK + 3 * d
            t = st[b]
            a = e = 0  # input bytes to copy into the tag: a URL, a language
            if t == _PRE and st[b + 2]:
                self._w(_MARKUP, _PREL, 27)
                a = st[b + 1]
                e = a + st[b + 2]
            else:
                self._w(_MARKUP, _MARKUP[_TT + 4 * t], _MARKUP[_TT + 4 * t + 1])
                if t == _A:
                    a = st[b + 1] + 2
                    e = st[b + 1] + st[b + 2] - 1
            if e:
                while a < e:
                    self.f.seek(a)
                    n = min(self.f.readinto(sb) or 0, e - a)
                    if n <= 0:
                        break
                    k = 0
                    while k < n:
                        c = sb[k]
                        if c == 38:
                            self._w(_MARKUP, _AMP, 5)
                        elif c == 34:
                            self._w(_MARKUP, _QUOT, 6)
                        elif c == 60:
                            self._w(_MARKUP, _LT, 4)
                        elif c == 62:
                            self._w(_MARKUP, _GT, 4)
                        else:
                            self._w(sb, k, 1)
                        k += 1
                    a += n
                self._w(_MARKUP, _QGT, 2)
            d += 1
            st[_DONE] = d

    # -- cutting ------------------------------------------------------------------------
    def _mark(self, k):
        # remember the current state as a cut candidate of kind k (0 blank line, 1 line,
        # 2 space); one before half the piece would make a short piece: never taken
        st = self.st
        if st[_UL] >= st[_U] >= st[_UL] >> 1:
            self.sm[k][0:_NST] = self.stm

    def _cut(self):
        # end the piece at the best candidate (else here), start the next one from it
        st = self.st
        sm = self.sm
        s = st if st[_U] <= st[_UL] else sm[3]
        k = 0
        while k < 3:
            if sm[k][_U] >= st[_UL] >> 1:
                s = sm[k]
                break
            k += 1
        if not s[_U]:
            raise ValueError("tgformat: caps too small")
        if s is not st:
            self.stm[0:_NST] = s
        o = st[_O]
        if o >= st[_FP]:  # back to o: inside ob, or in the file
            st[_ON] = o - st[_FP]
        else:
            self.o.seek(o)
            st[_FP] = o
            st[_ON] = 0
        d = st[_DEP]
        self._end(0, 0)
        st[_DEP] = d  # in force again in the next piece
        k = st[_NP]
        if k + 1 >= st[_MAXP]:
            self._w(_MARKUP, _NOTE, _NOTE_UNITS)
        self.out[2 * k] = st[_PS]
        self.out[2 * k + 1] = st[_O] - st[_PS]
        st[_NP] = k = k + 1
        st[_PS] = st[_O]
        st[_U] = 0
        st[_NL] = 0
        sm[0][_U] = sm[1][_U] = sm[2][_U] = sm[3][_U] = 0
        if k + 1 >= st[_MAXP]:
            st[_UL] = st[_UC] - _NOTE_UNITS
        raise self.cx

    # -- text ---------------------------------------------------------------------------
    def _char(self, p, i):
        # one UTF-8 character (U+FFFD for an invalid byte)
        st = self.st
        buf = self.buf
        c = buf[i]
        n = 1
        u = 1
        if c >= 0x80:
            lo = 0x80
            hi = 0xBF
            if 0xC2 <= c <= 0xDF:
                n = 2
            elif 0xE0 <= c <= 0xEF:
                n = 3
                if c == 0xE0:
                    lo = 0xA0
                elif c == 0xED:
                    hi = 0x9F  # no surrogates
            elif 0xF0 <= c <= 0xF4:
                n = 4
                u = 2  # a surrogate pair in UTF-16
                if c == 0xF0:
                    lo = 0x90
                elif c == 0xF4:
                    hi = 0x8F
            else:
                n = 0
            if n:
                if i + n > st[_WN] or not lo <= buf[i + 1] <= hi:
                    n = 0
                else:
                    k = i + 2
                    while k < i + n:
                        if not 0x80 <= buf[k] <= 0xBF:
                            n = 0
                        k += 1
            if not n:
                self._put(_MARKUP, _FFFD, 3, 1)
                st[_P] = p + 1
                st[_PREV] = c
                return
        self._put(buf, i, n, u)
        st[_P] = p + n
        st[_PREV] = c

    def _run(self, p, i, sp):
        # a run of plain ASCII bytes (none in sp), clipped to the units left
        st = self.st
        buf = self.buf
        e = min(st[_WN], i + _RUN)
        k = i + 1
        while k < e:
            c = buf[k]
            if c >= 0x80 or c in sp:
                break
            k += 1
        u = st[_U] + (st[_NL] if st[_U] else 0)
        n = min(k - i, (st[_UL] if u < st[_UL] else st[_UC]) - u)
        if n < 1:
            n = 1  # does not fit: _put cuts
        self._put(buf, i, n, n)
        st[_P] = p + n
        st[_PREV] = buf[i + n - 1]

    def _lit(self, p, n):
        # n ASCII marker bytes at p, shown as they are
        i = self._need(p, n)
        self._put(self.buf, i, n, n)
        self.st[_P] = p + n
        self.st[_PREV] = self.buf[i + n - 1]

    def _spaces(self, p, i):
        # a space run: a cut candidate (cut before it, resume after it); dropped at a
        # piece start and, in HTML, at a line end
        st = self.st
        buf = self.buf
        k = i
        while k < st[_WN] and buf[k] == 32:
            k += 1
        n = k - i
        if st[_U]:
            if st[_UL] >= st[_U] >= st[_UL] >> 1:
                s = self.sm[2]
                s[0:_NST] = self.stm
                s[_P] = p + n
                s[_PREV] = 32
            if not (st[_HTML] and (buf[k] == 10 or buf[k] == 13 if k < st[_WN] else st[_EOF])):
                self._put(buf, i, n, n)
        st[_P] = p + n
        st[_PREV] = 32

    # -- the parse ----------------------------------------------------------------------
    def _loop(self):
        st = self.st
        html = st[_HTML]
        while True:
            p = st[_P]
            i = self._need(p, 8)
            if i >= st[_WN]:
                return
            buf = self.buf
            c = buf[i]
            if st[_BOL]:
                if html:
                    self._block()
                else:
                    self._mark(0 if st[_NL] >= 2 else 1)
                    st[_BOL] = 0
            elif c == 10:
                if html and not st[_FEN]:  # inline markup ends with the line; a quote goes on
                    self._end(1 if st[_DEP] and st[_STK] == _Q else 0, 0)
                st[_NL] += 1
                st[_P] = p + 1
                st[_BOL] = 1
                st[_PREV] = 10
                st[_BUL] = -1
            elif not html:
                if c == 32:
                    self._spaces(p, i)
                elif c < 0x80:
                    self._run(p, i, b"\n ")
                else:
                    self._char(p, i)
            elif c == 13:
                st[_P] = p + 1
            elif st[_FEN] or st[_DEP] and st[_STK + 3 * st[_DEP] - 3] == _CODE:  # code
                d = _STK + 3 * st[_DEP]
                if not st[_FEN] and p == st[d - 2]:  # the end of inline code
                    st[_P] = p + st[d - 1]
                    st[_PREV] = 96
                    self._end(st[_DEP] - 1, 1)
                elif c < 0x80 and c not in _CODESP:
                    self._run(p, i, _CODESP)  # stops at any backtick: the end may be one
                else:
                    self._char(p, i)
            elif p == st[_BUL]:
                self._put(_MARKUP, _BULLET, 3, 1)
                st[_P] = p + 1
            elif c == 32:
                self._spaces(p, i)
            elif c == 42 or c == 95 or c == 126 or c == 96:
                self._emph(p, i, c)
            elif c == 91:
                self._link(p)
            elif c == 93 and self._find(p, 1) >= 0:  # the end of a link's text
                k = self._find(p, 1)
                st[_P] = p + st[_STK + 3 * k + 2]
                st[_PREV] = 41
                self._end(k, 1)
            elif c == 92 and i + 1 < st[_WN] and buf[i + 1] in _PUNCT:
                self._put(buf, i + 1, 1, 1)
                st[_P] = p + 2
                st[_PREV] = buf[i + 1]
            elif c < 0x80 and c not in _SPECIAL:
                self._run(p, i, _SPECIAL)
            else:
                self._char(p, i)

    def _block(self):
        # a line start: code fence, quote, heading, list marker; a cut candidate
        st = self.st
        p = st[_P]
        i = self._need(p, 80)
        buf = self.buf
        e = st[_WN]
        j = i
        while j < e and buf[j] == 32:
            j += 1
        m = j
        while m < e and buf[m] == 96:
            m += 1
        m -= j  # backticks at the line head
        if st[_FEN]:
            self._mark(0 if st[_NL] >= 2 else 1)
            st[_BOL] = 0
            if m >= st[_FEN]:
                k = j + m
                while k < e and (buf[k] == 32 or buf[k] == 9 or buf[k] == 13):
                    k += 1
                if k < e and buf[k] == 10 or k >= e and st[_EOF]:  # the closing fence
                    if st[_DONE]:
                        st[_NL] = 0  # the newline before the fence is not code
                    self._end(0, 0)
                    st[_FEN] = 0
                    st[_PK] = 1
                    st[_P] = st[_WP] + k
            return
        fence = m >= 3
        if fence:  # "```x```" on one line is inline code, not a fence
            k = j + m
            while k < e and buf[k] != 10:
                if buf[k] == 96:
                    fence = False
                    break
                k += 1
        h = _heading(buf, j, e)
        pk = st[_PK]
        if j < e and buf[j] != 10 and buf[j] != 13:  # (a blank line: its end is the place)
            self._mark(0 if (st[_NL] >= 2 or pk == 1 or fence or h and j - i <= 3) and pk != 2 else 1)
            st[_PK] = 0
        st[_BOL] = 0
        q = st[_DEP] and st[_STK] == _Q
        if fence:
            if q:
                self._end(0, 0)
            k = j + m
            while k < e and buf[k] == 32:
                k += 1
            a = k  # the language: letters, digits, + - . _ #
            while k < e and k - a <= _LANG_MAX and (_alnum(buf[k]) and buf[k] < 0x80 or buf[k] in b"+-._#"):
                k += 1
            self._push(_PRE, st[_WP] + a, k - a if k - a <= _LANG_MAX else 0)
            st[_FEN] = m
            p = st[_WP] + k
            while True:  # the fence line is not text: go past its newline
                i = self._need(p, 1)
                while i < st[_WN] and buf[i] != 10:
                    i += 1
                p = st[_WP] + i
                if i < st[_WN] or st[_EOF]:
                    break
            st[_P] = p + 1
            st[_BOL] = 1
            return
        if j - i <= 3 and j < e and buf[j] == 62:  # "> quote"
            while j < e and (buf[j] == 62 or buf[j] == 32):
                j += 1
            if not q:
                self._push(_Q, -1, 0)
            p = st[_WP] + j
            h = _heading(buf, j, e)
        elif q:
            self._end(0, 0)
        if h and st[_DEP] < _DEPTH:
            j += h
            while j < e and buf[j] == 32:
                j += 1
            self._push(_H, -1, 0)
            st[_PK] = 2  # keep a heading with what follows it
            p = st[_WP] + j
        elif j + 1 < e and (buf[j] == 45 or buf[j] == 42 or buf[j] == 43) and buf[j + 1] == 32:
            st[_BUL] = st[_WP] + j
        st[_P] = p

    def _emph(self, p, i, c):
        # a run of * _ ~ ` at p: ends entries, starts one (with a partner ahead), or text
        st = self.st
        buf = self.buf
        e = st[_WN]
        k = i
        while k < e and buf[k] == c:
            k += 1
        r = k - i
        t = _CODE
        t2 = 0
        ok = st[_PREV] != c  # not the rest of a longer run
        if c != 96:
            if self._find(p, 1) >= 0:  # the partner of open ones
                while self._find(p, 1) >= 0:
                    self._end(self._find(p, 1), 1)
                st[_P] = p + r
                st[_PREV] = c
                return
            nb = buf[k] if k < e else 10
            ok = ok and (r <= 3 if c != 126 else r == 2) and nb != 32 and nb != 10 and nb != 9 and nb != 13
            if c == 95 and _alnum(st[_PREV]):  # snake_case
                ok = False
            if c == 126:
                t = _S
            else:
                t = _I if r == 1 else _B
                t2 = _I if r == 3 else 0
            if t == _B and (self._find(_B, 0) >= 0 or self._find(_NUL, 0) >= 0) or self._find(t, 0) >= 0 \
                    or t2 and self._find(t2, 0) >= 0:
                ok = False  # emphasis does not nest in itself
        if ok and st[_DEP] + (2 if t2 else 1) <= _DEPTH:
            x = self._search(p, c, r)
            if x >= 0:
                if t == _B and self._find(_H, 0) >= 0:
                    t = _NUL
                self._push(t, x, r)
                if t2:
                    self._push(t2, x, r)
                st[_P] = p + r
                st[_PREV] = c
                return
        self._lit(p, r)

    def _link(self, p):
        # "[text](url)" with an allowed URL: <a href>, else the "[" is text
        st = self.st
        if st[_DEP] < _DEPTH and self._find(_A, 0) < 0:
            x = self._search(p, 93, 1)
            if x >= 0:
                j = self._need(x, _URL_MAX + 3)
                buf = self.buf
                e = st[_WN]
                if j + 1 < e and buf[j + 1] == 40:
                    a = j + 2
                    k = a
                    while k < e and k - a <= _URL_MAX and buf[k] > 32 and buf[k] != 41:
                        k += 1
                    if k < e and buf[k] == 41 and k - a <= _URL_MAX:
                        s = _SCH  # allowed schemes, lower case
                        n = 0
                        while n < 4:
                            m = _MARKUP[_SCHN + n]
                            if k - a > m:
                                q = 0
                                while q < m and buf[a + q] | 0x20 == _MARKUP[s + q]:
                                    q += 1
                                if q == m:
                                    self._push(_A, x, k + 1 - j)
                                    st[_P] = p + 1
                                    st[_PREV] = 91
                                    return
                            s += m
                            n += 1
        self._lit(p, 1)

    def _search(self, p, c, r):
        # input position of the partner of the run of r bytes c at p (c "]": the end of a
        # link text), -1 if none on the line within the window read from p
        i = self._need(p, 1)
        while True:
            x = self._scan(i + r, c, r)
            if x != -2:
                return x + self.st[_WP] if x >= 0 else -1
            if i == 0:
                return -1
            i = self._need(p, len(self.buf))  # read from p: the same answer wherever p falls

    def _scan(self, j, c, r):
        # window index of the partner, -1 none, -2 the window ended first
        buf = self.buf
        st = self.st
        e = st[_WN]
        while j < e:
            b = buf[j]
            if b == 10:
                return -1
            if b == 92 and c != 96:  # escaped: not a marker (no escapes in code)
                j += 2
                continue
            if c == 93 and (b == 93 or b == 91):  # a "[" first: the link starts there
                return j if b == 93 else -1
            if b == c or b == 96:
                k = j + 1
                while k < e and buf[k] == b:
                    k += 1
                if k >= e and not st[_EOF]:
                    return -2
                n = k - j
                if b == c:
                    if n == r:
                        if c == 96:
                            return j
                        a = buf[k] if k < e else 10
                        if buf[j - 1] != 32 and buf[j - 1] != 9 and (c != 95 or not _alnum(a)):
                            return j
                else:  # inline code inside: its markers are not partners
                    x = self._scan(k, 96, n)
                    if x == -2:
                        return -2
                    if x >= 0:
                        k = x + n
                j = k
                continue
            j += 1
        return -1 if st[_EOF] else -2


def _alnum(c):
    # letters and digits of any script (a non-ASCII byte counts as a letter)
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c >= 0x80


def _heading(buf, j, e):
    # number of "#" of a heading marker at j (1-6, then a space), else 0
    k = j
    while k < e and buf[k] == 35:
        k += 1
    k -= j
    return k if 1 <= k <= 6 and j + k < e and buf[j + k] == 32 else 0
