# A photo in a model request: the session keeps only a reference to the file on flash
# (agent/photo.append_image: {"u": ["media/<name>", "caption"]}), and here the file is
# base64-encoded on the fly, from flash through two fixed buffers to the connection, in the
# provider's shape: an OpenAI `image_url` data URL, an Anthropic `image` block with a
# `base64` source. The body is written twice (counted, then sent): the count pass reads only
# the file's first bytes (the media type) and its size, since 4 * ceil(size / 3) characters
# of base64 follow from it.
#
# Loaded by the provider modules at the first user line with an image (none is loaded for a
# request without one), and dropped by them once the history is written (each pass).
#
# Bounds: the last _FULL images of a request's history go in full, older ones as a note, so a
# request holds at most _FULL files of at most max_media_size each (agent/media.py's cap,
# checked again here). A file that is gone (dropped by the media quota), is not a JPEG, PNG,
# GIF or WebP image, or is past the cap, becomes a one-line note, as do all photos once a
# model has refused one (llm/errors.refused: a.blind, until restart).
import micropython
from micropython import const

from picoclaw.json.stream import END_ARR

_FULL = const(2)  # images sent in full per request: the latest photo and the one before it
#                   (a photo and a follow-up, or two photos to compare: Telegram sends an album
#                   as one message per photo, so each is its own turn)
# json/scan's private events and JsonReader state slots the caption is read with
_STR = const(6)
_NULL = const(10)
_PART = const(11)  # a piece of a long string; more follows
_OLEN = const(4)  # bytes of the current string in p.out (0: the piece was taken)
_VMODE = const(19)  # 1: string values arrive in pieces; 2: cut at their cap

