"""Fake Telegram Bot API server over real HTTP/1.1 (+TLS) on loopback. HOST ONLY: a CPython test fixture, never frozen or deployed.

Used by host tests and the demo to talk to the firmware's Telegram client exactly as the real
api.telegram.org would, only stricter: every method and parameter is checked against the real
Bot API spec (../shared/telegram-bot-api/api.min.json, beside the repo), unknown parameters are
refused, HTTP framing is parsed strictly (CRLF line endings, Host header, no CL+TE together...),
and one-shot faults (HTTP errors, malformed JSON, truncated or chunked bodies, stalls, dropped
connections) can be injected per method.

Depends only on the standard library, trustme (throwaway CA for the TLS certificate) and
httpserve.py (listening, threads, TLS, strict request reading, shared with llm_server.py).

    with FakeTelegram() as tg:
        alice = tg.user(42, "Alice")
        tg.send_text(alice, "/start")
        ...  # point the client at tg.base_url, trust tg.ca_der_path
        tg.wait_sent(1)

What a client should know (all deliberate, stricter than api.telegram.org):
- Requests: CRLF line endings, a Host header (HTTP/1.1), Content-Length or chunked (not both),
  origin-form target; otherwise 400 "Bad Request: malformed HTTP request: ..." and close.
  Bodies: application/json or application/x-www-form-urlencoded (plus the query string); no
  multipart. A parameter given twice (also query + body) is refused. Method names are
  case-sensitive. Booleans in forms/queries must be "true"/"false"; in JSON, types must be real
  JSON types (no "5" for an Integer); arrays/objects may also be JSON-serialized strings, and
  objects are checked field by field against the spec (unknown fields refused).
- Error descriptions: "Unauthorized" (401), "Not Found" (404), "Bad Request: unknown parameter
  <name>", "Bad Request: <name> is empty" (missing required field; sendMessage without text says
  "Bad Request: message text is empty"), "Bad Request: invalid parameter <name>: <detail>" (type),
  "Bad Request: message is too long" (> 4096 UTF-16 units after entity parsing), "Bad Request:
  chat not found" (chat never seen in an update and not add_chat()ed), "Bad Request: can't parse
  entities: ..." (parse_mode HTML; Markdown modes are refused; a bare & or > is refused),
  "Bad Request: strings must be encoded in UTF-8", 409 CONFLICT_POLL / CONFLICT_WEBHOOK, 403
  "Forbidden: bot was blocked by the user" (chat id in .blocked).
- getUpdates: limit outside 1..100 and negative timeout are 400 (real Telegram clamps). A
  long poll ends early if its client disconnects. For time-scaled runs (host_tests/
  test_longrun.py) set .time_scale: an empty long poll is then held timeout / time_scale
  seconds (default 1.0: the real length). allowed_updates filters when an update is
  queued (dropped ones go to .filtered, their update_id is skipped), like the real server.
- Faults: "status", "body", "stall" and "close" do NOT perform the request (nothing in .sent,
  no updates consumed); "truncate", "chunked_truncate" and "chunked" perform it and mangle only
  the response. No close_notify is sent when the server closes a TLS connection. Idle keep-alive
  connections are closed after idle_timeout (60 s). 429s carry parameters.retry_after only (no
  Retry-After header).
- Whole-server behaviours (not one-shot): .framing = "chunked" answers every response in
  chunked transfer encoding, written in small pieces (chunk_sizes, cycled; a proxy in front of
  the Bot API can do this); .vanish(text) makes bot messages with that text disappear right
  after they are sent (the user deleted them: a later edit gets 400 "message to edit not
  found"); .send_raw_update(json_text) queues an update whose JSON the test writes itself
  (duplicate keys, control characters, huge numbers: things a dict cannot say or the spec
  check would refuse).
- Endless faults (one-shot, never finish by themselves): "endless_body" sends a chunked 200
  whose body never ends (whitespace chunks every 20 ms), "endless_headers" a status line and
  then header lines forever, "drip"(seconds) the real response one byte every `seconds`.
- Files: send_voice / send_audio / send_photo / send_document queue messages whose files
  (bytes the test gives) the bot can fetch as the real one does: getFile returns a File
  (file_id, file_unique_id, file_size, file_path; 400 "Bad Request: invalid file_id" for an
  unknown id, 400 "Bad Request: file is too big" past 20 MB: add_file(size=...) makes one
  without bytes), then GET /file/bot<token>/<file_path> sends the bytes
  (application/octet-stream; 404 for an unknown path or token). Each download is recorded in
  .downloads; .file_faults (a list of HTTP statuses) answers the next downloads with them.
- Methods: getMe, getUpdates, sendMessage, editMessageText, sendChatAction, deleteWebhook,
  setWebhook, getWebhookInfo, getFile are implemented; other spec methods returning Boolean answer true
  after validation; any other spec method is 400 "... is not implemented by the fake ...".
"""
import collections
import copy
import json
import os
import random
import re
import time
from email.utils import formatdate

import trustme

from .httpserve import Conn, Server, _Closed, wants_close

_HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))  # host_tests/support/fakes
SPEC_PATH = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "telegram-bot-api", "api.min.json"))

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnop"

CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; "
                 "make sure that only one bot instance is running")
CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message")

CHAT_ACTIONS = ("typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note",
                "upload_video_note")

_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

_spec_cache = None


def load_spec():
    """The Bot API spec (parsed api.min.json), loaded once per process. Never modified."""
    global _spec_cache
    if _spec_cache is None:
        with open(SPEC_PATH, encoding="utf-8") as f:
            _spec_cache = json.load(f)
    return _spec_cache


