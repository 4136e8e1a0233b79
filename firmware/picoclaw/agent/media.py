# A file message's intake: a voice note or an audio file becomes its transcript, a photo or
# an image document a reference to the image on flash with its caption; either is the user's
# line of the turn. Loaded by agent/loop.Agent.answer for an inbox record flagged _MEDIA
# (telegram/files.py wrote its descriptor) and dropped after.
#
# The file: getFile gives its path on Telegram's file server, and the body streams from the
# Telegram connection's buffer to <workspace>/media/<file_unique_id>.<ext> (an .incomplete
# file, renamed when whole), so nothing grows with its size. Checked against max_media_size
# before anything is fetched (the message's file_size, then getFile's, then the
# Content-Length, then the bytes as they come). The media folder has its own quota
# (media_quota_kb): the oldest files are dropped first to make room. A retried update finds
# its file on flash and does not fetch it again.
#
# What cannot be done is said to the user in one line and the turn is closed: no
# transcription configured, a file over the cap, a file Telegram will not serve (getFile 400
# "file is too big" past its 20 MB, any other refusal), a transcription that fails in any way
# (a voice note is not worth retrying for ever: the offset must move on). Telegram's own
# network failures and 5xx are raised: the gateway retries the update.
#
# Names: each function, parameter and short str literal here is a qstr for good once this
# module loads, and a voice-note burst sits near the pool step at 620 (docs/memory.md); so
# kinds are compared as bytes, words are split out of long strings, and the parameters
# reuse names the agent has interned already.
import os

from micropython import const

from picoclaw import load, log, unload
from picoclaw.json.stream import OBJ
from picoclaw.telegram.api import APIError, refused

_DESC = const(256)  # telegram/files.py's descriptor width
_FETCH_MS = const(120000)  # the whole download: 640 KB over a slow Wi-Fi link
_HEARD = const(b"I heard: ")  # the echo's prefix (voice.echo_transcription), in the same file

# file name extensions: by MIME subtype (what a transcription endpoint reads the format from;
# Telegram's voice notes are OGG/Opus, audio/ogg, stored as .oga, which Whisper refuses), then
# by kind, then any
_EXT = const("mpeg:mp3 mp3:mp3 x-m4a:m4a m4a:m4a mp4:m4a aac:m4a ogg:ogg oga:ogg opus:ogg wav:wav x-wav:wav "
        "wave:wav webm:webm flac:flac x-flac:flac jpeg:jpg png:png webp:webp gif:gif photo:jpg voice:ogg *:bin")
_WHAT = const("voice note|audio file|image")
_TOO_BIG = const("Sorry, this %s is %d KB, and I take files of up to %d KB (agents.defaults.max_media_size).")


