# Speech to text: a voice note on flash POSTed to a Whisper-compatible endpoint,
# {api_base}/audio/transcriptions (Groq's whisper-large-v3-turbo, OpenAI's whisper-1), as
# multipart/form-data: the fields model and response_format=json, then the file with its
# name and Content-Type. The Content-Length is known before a byte is sent (the fixed parts
# plus the file's size), and the file streams from flash through the agent's line buffer
# into the connection's buffer, so a 500 KB note costs the heap what a 20 KB one does. The
# answer, {"text": "..."}, streams from the socket to a file through the parser.
#
# Loaded by agent/media.py for one voice note and dropped after. The endpoint is another
# host than Telegram's and usually than the model's: its connection borrows the model
# connection's place (closed first, it is idle between turns) and its 512-byte buffer, and is
# closed when the answer is read, so no more TLS connections are open than net/tlsheap.py
# planned for.
#
# Names: a function, parameter or short str literal here is a qstr for good once loaded, and
# a voice-note burst sits near the pool step at 620 (docs/memory.md): failures come back as
# the user's line (a str) rather than as an exception class of its own, and the helpers are
# named like names the agent has already.
import os

from micropython import const

from picoclaw.json.stream import OBJ, STR, JsonError, JsonReader
from picoclaw.net.http import Connection

_TIMEOUT_MS = const(120000)  # the whole exchange at most (the upload, then the model's work on
#                              it), or agents.defaults.request_timeout when that is shorter
_TEXT_CAP = const(12288)  # bytes of transcript kept: 4096 characters said in 3-byte UTF-8
_DESC_CAP = const(200)  # an error's message, as telegram/api.py keeps Telegram's


class Upload(Connection):
    """A Connection whose request body is not JSON: its Content-Type comes with the headers
    (net/http writes application/json itself)."""

    def _send_request(self, method, path, body, headers):
        # Connection._send_request without its Content-Type; the body producer runs twice
        # (counted, then sent), as there
        self.counting = True
        self.size = 0
        try:
            body(self)
        finally:
            self.counting = False
        length = self.size
        self._waiting = 0
        w = self.write
        w(method)
        w(b" ")
        w(self.prefix)
        w(path)
        w(b" HTTP/1.1\r\nHost: ")
        w(self._hostb)
        w(b"\r\nUser-Agent: picoclaw-mpy/0.1\r\nAccept: application/json\r\nConnection: close\r\n")
        for h in headers:
            w(h)
            w(b"\r\n")
        w(b"Content-Length: %d\r\n\r\n" % length)
        before = self.size
        body(self)
        if self.size - before != length:
            raise OSError("the voice note changed on flash while it was sent")
        self._flush()


def split(url):
    """(scheme, host, port, path prefix) of a base URL, as app.split_url gives (app.py is
    the wiring: this layer may not import it); None when it is not http(s)."""
    https = url.startswith("https://")
    if not https and not url.startswith("http://"):
        return None
    rest = url[8 if https else 7:]
    i = rest.find("/")
    host, prefix = (rest, "") if i < 0 else (rest[:i], rest[i:].rstrip("/"))
    port = 443 if https else 80
    j = host.rfind(":")
    if j > 0 and host[j + 1:].isdigit():
        host, port = host[:j], int(host[j + 1:])
    return "https" if https else "http", host, port, prefix


