# A file message's intake: a voice note or an audio file becomes its transcript, a photo or
# an image document a reference to the image on flash with its caption; either is the user's
# line of the turn. Loaded by agent/loop.Agent.answer for an inbox record flagged _MEDIA
# (telegram/files.py wrote its descriptor) and dropped after.
#
# The file: getFile gives its path on Telegram's file server, and the body streams from the
# Telegram connection's buffer to <workspace>/media/<file_unique_id>.<ext> (a .part file,
# renamed when whole), so nothing grows with its size. Checked against max_media_size before
# anything is fetched (the message's file_size, then getFile's, then the Content-Length, then
# the bytes as they come). The media folder has its own quota (media_quota_kb): the oldest
# files are dropped first to make room. A retried update finds its file on flash and does not
# fetch it again.
#
# What cannot be done is said to the user in one line and the turn is closed: no
# transcription configured, a file over the cap, a file Telegram will not serve (getFile 400
# "file is too big" past its 20 MB, any other refusal), a transcription that fails in any way
# (a voice note is not worth retrying for ever: the offset must move on). Telegram's own
# network failures and 5xx are raised: the gateway retries the update.
import os

from micropython import const

from picoclaw import load, log, unload
from picoclaw.json.stream import OBJ
from picoclaw.telegram.api import APIError, refused

_FETCH_MS = const(120000)  # the whole download: 640 KB over a slow Wi-Fi link
_HEARD = const(b"I heard: ")  # the echo's prefix (voice.echo_transcription), in the same file

# file name extensions by MIME subtype (what a transcription endpoint reads the format from);
# Telegram's voice notes are OGG/Opus (audio/ogg, stored as .oga: Whisper wants .ogg)
_EXT = "mpeg:mp3 mp3:mp3 x-m4a:m4a m4a:m4a mp4:m4a aac:m4a ogg:ogg oga:ogg opus:ogg wav:wav x-wav:wav " \
       "wave:wav webm:webm flac:flac x-flac:flac jpeg:jpg jpg:jpg png:png webp:webp gif:gif"


def intake(a, s, u, f):
    """Turn file message u (inbox file f) into the user's line of session s; True when the
    turn is to run, False when the user was answered here instead."""
    try:
        d = load("picoclaw.telegram.files").descriptor(f, u)
    finally:
        unload("picoclaw.telegram.files")
    if d is None:
        return _say(a, u, "Sorry, I could not read this file message.")
    kind, fid, size, mime, uid, caption = d
    cap, quota_kb, voice, echo = a.media
    a.tg.cap = cap  # the photo size the parser picks from now on
    audio = kind == "voice" or kind == "audio"
    what = "voice note" if kind == "voice" else "audio file" if audio else "image"
    if audio and voice is None:
        return _say(a, u, "Sorry, I cannot listen to voice notes: no transcription model is configured "
                          "(voice.model_name naming a model_list entry, or providers.groq).")
    if size > cap:
        return _too_big(a, u, what, size, cap)
    rel = "media/%s.%s" % (uid, extension(kind, mime))
    path = a.workspace + "/" + rel
    try:
        os.stat(path)  # fetched already (a retried update)
    except OSError:
        if not fetch(a, u, fid, what, cap, quota_kb * 1024, path):
            return False
    if not audio:
        append = getattr(s, "append_image", None)
        if append is None:
            return _say(a, u, "Sorry, I cannot look at images yet.")
        f.seek(u.text_offset)
        append(f, caption, a.buf, rel, u.update_id)
        return True
    out = a.state_dir + "/transcript"
    t = load("picoclaw.llm.transcribe")
    try:
        n = t.transcribe(a, voice, path, rel[6:], mime if mime != "-" else "audio/ogg", out, _HEARD)
    except t.TranscribeError as e:
        return _say(a, u, "Sorry, I could not transcribe your %s: %s." % (what, e))
    finally:
        t = None
        unload("picoclaw.llm.transcribe")
    if not n:
        return _say(a, u, "I could not make out any words in your %s." % what)
    with open(out, "rb") as tf:
        if echo:
            a.tg.send_message(u.chat_id, None, u.message_id, text_file=tf, text_len=len(_HEARD) + n)
        tf.seek(len(_HEARD))
        s.append_user(tf, n, a.buf, prefix=b"[voice] ", update_id=u.update_id)
    return True