def _dumps(obj):
    """Response body: compact like the real server, ASCII-only (non-ASCII as \\uXXXX escapes,
    emoji as surrogate pairs)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class RawUpdate(dict):
    """A queued update whose JSON text the test wrote itself (send_raw_update): the dict holds
    only update_id (for the offset logic), .raw is what goes on the wire."""


def _dumps_payload(payload):
    """_dumps, except that RawUpdate results go out as their own text."""
    result = payload.get("result")
    if not isinstance(result, list) or not any(isinstance(u, RawUpdate) for u in result):
        return _dumps(payload)
    parts = [u.raw if isinstance(u, RawUpdate) else _dumps(u) for u in result]
    return b'{"ok":true,"result":[' + b",".join(parts) + b"]}"


def utf16_len(s):
    """Length of s in UTF-16 code units (what Telegram counts)."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------------------------------------
# errors


class ApiError(Exception):
    """An error response of the Bot API: {"ok": false, "error_code", "description"[, "parameters"]}."""

    def __init__(self, code, description, parameters=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self):
        p = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters is not None:
            p["parameters"] = self.parameters
        return p


def _bad(description):
    return ApiError(400, "Bad Request: " + description)


class _Mismatch(Exception):
    def __init__(self, msg, where=""):
        super().__init__(msg)
        self.where = where