def transcribe(a, path, text, out, prefix):
    """Transcribe the file at `path` (its MIME type `text`, "-" if unknown) at the agent's
    transcription endpoint, a.media[2] = (api_base, api_key, model). The transcript goes to
    the file `out` after `prefix`; returns its length in bytes (0: nothing was heard), or a
    str, the user's line saying what failed. Out of memory and a full flash (ENOSPC) are
    raised as they are."""
    base, key, model = a.media[2]
    url = split(base)
    if url is None:
        return "the api_base %s does not start with https:// or http://" % base
    size = os.stat(path)[6]
    buf = a.linebuf  # the file's way to the connection's buffer (256 B, idle between turns)
    r = os.urandom(8)
    boundary = b"picoclaw%08x%08x" % ((r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3]),
                                      (r[4] << 24 | r[5] << 16 | r[6] << 8 | r[7]))
    head = (b'--%s\r\nContent-Disposition: form-data; name="model"\r\n\r\n%s\r\n'
            b'--%s\r\nContent-Disposition: form-data; name="response_format"\r\n\r\njson\r\n'
            b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            b"Content-Type: %s\r\n\r\n" % (boundary, model.encode(), boundary, boundary,
                                          path[path.rfind("/") + 1:].encode(),
                                          text.encode() if text != "-" else b"audio/ogg"))
    tail = b"\r\n--%s--\r\n" % boundary

    def body(w):
        w.write(head)
        if w.counting:
            w.size += size  # the file's bytes go out as they are
        else:
            with open(path, "rb") as src:
                left = size
                while left > 0:
                    k = src.readinto(buf)
                    if not k:
                        break  # shorter than it was: the count check says so
                    k = min(k, left)
                    w.write(buf, k)
                    left -= k
        w.write(tail)

    mc = a.conn
    mc.close()  # idle between turns: the upload takes its place and its buffer
    ctx = None
    if url[0] == "https":
        ctx = mc.ctx or a.tg.conn.ctx or context(url[1], a.workspace)
    c = Upload(url, mc.buf, ctx)
    plan = Connection.tls_plan
    if plan is not None:
        plan.conns.append(c)  # one of the connections the plan closes and counts
    try:
        c.request(b"POST", b"/audio/transcriptions", body=body,
                  headers=(b"Content-Type: multipart/form-data; boundary=" + boundary,
                           b"Authorization: Bearer " + key.encode()) if key else
                  (b"Content-Type: multipart/form-data; boundary=" + boundary,),
                  timeout_ms=min(_TIMEOUT_MS, a.timeout_s * 1000))  # request_timeout: a model call's
        return answer(c, a.small, out, prefix)
    except OSError as e:
        if e.args and e.args[0] == 28:
            raise  # the flash is full: the agent says so
        return "I could not reach the transcription service at %s (%s)" % (url[1], e)
    finally:
        c.close()
        if plan is not None:
            plan.conns.remove(c)


def answer(c, small, out, prefix):
    """Read the endpoint's answer: the transcript's length, or the user's line (a str)."""
    p = JsonReader(c, small)
    status = c.status
    try:
        if status != 200:
            msg = error(p)
            if msg:
                return "the transcription service answered HTTP %d: %s" % (status, msg)
            return "the transcription service answered HTTP %d" % status
        n = -1
        with open(out, "wb") as f:
            f.write(prefix)

            def sink(b, k):
                f.write(memoryview(b)[:k])

            p.expect(OBJ)
            while p.next_key():
                if p.key_is(b"text") and n < 0:
                    n = p.copy_str(sink, _TEXT_CAP)[0]
                else:
                    p.skip()
            p.finish()
        if n < 0:
            return "the transcription service answered without a text"
        return n
    except JsonError:
        return "the transcription service answered HTTP %d with something that is not a transcript" % status
    finally:
        c.done()


def error(p):
    """The message of an error body ({"error": {"message": ...}} or {"error": "..."}), or ""."""
    msg = ""
    try:
        p.expect(OBJ)
        while p.next_key():
            if p.key_is(b"error"):
                ev = p.next()
                if ev == OBJ:
                    while p.next_key():
                        if p.key_is(b"message"):
                            msg = p.read_str(_DESC_CAP) or ""
                        else:
                            p.skip()
                elif ev == STR:
                    msg = p.text()
                else:
                    p.skip_value(ev)
            else:
                p.skip()
    except JsonError:
        pass  # a proxy's page: the status says enough
    return msg


def context(host, workspace):
    """Both Telegram and the model over plain HTTP (a test, a local proxy), the endpoint over
    HTTPS: its own SSLContext, with tls.ca_file's roots when one is configured."""
    from picoclaw import load, unload

    trust = Connection.trust
    try:
        return load("picoclaw.net.trust").context(trust[0] if trust else None, True, (host,), workspace)
    finally:
        unload("picoclaw.net.trust")