def intake(a, s, u, f):
    """Turn file message u (inbox file f) into the user's line of session s; True when the
    turn is to run, False when the user was answered here instead."""
    # the descriptor: the last _DESC bytes of the record's text, the caption before it
    d = None
    if u.text_len >= _DESC:
        f.seek(u.text_offset + u.text_len - _DESC)
        d = f.read(_DESC).split()  # kind file_id file_size mime_type file_unique_id
    # (the file_unique_id names the file on flash: Telegram's are letters, digits, - and _)
    if not d or len(d) != 5 or not d[2].isdigit() or b"/" in d[4] or d[4][:1] == b".":
        return _say(a, u, "Sorry, I could not read this file message.")
    kind = d[0]
    size = int(d[2])
    cap, quota, voice, echo = a.media
    # the photo size the parser picks from now on (until then its default, the cap's own;
    # set here, not at start: a line in the resident gateway cost the two-tool burst 2 KB)
    a.tg.cap = cap
    audio = kind == b"voice" or kind == b"audio"
    what = _WHAT.split("|")[0 if kind == b"voice" else 1 if audio else 2]
    if audio and voice is None:
        return _say(a, u, "Sorry, I cannot listen to voice notes: no transcription model is configured "
                          "(voice.model_name naming a model_list entry, or providers.groq).")
    if size > cap:
        return _say(a, u, _TOO_BIG % (what, (size + 1023) // 1024, (cap + 1023) // 1024))
    mime = d[3].decode()
    sub = mime[mime.find("/") + 1:].lower()  # "-" for a photo: the kind decides
    for pair in _EXT.split():  # the last one ("*") when none matches
        k, ext = pair.split(":")
        if k == sub or k == kind.decode():
            break
    path = "%s/media/%s" % (a.workspace, d[4].decode() + "." + ext)
    try:
        os.stat(path)  # fetched already (a retried update)
    except OSError:
        if not fetch(a, u, d[1].decode(), what, path):
            return False
    if not audio:  # the caption and a reference to the file (llm/image.py sends the image)
        f.seek(u.text_offset)
        try:
            load("picoclaw.agent.photo").append_image(s, f, u.text_len - _DESC, a.buf, path[len(a.workspace) + 1:],
                                                      u.update_id)
        finally:
            unload("picoclaw.agent.photo")
        return True
    out = a.state_dir + "/transcript"
    try:
        n = load("picoclaw.llm.transcribe").transcribe(a, path, mime, out, _HEARD)
    finally:
        unload("picoclaw.llm.transcribe")
    if isinstance(n, str):
        return _say(a, u, "Sorry, I could not transcribe your %s: %s." % (what, n))
    if not n:
        return _say(a, u, "I could not make out any words in your %s." % what)
    with open(out, "rb") as t:
        if echo:
            a.tg.send_message(u.chat_id, None, u.message_id, text_file=t, text_len=len(_HEARD) + n)
        t.seek(len(_HEARD))
        s.append_user(t, n, a.buf, prefix=b"[voice] ", update_id=u.update_id)
    return True


def fetch(a, u, text, what, path):
    """getFile for the file id `text`, then the download to `path`; False when the user was
    told why not."""
    tg = a.tg
    cap = a.media[0]
    quota = a.media[1] * 1024
    try:
        # {"file_id": ...} written as JSON (an id is not trusted to need no escaping)
        got = tg._call(b"getFile", lambda w: (w.write(b'{"file_id":'), w.json_begin(), w.json_part(text),
                                              w.json_end(), w.write(b"}")), file)
    except APIError as e:
        if not refused(e) or e.code in (401, 404):
            raise  # 429, 5xx: the gateway retries; 401/404: the token
        if "file is too big" in e.description:
            return _say(a, u, "Sorry, Telegram lets bots download files of up to 20 MB only, and this "
                              "%s is bigger." % what)
        return _say(a, u, "Sorry, Telegram would not give me this %s (%s)." % (what, e.description))
    fpath, size = got or ("", 0)  # (an ok answer without a result: no path)
    if not fpath:
        return _say(a, u, "Sorry, Telegram gave me no path to download this %s from." % what)
    if size > cap:
        return _say(a, u, _TOO_BIG % (what, (size + 1023) // 1024, (cap + 1023) // 1024))
    if size > quota:
        return _say(a, u, "Sorry, this %s (%d KB) is bigger than the media folder's quota of %d KB "
                          "(agents.defaults.media_quota_kb)." % (what, (size + 1023) // 1024, quota // 1024))
    conn = tg.conn
    conn.request(b"GET", (b"/file", tg._path, fpath.encode()), timeout_ms=_FETCH_MS)
    status = conn.status
    if status != 200:
        conn.done()  # an error page, not read
        if status >= 500 or status == 429:
            raise APIError("file download", status, "Telegram's file server answered HTTP %d" % status)
        return _say(a, u, "Sorry, Telegram's file server would not send this %s (HTTP %d)." % (what, status))
    if conn.length > cap:
        conn.close()
        return _say(a, u, _TOO_BIG % (what, (conn.length + 1023) // 1024, (cap + 1023) // 1024))
    make_room(path[:path.rfind("/")], max(size, conn.length), quota)
    part = path + ".incomplete"
    total = 0
    buf = conn.buf
    with open(part, "wb") as out:
        while True:
            n = conn.fill()
            if not n:
                break
            total += n
            if total > cap:  # no length given, or more than it said
                break
            out.write(memoryview(buf)[conn.start:conn.start + n])
    conn.done()  # closed unless the body was read to its end
    if total > cap:
        os.remove(part)
        return _say(a, u, _TOO_BIG % (what, (total + 1023) // 1024, (cap + 1023) // 1024))
    os.rename(part, path)
    log.info("update %d: %s of %d bytes fetched to %s" % (u.update_id, what, total, path))
    return True


def make_room(path, n, cap):
    """Drop the oldest files of the folder `path` until n more bytes fit in `cap` bytes (the
    media quota); the folder is made if there is none."""
    try:
        names = list(os.ilistdir(path))  # (a generator may fail only once iterated)
    except OSError:
        os.mkdir(path)
        return
    files = []
    used = 0
    for e in names:
        name = e[0]
        st = os.stat(path + "/" + name)
        used += st[6]
        files.append((st[8], name, st[6]))  # (mtime, name, size): the oldest first once sorted
    files.sort()
    for _, name, size in files:
        if used + n <= cap:
            break
        os.remove(path + "/" + name)
        used -= size
        log.info("media quota: %s dropped (%d bytes)" % (name, size))


def file(p):
    """getFile's File: (file_path, file_size), "" and 0 for what it does not give."""
    fpath = ""
    size = 0
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"file_path"):
            fpath = p.read_str() or ""
            if p.truncated:
                fpath = ""  # longer than the parser's buffer: not a path to use
        elif p.key_is(b"file_size"):
            size = p.read_int()
        else:
            p.skip()
    return fpath, size


def _say(a, u, text):
    """One line to the user instead of a turn; False (the turn is closed)."""
    log.info("update %d: %s" % (u.update_id, text))
    a.tg.send_message(u.chat_id, log.scrub(text), u.message_id)
    return False
