# Photos in model requests, without a network: the base64 streamer against binascii at the
# buffer boundaries, the media-type sniffing, and request bodies for both providers written
# from a session with image lines (the image decoded back and compared byte for byte, both
# passes of the body the same size), with the notes for a missing, a non-image, an older
# photo and a model that cannot see images. Runs on CPython and on the unix port
# (test_photo.py runs it there).
import binascii
import json
import os

from picoclaw.agent import photo
from picoclaw.agent.session import Session
from picoclaw.json.files import FileOut
from picoclaw.llm import anthropic as llm_anthropic
from picoclaw.llm import errors, image
from picoclaw.llm import openai as llm_openai

TMP = "/tmp/picoclaw-photo-test"
SIZES = (0, 1, 2, 3, 4, 5, 95, 96, 97, 127, 128, 129, 191, 192, 193, 3 * 64, 3 * 100 + 1, 1000)


def _dir(sub=""):
    for d in ("/tmp", TMP, TMP + "/media"):
        try:
            os.mkdir(d)
        except OSError:
            pass
    return TMP + sub


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _data(n, seed=7):
    # bytes of every value, in an order that is not a pattern of 3
    return bytes((i * 37 + seed + (i >> 8)) & 255 for i in range(n))


def _jpeg(n):
    return b"\xff\xd8\xff\xe0" + _data(max(0, n - 6)) + b"\xff\xd9"


def _b64(data):
    return binascii.b2a_base64(data).rstrip(b"\n")


class _Short:
    """A file that returns at most `k` bytes a read (a short read mid-file)."""

    def __init__(self, data, k):
        self.data = data
        self.k = k
        self.i = 0

    def readinto(self, mv):
        n = min(len(mv), self.k, len(self.data) - self.i)
        mv[:n] = self.data[self.i:self.i + n]
        self.i += n
        return n


def _stream(data, inbuf, outbuf, short=0):
    path = _dir("/b64")
    with open(path, "wb") as out:
        w = FileOut(out, bytearray(32))
        if short:
            n = image.stream(_Short(data, short), w, inbuf, outbuf)
        else:
            with open(_dir("/src"), "wb") as f:
                f.write(data)
            with open(_dir("/src"), "rb") as f:
                n = image.stream(f, w, inbuf, outbuf)
        w._flush()
    assert n == len(data)
    return _read(path)


def test_encode_matches_binascii_at_every_boundary():
    out = bytearray(1400)
    for n in SIZES:
        data = _data(n)
        k = image.encode(data, n, out, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        assert k == (n + 2) // 3 * 4, n
        assert bytes(out[:k]) == _b64(data), n


def test_stream_matches_binascii_through_fixed_buffers():
    for n in SIZES:
        data = _data(n, n)
        assert _stream(data, bytearray(128), bytearray(128)) == _b64(data), n
        assert _stream(data, bytearray(7), bytearray(5)) == _b64(data), n  # 3 in, 4 out a round
    data = _data(1000)
    for short in (1, 2, 4, 50, 97):  # reads that end inside a group of 3
        assert _stream(data, bytearray(128), bytearray(128), short) == _b64(data), short


def test_sniff_knows_the_four_formats_and_nothing_else():
    assert image.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF", 10) == b"image/jpeg"
    assert image.sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 16) == b"image/png"
    assert image.sniff(b"GIF89a\x01\x00", 8) == b"image/gif"
    assert image.sniff(b"GIF87a\x01\x00", 8) == b"image/gif"
    assert image.sniff(b"RIFF\x24\x00\x00\x00WEBPVP8 ", 16) == b"image/webp"
    for bad in (b"", b"\xff\xd8", b"%PDF-1.7\n", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"<html>", b"\x89PNG\r\n"):
        assert image.sniff(bad, len(bad)) is None, bad
    assert image.sniff(b"\xff\xd8\xff\xe0", 2) is None  # only the bytes that were read count


