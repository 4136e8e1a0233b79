"""Fake Whisper-compatible transcription endpoint (OpenAI's and Groq's
POST {base}/audio/transcriptions) over real HTTP/1.1 (+TLS) on loopback. HOST ONLY: a CPython
test fixture, never frozen or deployed.

The request is checked strictly, as bytes: Authorization: Bearer <api_key> (401 in OpenAI's
error shape otherwise), Content-Type multipart/form-data with a boundary, a Content-Length
that matches the body (the reader takes exactly that many bytes: more would be read as the
next request and refused as malformed, fewer never complete), and the body itself: it starts
with --boundary CRLF, each part has a Content-Disposition: form-data with a name (the file
part a filename and a Content-Type), parts are separated by CRLF --boundary CRLF, and it
ends with CRLF --boundary-- CRLF. The fields model and file are required, response_format
(json, the default, text or verbose_json) optional, any other field is refused. Each upload
is recorded in .uploads as {"model", "response_format", "filename", "content_type", "data",
"headers", "length"}: tests compare "data" with the source file byte for byte.

    with FakeTranscriber() as stt:
        stt.reply_text("hello there")        # the next answer: {"text": "hello there"}
        stt.reply_error(429, "Rate limit reached")
        stt.reply_raw(200, b"<html>proxy</html>", "text/html")
        stt.reply_stall(5)                   # no answer for 5 s, then the connection closes
        ... point the client at stt.base_url (".../openai/v1" like Groq's), trust stt.ca_pem_path

With no reply queued a request gets 500 and is recorded in .errors. The official openai SDK's
client.audio.transcriptions.create(model=..., file=...) works against it
(host_tests/test_voice.py).
"""
import collections
import json
import re
from email.utils import formatdate

from .httpserve import Conn, Server

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Payload Too Large",
            415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}
_FORMATS = ("json", "text", "verbose_json")


