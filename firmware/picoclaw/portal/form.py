# The setup page's form: an application/x-www-form-urlencoded body parsed as it arrives.
#
# The body is fed in windows of the server's fixed read buffer (feed), so it is never held
# whole: each byte is percent-decoded ('+' is a space; an escape split across two windows
# is carried over in two small ints) straight into the one fixed value buffer, where every
# known field has its own slot of its cap's size. Nothing grows with the input: a field
# past its cap stops being stored and is remembered as too long, unknown fields are skipped,
# a repeated field keeps its first value (what a second one would replace is a choice an
# attacker could make; the browser sends each field once), and bytes past the body cap are
# not looked at. Only when the body is over (end) are the values checked as UTF-8 and made
# into strings; errors() gives one line per problem, naming the field.
#
#     f = Form()
#     while body left: n = sock.readinto(mv); f.feed(buf, 0, n)
#     f.end()
#     lines = f.errors()   # [] or ["Bot token is longer than 64 characters", ...]
#     token = f.get("token")
from micropython import const

BODY = const(2048)  # the form's longest body: the caps below sum to 700 bytes, which the
#                     encoding (%XX: 3 bytes each) can triple; 2048 is room for a real form
#                     and small enough to refuse a flood at once (Content-Length)
_NAMELEN = const(16)  # longest field name kept ("wifi_password" is 13); longer: unknown
_NAMING = const(-1)  # reading a name, before its "="
_SKIP = const(-2)  # an unknown or repeated field's value: dropped
_N = const(10)  # the fields

# The fields in one string (no list of names in RAM), their caps in bytes of UTF-8 in the
# same order: an SSID is at most 32 bytes (IEEE 802.11), a WPA2 passphrase 63 characters
# (a 64-hex-digit key is the other form), a bot token is ~46 ("123456789:" + 35), a
# provider name short, an API base URL and key room for a long proxy URL and a long key
# (Anthropic's are ~108), a model id 64, a Telegram user id up to 20 digits, the csrf
# token 24 hex digits, the one-time code 8.
_NAMES = b"ssid wifi_password token provider api_base api_key model owner csrf code "
_CAPS = b"\x20\x40\x40\x10\xc8\xc8\x40\x14\x20\x08"
# what an error calls each field, in the same order
_LABELS = ("Wi-Fi network name|Wi-Fi password|Bot token|Provider|API base URL|API key|Model|"
           "Owner id|Form token|Setup code")


def _hex(c):
    """The value of the hex digit c (a byte), or -1."""
    if 48 <= c <= 57:
        return c - 48
    c |= 32  # lower case
    if 97 <= c <= 102:
        return c - 87
    return -1


def index(name):
    """The field number of `name` (str), or -1 (the server asks for fields by name)."""
    i = _NAMES.find(name.encode() + b" ")
    if i < 0 or (i and _NAMES[i - 1] != 32):
        return -1
    return _NAMES.count(b" ", 0, i)


def label(i):
    return _LABELS.split("|")[i]


