# JSON string escaper: same output and same UTF-16 cut whatever the output buffer size
# (a resumed escape must never count a character twice). Runs on CPython and the unix port.
from array import array

from picoclaw.json import write as jsonwrite

TEXT = 'a"b\\c\n\t\x01 \u00e9\u4e2d\U0001F600 end'
WANT = 'a\\"b\\\\c\\n\\t\\u0001 \u00e9\u4e2d\U0001F600 end'


def _escape(data, outsize, ucap=0, count=False):
    st = array("i", [0] * jsonwrite.NSLOTS)
    st[1] = len(data)
    st[5] = ucap
    st[7] = 1 if count else 0
    out = bytearray()
    dst = bytearray(outsize)
    total = 0
    while True:
        st[2] = 0
        st[3] = outsize
        r = jsonwrite.escape(data, st, dst, b"0123456789abcdef")
        out.extend(dst[: st[2]])
        total += st[2]
        if r != 1:
            return (total if count else bytes(out)), st[4], bool(st[6])


def test_escape_is_independent_of_output_buffer_size():
    data = TEXT.encode()
    want = WANT.encode()
    for size in range(6, 40):
        out, units, cut = _escape(data, size)
        assert out == want and not cut, size
    n, _, _ = _escape(data, 7, count=True)
    assert n == len(want)


def test_units_cap_cuts_at_the_same_place_for_every_buffer_size():
    data = ("\U0001F600" * 50 + "x" * 10).encode()
    for size in range(6, 40):
        out, units, cut = _escape(data, size, ucap=41)
        assert out == ("\U0001F600" * 20).encode() and units == 40 and cut, size
        n, units2, _ = _escape(data, size, ucap=41, count=True)
        assert n == len(out) and units2 == 40
