# Streaming JSON parser: conformance (JSONTestSuite), split independence, Unicode, caps, depth,
# and no allocation in the scanning loop. Runs under pytest and on the unix port (mp_runner).
import io
import os

from mptest import MICROPYTHON, Chunks, read_file, shared_dir
from jsontree import build, trace
from picoclaw.json.stream import OBJ, JsonError, JsonReader, StreamSource, utf8_boundary

BUF = 512  # the bound for the parser's input buffer
OUT = 128


def _suite(prefix):
    """(dir, names) of the JSONTestSuite files starting with prefix; names are streamed
    (os.ilistdir) because 318 of them do not fit a board-sized heap at once."""
    d = shared_dir() + "/conformance/json/test_parsing"
    return d, (e[0] for e in os.ilistdir(d) if e[0].startswith(prefix))


def _reader(data, sizes=None, out=OUT):
    return JsonReader(Chunks(data, sizes or [BUF], BUF), bytearray(out))


def _accepts(data, sizes=None):
    """Parse twice: skipping everything (the fast path) and building every value."""
    p = _reader(data, sizes)
    p.skip()
    p.finish()
    p.reset(Chunks(data, sizes or [BUF], BUF))
    return build(p)


def _file_reader(path):
    # files are streamed through the 512-byte buffer, as a response body is
    return JsonReader(StreamSource(open(path, "rb"), bytearray(BUF)), bytearray(OUT))


def _accepts_file(path):
    p = _file_reader(path)
    try:
        p.skip()
        p.finish()
    finally:
        p.src.stream.close()
    p = _file_reader(path)
    try:
        return build(p)
    finally:
        p.src.stream.close()


def test_conformance_y_files_accepted():
    d, names = _suite("y_")
    n = 0
    for name in names:
        try:
            v = _accepts_file(d + "/" + name)
        except JsonError as e:
            raise AssertionError("%s rejected: %s" % (name, e))
        if not MICROPYTHON:
            import json

            assert v == json.loads(read_file(d + "/" + name)), name
        n += 1
    assert n == 95, n


def test_conformance_n_files_rejected():
    d, names = _suite("n_")
    n = 0
    for name in names:
        for mode in ("skip", "build"):
            p = _file_reader(d + "/" + name)
            try:
                if mode == "skip":
                    p.skip()
                    p.finish()
                else:
                    build(p)
            except JsonError as e:
                assert str(e).startswith("JSON "), e  # a clear message with a position
                continue
            finally:
                p.src.stream.close()
            raise AssertionError("%s accepted in %s mode" % (name, mode))
        n += 1
    assert n == 188, n


def test_conformance_i_files_clean_either_way():
    d, names = _suite("i_")
    n = 0
    for name in names:
        n += 1
        try:
            v = _accepts_file(d + "/" + name)
        except JsonError:
            continue
        if isinstance(v, list) and v and isinstance(v[0], str):
            v[0].encode("utf-8")  # always valid text, never a UnicodeError later
    assert n == 35, n


def test_every_split_point_gives_the_same_events():
    body = read_file("host_tests/data/getupdates.json")
    want = trace(_reader(body))
    assert want[0] > 300
    step = 1 if len(body) < 4000 else 3
    for k in range(1, len(body), step):
        got = trace(_reader(body, [k, len(body)]))
        assert got == want, "split at %d differs" % k
    assert trace(_reader(body, [1])) == want
    assert trace(_reader(body, [7, 1, 3])) == want


def test_every_split_point_streaming_copy():
    # a long string streamed in pieces must come out identical wherever the input splits
    s = '{"text": "' + "a\\u00e9\\ud83d\\ude00\\n" * 40 + '"}'
    body = s.encode()
    want = build(_reader(body))["text"]
    for k in range(1, len(body)):
        assert build(_reader(body, [k, len(body)]))["text"] == want, k


def test_emoji_surrogate_pairs_joined():
    p = _reader(b'["\\ud83d\\ude00", "\\uD834\\uDD1E", "x\\u00e9\\u4e2d"]')
    assert build(p) == ["\U0001F600", "\U0001D11E", "x\u00e9\u4e2d"]


def test_lone_surrogates_and_bad_utf8_become_replacement_char():
    cases = [
        (b'["\\ud800"]', "\ufffd"),
        (b'["\\udc00x"]', "\ufffdx"),
        (b'["\\ud800\\ud800\\udc00"]', "\ufffd\U00010000"),
        (b'["a\xffb"]', "a\ufffdb"),
        (b'["\xe6\x97"]', "\ufffd"),  # truncated 3-byte sequence
        (b'["\xed\xa0\x80"]', "\ufffd\ufffd\ufffd"),  # UTF-8 encoded surrogate: not valid UTF-8
        (b'["\xc0\xaf"]', "\ufffd\ufffd"),  # overlong
        (b'["\xe6\x97\xa5\xe6\x9c\xac"]', "\u65e5\u672c"),
    ]
    for data, want in cases:
        for k in range(1, len(data)):
            got = build(_reader(data, [k, 100]))
            assert got == [want], (data, k, got)