_B64 = const(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MARK = const(b'{"u":[')  # how an image line starts (a text line's value is a string)

# the pass being written: its reader (a new JsonReader for each pass over the history,
# agent/request.history) and the image lines still to come in it
_reader = None
_left = 0

GONE = "[an earlier photo, no longer on the device]"
OLDER = "[an earlier photo, not sent again]"
BLIND = "[a photo; this model cannot see images]"  # a.blind: llm/errors.refused
UNREADABLE = "[the photo could not be read: %s]"


# viper: 107 MB/s on the unix port, against 1.4 MB/s for the same loop as plain Python (a 500
# KB photo: 0.4 s there, seconds on a board) and 69 MB/s for binascii.b2a_base64, which makes
# a new bytes object for every round; CPython runs the same source
@micropython.viper
def encode(src: ptr8, n: int, dst: ptr8, table: ptr8) -> int:
    """Base64 of src[:n] into dst (4 * ceil(n / 3) bytes, padded with "="); returns that
    length. n is a multiple of 3 except in the file's last round."""
    i = 0
    o = 0
    while i + 2 < n:
        x = (int(src[i]) << 16) | (int(src[i + 1]) << 8) | int(src[i + 2])
        dst[o] = table[x >> 18]
        dst[o + 1] = table[(x >> 12) & 63]
        dst[o + 2] = table[(x >> 6) & 63]
        dst[o + 3] = table[x & 63]
        i += 3
        o += 4
    if n - i == 1:
        x = int(src[i]) << 16
        dst[o] = table[x >> 18]
        dst[o + 1] = table[(x >> 12) & 63]
        dst[o + 2] = 61  # "="
        dst[o + 3] = 61
        o += 4
    elif n - i == 2:
        x = (int(src[i]) << 16) | (int(src[i + 1]) << 8)
        dst[o] = table[x >> 18]
        dst[o + 1] = table[(x >> 12) & 63]
        dst[o + 2] = table[(x >> 6) & 63]
        dst[o + 3] = 61
        o += 4
    return o


def sniff(head, n):
    """The media type of a file whose first n bytes are head[:n], from its magic number; None
    for anything that is not a JPEG, PNG, GIF or WebP image."""
    h = bytes(head[:min(n, 12)])
    if h[:3] == b"\xff\xd8\xff":
        return b"image/jpeg"
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return b"image/png"
    if h[:6] == b"GIF87a" or h[:6] == b"GIF89a":
        return b"image/gif"
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return b"image/webp"
    return None


def stream(f, w, inbuf, outbuf):
    """Base64 of the rest of open file f, written to w through inbuf (file bytes) and outbuf
    (their base64); returns the bytes read. Reads a multiple of 3 bytes a round, so the
    padding comes only at the end."""
    step = min(len(inbuf), len(outbuf) // 4 * 3) // 3 * 3
    mv = memoryview(inbuf)
    have = 0  # bytes waiting in inbuf (a short read leaves a group unfinished)
    total = 0
    while True:
        k = f.readinto(mv[have:step])
        if not k:
            break
        have += k
        total += k
        m = have - have % 3
        if m:
            w.write(outbuf, encode(inbuf, m, outbuf, _B64))
            if m < have:
                inbuf[:have - m] = inbuf[m:have]
            have -= m
    if have:
        w.write(outbuf, encode(inbuf, have, outbuf, _B64))
    return total


def count(path, start, end, buf):
    """Image lines in bytes [start, end) of the session file (end -1: to its end)."""
    n = 0
    keep = len(_MARK) - 1
    try:
        f = open(path, "rb")
    except OSError:
        return 0
    with f:
        f.seek(start)
        left = end - start if end >= 0 else 1 << 30
        have = 0
        while left > 0:
            k = f.readinto(memoryview(buf)[have:have + min(len(buf) - have, left)])
            if not k:
                break
            left -= k
            have += k
            i = buf.find(_MARK, 0, have)
            while i >= 0:
                n += 1
                i = buf.find(_MARK, i + 1, have)
            if have > keep:  # a mark across the edge is found with the next read
                buf[:keep] = buf[have - keep:have]
                have = keep
    return n


def write(a, p, w):
    """The content of a user line with an image, its `[` just read by reader p: the image
    (or a note instead) and the caption, as the provider a.kind shapes it, to writer w."""
    global _reader, _left
    if p is not _reader:  # the first image line of this pass over the history
        _reader = p
        _left = count(a.session.path, a._hist[0], a._hist[1], a.buf)
        a.photo = False  # no photo in full yet (llm/errors.refused reads it)
    path = p.read_str()  # "media/<name>", relative to the workspace
    _left -= 1
    note = None
    if getattr(a, "blind", False):
        note = BLIND
    elif _left >= _FULL or a.extra:  # an older photo, or the summary's request
        note = OLDER
    else:
        note, f, size, kind = _open(a, path)
    if note:
        ev = _peek(p)
        w.json_begin()
        w.json_part(note)
        if not _empty(p, ev):
            w.json_part(b" ")
            _rest(p, w, ev)
        w.json_end()
    else:
        with f:
            if a.kind == "anthropic":
                w.write(b'[{"type":"image","source":{"type":"base64","media_type":"')
                w.write(kind)
                w.write(b'","data":"')
                _data(a, f, w, size)
                w.write(b'"}}')
                ev = _peek(p)  # after the image: its base64 passes through p.out (a.small)
                if not _empty(p, ev):  # Anthropic refuses an empty text block
                    w.write(b',{"type":"text","text":')
                    _string(p, w, ev)
                    w.write(b"}")
                w.write(b"]")
            else:
                ev = _peek(p)
                w.write(b"[")
                if not _empty(p, ev):
                    w.write(b'{"type":"text","text":')
                    _string(p, w, ev)
                    w.write(b"},")
                w.write(b'{"type":"image_url","image_url":{"url":"data:')
                w.write(kind)
                w.write(b";base64,")
                _data(a, f, w, size)
                w.write(b'"}}]')
        a.photo = True
    p.expect(END_ARR)


# The caption is read by its first event before anything of it is written: an empty one
# gets no text part (the line's value is [path, ""] for a photo sent without a caption)
def _peek(p):
    st = p.st
    st[_VMODE] = 1  # the string in pieces
    ev = p.next()
    while ev == _PART and not p.n:  # an empty first piece (the window ended at the quote)
        st[_OLEN] = 0
        ev = p.next()
    return ev


def _empty(p, ev):
    return ev == _NULL or ev == _STR and not p.n


def _rest(p, w, ev):
    # the caption from its first piece (in p.out) on, as JSON string content
    if ev != _NULL:
        w.json_part(p.out, p.n)
    if ev == _PART:
        p.st[_OLEN] = 0  # the piece was taken
        p.copy_str(w.json_part, 1 << 20)  # our own file: capped when it was written
    p.st[_VMODE] = 2


def _string(p, w, ev):
    w.json_begin()
    _rest(p, w, ev)
    w.json_end()


def _data(a, f, w, size):
    if w.counting:
        w.size += (size + 2) // 3 * 4
    else:
        f.seek(0)
        stream(f, w, a.buf, a.small)  # both free now: a.buf is the session's escaper (not
        # used while a request is written), a.small the reader's value buffer between values


def _open(a, path):
    """(None, open file, size, media type) for an image that can be sent; else (note, ...)."""
    if not path or ".." in path or not path.startswith("media/"):
        return UNREADABLE % "not a file the bot stored", None, 0, None
    try:
        f = open("%s/%s" % (a.workspace, path), "rb")
    except OSError:
        return GONE, None, 0, None
    size = f.seek(0, 2)
    f.seek(0)
    kind = sniff(a.buf, f.readinto(a.buf) or 0)
    why = None
    if kind is None:
        why = "it is not a JPEG, PNG, GIF or WebP image"
    elif size > a.media[0]:
        why = "it is over %d bytes (agents.defaults.max_media_size)" % a.media[0]
    if why:
        f.close()
        return UNREADABLE % why, None, 0, None
    return None, f, size, kind