class _NotUtf8(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# spec type checking


def _strict_json(text):
    def no_dupes(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise ValueError("duplicate key %r" % k)
            d[k] = v
        return d

    def no_const(name):
        raise ValueError("invalid JSON constant " + name)

    return json.loads(text, object_pairs_hook=no_dupes, parse_constant=no_const)


def _check_str(s):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise _NotUtf8()
    return s


def _short(v):
    r = json.dumps(v) if not isinstance(v, str) else repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _check_types(spec, types, value, where, textual, depth=0):
    """Check `value` against a spec type list (e.g. ["Integer", "String"]); return the typed value.

    textual=True: the value came from a query string or form body (a str). JSON-valued types
    (arrays, objects) are then a JSON-serialized string. textual=False: a JSON value.
    """
    errors = []
    for t in types:
        try:
            return _check_one(spec, t, value, where, textual, depth)
        except _Mismatch as e:
            errors.append(e)
    # report the alternative that matched deepest (e.g. the bad button inside an inline keyboard)
    best = max(errors, key=lambda e: len(e.where))
    if len(types) == 1 or len(best.where) > len(where):
        raise best
    raise _Mismatch("%s: expected %s, got %s" % (where, " or ".join(types), _short(value)), where)


_INT_RE = re.compile(r"-?[0-9]+\Z")
_FLOAT_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


def _check_one(spec, t, value, where, textual, depth):
    if depth > 32:
        raise _Mismatch("%s: nested too deeply" % where, where)
    if t == "Integer":
        if textual:
            if isinstance(value, str) and _INT_RE.match(value):
                return int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("%s: expected Integer, got %s" % (where, _short(value)), where)
    if t == "Float":
        if textual:
            if isinstance(value, str) and _FLOAT_RE.match(value):
                return float(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise _Mismatch("%s: expected Float, got %s" % (where, _short(value)), where)
    if t == "String":
        if isinstance(value, str):
            return _check_str(value)
        raise _Mismatch("%s: expected String, got %s" % (where, _short(value)), where)
    if t == "Boolean":
        if textual:
            if value in ("true", "false"):
                return value == "true"
        elif isinstance(value, bool):
            return value
        raise _Mismatch("%s: expected Boolean (true/false), got %s" % (where, _short(value)), where)
    if t == "InputFile":
        raise _Mismatch("%s: file uploads (multipart/form-data) are not supported by the fake" % where, where)
    # JSON-valued: arrays and objects, possibly JSON-serialized into a string
    if isinstance(value, str) and (textual or t.startswith("Array of ") or t in spec["types"]):
        _check_str(value)
        try:
            value = _strict_json(value)
        except ValueError as e:
            raise _Mismatch("%s: expected JSON-serialized %s (%s)" % (where, t, e), where)
    if t.startswith("Array of "):
        if not isinstance(value, list):
            raise _Mismatch("%s: expected %s, got %s" % (where, t, _short(value)), where)
        inner = t[len("Array of "):]
        return [_check_one(spec, inner, v, "%s[%d]" % (where, i), False, depth + 1)
                for i, v in enumerate(value)]
    tspec = spec["types"].get(t)
    if tspec is None:
        raise _Mismatch("%s: unknown type %s" % (where, t), where)
    if not isinstance(value, dict):
        raise _Mismatch("%s: expected %s object, got %s" % (where, t, _short(value)), where)
    if tspec.get("subtypes"):
        return _check_types(spec, tspec["subtypes"], value, where, False, depth + 1)
    fields = {f["name"]: f for f in tspec.get("fields", ())}
    out = {}
    for k, v in value.items():
        _check_str(k)
        f = fields.get(k)
        if f is None:
            raise _Mismatch("%s: unknown field %r in %s" % (where, k, t), where)
        out[k] = _check_types(spec, f["types"], v, "%s.%s" % (where, k), False, depth + 1)
    for name, f in fields.items():
        if f["required"] and name not in value:
            raise _Mismatch("%s: missing required field %r of %s" % (where, name, t), where)
    return out


def check_object(type_name, obj):
    """Raise ValueError unless `obj` (a JSON value) is a valid `type_name` per the Bot API spec:
    no unknown fields, every required field present, every field of the right type."""
    try:
        _check_types(load_spec(), [type_name], obj, type_name, False)
    except _Mismatch as e:
        raise ValueError(str(e))
    except _NotUtf8:
        raise ValueError("%s: string not encodable as UTF-8 (lone surrogate?)" % type_name)


# ---------------------------------------------------------------------------------------------
# parse_mode HTML (tdlib's rules, stricter on bare & and >)

_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
              "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
              "blockquote": "blockquote", "tg-emoji": "custom_emoji"}
_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_UNQUOTED_RE = re.compile(r"[^\s>]+")
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{0,15});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def parse_html(text):
    """Parse Telegram HTML: return (plain_text, entities). Raises ApiError 400
    "Bad Request: can't parse entities: ..." on anything the real server refuses, and also on a
    bare '&' or '>' (the docs say they must be escaped; tdlib tolerates them, the fake does not)."""
    def bo(i):
        return len(text[:i].encode("utf-8"))

    def err(msg):
        raise _bad("can't parse entities: " + msg)

    def unescape(s, at):
        res = []
        j = 0
        while j < len(s):
            if s[j] == "&":
                m = _ENTITY_RE.match(s, j)
                if not m:
                    err('Character "&" must be escaped as "&amp;" at byte offset %d' % at)
                res.append(decode_entity(m.group(1), at))
                j = m.end()
            else:
                res.append(s[j])
                j += 1
        return "".join(res)

    def decode_entity(ent, at):
        if ent[0] == "#":
            cp = int(ent[2:], 16) if ent[1] in "xX" else int(ent[1:])
            if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                err("Invalid numeric HTML entity \"&%s;\" at byte offset %d" % (ent, at))
            return chr(cp)
        ch = _NAMED.get(ent)
        if ch is None:
            err('Unsupported HTML entity "&%s;" at byte offset %d' % (ent, at))
        return ch

    out = []
    u16 = 0
    stack = []
    entities = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "<":
            if text.startswith("</", i):
                j = text.find(">", i)
                if j < 0:
                    err("Unclosed end tag at byte offset %d" % bo(i))
                name = text[i + 2:j].rstrip(" \t\r\n").lower()
                if not stack:
                    err("Unexpected end tag at byte offset %d" % bo(i))
                top = stack.pop()
                if name != top["tag"]:
                    err('Unmatched end tag at byte offset %d, expected "</%s>", found "</%s>"'
                        % (bo(i), top["tag"], name))
                _close_tag(top, u16, stack, entities)
                i = j + 1
                continue
            m = _TAG_NAME_RE.match(text, i + 1)
            name = m.group(0).lower() if m else ""
            if name not in _HTML_TAGS:
                err('Unsupported start tag "%s" at byte offset %d' % (name, bo(i)))
            k = m.end()
            attrs = {}
            while True:
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k >= n:
                    err("Unclosed start tag at byte offset %d" % bo(i))
                if text[k] == ">":
                    k += 1
                    break
                am = _ATTR_NAME_RE.match(text, k)
                if not am:
                    err('Empty attribute name in the tag "%s" at byte offset %d' % (name, bo(k)))
                aname = am.group(0).lower()
                k = am.end()
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == "=":
                    k += 1
                    while k < n and text[k] in " \t\r\n":
                        k += 1
                    if k >= n:
                        err("Unclosed start tag at byte offset %d" % bo(i))
                    if text[k] in "\"'":
                        end = text.find(text[k], k + 1)
                        if end < 0:
                            err("Unclosed start tag at byte offset %d" % bo(i))
                        value = unescape(text[k + 1:end], bo(k))
                        k = end + 1
                    else:
                        vm = _UNQUOTED_RE.match(text, k)
                        value = unescape(vm.group(0), bo(k))
                        k = vm.end()
                else:
                    value = ""
                attrs[aname] = value
            if name == "span" and attrs.get("class") != "tg-spoiler":
                err('Tag "span" must have class "tg-spoiler" at byte offset %d' % bo(i))
            if name == "tg-emoji" and not attrs.get("emoji-id"):
                err('Tag "tg-emoji" must have attribute "emoji-id" at byte offset %d' % bo(i))
            stack.append({"tag": name, "start": u16, "attrs": attrs})
            i = k
            continue
        if c == "&":
            m = _ENTITY_RE.match(text, i)
            if not m:
                err('Character "&" must be escaped as "&amp;" at byte offset %d' % bo(i))
            ch = decode_entity(m.group(1), bo(i))
            out.append(ch)
            u16 += utf16_len(ch)
            i = m.end()
            continue
        if c == ">":
            err('Character ">" must be escaped as "&gt;" at byte offset %d' % bo(i))
        out.append(c)
        u16 += 2 if ord(c) > 0xFFFF else 1
        i += 1
    if stack:
        err('Can\'t find end tag corresponding to start tag "%s"' % stack[-1]["tag"])
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(top, u16, stack, entities):
    tag, attrs = top["tag"], top["attrs"]
    length = u16 - top["start"]
    ent = {"type": _HTML_TAGS[tag], "offset": top["start"], "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        ent["url"] = href
    elif tag == "blockquote" and "expandable" in attrs:
        ent["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        ent["custom_emoji_id"] = attrs["emoji-id"]
    elif tag == "code" and stack and stack[-1]["tag"] == "pre" \
            and attrs.get("class", "").startswith("language-"):
        stack[-1]["language"] = attrs["class"][len("language-"):]
        return
    elif tag == "pre" and top.get("language"):
        ent["language"] = top["language"]
    if length > 0:
        entities.append(ent)


# ---------------------------------------------------------------------------------------------
# one HTTP connection


class _Conn(Conn):
    """A connection answered the Telegram way: nginx-like headers, the response faults."""

    def _head(self, status, extra, close):
        lines = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown")),
                 "Server: nginx/1.18.0",
                 "Date: " + formatdate(usegmt=True),
                 "Content-Type: application/json"]
        lines += extra
        lines += ["Connection: " + ("close" if close else "keep-alive"),
                  "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload",
                  "Access-Control-Allow-Origin: *",
                  "Access-Control-Allow-Methods: GET, POST, OPTIONS",
                  "Access-Control-Expose-Headers: Content-Length,Content-Type,Date,Server,Connection"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_response(self, status, body, close, fault=None):
        """Send one response; return True to keep the connection open."""
        action = fault[0] if fault else None
        if action == "drip":
            # the whole response, one byte at a time: every read gets something in time, so
            # only a deadline on the whole request ends it
            data = self._head(status, ["Content-Length: %d" % len(body)], close) + body
            for i in range(len(data)):
                if self.fake._stop_event.wait(fault[1]):
                    return False
                self.send_raw(data[i:i + 1])
            return not close
        if action is None and self.fake.framing == "chunked":
            self.send_raw(self._head(status, ["Transfer-Encoding: chunked"], close))
            sizes = self.fake.chunk_sizes
            pos = k = 0
            while pos < len(body):
                size = min(sizes[k % len(sizes)], len(body) - pos)
                self.send_raw(b"%x\r\n" % size + body[pos:pos + size] + b"\r\n")
                pos += size
                k += 1
            self.send_raw(b"0\r\n\r\n")
            return not close
        if action == "truncate":
            nbytes = fault[1]
            self.send_raw(self._head(status, ["Content-Length: %d" % len(body)], True) + body[:nbytes])
            return False
        if action in ("chunked", "chunked_truncate"):
            self.send_raw(self._head(status, ["Transfer-Encoding: chunked"], close))
            limit = fault[1] if action == "chunked_truncate" else None
            sizes = [1, 2, 5, 16, 3, 31, 64, 7, 100, 1, 2, 11]
            pos = 0
            k = 0
            while pos < len(body):
                # varied small chunks, then the rest in one (possibly big) chunk
                size = sizes[k] if k < len(sizes) else len(body) - pos
                size = min(size, len(body) - pos)
                chunk = body[pos:pos + size]
                hexsize = ("%x" if k % 2 else "%X") % size
                if limit is not None and pos + size > limit:
                    self.send_raw(hexsize.encode() + b"\r\n" + chunk[:limit - pos])
                    return False
                self.send_raw(hexsize.encode() + b"\r\n" + chunk + b"\r\n")
                pos += size
                k += 1
                time.sleep(0.002)  # separate TCP segments / TLS records
            if limit is not None:
                return False  # cut before the terminating chunk
            self.send_raw(b"0\r\n\r\n")
            return not close
        self.send_raw(self._head(status, ["Content-Length: %d" % len(body)], close) + body)
        return not close


# ---------------------------------------------------------------------------------------------
# the fake server


class FakeTelegram(Server):
    """Fake Telegram Bot API server (see module docstring). HOST ONLY."""

    def __init__(self, token=DEFAULT_TOKEN, tls=True, cert_hosts=("localhost", "127.0.0.1"),
                 unknown_ca=False, key_type="rsa", first_update_id=None, idle_timeout=60.0):
        self.spec = load_spec()
        self.cert_hosts = tuple(cert_hosts)
        kt = trustme.KeyType.RSA if key_type == "rsa" else trustme.KeyType.ECDSA
        # tls, idle_timeout, connections, handshake_errors, errors, port, base_url, ca_*_path
        Server.__init__(self, "telegram", tls, idle_timeout, self.cert_hosts, kt, unknown_ca)
        self.token = token
        self.unknown_ca = unknown_ca
        self.time_scale = 1.0              # a long poll is held timeout / time_scale seconds
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        # the bot's User as it appears in messages; getMe adds the can_*/supports_* fields
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "Test Bot", "username": "fake_test_bot"}

        # public state (read under no lock is fine: lists only grow)
        self.sent = []
        self.drafts = []             # sendMessageDraft calls: {chat_id, draft_id, text, entities}
        self.commands = []           # setMyCommands' list (getMyCommands returns it)
        self.requests = []
        self.poll_conflicts = 0
        self.filtered = []           # updates dropped because of allowed_updates
        self.blocked = set()         # chat ids that "blocked the bot": sendMessage -> 403
        self.webhook_url = ""
        self.framing = "length"      # "chunked": every response chunked in chunk_sizes pieces
        self.chunk_sizes = (7, 1, 16, 3, 31, 2, 64, 5, 11)
        self._vanish = set()         # bot message texts deleted as soon as they are sent
        self.deleted = set()         # message ids the user deleted (vanish)

        self._queue = []
        self._next_update_id = first_update_id if first_update_id is not None else random.randint(100000, 900000000)
        self._next_message_id = random.randint(100, 5000)
        self._faults = collections.defaultdict(collections.deque)
        self._kinds = [f["name"] for f in self.spec["types"]["Update"]["fields"] if f["name"] != "update_id"]
        self._default_allowed = frozenset(k for k in self._kinds
                                          if k not in ("chat_member", "message_reaction",
                                                       "message_reaction_count"))
        self.allowed_updates = self._default_allowed
        self._polling = 0
        self._chats = {}       # id -> Chat
        self.files = {}        # file_id -> {"file_unique_id", "data" (bytes or None), "size", "file_path"}
        self.downloads = []    # GET /file/bot<token>/<path>: {"path", "status", "bytes"}
        self.file_faults = []  # HTTP statuses for the next downloads, in order
        self._messages = {}    # (chat_id, message_id) -> Message
        self._last_msg = {}    # user id -> last message id in the private chat

    # ----- building updates
    def user(self, id, first_name="User", username=None, is_bot=False):
        u = {"id": int(id), "is_bot": bool(is_bot), "first_name": first_name}
        if username:
            u["username"] = username
        if not is_bot:
            u["language_code"] = "en"
        return u

    def private_chat(self, user):
        user = self._as_user(user)
        c = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            c["username"] = user["username"]
        return c

    def group_chat(self, group_id, title="Test Group"):
        kind = "supergroup" if str(group_id).startswith("-100") else "group"
        return {"id": int(group_id), "type": kind, "title": title}

    def add_chat(self, chat):
        """Make a chat known (an id, a User -> its private chat, or a Chat). sendMessage to an
        unknown chat gets 400 "Bad Request: chat not found"; every send_* does this itself."""
        if isinstance(chat, int):
            chat = {"id": chat, "type": "private", "first_name": "User"}
        elif "type" not in chat:
            chat = self.private_chat(chat)
        with self._cond:
            self._chats[chat["id"]] = chat
        return chat

    def _as_user(self, user):
        return self.user(user) if isinstance(user, int) else user

    def _new_message_id(self):
        with self._cond:
            self._next_message_id += 1
            return self._next_message_id

    def _message(self, user, chat=None, **fields):
        user = self._as_user(user)
        chat = chat or self.private_chat(user)
        m = {"message_id": self._new_message_id(), "from": user, "chat": chat, "date": int(time.time())}
        m.update(fields)
        return m

    def send_text(self, user, text, chat=None):
        msg = self._message(user, chat, text=text)
        cmd = re.match(r"/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?", text)
        if cmd and (cmd.end() == len(text) or not text[cmd.end()].isalnum()):
            msg["entities"] = [{"offset": 0, "length": utf16_len(cmd.group(0)), "type": "bot_command"}]
        return self.send_update("message", msg)

    # ----- files (getFile and the file server)
    _MAX_DOWNLOAD = 20 * 1024 * 1024  # what getFile serves to bots

    def add_file(self, data=None, folder="documents", ext="bin", size=None, prefix="BQACAgIAAxkBAAI"):
        """Store a file the bot may fetch; returns (file_id, file_unique_id). data None with
        `size`: a file known by its size only (getFile over 20 MB, never downloaded)."""
        uid = "%012x" % random.getrandbits(48)
        fid = prefix + uid + "AAQ" + "%08x" % random.getrandbits(32)
        unique = "AgAD" + uid[:8]
        n = len(data) if data is not None else int(size)
        with self._cond:
            path = "%s/file_%d.%s" % (folder, len(self.files), ext)
            self.files[fid] = {"file_unique_id": unique, "data": data, "size": n, "file_path": path}
        return fid, unique

    def send_voice(self, user, data, duration=3, mime_type="audio/ogg", caption=None, file_size=True):
        """A voice note (OGG/Opus as Telegram stores it: .oga) with these bytes. file_size=False
        leaves the optional field out, an int states it (a lie, to test the checks)."""
        fid, unique = self.add_file(data, "voice", "oga", prefix="AwACAgIAAxkBAAI")
        voice = {"file_id": fid, "file_unique_id": unique, "duration": duration, "mime_type": mime_type}
        if file_size is not False:
            voice["file_size"] = len(data) if file_size is True else file_size
        extra = {"voice": voice}
        if caption is not None:
            extra["caption"] = caption
        return self.send_update("message", self._message(user, **extra))

    def send_audio(self, user, data, file_name="song.mp3", mime_type="audio/mpeg", duration=30, caption=None):
        fid, unique = self.add_file(data, "music", file_name.rsplit(".", 1)[-1], prefix="CQACAgIAAxkBAAI")
        audio = {"file_id": fid, "file_unique_id": unique, "duration": duration, "file_name": file_name,
                 "mime_type": mime_type, "file_size": len(data)}
        extra = {"audio": audio}
        if caption is not None:
            extra["caption"] = caption
        return self.send_update("message", self._message(user, **extra))

    def send_document(self, user, data, file_name="picture.png", mime_type="image/png", caption=None):
        fid, unique = self.add_file(data, "documents", file_name.rsplit(".", 1)[-1])
        doc = {"file_id": fid, "file_unique_id": unique, "file_name": file_name, "mime_type": mime_type,
               "file_size": len(data)}
        extra = {"document": doc}
        if caption is not None:
            extra["caption"] = caption
        return self.send_update("message", self._message(user, **extra))

    def send_photo(self, user, caption=None, sizes=None):
        """A photo: `sizes` is a list of bytes, smallest first (Telegram's 90, 320, 800, 1280
        px versions), each fetchable; by default three of random bytes (1231, 14876, 61234)."""
        if sizes is None:
            sizes = [os.urandom(n) for n in (1231, 14876, 61234)]
        dims = ((90, 67), (320, 240), (800, 600), (1280, 960), (2560, 1920))
        photo = []
        for i, data in enumerate(sizes):
            fid, unique = self.add_file(data, "photos", "jpg", prefix="AgACAgIAAxkBAAI")
            w, h = dims[min(i, len(dims) - 1)]
            photo.append({"file_id": fid, "file_unique_id": unique, "file_size": len(data), "width": w,
                          "height": h})
        extra = {"photo": photo}
        if caption is not None:
            extra["caption"] = caption
        return self.send_update("message", self._message(user, **extra))

    def _m_getFile(self, p, conn):
        f = self.files.get(p["file_id"])
        if f is None:
            raise _bad("invalid file_id")
        if f["size"] > self._MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {"file_id": p["file_id"], "file_unique_id": f["file_unique_id"], "file_size": f["size"],
                "file_path": f["file_path"]}

    def _download(self, conn, token, path, verb, close):
        """GET /file/bot<token>/<file_path>: the bytes, as Telegram's file server sends them."""
        with self._cond:
            f = next((x for x in self.files.values() if x["file_path"] == path), None)
            status = self.file_faults.pop(0) if self.file_faults else 200
            if token != self.token or f is None or f["data"] is None:
                status = 404
            entry = {"path": path, "status": status, "bytes": 0}
            self.downloads.append(entry)
            self._cond.notify_all()
        body = f["data"] if status == 200 else _dumps({"ok": False, "error_code": status,
                                                       "description": _REASONS.get(status, "Error")})
        ctype = "application/octet-stream" if status == 200 else "application/json"
        head = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown")), "Server: nginx/1.18.0",
                "Date: " + formatdate(usegmt=True), "Content-Type: " + ctype,
                "Content-Length: %d" % len(body), "Connection: " + ("close" if close else "keep-alive")]
        conn.send_raw(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if verb == "GET":
            conn.send_raw(body)
            entry["bytes"] = len(body)
        return not close

    def send_sticker(self, user):
        uid = "%08x" % random.getrandbits(32)
        sticker = {"width": 512, "height": 512, "emoji": "\U0001F44D", "set_name": "FakePack",
                   "is_animated": False, "is_video": False, "type": "regular",
                   "thumbnail": {"file_id": "AAMCAgADGQEAAT" + uid, "file_unique_id": "AQADt" + uid,
                                 "file_size": 5416, "width": 128, "height": 128},
                   "file_id": "CAACAgIAAxkBAAE" + uid, "file_unique_id": "AgADs" + uid, "file_size": 22438}
        return self.send_update("message", self._message(user, sticker=sticker))

    def send_edit(self, user, text, message_id=None):
        """edited_message for `message_id` (default: the user's last message to the bot)."""
        user = self._as_user(user)
        with self._cond:
            mid = message_id or self._last_msg.get(user["id"]) or self._new_message_id()
            old = self._messages.get((user["id"], mid))
        msg = {"message_id": mid, "from": user, "chat": self.private_chat(user),
               "date": old["date"] if old else int(time.time()) - 5,
               "edit_date": int(time.time()), "text": text}
        return self.send_update("edited_message", msg)

    def send_join(self, user, group_id, title="Test Group"):
        """`user` joins the group `group_id` (negative; -100... makes a supergroup): a message with
        new_chat_members, in that group chat."""
        user = self._as_user(user)
        msg = self._message(user, self.group_chat(group_id, title), new_chat_members=[user])
        return self.send_update("message", msg)

    def send_update(self, kind, obj):
        """Queue {"update_id": N, kind: obj}. The update is checked against the spec (ValueError if
        invalid). Dropped into .filtered if `kind` is not in the allowed_updates in force."""
        if kind not in self._kinds:
            raise ValueError("unknown update kind %r" % kind)
        obj = copy.deepcopy(obj)
        check_object("Update", {"update_id": 1, kind: obj})
        with self._cond:
            uid = self._next_update_id
            self._next_update_id += 1
            upd = {"update_id": uid, kind: obj}
            if isinstance(obj, dict):
                chat = obj.get("chat")
                if isinstance(chat, dict) and "id" in chat:
                    self._chats.setdefault(chat["id"], chat)
                if "message_id" in obj and isinstance(chat, dict):
                    self._messages[(chat["id"], obj["message_id"])] = obj
                    if chat.get("type") == "private" and "from" in obj:
                        self._last_msg[obj["from"]["id"]] = obj["message_id"]
            if kind in self.allowed_updates:
                self._queue.append(upd)
            else:
                self.filtered.append(upd)
            self._cond.notify_all()
        return uid

    def send_raw_update(self, text, update_id=None):
        """Queue an update written by the test as JSON text (bytes or str), not checked against
        the spec. "{update_id}" in it is replaced by the update's id (the next one, or
        `update_id`); returns that id."""
        with self._cond:
            uid = self._next_update_id if update_id is None else update_id
            if update_id is None:
                self._next_update_id += 1
            if isinstance(text, str):
                text = text.encode("utf-8")
            u = RawUpdate(update_id=uid)
            u.raw = text.replace(b"{update_id}", b"%d" % uid)
            self._queue.append(u)
            self._cond.notify_all()
        return uid

    def vanish(self, text):
        """Bot messages with this text are deleted right after they are sent (by the user)."""
        with self._cond:
            self._vanish.add(text)

    def pending_updates(self):
        """Updates queued and not yet confirmed by an offset (copies)."""
        with self._cond:
            return copy.deepcopy(self._queue)

    # ----- faults
    _FAULT_ARGS = {"status": (2, 3), "body": (1, 1), "truncate": (1, 1), "chunked_truncate": (1, 1),
                   "chunked": (0, 0), "stall": (1, 1), "close": (0, 0),
                   "endless_body": (0, 0), "endless_headers": (0, 0), "drip": (1, 1)}

    def inject(self, method, action, *args):
        """One-shot fault for the next request to `method` (FIFO per method). See module doc."""
        if method not in self.spec["methods"]:
            raise ValueError("unknown Bot API method %r" % method)
        if action not in self._FAULT_ARGS:
            raise ValueError("unknown fault action %r" % action)
        lo, hi = self._FAULT_ARGS[action]
        if not lo <= len(args) <= hi:
            raise ValueError("%s takes %d..%d arguments" % (action, lo, hi))
        if action == "status" and len(args) == 2:
            args = args + (None,)
        if action == "body" and isinstance(args[0], str):
            args = (args[0].encode("utf-8"),)
        with self._cond:
            self._faults[method].append((action,) + tuple(args))

    # ----- waiting helpers
    def wait_sent(self, n, timeout=10.0):
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.sent) >= n, timeout):
                raise AssertionError("expected %d sent call(s) within %.1fs, got %d: %s"
                                     % (n, timeout, len(self.sent), json.dumps(self.sent, indent=1)))
            return list(self.sent)

    def wait_requests(self, n, method=None, timeout=10.0):
        """Block until at least n requests (to `method`, if given) were received; return them."""
        def matching():
            return [r for r in self.requests if method is None or r["method"] == method]
        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= n, timeout):
                raise AssertionError("expected %d request(s)%s within %.1fs, got: %s"
                                     % (n, " to " + method if method else "", timeout,
                                        [(r["method"], r["status"]) for r in self.requests]))
            return matching()

    # ----- server internals
    _conn_class = _Conn

    def _malformed(self, conn, e):
        with self._cond:
            self.requests.append({"method": None, "params": None, "conn": conn.num, "status": 400,
                                  "error": str(e)})
            self._cond.notify_all()
        conn.send_response(400, _dumps(_bad("malformed HTTP request: %s" % e).payload()), True)

    def _pop_fault(self, method):
        with self._cond:
            q = self._faults.get(method)
            return q.popleft() if q else None

    def _handle(self, conn, req):
        verb, target, version, headers, body = req
        path, _, query = target.partition("?")
        close = wants_close(version, headers)
        entry = {"method": None, "params": None, "conn": conn.num, "http_method": verb, "path": path,
                 "headers": headers, "status": None}
        with self._cond:
            self.requests.append(entry)
            self._cond.notify_all()
        fault = None
        try:
            if verb not in ("GET", "POST"):
                raise ApiError(405, "Method Not Allowed")
            fm = re.match(r"/file/bot([^/]*)/(.+)\Z", path)
            if fm:
                entry["method"] = "file"
                entry["status"] = 200
                return self._download(conn, fm.group(1), fm.group(2), verb, close)
            m = re.match(r"/bot([^/]*)/([^/]*)\Z", path)
            if not m:
                raise ApiError(404, "Not Found")
            token, method = m.groups()
            entry["method"] = method
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in self.spec["methods"]:
                raise ApiError(404, "Not Found")
            fault = self._pop_fault(method)
            entry["fault"] = fault
            perr = None
            try:
                params = self._parse_params(query, headers, body)
                entry["params"] = {k: v for k, (v, _) in params.items()}
            except ApiError as e:
                perr = e
            if fault and fault[0] in ("status", "body", "stall", "close", "endless_body", "endless_headers"):
                return self._plain_fault(conn, entry, fault, close)
            if perr:
                raise perr
            with self._cond:
                typed = self._validate(method, params)
                entry["typed"] = typed
                result = self._dispatch(method, typed, conn)
            status, payload = 200, {"ok": True, "result": result}
        except ApiError as e:
            status, payload = e.code, e.payload()
        except _Closed:
            entry["status"] = "abandoned"
            return False
        entry["status"] = status
        out = _dumps_payload(payload)
        return conn.send_response(status, out, close, fault if fault and fault[0] != "status" else None)

    def _plain_fault(self, conn, entry, fault, close):
        action = fault[0]
        if action == "status":
            code, desc, params = fault[1], fault[2], fault[3]
            entry["status"] = code
            out = _dumps(ApiError(code, desc, params).payload())
            return conn.send_response(code, out, close)
        if action == "body":
            entry["status"] = 200
            return conn.send_response(200, fault[1], close)
        if action == "stall":
            entry["status"] = "stalled"
            self._stop_event.wait(fault[1])
            return False
        if action == "endless_body":
            entry["status"] = "endless"
            conn.send_raw(conn._head(200, ["Transfer-Encoding: chunked"], False)
                          + b"15\r\n" + b'{"ok":true,"result":[' + b"\r\n")
            while not self._stop_event.wait(0.02):
                conn.send_raw(b"40\r\n" + b" " * 64 + b"\r\n")
            return False
        if action == "endless_headers":
            entry["status"] = "endless"
            conn.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            k = 0
            while not self._stop_event.wait(0.02):
                conn.send_raw(b"X-Padding-%d: %s\r\n" % (k, b"x" * 40))
                k += 1
            return False
        entry["status"] = "closed"
        return False

    # ----- parameters
    def _parse_params(self, query, headers, body):
        pairs = []
        if query:
            pairs += self._parse_form(query.encode("latin-1"), "query string")
        if body:
            ctype = headers.get("content-type", "")
            mime, _, rest = ctype.partition(";")
            mime = mime.strip().lower()
            cs = re.search(r"charset=\"?([^\";]+)", rest, re.I)
            if cs and cs.group(1).strip().lower() not in ("utf-8", "utf8"):
                raise _bad("unsupported charset %s" % cs.group(1))
            if mime == "application/x-www-form-urlencoded":
                pairs += self._parse_form(body, "form body")
            elif mime == "application/json":
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise _bad("strings must be encoded in UTF-8")
                try:
                    obj = _strict_json(text)
                except ValueError as e:
                    raise _bad("can't parse JSON body: %s" % e)
                if not isinstance(obj, dict):
                    raise _bad("JSON body must be an object")
                pairs += [(k, (v, False)) for k, v in obj.items()]
            elif mime == "multipart/form-data":
                raise _bad("multipart/form-data is not supported by the fake Telegram server")
            else:
                raise _bad("unsupported Content-Type %r" % ctype)
        params = {}
        for k, v in pairs:
            if k in params:
                raise _bad("duplicate parameter %s" % k)
            params[k] = v
        return params

    @staticmethod
    def _parse_form(data, where):
        from urllib.parse import unquote_to_bytes
        pairs = []
        for part in data.split(b"&"):
            if not part:
                continue
            if b"=" not in part:
                raise _bad("malformed %s: %r has no '='" % (where, part[:40]))
            k, v = part.split(b"=", 1)
            try:
                k = unquote_to_bytes(k.replace(b"+", b" ")).decode("utf-8")
                v = unquote_to_bytes(v.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise _bad("strings must be encoded in UTF-8")
            pairs.append((k, (v, True)))
        return pairs

    def _validate(self, method, params):
        fields = {f["name"]: f for f in self.spec["methods"][method].get("fields", ())}
        for name in params:
            if name not in fields:
                raise _bad("unknown parameter %s" % name)
        typed = {}
        for name, f in fields.items():
            if name not in params:
                if f["required"]:
                    if method == "sendMessage" and name == "text":
                        raise _bad("message text is empty")
                    raise _bad("%s is empty" % name)
                continue
            value, textual = params[name]
            try:
                typed[name] = _check_types(self.spec, f["types"], value, name, textual)
            except _NotUtf8:
                raise _bad("strings must be encoded in UTF-8")
            except _Mismatch as e:
                raise _bad("invalid parameter %s: %s" % (name, e))
        return typed

    # ----- methods
    def _dispatch(self, method, p, conn):
        h = getattr(self, "_m_" + method, None)
        if h is not None:
            return h(p, conn)
        if self.spec["methods"][method].get("returns") == ["Boolean"]:
            return True
        raise _bad("method %s is not implemented by the fake Telegram server" % method)

    def _resolve_chat(self, chat_id):
        if isinstance(chat_id, str):
            if _INT_RE.match(chat_id):
                chat_id = int(chat_id)
            elif chat_id.startswith("@"):
                for c in self._chats.values():
                    if c.get("type") != "private" and c.get("username") == chat_id[1:]:
                        return c
                raise _bad("chat not found")
            else:
                raise _bad("chat not found")
        c = self._chats.get(chat_id)
        if c is None:
            raise _bad("chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return c

    def _format_text(self, p):
        text = p.get("text")
        if text is None:
            raise _bad("message text is empty")
        mode = p.get("parse_mode")
        entities = p.get("entities")
        if mode:
            if mode.lower() == "html":
                text, entities = parse_html(text)
            elif mode.lower() in ("markdown", "markdownv2"):
                raise _bad("can't parse entities: the fake Telegram server implements only parse_mode HTML")
            else:
                raise _bad("unsupported parse_mode")
        if not text.strip():
            raise _bad("message text is empty")
        n = utf16_len(text)
        if n > 4096:
            raise _bad("message is too long")
        for e in entities or ():
            if e["offset"] < 0 or e["length"] <= 0 or e["offset"] + e["length"] > n:
                raise _bad("can't parse entities: entity beyond the end of the text")
        return text, entities

    def _record(self, method, p, message_id, result):
        self.sent.append({"method": method, "params": p, "message_id": message_id, "result": result})
        self._cond.notify_all()

    def _m_getMe(self, p, conn):
        return dict(self.bot, can_join_groups=True, can_read_all_group_messages=False,
                    supports_inline_queries=False, can_connect_to_business=False, has_main_web_app=False)

    def _m_sendMessage(self, p, conn):
        chat = self._resolve_chat(p["chat_id"])
        text, entities = self._format_text(p)
        rp = p.get("reply_parameters")
        reply_to = None
        if rp:
            rchat = rp.get("chat_id", chat["id"])
            reply_to = self._messages.get((rchat, rp["message_id"]))
            if reply_to is None and not rp.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        msg = {"message_id": self._new_message_id(), "from": dict(self.bot), "chat": chat,
               "date": int(time.time()), "text": text}
        if entities:
            msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        rm = p.get("reply_markup")
        if rm and "inline_keyboard" in rm:
            msg["reply_markup"] = rm
        self._messages[(chat["id"], msg["message_id"])] = msg
        params = dict(p, chat_id=chat["id"])
        self._record("sendMessage", params, msg["message_id"], msg)
        if text in self._vanish:
            del self._messages[(chat["id"], msg["message_id"])]
            self.deleted.add(msg["message_id"])
        return copy.deepcopy(msg)

    def _m_editMessageText(self, p, conn):
        if "inline_message_id" in p:
            raise _bad("MESSAGE_ID_INVALID")
        if "chat_id" not in p or "message_id" not in p:
            raise _bad("message identifier is not specified")
        chat = self._resolve_chat(p["chat_id"])
        old = self._messages.get((chat["id"], p["message_id"]))
        if old is None:
            raise _bad("message to edit not found")
        if old.get("from", {}).get("id") != self.bot["id"]:
            raise _bad("message can't be edited")
        text, entities = self._format_text(p)
        rm = p.get("reply_markup")
        if text == old.get("text") and (entities or None) == old.get("entities") \
                and rm == old.get("reply_markup"):
            raise _bad(NOT_MODIFIED[len("Bad Request: "):])
        msg = dict(old, text=text, edit_date=int(time.time()))
        msg.pop("entities", None)
        if entities:
            msg["entities"] = entities
        if rm is not None:
            msg["reply_markup"] = rm
        self._messages[(chat["id"], msg["message_id"])] = msg
        self._record("editMessageText", dict(p, chat_id=chat["id"]), msg["message_id"], msg)
        return copy.deepcopy(msg)

    def _m_sendMessageDraft(self, p, conn):
        # Bot API 10.1: a 30-second preview in a private chat, persisted by a later
        # sendMessage; an empty text shows "Thinking...". Returns True.
        chat = self._resolve_chat(p["chat_id"])
        if chat.get("type") != "private":
            raise _bad("TEXTDRAFT_PEER_INVALID")
        if not p["draft_id"]:
            raise _bad("DRAFT_ID_INVALID")
        text, entities = self._format_text(p) if p.get("text") else ("", None)
        self.drafts.append({"chat_id": chat["id"], "draft_id": p["draft_id"], "text": text,
                            "entities": entities})
        self._cond.notify_all()  # not in `sent`: a draft is no message
        return True

    def _m_setMyCommands(self, p, conn):
        cmds = p["commands"]
        if len(cmds) > 100:
            raise _bad("too many commands")
        for c in cmds:
            if not re.match(r"[a-z0-9_]{1,32}\Z", c["command"]):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(c["description"]) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = [dict(c) for c in cmds]
        self._cond.notify_all()  # not in `sent`, which holds messages: see .commands, .requests
        return True

    def _m_getMyCommands(self, p, conn):
        return [dict(c) for c in self.commands]

    def _m_sendChatAction(self, p, conn):
        chat = self._resolve_chat(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._record("sendChatAction", dict(p, chat_id=chat["id"]), None, True)
        return True

    def _m_deleteWebhook(self, p, conn):
        self.webhook_url = ""
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_setWebhook(self, p, conn):
        url = p["url"]
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_getWebhookInfo(self, p, conn):
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._queue)}

    def _m_getUpdates(self, p, conn):
        # called with self._cond held
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        if self._polling:
            self.poll_conflicts += 1
            raise ApiError(409, CONFLICT_POLL)
        limit = p.get("limit", 100)
        if not 1 <= limit <= 100:
            raise _bad("limit must be between 1 and 100 (the fake refuses what Telegram would clamp)")
        timeout = p.get("timeout", 0)
        if timeout < 0:
            raise _bad("timeout must not be negative")
        if "allowed_updates" in p:
            au = p["allowed_updates"]
            for k in au:
                if k not in self._kinds:
                    raise _bad("unknown update type %r in allowed_updates" % k)
            self.allowed_updates = frozenset(au) if au else self._default_allowed
        offset = p.get("offset")
        if offset is not None:
            if offset < 0:
                del self._queue[:max(0, len(self._queue) + offset)]
            else:
                self._queue[:] = [u for u in self._queue if u["update_id"] >= offset]
        if not self._queue and timeout > 0:
            deadline = time.monotonic() + timeout / self.time_scale
            self._polling += 1
            try:
                while not self._queue:
                    if self._stopping:
                        raise _Closed()
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, 0.1))
                    if conn.peer_gone():
                        raise _Closed()
            finally:
                self._polling -= 1
        return copy.deepcopy(self._queue[:limit])
