# The file of a message (a voice note, an audio file, a photo, an image document) and its
# caption as the inbox records them: loaded by telegram/api.py only for those keys, so the
# poll's resident code stays as small as it was (docs/memory.md).
#
# The record's text is the caption followed by a descriptor line of fixed width,
#
#     <kind> <file_id> <file_size> <mime_type> <file_unique_id>   (padded to _DESC bytes)\n
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
_DESC = const(256)  # the descriptor's width: 8 + 128 + 10 + 64 + 32 bytes of fields at most
#                    (agent/media.py has a copy: const() folds only within a module)


def read(p, tg, u, f, media):
    """Read the value of the key in p.out for record u (inbox file f): the caption streams to
    f; a file (voice, audio, photo, document) gives its descriptor line. Returns the message's
    descriptor so far: `media`, or the new one. A photo is an array of PhotoSize: the largest
    size under the cap (tg.cap: max_media_size, set by the agent) is picked, else the
    smallest (the agent says it is too big). A document counts only as an image."""
    # (the keys compared as bytes: a short str literal would be interned for good)
    key_is = p.key_is
    if key_is(b"caption"):
        if u.flags & _HAS_TEXT or u.text_len:
            p.skip()  # a second text: the first one is the message's
        else:
            tg.stream = f
            u.text_len, cut = p.copy_str(tg.sink, _CAPTION_CAP)
            if cut:
                u.flags |= _TRUNCATED
        return media
    photo = key_is(b"photo")
    doc = key_is(b"document")
    if media or not (photo or doc or key_is(b"voice") or key_is(b"audio")):
        p.skip()  # a second file, a video, a quote, a sticker...: nothing the agent takes
        return media
    kind = p.text()
    cap = getattr(tg, "cap", _CAP)
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
            if key_is(b"file_id"):
                fid = p.read_str() or ""
            elif key_is(b"file_unique_id"):
                uid = p.read_str(32) or ""
            elif key_is(b"file_size"):
                size = p.read_int()
            elif key_is(b"mime_type"):
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
    if best is None or doc and not best[3].encode().startswith(b"image/"):
        return None
    d = ("%s %s %d %s %s" % best).encode()[:_DESC - 1]
    return d + b" " * (_DESC - 1 - len(d)) + b"\n"