def test_read_str_truncates_at_character_boundary():
    data = ('{"t": "' + "\u00e9" * 50 + '"}').encode()
    p = _reader(data, out=64)
    p.expect(OBJ)
    p.next_key()
    s = p.read_str(11)
    assert s == "\u00e9" * 5 and p.truncated
    assert not p.next_key()
    p.finish()


def test_copy_str_streams_and_caps():
    text = "x" * 1000 + "\U0001F600" * 10
    data = ('{"t": "' + text + '", "n": 1}').encode()
    got = bytearray()
    p = _reader(data, [37])
    p.expect(OBJ)
    p.next_key()
    n, cut = p.copy_str(lambda b, k: got.extend(memoryview(b)[:k]), 5000)
    assert (n, cut) == (len(text.encode()), False) and got == text.encode()
    assert p.next_key() and p.key_is(b"n") and p.read_int() == 1
    # capped in the middle of an emoji: cut before it, flagged
    got = bytearray()
    p = _reader(data, [37])
    p.expect(OBJ)
    p.next_key()
    n, cut = p.copy_str(lambda b, k: got.extend(memoryview(b)[:k]), 1002)
    assert cut and n == 1000 and got == b"x" * 1000
    assert p.next_key() and p.key_is(b"n") and p.read_int() == 1


def test_depth_limit():
    ok = b"[" * 32 + b"]" * 32
    _accepts(ok)
    try:
        _accepts(b"[" * 33 + b"]" * 33)
    except JsonError as e:
        assert "too deep" in str(e)
    else:
        raise AssertionError("depth 33 accepted")


def test_errors_say_where():
    for data, what, at in ((b'{"a": tru}', "invalid literal", 9), (b'[1, 2,', "end of input", 6),
                           (b'{"a":1}}', "trailing data", 7), (b'"a\tb"', "control character", 2)):
        try:
            p = _reader(data)
            p.skip()
            p.finish()
        except JsonError as e:
            assert what in str(e) and ("byte %d" % at) in str(e), (data, str(e))
        else:
            raise AssertionError(data)


def test_numbers():
    p = _reader(b'[0, -1, 123456789012, -1001234567890, 1.5, -2e3, 0.25E+1]')
    assert build(p) == [0, -1, 123456789012, -1001234567890, 1.5, -2000.0, 2.5]
    # around jsonscan.number's 9 digits (its fast path) and the int()/float() one
    data = b'[999999999, -999999999, 1000000000, -1000000000, 1073741823, 1073741824, -0, 7, 10e2, 90.0]'
    p = _reader(data)
    assert build(p) == [999999999, -999999999, 1000000000, -1000000000, 1073741823, 1073741824, 0, 7,
                        1000.0, 90.0]
    p = _reader(b'{"id": 123456789, "big": 12345678901234, "neg": -42}')
    p.expect(OBJ)
    got = []
    while p.next_key():
        got.append(p.read_int())
    assert got == [123456789, 12345678901234, -42]


def test_keys_longer_than_out_never_match():
    p = _reader(b'{"' + b"k" * 200 + b'": 1, "k": 2}', out=16)
    p.expect(OBJ)
    p.next_key()
    assert p.truncated and not p.key_is(b"k" * 16)
    p.skip()
    p.next_key()
    assert p.key_is(b"k") and p.read_int() == 2


def test_utf8_boundary():
    b = "a\u00e9\u4e2d\U0001F600".encode()  # 1 + 2 + 3 + 4 bytes
    assert [utf8_boundary(b, n) for n in range(11)] == [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]


def test_skipping_does_not_allocate():
    # The scanner's inner loop and the reader's refill loop run with the heap locked.
    if not MICROPYTHON:
        return  # CPython has no heap lock; the unix port run of this file is the proof
    import micropython

    body = read_file("host_tests/data/getupdates.json")
    src = StreamSource(io.BytesIO(body), bytearray(BUF))
    p = JsonReader(src, bytearray(OUT))
    p.skip()  # warm up: first-call caches
    p.reset(StreamSource(io.BytesIO(body), bytearray(BUF)))
    micropython.heap_lock()
    try:
        p.skip()
        p.finish()
    finally:
        micropython.heap_unlock()