class _Conn(Conn):
    def respond(self, status, body, ctype="application/json", close=False):
        head = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown")), "Date: " + formatdate(usegmt=True),
                "Content-Type: " + ctype, "Content-Length: %d" % len(body),
                "Connection: " + ("close" if close else "keep-alive")]
        self.send_raw(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        return not close


class MultipartError(ValueError):
    pass


def parse_multipart(body, boundary):
    """[(headers {lower: value}, disposition params {name, filename}, data)] of a
    multipart/form-data body, strictly (see the module docstring). Raises MultipartError."""
    delim = b"--" + boundary
    if not body.startswith(delim + b"\r\n"):
        raise MultipartError("the body does not start with --boundary CRLF")
    end = b"\r\n" + delim + b"--\r\n"
    if not body.endswith(end):
        raise MultipartError("the body does not end with CRLF --boundary-- CRLF")
    inner = body[len(delim) + 2:len(body) - len(end)]
    parts = []
    for raw in inner.split(b"\r\n" + delim + b"\r\n"):
        head, sep, data = raw.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a part without a blank line after its headers")
        headers = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise MultipartError("malformed part header %r" % line[:60])
            headers[name.decode("ascii").lower()] = value.decode("utf-8").strip()
        cd = headers.get("content-disposition", "")
        if not cd.startswith("form-data"):
            raise MultipartError("a part without Content-Disposition: form-data")
        params = dict(re.findall(r';\s*([a-z]+)="([^"]*)"', cd))
        if "name" not in params:
            raise MultipartError("a part without a name")
        parts.append((headers, params, data))
    return parts


class FakeTranscriber(Server):
    """The fake endpoint (see the module docstring). HOST ONLY."""

    _conn_class = _Conn

    def __init__(self, api_key="gsk_test_transcribe_key_0123456789", tls=True, prefix="/openai/v1",
                 idle_timeout=30.0):
        Server.__init__(self, "transcribe", tls, idle_timeout)
        self.api_key = api_key
        self.prefix = prefix
        self.uploads = []
        self.requests = []  # every request: {"path", "headers", "status"}
        self.errors = []
        self._replies = collections.deque()

    def _listening(self, origin):
        self.base_url = origin + self.prefix

    # ----- scripting the answers
    def reply_text(self, text):
        self._replies.append(("text", text))

    def reply_error(self, status, message, type_="invalid_request_error"):
        self._replies.append(("error", status, message, type_))

    def reply_raw(self, status, body, ctype="application/json"):
        self._replies.append(("raw", status, body, ctype))

    def reply_stall(self, seconds):
        self._replies.append(("stall", seconds))

    def pending_replies(self):
        return len(self._replies)

    # ----- serving
    def _malformed(self, conn, error):
        with self._cond:
            self.errors.append("malformed HTTP: %s" % error)
        conn.respond(400, self._err("malformed HTTP request: %s" % error), close=True)

    @staticmethod
    def _err(message, type_="invalid_request_error", code=None):
        return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()

    def _handle(self, conn, req):
        verb, target, version, headers, body = req
        path = target.partition("?")[0]
        entry = {"path": path, "headers": headers, "status": None}
        with self._cond:
            self.requests.append(entry)
        if verb != "POST" or path != self.prefix + "/audio/transcriptions":
            entry["status"] = 404
            return conn.respond(404, self._err("Unknown request URL: %s %s" % (verb, path), code="unknown_url"))
        if headers.get("authorization") != "Bearer " + self.api_key:
            entry["status"] = 401
            return conn.respond(401, self._err("Invalid API Key", code="invalid_api_key"))
        ctype = headers.get("content-type", "")
        m = re.match(r'multipart/form-data;\s*boundary=("?)([^";]+)\1\s*\Z', ctype)
        if not m:
            entry["status"] = 400
            with self._cond:
                self.errors.append("Content-Type %r" % ctype)
            return conn.respond(400, self._err("Content-Type must be multipart/form-data with a boundary"))
        if "content-length" in headers and int(headers["content-length"]) != len(body):
            raise AssertionError("the reader took Content-Length bytes")  # pragma: no cover
        try:
            parts = parse_multipart(body, m.group(2).encode("latin-1"))
            fields = {}
            upload = {"headers": headers, "length": len(body)}
            for h, params, data in parts:
                name = params["name"]
                if name in fields:
                    raise MultipartError("field %s given twice" % name)
                fields[name] = data
                if name == "file":
                    if "filename" not in params or "content-type" not in h:
                        raise MultipartError("the file part needs a filename and a Content-Type")
                    upload.update(filename=params["filename"], content_type=h["content-type"], data=data)
                elif name not in ("model", "response_format", "language", "prompt", "temperature"):
                    raise MultipartError("unknown field %s" % name)
            if "file" not in fields or "model" not in fields:
                raise MultipartError("model and file are required")
            upload["model"] = fields["model"].decode("utf-8")
            upload["response_format"] = fields.get("response_format", b"json").decode("utf-8")
            if upload["response_format"] not in _FORMATS:
                raise MultipartError("response_format must be one of %s" % ", ".join(_FORMATS))
        except (MultipartError, UnicodeDecodeError) as e:
            entry["status"] = 400
            with self._cond:
                self.errors.append("multipart: %s" % e)
            return conn.respond(400, self._err("could not parse multipart form: %s" % e))
        with self._cond:
            self.uploads.append(upload)
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            entry["status"] = 500
            with self._cond:
                self.errors.append("no reply scripted")
            return conn.respond(500, self._err("no reply scripted", "server_error"))
        if reply[0] == "stall":
            entry["status"] = "stalled"
            self._stop_event.wait(reply[1])
            return False
        if reply[0] == "raw":
            entry["status"] = reply[1]
            return conn.respond(reply[1], reply[2], reply[3])
        if reply[0] == "error":
            entry["status"] = reply[1]
            return conn.respond(reply[1], self._err(reply[2], reply[3]))
        entry["status"] = 200
        text = reply[1]
        fmt = upload["response_format"]
        if fmt == "text":
            return conn.respond(200, text.encode("utf-8"), "text/plain; charset=utf-8")
        out = {"text": text}
        if fmt == "verbose_json":
            out.update(task="transcribe", language="english", duration=1.0, segments=[])
        out["x_groq"] = {"id": "req_fake"}
        return conn.respond(200, json.dumps(out).encode())
