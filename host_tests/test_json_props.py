"""Property tests and a bounded fuzz run for the streaming JSON parser (CPython only).

1. hypothesis: random JSON documents, serialized with random whitespace and random escaping
   (raw UTF-8, \\uXXXX, surrogate pairs for astral characters, the short escapes), fed to
   picoclaw.jsonstream through random split points, build the same tree as json.loads.
2. fuzz: hostile input (random bytes, mutated and truncated documents, deep nesting, huge
   numbers, invalid UTF-8, lone surrogates) either parses equal to json.loads (with the
   parser's documented repairs: invalid UTF-8 and lone surrogates become U+FFFD) or raises
   JsonError: never another exception, never a hang (an alarm bounds every parse). The run
   lasts FUZZ_SECONDS (default 10) from a fixed seed (FUZZ_SEED); the FUZZ line (pytest -s)
   says how many inputs were tried and how they ended.
"""
import json
import os
import random
import re
import signal
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsontree import build
from mptest import Chunks
from picoclaw.json.stream import JsonError, JsonReader

BUF = 512  # the parser's input buffer on the board
OUT = 128  # the value buffer Telegram parsing uses: keys and numbers must fit it

# -- documents ------------------------------------------------------------------------------
_keys = st.text(max_size=12)  # <= 48 UTF-8 bytes: fits OUT (longer keys are cut, by design)
_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
            | st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=5)
            | st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=5))
_docs = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=6)
                     | st.dictionaries(_keys, kids, max_size=6), max_leaves=40)

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WS = [" ", "\t", "\n", "\r"]


def _ws(draw):
    return "".join(draw(st.lists(st.sampled_from(_WS), max_size=3)))


def _u(cp):
    return "\\u%04x" % cp if cp & 1 else "\\u%04X" % cp  # both hex cases


def _string(draw, s):
    out = ['"']
    for ch in s:
        cp = ord(ch)
        how = draw(st.integers(0, 3))
        if ch in _SHORT and (cp < 0x20 or ch in '"\\' or how):
            out.append(_SHORT[ch] if how != 3 else _u(cp))
        elif cp < 0x20:
            out.append(_u(cp))
        elif ch == "/" and how == 1:
            out.append("\\/")
        elif how == 3 and cp >= 0x10000:  # a surrogate pair
            v = cp - 0x10000
            out.append(_u(0xD800 + (v >> 10)) + _u(0xDC00 + (v & 0x3FF)))
        elif how == 3:
            out.append(_u(cp))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump(draw, v):
    if isinstance(v, dict):
        parts = [_ws(draw) + _string(draw, k) + _ws(draw) + ":" + _ws(draw) + _dump(draw, x) + _ws(draw)
                 for k, x in v.items()]
        return "{" + (",".join(parts) if parts else _ws(draw)) + "}"
    if isinstance(v, list):
        parts = [_ws(draw) + _dump(draw, x) + _ws(draw) for x in v]
        return "[" + (",".join(parts) if parts else _ws(draw)) + "]"
    if isinstance(v, str):
        return _string(draw, v)
    if isinstance(v, float) and draw(st.booleans()):
        return "%.17e" % v if draw(st.booleans()) else "%.17E" % v
    return json.dumps(v)


@st.composite
def _serialized(draw):
    v = draw(_docs)
    text = _ws(draw) + _dump(draw, v) + _ws(draw)
    data = text.encode("utf-8")
    sizes = draw(st.lists(st.integers(1, BUF), min_size=1, max_size=8))
    return data, sizes


def _parse(data, sizes, out=OUT):
    p = JsonReader(Chunks(data, sizes, BUF), bytearray(out))
    return build(p)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_serialized())
def test_random_documents_split_anywhere_equal_json_loads(case):
    data, sizes = case
    assert _parse(data, sizes) == json.loads(data)


# -- fuzz ----------------------------------------------------------------------------------
_LONE = re.compile("[\ud800-\udfff]")


def _repaired(v):
    """json.loads' value with the parser's repairs: lone surrogates become U+FFFD."""
    if isinstance(v, str):
        return _LONE.sub("\ufffd", v)
    if isinstance(v, list):
        return [_repaired(x) for x in v]
    if isinstance(v, dict):
        return {_repaired(k): _repaired(x) for k, x in v.items()}
    return v


