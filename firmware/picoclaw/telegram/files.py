# The file of a message (a voice note, an audio file, a photo, an image document) and its
# caption as the inbox records them: loaded by telegram/api.py only for those keys, so the
# poll's resident code stays as small as it was (docs/memory.md).
#
# The record's text is the caption followed by a descriptor line of fixed width,
#
#     <kind> <file_id> <file_size> <mime_type> <file_unique_id>   (padded to DESC bytes)\n
#
# written after the whole message was read (the caption may come before or after the file),
# so agent/media.py finds it at the end of the text and the caption before it. A caption
# without a file (a video's) is recorded but not flagged as text, so the gateway skips it
# as it skips the video.
from micropython import const

from picoclaw.json.stream import ARR, END_ARR, OBJ

_TRUNCATED = const(1)  # telegram/inbox.py's record flag
_HAS_TEXT = const(2)
_CAPTION_CAP = const(4096)  # bytes: Telegram's captions are at most 1024 characters
_CAP = const(655360)  # bytes: agents.defaults.max_media_size's default, until the agent sets tg.cap
DESC = const(256)  # the descriptor's width: 8 + 128 + 10 + 64 + 32 bytes of fields at most


def read(p, tg, u, f, media):
    """Read the value of the key in p.out for record u (inbox file f): the caption streams to
    f; a file (voice, audio, photo, document) gives its descriptor line. Returns the message's
    descriptor so far: `media`, or the new one. A photo is an array of PhotoSize: the
    largest size under the cap (tg.cap: max_media_size, set by the agent) is picked, else
    the smallest (the agent says it is too big). A document counts only as an image."""
    kind = p.text()
    if kind == "caption":
        if u.flags & _HAS_TEXT or u.text_len:
            p.skip()  # a second text: the first one is the message's
        else:
            tg.stream = f
            u.text_len, cut = p.copy_str(tg.sink, _CAPTION_CAP)
            if cut:
                u.flags |= _TRUNCATED
        return media
    if media or kind not in ("voice", "audio", "photo", "document"):
        p.skip()  # a second file, a video, a quote, a sticker...: nothing the agent takes
        return media
    cap = getattr(tg, "cap", _CAP)
    photo = kind == "photo"
    if photo:
        p.expect(ARR)
    best = None
    while True:
        if photo:
            ev = p.next()
            if ev == END_ARR:
                break
            if ev != OBJ:
                p.skip_value(ev)
                continue
        else:
            p.expect(OBJ)
        fid = uid = ""
        size = 0
        mime = "-"
        while p.next_key():
            if p.key_is(b"file_id"):
                fid = p.read_str() or ""
            elif p.key_is(b"file_unique_id"):
                uid = p.read_str(32) or ""
            elif p.key_is(b"file_size"):
                size = p.read_int()
            elif p.key_is(b"mime_type"):
                mime = p.read_str(64) or "-"
            else:
                p.skip()
        # one token each (Telegram's ids and types have no space; a hostile one loses them)
        fid = "".join(fid.split())
        uid = "".join(uid.split())
        mime = "".join(mime.split()) or "-"
        if fid and uid and (best is None or (size <= cap and (best[2] > cap or size > best[2]))
                            or (best[2] > cap and size < best[2])):
            best = (kind, fid, size, mime, uid)
        if not photo:
            break
    if best is None or kind == "document" and not best[3].startswith("image/"):
        return None
    d = ("%s %s %d %s %s" % best).encode()[:DESC - 1]
    return d + b" " * (DESC - 1 - len(d)) + b"\n"


def descriptor(f, u):
    """The descriptor of inbox record u (file f): (kind, file_id, file_size, mime_type,
    file_unique_id, caption bytes), or None if the record has none that parses."""
    if u.text_len < DESC:
        return None
    f.seek(u.text_offset + u.text_len - DESC)
    parts = f.read(DESC).split()
    if len(parts) != 5 or not parts[2].isdigit():
        return None
    return (parts[0].decode(), parts[1].decode(), int(parts[2]), parts[3].decode(), parts[4].decode(),
            u.text_len - DESC)