class _Agent:
    """What llm/openai.body and llm/anthropic.body read of agent/loop.Agent, with the real
    agent/request.history over the session file."""

    def __init__(self, s, kind):
        self.session = s
        self.kind = kind
        self.workspace = TMP
        self.small = bytearray(128)
        self.buf = bytearray(128)
        self.linebuf = bytearray(256)
        self.media = (655360, 1024, None, False)
        self.model = "vision-model"
        self.max_tokens = 100
        self.temperature = 0.5
        self.extra = None
        self._hist = (s.history_start(), -1)

    def write_system(self, w):
        w.json_part("sys")

    def history(self):
        from picoclaw.agent import request

        yield from request.history(self)


def _body(a):
    proto = llm_anthropic if a.kind == "anthropic" else llm_openai
    path = _dir("/body")
    with open(path, "wb") as out:
        w = FileOut(out, bytearray(64))
        w.counting = True
        proto.body(w, a, False, None)
        counted = w.size
        w.counting = False
        w.size = 0
        proto.body(w, a, False, None)
        w._flush()
        assert w.size == counted  # Content-Length (the count pass) is what is sent
    assert len(_read(path)) == counted
    return json.loads(_read(path))


def _caption(text):
    path = _dir("/caption")
    with open(path, "wb") as f:
        f.write(text)
    return open(path, "rb"), len(text)


def _photo(s, name, data, caption=b""):
    if data is not None:
        with open(_dir("/media/" + name), "wb") as f:
            f.write(data)
    f, n = _caption(caption)
    with f:
        photo.append_image(s, f, n, bytearray(64), "media/" + name)


def _answer(s, text):
    path = _dir("/reply")
    with open(path, "wb") as f:
        f.write(text)
    s.append_assistant(path, (), bytearray(64))
    s.end_turn()


def _session():
    s = Session(TMP, 5, 1 << 20)
    s.clear()
    try:
        os.remove(s.path[:-5] + "open")
    except OSError:
        pass
    return s


def _content(b, kind, i):
    """The content of the i-th user message."""
    return [m["content"] for m in b["messages"] if m["role"] == "user"][i]