def extension(kind, mime):
    """The file name extension for a file of this kind and MIME type."""
    if kind == "photo":
        return "jpg"  # Telegram's photos are JPEG
    sub = mime[mime.find("/") + 1:].lower()
    for pair in _EXT.split():
        k, e = pair.split(":")
        if k == sub:
            return e
    return "ogg" if kind == "voice" else "bin"


def fetch(a, u, fid, what, cap, quota, path):
    """getFile, then the download to `path`; False when the user was told why not."""
    tg = a.tg
    try:
        got = tg._call(b"getFile", lambda w: _file_id(w, fid), _file)  # (file_path, file_size)
    except APIError as e:
        if not refused(e) or e.code in (401, 404):
            raise  # 429, 5xx: the gateway retries; 401/404: the token
        if "too big" in e.description:
            return _say(a, u, "Sorry, Telegram lets bots download files of up to 20 MB only, and this "
                              "%s is bigger." % what)
        return _say(a, u, "Sorry, Telegram would not give me this %s (%s)." % (what, e.description))
    fpath, size = got
    if not fpath:
        return _say(a, u, "Sorry, Telegram gave me no path to download this %s from." % what)
    if size > cap:
        return _too_big(a, u, what, size, cap)
    if size > quota:
        return _say(a, u, "Sorry, this %s (%d KB) is bigger than the media folder's quota of %d KB "
                          "(agents.defaults.media_quota_kb)." % (what, _kb(size), quota // 1024))
    conn = tg.conn
    conn.request(b"GET", (b"/file", tg._path, fpath.encode()), timeout_ms=_FETCH_MS)
    status = conn.status
    if status != 200:
        conn.done()  # an error page, not read
        if status >= 500 or status == 429:
            raise APIError("download", status, "Telegram's file server answered HTTP %d" % status)
        return _say(a, u, "Sorry, Telegram's file server would not send this %s (HTTP %d)." % (what, status))
    if conn.length > cap:
        conn.close()
        return _too_big(a, u, what, conn.length, cap)
    folder = path[:path.rfind("/")]
    make_room(folder, max(size, conn.length), quota)
    part = path + ".part"
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
        return _too_big(a, u, what, total, cap)
    os.rename(part, path)
    log.info("update %d: %s of %d bytes fetched to %s" % (u.update_id, what, total, path))
    return True


def make_room(folder, need, quota):
    """Drop the oldest files of `folder` until `need` more bytes fit in `quota` bytes."""
    try:
        names = os.listdir(folder)
    except OSError:
        os.mkdir(folder)
        return
    files = []
    used = 0
    for name in names:
        p = folder + "/" + name
        st = os.stat(p)
        used += st[6]
        files.append((st[8], name, st[6]))  # (mtime, name, size): the oldest first once sorted
    files.sort()
    for _, name, size in files:
        if used + need <= quota:
            break
        os.remove(folder + "/" + name)
        used -= size
        log.info("media quota: %s dropped (%d bytes)" % (name, size))


def _file_id(w, fid):
    w.write(b'{"file_id":')
    w.json_begin()
    w.json_part(fid)
    w.json_end()
    w.write(b"}")


def _file(p):
    # getFile's File: its file_path and file_size (0 when it gives none)
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


def _kb(n):
    return (n + 1023) // 1024


def _too_big(a, u, what, size, cap):
    return _say(a, u, "Sorry, this %s is %d KB, and I take files of up to %d KB "
                      "(agents.defaults.max_media_size)." % (what, _kb(size), _kb(cap)))


def _say(a, u, text):
    """One line to the user instead of a turn; False (the turn is closed)."""
    log.info("update %d: %s" % (u.update_id, text))
    a.tg.send_message(u.chat_id, log.scrub(text), u.message_id)
    return False