class Form:
    """The fields of one POST; reset() before each body. The values live in self.buf (one
    slot per field, at its cap's size) until the next reset."""

    def __init__(self):
        self.buf = bytearray(sum(_CAPS))
        self.name = bytearray(_NAMELEN)
        self.off = [0] * _N  # where each field's slot starts in buf
        self.len = [0] * _N
        o = 0
        for i in range(_N):
            self.off[i] = o
            o += _CAPS[i]
        self.reset()

    def reset(self):
        for i in range(_N):
            self.len[i] = 0
        self.seen = 0  # bit i: field i was given (its first value is kept)
        self.over = 0  # bit i: field i was longer than its cap
        self.bad = 0  # bit i: field i is not UTF-8 (end)
        self.field = _NAMING
        self.nlen = 0
        self.pct = 0  # 1: after "%", 2: after "%" and one hex digit (self.hx, self.raw)
        self.hx = 0
        self.raw = 0
        self.total = 0

    def feed(self, buf, start, end):
        """Parse buf[start:end], the next window of the body. Allocates nothing."""
        for i in range(start, end):
            if self.total >= BODY:  # past the cap: counted, not parsed (errors says so)
                self.total += end - i
                return
            self.total += 1
            c = buf[i]
            p = self.pct
            if p:
                h = _hex(c)
                if h >= 0:
                    if p == 1:
                        self.hx = h
                        self.raw = c
                        self.pct = 2
                    else:
                        self.pct = 0
                        self._put(self.hx * 16 + h)
                    continue
                # not an escape after all: the bytes as they came (as browsers never send)
                self.pct = 0
                self._put(37)
                if p == 2:
                    self._put(self.raw)
            if c == 38:  # "&": the next field
                self._next()
            elif c == 61 and self.field == _NAMING:  # "=" ends the name (in a value: a byte)
                self._named()
            elif c == 37:  # "%"
                self.pct = 1
            elif c == 43:  # "+": a space
                self._put(32)
            else:
                self._put(c)

    def _put(self, c):
        f = self.field
        if f >= 0:
            n = self.len[f]
            if n < _CAPS[f]:
                self.buf[self.off[f] + n] = c
                self.len[f] = n + 1
            else:
                self.over |= 1 << f
        elif f == _NAMING:
            if self.nlen < _NAMELEN:
                self.name[self.nlen] = c
            self.nlen += 1  # past _NAMELEN: no field has so long a name

    def _named(self):
        """The name read so far ends: which field the value goes to."""
        f = _SKIP
        n = self.nlen
        if 0 < n <= _NAMELEN:
            # find the name among _NAMES, word by word (no bytes object made)
            j = 0
            k = 0  # field number of the word at j
            while j < len(_NAMES):
                e = _NAMES.find(b" ", j)
                if e - j == n:
                    m = 0
                    while m < n and _NAMES[j + m] == self.name[m]:
                        m += 1
                    if m == n:
                        f = k
                        break
                j = e + 1
                k += 1
        if f >= 0:
            if self.seen & (1 << f):
                f = _SKIP  # a repeated field: the first value stays
            else:
                self.seen |= 1 << f
        self.field = f

    def _next(self):
        if self.field == _NAMING:  # "name&": the field, empty
            self._named()
        self.field = _NAMING
        self.nlen = 0

    def end(self):
        """The body is over: a pending "%" as it came, each value checked as UTF-8."""
        if self.pct:
            p = self.pct
            self.pct = 0
            self._put(37)
            if p == 2:
                self._put(self.raw)
        self._next()
        for i in range(_N):
            try:
                str(self.buf[self.off[i]:self.off[i] + self.len[i]], "utf-8")
            except UnicodeError:
                self.bad |= 1 << i

    def errors(self):
        """One line per problem (after end): the body too large, a field too long, a field
        that is not text. [] when the form can be used."""
        out = []
        if self.total > BODY:
            out.append("The form is larger than %d bytes" % BODY)
        for i in range(_N):
            if self.over & (1 << i):
                out.append("%s is longer than %d characters" % (label(i), _CAPS[i]))
            elif self.bad & (1 << i):
                out.append("%s is not valid UTF-8 text" % label(i))
        return out

    def given(self, name):
        """Whether the field `name` was in the body."""
        return bool(self.seen & (1 << index(name)))

    def get(self, name):
        """The value of field `name` (str; "" when absent, past its cap or not text)."""
        i = index(name)
        if (self.bad | self.over) & (1 << i):
            return ""
        return str(self.buf[self.off[i]:self.off[i] + self.len[i]], "utf-8")

    def raw_value(self, name):
        """The value's bytes as a memoryview into buf (valid until the next reset)."""
        i = index(name)
        return memoryview(self.buf)[self.off[i]:self.off[i] + self.len[i]]

    def values(self):
        """Every field as name -> str (the dict save.write takes)."""
        d = {}
        for n in _NAMES.decode().split():
            d[n] = self.get(n)
        return d