def test_a_photo_goes_into_both_providers_requests_byte_for_byte():
    for size in (0, 1, 2, 3, 95, 96, 97, 128, 129, 3000):
        data = _jpeg(size)
        s = _session()
        _photo(s, "a.jpg", data, "what is this \"thing\"? \u00e9".encode())
        line = _read(s.path)
        assert line.startswith(b'{"u":["media/a.jpg",') and len(line) < 100  # a reference, not the bytes
        b = _body(_Agent(s, "openai"))
        c = _content(b, "openai", 0)
        assert c[0] == {"type": "text", "text": "what is this \"thing\"? \u00e9"}
        assert c[1]["type"] == "image_url" and len(c) == 2
        url = c[1]["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        assert binascii.a2b_base64(url[23:]) == data, size
        b = _body(_Agent(s, "anthropic"))
        c = _content(b, "anthropic", 0)
        assert c[0]["type"] == "image" and c[0]["source"]["type"] == "base64"
        assert c[0]["source"]["media_type"] == "image/jpeg"
        assert binascii.a2b_base64(c[0]["source"]["data"]) == data, size
        assert c[1] == {"type": "text", "text": "what is this \"thing\"? \u00e9"}


def test_a_photo_without_caption_and_the_kinds_of_image():
    s = _session()
    png = b"\x89PNG\r\n\x1a\n" + _data(300)
    _photo(s, "p.png", png)
    assert _read(s.path).endswith(b'"media/p.png",""]}\n')
    b = _body(_Agent(s, "anthropic"))
    c = _content(b, "anthropic", 0)
    assert c[0]["source"]["media_type"] == "image/png" and len(c) == 1  # no empty text block
    c = _content(_body(_Agent(s, "openai")), "openai", 0)
    assert c[0]["type"] == "image_url" and len(c) == 1
    a = _Agent(s, "openai")
    a.blind = True
    assert _content(_body(a), "openai", 0) == image.BLIND
    s = _session()
    _photo(s, "w.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + _data(50), b"a webp")
    b = _body(_Agent(s, "openai"))
    assert _content(b, "openai", 0)[1]["image_url"]["url"].startswith("data:image/webp;base64,")


def test_text_lines_and_old_photos_around_a_new_one():
    # text lines keep their plain string content; only the last two photos go in full, the
    # older one as a note; a gone file and a non-image file are notes too
    s = _session()
    s.append_user_text("hello", bytearray(64))
    _answer(s, b"hi")
    _photo(s, "old.jpg", _jpeg(500), b"first")
    _answer(s, b"a cat")
    _photo(s, "gone.jpg", None, b"second")  # dropped by the media quota
    _answer(s, b"?")
    _photo(s, "fake.jpg", b"%PDF-1.4 not an image at all", b"third")
    _answer(s, b"?")
    _photo(s, "mid.jpg", _jpeg(400), b"fourth")
    _answer(s, b"a dog")
    _photo(s, "new.jpg", _jpeg(300), b"fifth " + b"x" * 600)  # a caption longer than every buffer
    for kind in ("openai", "anthropic"):
        b = _body(_Agent(s, kind))
        users = [m["content"] for m in b["messages"] if m["role"] == "user"]
        assert users[0] == "hello"
        assert users[1] == image.OLDER + " first"
        assert users[2] == image.OLDER + " second"  # older than the last two: not even opened
        assert users[3] == image.OLDER + " third"
        assert isinstance(users[4], list) and isinstance(users[5], list)
        text = [p for p in users[5] if p["type"] == "text"][0]["text"]
        assert text == "fifth " + "x" * 600
    a = _Agent(s, "anthropic")
    a.extra = "Summarise the conversation above."  # the summary's request: no photo in full
    users = [m["content"] for m in _body(a)["messages"] if m["role"] == "user"]
    assert users[5] == image.OLDER + " fifth " + "x" * 600 and not a.photo
    s = _session()
    _photo(s, "gone.jpg", None, b"second")
    _answer(s, b"?")
    _photo(s, "fake.jpg", b"%PDF-1.4 not an image at all", b"third")
    for kind in ("openai", "anthropic"):
        users = [m["content"] for m in _body(_Agent(s, kind))["messages"] if m["role"] == "user"]
        assert users[0] == image.GONE + " second"
        assert users[1].startswith("[the photo could not be read: it is not a JPEG, PNG, GIF or WebP")
        assert users[1].endswith("] third")


def test_a_model_that_cannot_see_gets_notes_after_its_refusal():
    s = _session()
    _photo(s, "a.jpg", _jpeg(100), b"look")

    class E:
        status = 400
        message = "Invalid content type. image_url is only supported by certain models."

    a = _Agent(s, "openai")
    _body(a)
    assert a.photo
    assert errors.refused(a, E) is errors.said and a.blind
    b = _body(a)
    assert _content(b, "openai", 0) == image.BLIND + " look"
    assert errors.refused(a, E) is None  # this request carried no image: no second retry
    reply = _dir("/reply")
    with open(reply, "wb") as f:
        f.write(b"I cannot see it.")
    assert errors.said(reply) == reply and _read(reply).startswith(b"I cannot see it.\n\n(This model cannot")
    a = _Agent(s, "anthropic")
    E.message = "messages.0: Could not process image"  # not about vision: no retry
    _body(a)
    assert errors.refused(a, E) is None
    E.status = 401
    E.message = "image not supported"
    assert errors.refused(a, E) is None
    a = _Agent(s, "openai")  # a request without a photo
    E.status = 400
    assert errors.refused(a, E) is None


def test_the_history_start_and_a_resumed_turn_see_a_photo_line_as_a_user_line():
    s = _session()
    s.append_user_text("x" * 300, bytearray(64))
    _answer(s, b"ok")
    start = s.size()
    _photo(s, "a.jpg", _jpeg(10), b"cap")
    _answer(s, b"fine")
    s.budget = s.size() - start + 5
    assert s.history_start() == start
    s.budget = 1 << 20
    s.turn_start = -1
    a = _Agent(s, "anthropic")
    a._hist = (start, -1)
    b = _body(a)
    assert b["messages"][0]["role"] == "user" and b["messages"][0]["content"][0]["type"] == "image"