def _no_constants(name):
    raise ValueError("%s is not JSON (RFC 8259)" % name)  # json.loads takes NaN, Infinity


def _oracle(data):
    try:
        return True, _repaired(json.loads(data.decode("utf-8", "replace"), parse_constant=_no_constants))
    except (ValueError, RecursionError):
        return False, None


_SEEDS = [b'{"ok":true,"result":[{"update_id":1,"message":{"message_id":5,"text":"hi \\ud83d\\ude00"}}]}',
          b'[1,-0.5e-3,true,false,null,"\\u00e9\\n",{"a":[{}]}]', b'"\xe6\x97\xa5"', b"{}", b"[]", b"0"]
_TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"\\ud800", b"\\udc00", b"true",
           b"fals", b"null", b"-", b"0", b"1e", b"E+", b".", b" ", b"\x00", b"\xff", b"\xc0\xaf",
           b"\xed\xa0\x80", b"\xf0\x9f", b"\xe2\x82\xac", b"NaN", b"Infinity", b"\xef\xbb\xbf"]


def _hostile(rnd):
    k = rnd.randrange(8)
    if k == 0:  # random bytes
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64)))
    if k == 1:  # random tokens
        return b"".join(rnd.choice(_TOKENS) for _ in range(rnd.randrange(1, 40)))
    if k == 2:  # deep nesting, balanced or not
        d = rnd.choice([31, 32, 33, 100, 5000])
        o, c = rnd.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return o * d + rnd.choice([b"1", b"", b'"x"']) + c * rnd.choice([d, d - 1, 0])
    if k == 3:  # huge numbers
        n = rnd.choice([20, 127, 128, 129, 600, 5000])
        digits = b"".join(b"%d" % rnd.randrange(10) for _ in range(n))
        return rnd.choice([b"", b"-"]) + b"1" + digits + rnd.choice([b"", b".5", b"e999", b"e-999", b"E+1"])
    if k == 4:  # a long string with invalid UTF-8 and lone surrogate escapes
        body = b"".join(rnd.choice([b"a", b"\xff", b"\xe6\x97", b"\\ud800", b"\\udfff", b"\\ud83d\\ude00", b"\xf4\x90\x80\x80"])
                        for _ in range(rnd.randrange(1, 300)))
        return b'["' + body + b'"]'
    # a mutated seed: truncated, bytes flipped, inserted or deleted
    data = bytearray(rnd.choice(_SEEDS))
    for _ in range(rnd.randrange(1, 4)):
        op = rnd.randrange(4)
        i = rnd.randrange(len(data) + 1)
        if op == 0:
            del data[i:]
        elif op == 1 and i < len(data):
            data[i] = rnd.getrandbits(8)
        elif op == 2:
            data[i:i] = rnd.choice(_TOKENS)
        elif i < len(data):
            del data[i]
    return bytes(data)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def test_fuzz_hostile_input_parses_equal_or_raises_json_error():
    rnd = random.Random(int(os.environ.get("FUZZ_SEED", "5")))
    budget = float(os.environ.get("FUZZ_SECONDS", "10"))
    out = 4096  # keys and numbers longer than this are JsonErrors (and < CPython's 4300-digit int limit)
    counts = {"equal": 0, "rejected": 0, "both_reject": 0, "limit": 0}
    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < budget:
            data = _hostile(rnd)
            sizes = [rnd.randrange(1, BUF + 1) for _ in range(rnd.randrange(1, 4))]
            ok, want = _oracle(data)
            signal.setitimer(signal.ITIMER_REAL, 2.0)
            try:
                got = _parse(data, sizes, out)
            except JsonError as e:
                if not ok:
                    counts["both_reject"] += 1
                elif "too deep" in str(e) or "too long" in str(e):
                    counts["limit"] += 1  # the documented caps: depth 32, numbers in `out`
                else:
                    counts["rejected"] += 1
                    raise AssertionError("json.loads accepts what the parser refuses: %r: %s" % (data[:200], e))
            except _Hang:
                raise AssertionError("parser hung on %r" % data[:200])
            else:
                assert ok, "the parser accepted what json.loads refuses: %r -> %r" % (data[:200], got)
                assert got == want, (data[:200], got, want)
                counts["equal"] += 1
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old)
    n = sum(counts.values())
    print("FUZZ inputs=%d in %.1fs: %s" % (n, time.monotonic() - t0, counts))
    assert n > 1000
