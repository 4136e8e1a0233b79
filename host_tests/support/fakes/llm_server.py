"""Fake LLM API servers (OpenAI-compatible Chat Completions, Anthropic Messages) over real HTTP/1.1 (+TLS) on loopback. HOST ONLY: a CPython test fixture, never frozen or deployed.

Used by host tests and the demo to talk to the firmware's LLM client exactly as api.openai.com,
api.anthropic.com or a LAN Ollama/llama.cpp server would, only stricter: requests are validated
like the real APIs (400 in the provider's own error shape), replies are scripted, streaming is
real Server-Sent Events over chunked transfer encoding, and one-shot faults can be injected.
The official `openai` and `anthropic` SDKs accept it as the real thing (host_tests/test_fake_llm.py).

Depends only on the standard library, trustme, and the HTTP/TLS plumbing of httpserve.py, shared
with telegram_server.py (listening, threads, strict request parsing, the cached throwaway CA: one
CA file trusts both fakes).

    with FakeLLM("openai") as llm:            # or FakeLLM("anthropic"), FakeLLM("openai", tls=False)
        llm.reply_tool_calls([("get_time", {"tz": "UTC"})])
        llm.reply_text("It is noon.")
        ...  # point the client at llm.base_url with llm.api_key, trust llm.ca_pem_path
        assert llm.requests[1]["body"]["messages"][-1]["role"] == "tool"

Endpoints (base_url is "<scheme>://localhost:PORT/v1", like PicoClaw's api_base):
- kind "openai":    POST /v1/chat/completions, header "Authorization: Bearer <api_key>".
- kind "anthropic": POST /v1/messages, headers "x-api-key: <api_key>" (or "Authorization: Bearer
  <api_key>", which the anthropic SDK 2.x sends) and "anthropic-version: YYYY-MM-DD" (missing ->
  400). The anthropic SDK appends /v1 itself: give it `origin`.
Anything else is 404 (405 for a wrong verb on the endpoint), in the provider's error shape.

Replies: a FIFO of scripted replies, one consumed per valid, authorised request; an empty queue
answers DEFAULT_TEXT. Requests that fail authentication or validation consume nothing.

Streaming ("stream": true), byte for byte like the providers:
- openai: `data: {chat.completion.chunk}\\n\\n` events: a first delta with the role, content
  deltas of about `delta_chars` characters, per tool call one delta with id/type/name and
  `arguments: ""` then the arguments JSON in pieces of ARG_PIECE characters, a last chunk with
  an empty delta and finish_reason, with stream_options.include_usage an extra chunk with
  "choices": [] and usage (every chunk then carries "usage": null, as OpenAI does), then
  `data: [DONE]\\n\\n`. Chunks carry the "obfuscation" padding field OpenAI adds (unless
  stream_options.include_obfuscation is false).
- anthropic: `event: <type>\\ndata: {json}\\n\\n` for message_start, content_block_start,
  ping (after the first block start, and again every 8th delta), content_block_delta
  (text_delta; input_json_delta starting with partial_json "" then pieces), content_block_stop,
  message_delta (stop_reason, usage.output_tokens), message_stop.
- HTTP chunk boundaries do NOT follow events, on purpose: events alternate between one chunk,
  two chunks split inside the event (inside its first multi-byte UTF-8 character if it has
  one), and two events coalesced into one chunk. Non-ASCII text is sent as raw UTF-8 (ensure_ascii=False).

Validation (400, invalid_request_error), first failure reported:
- openai: unknown top-level parameter; model (string) required; messages a non-empty array;
  roles system/developer/user/assistant/tool; content shapes; assistant tool_calls shaped
  {id, type "function", function {name, arguments (a JSON string)}}; every tool message's
  tool_call_id answers the tool_calls of the assistant message right before the run of tool
  messages, and every such tool call is answered before the next non-tool message; tools
  {"type": "function", "function": {"name", "description"?, "parameters"? (object schema)}}
  with unique names; tool_choice only with tools; max_tokens / max_completion_tokens integers
  >= 1; temperature a number 0..2; top_p 0..1; stream a boolean; stream_options only when
  streaming; n must be 1 (the fake makes one choice).
- anthropic: unknown top-level field; model and max_tokens (integer >= 1) required; messages a
  non-empty list alternating user/assistant starting with user; role "system" refused (system
  is the top-level string or list of text blocks); content a non-empty string or list of
  blocks (text non-empty, tool_use only in assistant turns, tool_result only in user turns);
  each tool_result's tool_use_id matches a tool_use of the previous assistant message and each
  tool_use is answered in the next message; tools {"name", "description"?, "input_schema"
  (object schema)} with unique names; temperature 0..1; stream a boolean.

Images (vision): an openai user part {"type": "image_url", "image_url": {"url": "data:<type>;base64,...",
"detail"?}} or an anthropic user block {"type": "image", "source": {"type": "base64", "media_type",
"data"}}, the type one of image/jpeg, png, gif, webp, the base64 strict (padded, no line breaks), the
bytes an image of that kind (Anthropic also refuses bytes of another kind than media_type says):
otherwise the API's 400. Each request's entry has "images": [{where, media_type, data (the decoded
bytes)}], in order, for the tests to compare byte for byte. FakeLLM(kind, vision=False) is a model
without vision: a request with an image gets the real 400 (NO_VISION_OPENAI / NO_VISION_ANTHROPIC)
and consumes no reply.

Faults: llm.inject(action, **kw) queues a one-shot fault for the next request to the endpoint
(FIFO). "drop_at", "stall", "cut_sse" and "sse_error" perform the request (auth, validation, a
reply consumed) and mangle only its delivery; "malformed" and "status" replace it (nothing
validated or consumed). The server never sends a TLS close_notify when it closes.
- drop_at(n, body=False): close after n bytes of the response: counting from the status line,
  or with body=True from the first byte after the header block (chunk framing included).
  n=0 closes without answering. Headers are never cut when body=True.
- stall(seconds, at=0, body=False): send nothing for `seconds` once `at` bytes are out (same
  counting as drop_at), then carry on normally (if the client is still there).
- cut_sse(events=None): streaming only: send `events` whole SSE events (default: half of
  them), then the first half of the next one in a well-framed chunk, then close (no last
  chunk). On a non-streaming request: Content-Length says the full size, half the body comes.
- sse_error(events=1, type="overloaded_error"/"server_error", message="Overloaded"): after
  `events` events, the provider's in-stream error event, then a clean end of the stream
  (anthropic: `event: error`; openai: `data: {"error": {...}}`). Non-streaming: ignored.
- malformed(body=None): 200 with invalid JSON (default: a truncated completion with a valid
  Content-Length); for a streaming request, SSE whose second event's data is invalid JSON.
- comments(events=1, every=0.02): streaming only: after `events` events, SSE comment lines
  (": PROCESSING", as OpenRouter sends while a model is busy) every `every` seconds, forever.
- endless(every=0.005): streaming only: text deltas, one every `every` seconds, forever.
- status(status, body=None, headers=None, content_type=None): any status; body None -> the
  provider's error JSON for that status; dict -> JSON; str/bytes -> sent as is (text/html
  unless content_type says otherwise).
"""
import base64
import binascii
import json
import random
import re
import string
import time
from email.utils import formatdate

from .httpserve import Conn, Server, _Closed, wants_close

DEFAULT_TEXT = "(no scripted reply)"
# what a model without vision answers to an image (400, invalid_request_error): OpenAI's for
# gpt-3.5-turbo and the like; the Anthropic-compatible servers' (Ollama's for a text model)
NO_VISION_OPENAI = "Invalid content type. image_url is only supported by certain models."
NO_VISION_ANTHROPIC = "this model does not support image input"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
ARG_PIECE = 7           # characters of tool-call arguments JSON per streamed delta
PING_EVERY = 8          # anthropic: a ping event every this many deltas (plus one at the start)

_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
            413: "Request Entity Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 529: "Overloaded"}

_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 529: "overloaded_error"}
_OPENAI_TYPES = {429: ("requests", "rate_limit_exceeded"), 401: ("invalid_request_error", "invalid_api_key"),
                 403: ("permission_error", None), 404: ("invalid_request_error", None)}

_OPENAI_PARAMS = frozenset((
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
    "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
    "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "verbosity", "web_search_options"))
_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
_OPENAI_MSG_KEYS = frozenset(("role", "content", "name", "tool_calls", "tool_call_id", "refusal",
                              "audio", "function_call"))
_ANTHROPIC_PARAMS = frozenset((
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences",
    "stream", "tools", "tool_choice", "metadata", "thinking", "service_tier", "container",
    "mcp_servers", "context_management", "output_config", "inference_geo"))
_ANTHROPIC_BLOCKS = ("text", "image", "document", "search_result", "tool_use", "tool_result",
                     "thinking", "redacted_thinking")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}\Z")
_ANTHROPIC_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}\Z")
_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

_ALNUM = string.ascii_letters + string.digits


def _rand(n, alphabet=_ALNUM):
    return "".join(random.choice(alphabet) for _ in range(n))


def _dumps(obj):
    # compact like both providers; raw UTF-8, so multi-byte characters reach the client as such
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _tokens(n_chars):
    return max(1, n_chars // 4)


def _pieces(s, n):
    """s in pieces of n characters (code points, so UTF-8 characters are never split)."""
    return [s[i:i + n] for i in range(0, len(s), n)] or [""]


def _jtype(v):
    """JSON type name of a value, as the OpenAI error messages spell it."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a decimal"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class ApiError(Exception):
    """An error response: HTTP status + the provider-shaped JSON payload."""

    def __init__(self, status, payload, headers=()):
        super().__init__(json.dumps(payload))
        self.status = status
        self.payload = payload
        self.headers = list(headers)


# ---------------------------------------------------------------------------------------------
# the wire: one connection, responses written through a fault-aware writer


class _LLMConn(Conn):
    """httpserve's strict request reader, with a writer that applies drop_at/stall."""

    def begin(self, fault):
        """Start a response; `fault` is the injected fault dict (or None) for it."""
        self.fault = fault if fault and fault["action"] in ("drop_at", "stall") else None
        self.total = 0
        self.body = 0
        self.in_body = False
        self.held = b""
        self.nevents = 0

    def out(self, data):
        f = self.fault
        if f is not None:
            counted = self.in_body or not f["body"]
            pos = self.body if f["body"] else self.total
            limit = f["n"] if f["action"] == "drop_at" else f["at"]
            if counted and pos + len(data) >= limit:
                head, data = data[:max(0, limit - pos)], data[max(0, limit - pos):]
                if head:
                    self.send_raw(head)
                if f["action"] == "drop_at":
                    raise _Closed()
                self.fault = None  # a stall happens once
                self.fake._stop_event.wait(f["seconds"])
                if self.fake._stopping:
                    raise _Closed()
                self._count(head)
        if data:
            self.send_raw(data)
            self._count(data)

    def _count(self, data):
        self.total += len(data)
        if self.in_body:
            self.body += len(data)

    def head(self, status, headers):
        lines = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown"))]
        lines += ["%s: %s" % kv for kv in headers]
        self.out(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.in_body = True

    # --- chunked SSE: event i goes out as one chunk, as two chunks split inside it, or held and
    # sent in one chunk with the next event, in turn, so clients cannot rely on chunk == event.
    def chunk(self, data):
        if data:
            self.out(b"%x\r\n" % len(data) + data + b"\r\n")

    def event(self, data):
        self.nevents += 1
        mode = self.nevents % 4
        if mode == 1:
            self.chunk(data)
        elif mode == 2:
            # inside the first multi-byte UTF-8 character if there is one, else a third in
            cut = next((i + 1 for i, c in enumerate(data) if c >= 0xC0), max(1, len(data) // 3))
            self.chunk(data[:cut])
            self.chunk(data[cut:])
        elif mode == 3:
            self.held = data
        else:
            self.chunk(self.held + data)
            self.held = b""

    def flush(self):
        self.chunk(self.held)
        self.held = b""

    def end_chunked(self):
        self.flush()
        self.out(b"0\r\n\r\n")


# ---------------------------------------------------------------------------------------------
# the fake server


class FakeLLM(Server):
    """Fake LLM API server, kind "openai" (Chat Completions) or "anthropic" (Messages). HOST ONLY.

    Attributes: kind, tls, port, base_url ("https://localhost:PORT/v1", http:// when tls=False),
    origin (base_url without /v1: the anthropic SDK's base_url), api_key, ca_pem_path,
    ca_der_path, requests (dicts: method, path, headers (lower-case names), body (parsed JSON or
    None), raw, stream, conn, status, fault, reply, images (see Images above)), connections (TCP connections accepted and
    handshaken), handshake_errors, errors (bugs in the fake; should stay empty), delta_chars
    (characters per streamed text delta, default 20).
    """

    def __init__(self, kind, tls=True, api_key=None, require_key=True, idle_timeout=60.0, vision=True):
        if kind not in ("openai", "anthropic"):
            raise ValueError("kind must be 'openai' or 'anthropic', not %r" % (kind,))
        self.kind = kind
        self.vision = vision  # False: a model without vision, refusing every image with the real 400
        # tls, idle_timeout, connections, handshake_errors, errors, port, base_url, ca_*_path
        Server.__init__(self, "llm", tls, idle_timeout)
        self.api_key = api_key or (("sk-fake-" if kind == "openai" else "sk-ant-fake-") + _rand(32))
        self.require_key = require_key   # False: accept any key or none (a LAN llama.cpp server)
        self.delta_chars = 20
        self.requests = []

        self._replies = []
        self._faults = []
        self.origin = None

    def _listening(self, origin):
        self.origin = origin
        self.base_url = origin + "/v1"

    # ----- scripting
    def reply_text(self, text, truncated=False):
        """Queue a plain text reply. truncated=True: finish_reason "length" / stop_reason
        "max_tokens" (the model hit max_tokens)."""
        self._queue({"kind": "text", "text": text, "calls": [], "truncated": truncated})

    def reply_tool_calls(self, calls, text=""):
        """Queue a reply calling tools: calls is [(name, args_dict), ...], text an optional
        preamble. openai: message.tool_calls (ids call_..., arguments as a JSON string),
        finish_reason "tool_calls"; anthropic: a text block (if text) then tool_use blocks
        (ids toolu_..., input), stop_reason "tool_use". The ids are in requests[i]["reply"]."""
        calls = [(name, dict(args)) for name, args in calls]
        if not calls:
            raise ValueError("reply_tool_calls needs at least one call")
        prefix = "call_" if self.kind == "openai" else "toolu_01"
        ids = [prefix + _rand(24 if self.kind == "openai" else 22) for _ in calls]
        self._queue({"kind": "tools", "text": text, "calls": calls, "ids": ids, "truncated": False})

    def reply_error(self, status, message, retry_after=None, type=None):
        """Queue an error reply in the provider's shape. retry_after (seconds; a float is sent
        as is, which the SDKs accept) adds a Retry-After header. type overrides the error type
        (default from the status: openai 429 "requests"/code rate_limit_exceeded, 5xx
        "server_error"; anthropic 429 "rate_limit_error", 529 "overloaded_error", ...)."""
        self._queue({"kind": "error", "status": status, "message": message,
                     "retry_after": retry_after, "type": type})

    def _queue(self, r):
        with self._cond:
            self._replies.append(r)

    def pending_replies(self):
        """How many scripted replies are still queued."""
        with self._cond:
            return len(self._replies)

    _FAULTS = {"drop_at": {"n": None, "body": False},
               "stall": {"seconds": None, "at": 0, "body": False},
               "cut_sse": {"events": None},
               "sse_error": {"events": 1, "type": None, "message": "Overloaded"},
               "malformed": {"body": None},
               "comments": {"events": 1, "every": 0.02},
               "endless": {"every": 0.005},
               "status": {"status": None, "body": None, "headers": None, "content_type": None}}

    def inject(self, action, **kw):
        """Queue a one-shot fault for the next request to the endpoint (see module docstring):
        drop_at(n, body=False), stall(seconds, at=0, body=False), cut_sse(events=None),
        sse_error(events=1, type=None, message="Overloaded"), malformed(body=None),
        status(status, body=None, headers=None, content_type=None)."""
        spec = self._FAULTS.get(action)
        if spec is None:
            raise ValueError("unknown fault %r (one of %s)" % (action, ", ".join(sorted(self._FAULTS))))
        for k in kw:
            if k not in spec:
                raise ValueError("%s takes %s, not %r" % (action, ", ".join(spec), k))
        f = dict(spec, **kw)
        for k, v in f.items():
            if v is None and k in ("n", "seconds", "status"):
                raise ValueError("%s needs %s=" % (action, k))
        f["action"] = action
        with self._cond:
            self._faults.append(f)

    # ----- server internals
    _conn_class = _LLMConn

    def _malformed(self, conn, e):
        with self._cond:
            self.requests.append({"method": None, "path": None, "conn": conn.num, "status": 400,
                                  "error": str(e)})
        conn.begin(None)
        self._send_json(conn, 400, self._error(400, "malformed HTTP request: %s" % e), True)

    def _handle(self, conn, req):
        verb, target, version, headers, raw = req
        path = target.partition("?")[0]
        close = wants_close(version, headers)
        entry = {"method": verb, "path": path, "headers": headers, "body": None, "raw": raw,
                 "stream": False, "conn": conn.num, "status": None, "fault": None, "reply": None}
        with self._cond:
            self.requests.append(entry)
        endpoint = "/v1/chat/completions" if self.kind == "openai" else "/v1/messages"
        fault = None
        reply = None
        body = None
        try:
            if path != endpoint:
                raise ApiError(404, self._error(404, "Invalid URL (%s %s)" % (verb, path)
                                                if self.kind == "openai" else "Not Found"))
            if verb != "POST":
                raise ApiError(405, self._error(405, "Method Not Allowed"))
            with self._cond:
                fault = self._faults.pop(0) if self._faults else None
            entry["fault"] = fault
            try:
                body = json.loads(raw.decode("utf-8"))
                if isinstance(body, dict):
                    entry["body"] = body
                    entry["stream"] = body.get("stream") is True
            except ValueError:
                pass
            if fault and fault["action"] in ("status", "malformed"):
                return self._replace(conn, entry, fault, close)
            self._check_auth(headers)
            if not isinstance(body, dict):
                raise ApiError(400, self._error(400, self._bad_json_message()))
            if self.kind == "openai":
                _validate_openai(body)
            else:
                _validate_anthropic(body)
            entry["images"] = _images(self.kind, body)
            if entry["images"] and not self.vision:
                raise ApiError(400, _oai(NO_VISION_OPENAI, entry["images"][0]["where"] + ".type")
                               .payload if self.kind == "openai" else _ant(NO_VISION_ANTHROPIC).payload)
            with self._cond:
                reply = self._replies.pop(0) if self._replies else \
                    {"kind": "text", "text": DEFAULT_TEXT, "calls": [], "truncated": False}
            entry["reply"] = reply
            if reply["kind"] == "error":
                hdrs = []
                if reply["retry_after"] is not None:
                    ra = reply["retry_after"]
                    hdrs.append(("Retry-After", str(int(ra)) if ra == int(ra) else repr(float(ra))))
                raise ApiError(reply["status"], self._error(reply["status"], reply["message"], reply["type"]),
                               hdrs)
        except ApiError as e:
            entry["status"] = e.status
            conn.begin(fault if fault and fault["action"] in ("drop_at", "stall") else None)
            return self._send_json(conn, e.status, e.payload, close, e.headers,
                                   cut=bool(fault and fault["action"] == "cut_sse"))
        entry["status"] = 200
        conn.begin(fault)
        if entry["stream"]:
            return self._stream(conn, body, reply, close, fault, len(raw))
        out = self._completion(body, reply, len(raw))
        return self._send_json(conn, 200, out, close, cut=bool(fault and fault["action"] == "cut_sse"))

    def _check_auth(self, headers):
        if self.kind == "openai":
            auth = headers.get("authorization")
            if self.require_key:
                if not auth:
                    raise ApiError(401, self._error(
                        401, "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", code=None))
                scheme, _, key = auth.partition(" ")
                if scheme.lower() != "bearer" or key.strip() != self.api_key:
                    shown = key.strip()
                    shown = shown[:3] + "*" * 8 + shown[-4:] if len(shown) > 8 else "***"
                    raise ApiError(401, self._error(
                        401, "Incorrect API key provided: %s. You can find your API key at "
                        "https://platform.openai.com/account/api-keys." % shown))
            return
        if self.require_key:
            # x-api-key is the documented header; the anthropic SDK (2.x) sends the same key as
            # "Authorization: Bearer", which the API accepts too
            key = headers.get("x-api-key")
            if key is None:
                scheme, _, bearer = headers.get("authorization", "").partition(" ")
                key = bearer.strip() if scheme.lower() == "bearer" else None
            if not key:
                raise ApiError(401, self._error(401, "x-api-key header is required"))
            if key != self.api_key:
                raise ApiError(401, self._error(401, "invalid x-api-key"))
        version = headers.get("anthropic-version")
        if not version:
            raise ApiError(400, self._error(400, "anthropic-version: header is required"))
        if not _VERSION.match(version):
            raise ApiError(400, self._error(400, "anthropic-version: invalid version %r" % version))

    def _bad_json_message(self):
        if self.kind == "openai":
            return ("We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON.)")
        return "There was an issue with your request body: it must be a JSON object (UTF-8)."

    def _error(self, status, message, type=None, code=False):
        """The provider's error payload for `status`."""
        if self.kind == "anthropic":
            t = type or _ANTHROPIC_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
            return {"type": "error", "error": {"type": t, "message": message}, "request_id": "req_011C" + _rand(20)}
        t, c = _OPENAI_TYPES.get(status) or (("server_error" if status >= 500 else "invalid_request_error"), None)
        return {"error": {"message": message, "type": type or t, "param": None, "code": c if code is False else code}}

    # ----- responses
    def _headers(self, ctype, extra=()):
        h = [("Date", formatdate(usegmt=True)), ("Content-Type", ctype)]
        if self.kind == "openai":
            h += [("openai-organization", "user-fake"), ("openai-processing-ms", str(random.randint(80, 900))),
                  ("openai-version", "2020-10-01"), ("x-request-id", "req_" + _rand(32, "0123456789abcdef"))]
        else:
            h += [("request-id", "req_011C" + _rand(20)), ("anthropic-organization-id", "00000000-fake"),
                  ("via", "1.1 google")]
        h += list(extra)
        h += [("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
              ("Server", "cloudflare")]
        return h

    def _send_json(self, conn, status, payload, close, extra=(), cut=False):
        """Whole JSON response with Content-Length. cut: send half the body, then close."""
        body = payload if isinstance(payload, bytes) else _dumps(payload)
        h = self._headers("application/json", extra)
        h += [("Content-Length", str(len(body))), ("Connection", "close" if close else "keep-alive")]
        conn.head(status, h)
        if cut:
            conn.out(body[:len(body) // 2])
            return False
        conn.out(body)
        return not close

    def _replace(self, conn, entry, fault, close):
        """"status"/"malformed" faults: an answer that replaces the request's own."""
        conn.begin(None)
        if fault["action"] == "malformed":
            entry["status"] = 200
            if entry["stream"]:
                conn.head(200, self._headers("text/event-stream; charset=utf-8") +
                          [("Transfer-Encoding", "chunked"), ("Cache-Control", "no-cache"),
                           ("Connection", "close" if close else "keep-alive")])
                if self.kind == "openai":
                    conn.event(b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[]}\n\n')
                    conn.event(b'data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":"oops\n\n')
                    conn.event(b"data: [DONE]\n\n")
                else:
                    conn.event(b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_x",'
                               b'"type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
                               b'"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n')
                    conn.event(b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                               b'"content_block":{"type":"text","text":"oops\n\n')
                    conn.event(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
                conn.end_chunked()
                return not close
            body = fault["body"]
            if body is None:
                body = (b'{"id":"chatcmpl-malformed","object":"chat.completion","choices":[{"index":0,"message":'
                        b'{"role":"assistant","content":"unterminated' if self.kind == "openai" else
                        b'{"id":"msg_malformed","type":"message","content":[{"type":"text","text":"unterminated')
            elif isinstance(body, str):
                body = body.encode("utf-8")
            return self._send_json(conn, 200, body, close)
        status = fault["status"]
        entry["status"] = status
        body = fault["body"]
        ctype = fault["content_type"]
        if body is None:
            body = self._error(status, _REASONS.get(status, "Error"))
        if isinstance(body, (dict, list)):
            body = _dumps(body)
            ctype = ctype or "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        h = self._headers(ctype or "text/html", list((fault["headers"] or {}).items()))
        h += [("Content-Length", str(len(body))), ("Connection", "close" if close else "keep-alive")]
        conn.head(status, h)
        conn.out(body)
        return not close

    def _usage_numbers(self, reply, nraw):
        out_chars = len(reply["text"]) + sum(len(_dumps(a)) + len(n) for n, a in reply["calls"])
        return _tokens(nraw), _tokens(out_chars)

    def _completion(self, req, reply, nraw):
        """Non-streaming response object."""
        p, c = self._usage_numbers(reply, nraw)
        text, calls = reply["text"], reply["calls"]
        if self.kind == "openai":
            msg = {"role": "assistant", "content": text if (text or not calls) else None, "refusal": None,
                   "annotations": []}
            if calls:
                msg["tool_calls"] = [{"id": i, "type": "function",
                                      "function": {"name": n, "arguments": _dumps(a).decode("utf-8")}}
                                     for i, (n, a) in zip(reply["ids"], calls)]
            return {"id": "chatcmpl-" + _rand(29), "object": "chat.completion", "created": int(time.time()),
                    "model": req["model"],
                    "choices": [{"index": 0, "message": msg, "logprobs": None,
                                 "finish_reason": self._finish(reply)}],
                    "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                            "accepted_prediction_tokens": 0,
                                                            "rejected_prediction_tokens": 0}},
                    "service_tier": "default", "system_fingerprint": "fp_fake0001"}
        content = []
        if text or not calls:
            content.append({"type": "text", "text": text})
        for i, (n, a) in zip(reply.get("ids", ()), calls):
            content.append({"type": "tool_use", "id": i, "name": n, "input": a})
        return {"id": "msg_01" + _rand(22), "type": "message", "role": "assistant", "model": req["model"],
                "content": content, "stop_reason": self._finish(reply), "stop_sequence": None,
                "usage": {"input_tokens": p, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "output_tokens": c, "service_tier": "standard"}}

    def _finish(self, reply):
        if self.kind == "openai":
            return "tool_calls" if reply["calls"] else ("length" if reply["truncated"] else "stop")
        return "tool_use" if reply["calls"] else ("max_tokens" if reply["truncated"] else "end_turn")

    def _events(self, req, reply, nraw, fault):
        """The SSE events of a streaming reply, as bytes, in order."""
        p, c = self._usage_numbers(reply, nraw)
        text, calls, n = reply["text"], reply["calls"], self.delta_chars
        ev = []
        if self.kind == "openai":
            cid, created = "chatcmpl-" + _rand(29), int(time.time())
            so = req.get("stream_options") if isinstance(req.get("stream_options"), dict) else {}
            usage = so.get("include_usage") is True
            pad = so.get("include_obfuscation") is not False

            def chunk(delta, finish=None, choices=True):
                o = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": req["model"],
                     "service_tier": "default", "system_fingerprint": "fp_fake0001",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                     if choices else []}
                if usage:
                    o["usage"] = None
                if pad:
                    o["obfuscation"] = _rand(random.randint(1, 12))
                return o

            first = {"role": "assistant", "content": "" if (text or not calls) else None, "refusal": None}
            if text or not calls:
                ev.append(chunk(first))
                ev += [chunk({"content": piece}) for piece in _pieces(text, n) if piece]
                first = None
            for k, (i, (name, args)) in enumerate(zip(reply.get("ids", ()), calls)):
                start = {"tool_calls": [{"index": k, "id": i, "type": "function",
                                         "function": {"name": name, "arguments": ""}}]}
                if first is not None:
                    start = dict(first, **start)
                    first = None
                ev.append(chunk(start))
                ev += [chunk({"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
                       for piece in _pieces(_dumps(args).decode("utf-8"), ARG_PIECE)]
            ev.append(chunk({}, self._finish(reply)))
            if usage:
                last = chunk(None, choices=False)
                last["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                                 "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                               "accepted_prediction_tokens": 0,
                                                               "rejected_prediction_tokens": 0}}
                ev.append(last)
            out = [b"data: " + _dumps(o) + b"\n\n" for o in ev]
            out.append(b"data: [DONE]\n\n")
            return out

        def e(kind, obj):
            ev.append((kind, obj))

        e("message_start", {"type": "message_start", "message": {
            "id": "msg_01" + _rand(22), "type": "message", "role": "assistant", "model": req["model"],
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": p, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 1, "service_tier": "standard"}}})
        blocks = []
        if text or not calls:
            blocks.append(({"type": "text", "text": ""},
                           [{"type": "text_delta", "text": piece} for piece in _pieces(text, n) if piece]))
        for i, (name, args) in zip(reply.get("ids", ()), calls):
            pieces = [""] + _pieces(_dumps(args).decode("utf-8"), ARG_PIECE)
            blocks.append(({"type": "tool_use", "id": i, "name": name, "input": {}},
                           [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]))
        ndelta = 0
        for index, (start, deltas) in enumerate(blocks):
            e("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
            if index == 0:
                e("ping", None)
            for d in deltas:
                ndelta += 1
                if ndelta % PING_EVERY == 0:
                    e("ping", None)
                e("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            e("content_block_stop", {"type": "content_block_stop", "index": index})
        e("message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": self._finish(reply), "stop_sequence": None},
                            "usage": {"output_tokens": c}})
        e("message_stop", {"type": "message_stop"})
        # the real ping data has a space after the colon
        return [b"event: " + k.encode() + b"\ndata: " + (b'{"type": "ping"}' if o is None else _dumps(o)) + b"\n\n"
                for k, o in ev]

    def _stream(self, conn, req, reply, close, fault, nraw):
        events = self._events(req, reply, nraw, fault)
        action = fault["action"] if fault else None
        conn.head(200, self._headers("text/event-stream; charset=utf-8") +
                  [("Transfer-Encoding", "chunked"), ("Cache-Control", "no-cache"),
                   ("Connection", "close" if close else "keep-alive")])
        for k, ev in enumerate(events):
            if action == "cut_sse" and k == (fault["events"] if fault["events"] is not None else len(events) // 2):
                conn.flush()
                conn.chunk(ev[:max(1, len(ev) // 2)])
                return False
            if action == "comments" and k == fault["events"]:
                conn.flush()
                while not self._stop_event.wait(fault["every"]):
                    conn.chunk(b": PROCESSING\n\n")
                return False
            if action == "endless" and k == (1 if self.kind == "openai" else 2):
                conn.flush()
                i = 0
                while not self._stop_event.wait(fault["every"]):
                    i += 1
                    piece = "more words %d " % i
                    if self.kind == "openai":
                        o = {"id": "chatcmpl-endless", "object": "chat.completion.chunk", "created": 0,
                             "model": req["model"], "choices": [{"index": 0, "delta": {"content": piece},
                                                                 "logprobs": None, "finish_reason": None}]}
                        conn.chunk(b"data: " + _dumps(o) + b"\n\n")
                    else:
                        o = {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": piece}}
                        conn.chunk(b"event: content_block_delta\ndata: " + _dumps(o) + b"\n\n")
                return False
            if action == "sse_error" and k == fault["events"]:
                if self.kind == "openai":
                    err = {"error": {"message": fault["message"], "type": fault["type"] or "server_error",
                                     "param": None, "code": None}}
                    conn.event(b"data: " + _dumps(err) + b"\n\n")
                else:
                    err = {"type": "error", "error": {"type": fault["type"] or "overloaded_error",
                                                      "message": fault["message"]}}
                    conn.event(b"event: error\ndata: " + _dumps(err) + b"\n\n")
                break
            conn.event(ev)
        conn.end_chunked()
        return not close


# ---------------------------------------------------------------------------------------------
# request validation: OpenAI Chat Completions


def _oai(message, param=None, code=None):
    return ApiError(400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                    "code": code}})


def _oai_type(where, expected, v):
    return _oai("Invalid type for '%s': expected %s, but got %s instead." % (where, expected, _jtype(v)),
                where, "invalid_type")


def _oai_missing(where):
    return _oai("Missing required parameter: '%s'." % where, where, "missing_required_parameter")


def _oai_range(where, v, lo=None, hi=None, kind="decimal"):
    if lo is not None and v < lo:
        raise _oai("Invalid '%s': %s below minimum value. Expected a value >= %s, but got %s instead."
                   % (where, kind, lo, v), where, "%s_below_min_value" % kind)
    if hi is not None and v > hi:
        raise _oai("Invalid '%s': %s above maximum value. Expected a value <= %s, but got %s instead."
                   % (where, kind, hi, v), where, "%s_above_max_value" % kind)


def _oai_content(where, v, parts, required=True):
    """Check a message content: a string or a non-empty array of parts of the given types."""
    if v is None:
        if required:
            raise _oai_missing(where)
        return
    if isinstance(v, str):
        return
    if not isinstance(v, list):
        raise _oai_type(where, "one of a string or array of objects", v)
    if not v:
        raise _oai("Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty "
                   "array instead." % where, where, "empty_array")
    for j, part in enumerate(v):
        pw = "%s[%d]" % (where, j)
        if not isinstance(part, dict):
            raise _oai_type(pw, "an object", part)
        if "type" not in part:
            raise _oai_missing(pw + ".type")
        if part["type"] not in parts:
            raise _oai("Invalid value: '%s'. Supported values are: %s." % (part["type"], _or_list(parts)),
                       pw + ".type", "invalid_value")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            if "text" not in part:
                raise _oai_missing(pw + ".text")
            raise _oai_type(pw + ".text", "a string", part["text"])


def _or_list(values):
    q = ["'%s'" % v for v in values]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + ", and " + q[-1]


def _validate_openai(b):
    for k in b:
        if k not in _OPENAI_PARAMS:
            raise _oai("Unrecognized request argument supplied: %s" % k)
    if "model" not in b:
        raise _oai("you must provide a model parameter")
    if not isinstance(b["model"], str):
        raise _oai_type("model", "a string", b["model"])
    if "messages" not in b:
        raise _oai_missing("messages")
    msgs = b["messages"]
    if not isinstance(msgs, list):
        raise _oai_type("messages", "an array", msgs)
    if not msgs:
        raise _oai("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                   "array instead.", "messages", "empty_array")
    open_calls = None   # tool_call ids of the last assistant message still waiting for answers
    open_at = None
    for i, m in enumerate(msgs):
        w = "messages[%d]" % i
        if not isinstance(m, dict):
            raise _oai_type(w, "an object", m)
        if "role" not in m:
            raise _oai_missing(w + ".role")
        role = m["role"]
        if role not in _OPENAI_ROLES:
            raise _oai("Invalid value: '%s'. Supported values are: %s." % (role, _or_list(_OPENAI_ROLES)),
                       w + ".role", "invalid_value")
        for k in m:
            if k not in _OPENAI_MSG_KEYS:
                raise _oai("Additional properties are not allowed ('%s' was unexpected) - '%s'" % (k, w), w)
        if role != "tool" and open_calls:
            raise _oai("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                       "each 'tool_call_id'. The following tool_call_ids did not have response messages: %s"
                       % ", ".join(sorted(open_calls)), "messages.[%d].role" % open_at)
        if role in ("system", "developer"):
            _oai_content(w + ".content", m.get("content"), ("text",))
            open_calls = None
        elif role == "user":
            _oai_content(w + ".content", m.get("content"), ("text", "image_url", "input_audio", "file"))
            open_calls = None
        elif role == "assistant":
            calls = m.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    raise _oai_type(w + ".tool_calls", "an array", calls)
                if not calls:
                    raise _oai("Invalid '%s.tool_calls': empty array. Expected an array with minimum length 1, "
                               "but got an empty array instead." % w, w + ".tool_calls", "empty_array")
                ids = set()
                for j, tc in enumerate(calls):
                    tw = "%s.tool_calls[%d]" % (w, j)
                    if not isinstance(tc, dict):
                        raise _oai_type(tw, "an object", tc)
                    for k in ("id", "type", "function"):
                        if k not in tc:
                            raise _oai_missing("%s.%s" % (tw, k))
                    if not isinstance(tc["id"], str):
                        raise _oai_type(tw + ".id", "a string", tc["id"])
                    if tc["type"] != "function":
                        raise _oai("Invalid value: '%s'. Supported values are: 'function'." % (tc["type"],),
                                   tw + ".type", "invalid_value")
                    fn = tc["function"]
                    if not isinstance(fn, dict):
                        raise _oai_type(tw + ".function", "an object", fn)
                    for k in ("name", "arguments"):
                        if k not in fn:
                            raise _oai_missing("%s.function.%s" % (tw, k))
                        if not isinstance(fn[k], str):
                            raise _oai_type("%s.function.%s" % (tw, k), "a string", fn[k])
                    ids.add(tc["id"])
                content = m.get("content")
                if content is not None:
                    _oai_content(w + ".content", content, ("text", "refusal"))
                open_calls, open_at = (ids or None), i
            else:
                if m.get("content") is None:
                    raise _oai("Invalid value for 'content': expected a string, got null.",
                               "messages.[%d].content" % i)
                _oai_content(w + ".content", m["content"], ("text", "refusal"))
                open_calls = None
        else:  # tool
            if "tool_call_id" not in m:
                raise _oai_missing(w + ".tool_call_id")
            if not isinstance(m["tool_call_id"], str):
                raise _oai_type(w + ".tool_call_id", "a string", m["tool_call_id"])
            _oai_content(w + ".content", m.get("content"), ("text",))
            prev = i - 1
            while prev >= 0 and isinstance(msgs[prev], dict) and msgs[prev].get("role") == "tool":
                prev -= 1
            pm = msgs[prev] if prev >= 0 else None
            if not (isinstance(pm, dict) and pm.get("role") == "assistant" and pm.get("tool_calls")):
                raise _oai("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                           "message with 'tool_calls'.", "messages.[%d].role" % i)
            if m["tool_call_id"] not in {tc.get("id") for tc in pm["tool_calls"]}:
                raise _oai("Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of previous "
                           "message." % m["tool_call_id"], "messages.[%d].tool_call_id" % i)
            if open_calls:
                open_calls.discard(m["tool_call_id"])
    if open_calls:
        raise _oai("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                   "'tool_call_id'. The following tool_call_ids did not have response messages: %s"
                   % ", ".join(sorted(open_calls)), "messages.[%d].role" % open_at)

    tools = b.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _oai_type("tools", "an array", tools)
        names = set()
        for j, t in enumerate(tools):
            w = "tools[%d]" % j
            if not isinstance(t, dict):
                raise _oai_type(w, "an object", t)
            if "type" not in t:
                raise _oai_missing(w + ".type")
            if t["type"] != "function":
                raise _oai("Invalid value: '%s'. Supported values are: 'function'." % (t["type"],),
                           w + ".type", "invalid_value")
            if "function" not in t:
                raise _oai_missing(w + ".function")
            fn = t["function"]
            if not isinstance(fn, dict):
                raise _oai_type(w + ".function", "an object", fn)
            for k in fn:
                if k not in ("name", "description", "parameters", "strict"):
                    raise _oai("Additional properties are not allowed ('%s' was unexpected) - '%s.function'"
                               % (k, w), w + ".function")
            if "name" not in fn:
                raise _oai_missing(w + ".function.name")
            name = fn["name"]
            if not isinstance(name, str):
                raise _oai_type(w + ".function.name", "a string", name)
            if not _TOOL_NAME.match(name):
                raise _oai("Invalid '%s.function.name': string does not match pattern. Expected a string that "
                           "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'." % w, w + ".function.name",
                           "invalid_value")
            if name in names:
                raise _oai("Invalid 'tools': duplicate function name '%s'." % name, "tools")
            names.add(name)
            if "description" in fn and not isinstance(fn["description"], str):
                raise _oai_type(w + ".function.description", "a string", fn["description"])
            if "parameters" in fn:
                ps = fn["parameters"]
                if not isinstance(ps, dict):
                    raise _oai_type(w + ".function.parameters", "an object", ps)
                if ps.get("type", "object") != "object":
                    raise _oai("Invalid schema for function '%s': schema must be a JSON Schema of 'type: "
                               "\"object\"', got 'type: \"%s\"'." % (name, ps.get("type")),
                               w + ".function.parameters", "invalid_function_parameters")
    if "tool_choice" in b:
        tc = b["tool_choice"]
        if not tools:
            raise _oai("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                       "specified.", "tool_choice")
        if isinstance(tc, str):
            if tc not in ("none", "auto", "required"):
                raise _oai("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'." % tc,
                           "tool_choice", "invalid_value")
        elif not (isinstance(tc, dict) and tc.get("type") == "function" and isinstance(tc.get("function"), dict)
                  and isinstance(tc["function"].get("name"), str)):
            raise _oai_type("tool_choice", "one of a string or object {type: 'function', function: {name}}", tc)
    for k in ("max_tokens", "max_completion_tokens"):
        if k in b and b[k] is not None:
            if not _is_int(b[k]):
                raise _oai_type(k, "an integer", b[k])
            _oai_range(k, b[k], lo=1, kind="integer")
    for k, hi in (("temperature", 2), ("top_p", 1)):
        if k in b and b[k] is not None:
            if not _is_num(b[k]):
                raise _oai_type(k, "a decimal", b[k])
            _oai_range(k, b[k], lo=0, hi=hi)
    if "stream" in b and b["stream"] is not None and not isinstance(b["stream"], bool):
        raise _oai_type("stream", "a boolean", b["stream"])
    if b.get("stream_options") is not None:
        if b.get("stream") is not True:
            raise _oai("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
        if not isinstance(b["stream_options"], dict):
            raise _oai_type("stream_options", "an object", b["stream_options"])
    if b.get("n") not in (None, 1):
        raise _oai("Invalid 'n': the fake server makes exactly one choice (n=1).", "n")


# ---------------------------------------------------------------------------------------------
# request validation: Anthropic Messages (pydantic-style "field.path: message")


def _ant(message):
    return ApiError(400, {"type": "error", "error": {"type": "invalid_request_error", "message": message},
                          "request_id": "req_011C" + _rand(20)})


def _ant_blocks(w, role, content, is_last):
    """Check one message's content; return its list of blocks (a string becomes one text block)."""
    if isinstance(content, str):
        if not content and not (is_last and role == "assistant"):
            raise _ant("%s: all messages must have non-empty content except for the optional final assistant "
                       "message" % w)
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _ant("%s.content: Input should be a valid list" % w)
    if not content and not (is_last and role == "assistant"):
        raise _ant("%s: all messages must have non-empty content except for the optional final assistant "
                   "message" % w)
    for j, blk in enumerate(content):
        bw = "%s.content.%d" % (w, j)
        if not isinstance(blk, dict):
            raise _ant("%s: Input should be a valid dictionary or object to extract fields from" % bw)
        t = blk.get("type")
        if t not in _ANTHROPIC_BLOCKS:
            raise _ant("%s: Input tag '%s' found using 'type' does not match any of the expected tags: %s"
                       % (bw, t, ", ".join("'%s'" % x for x in _ANTHROPIC_BLOCKS)))
        if t == "text":
            if not isinstance(blk.get("text"), str):
                raise _ant("%s.text: %s" % (bw, "Field required" if "text" not in blk else
                                            "Input should be a valid string"))
            if not blk["text"]:
                raise _ant("messages: text content blocks must be non-empty")
        elif t == "tool_use":
            if role != "assistant":
                raise _ant("%s: tool_use blocks can only be in assistant messages" % bw)
            for k in ("id", "name", "input"):
                if k not in blk:
                    raise _ant("%s.%s: Field required" % (bw, k))
            if not isinstance(blk["input"], dict):
                raise _ant("%s.input: Input should be a valid dictionary" % bw)
        elif t == "tool_result":
            if role != "user":
                raise _ant("%s: tool_result blocks can only be in user messages" % bw)
            if not isinstance(blk.get("tool_use_id"), str):
                raise _ant("%s.tool_use_id: Field required" % bw)
            rc = blk.get("content")
            if rc is not None and not isinstance(rc, str):
                if not isinstance(rc, list):
                    raise _ant("%s.content: Input should be a valid list" % bw)
                for k, rb in enumerate(rc):
                    if not (isinstance(rb, dict) and rb.get("type") in ("text", "image", "document",
                                                                         "search_result")):
                        raise _ant("%s.content.%d: Input should be a text, image, document or search_result "
                                   "block" % (bw, k))
                    if rb["type"] == "text" and not isinstance(rb.get("text"), str):
                        raise _ant("%s.content.%d.text: Field required" % (bw, k))
            if "is_error" in blk and not isinstance(blk["is_error"], bool):
                raise _ant("%s.is_error: Input should be a valid boolean" % bw)
    return content


def _validate_anthropic(b):
    for k in b:
        if k not in _ANTHROPIC_PARAMS:
            raise _ant("%s: Extra inputs are not permitted" % k)
    for k in ("model", "messages", "max_tokens"):
        if k not in b:
            raise _ant("%s: Field required" % k)
    if not isinstance(b["model"], str):
        raise _ant("model: Input should be a valid string")
    if not _is_int(b["max_tokens"]):
        raise _ant("max_tokens: Input should be a valid integer")
    if b["max_tokens"] < 1:
        raise _ant("max_tokens: Input should be greater than or equal to 1")
    msgs = b["messages"]
    if not isinstance(msgs, list):
        raise _ant("messages: Input should be a valid list")
    if not msgs:
        raise _ant("messages: at least one message is required")
    blocks = []
    for i, m in enumerate(msgs):
        w = "messages.%d" % i
        if not isinstance(m, dict):
            raise _ant("%s: Input should be a valid dictionary or object to extract fields from" % w)
        for k in m:
            if k not in ("role", "content"):
                raise _ant("%s.%s: Extra inputs are not permitted" % (w, k))
        if "role" not in m:
            raise _ant("%s.role: Field required" % w)
        if m["role"] == "system":
            raise _ant('messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                       'parameter, not "system" as an input message role.')
        if m["role"] not in ("user", "assistant"):
            raise _ant("%s.role: Input should be 'user' or 'assistant'" % w)
        if "content" not in m:
            raise _ant("%s.content: Field required" % w)
        if i == 0 and m["role"] != "user":
            raise _ant('messages: first message must use the "user" role')
        if i > 0 and m["role"] == msgs[i - 1]["role"]:
            raise _ant('messages: roles must alternate between "user" and "assistant", but found multiple "%s" '
                       'roles in a row' % m["role"])
        blocks.append(_ant_blocks(w, m["role"], m["content"], i == len(msgs) - 1))
    for i, m in enumerate(msgs):
        if m["role"] != "user":
            continue
        uses = set()
        if i > 0:
            uses = {blk["id"] for blk in blocks[i - 1] if blk.get("type") == "tool_use"}
        for j, blk in enumerate(blocks[i]):
            if blk.get("type") == "tool_result" and blk["tool_use_id"] not in uses:
                raise _ant("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. "
                           "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
                           "message." % (i, j, blk["tool_use_id"]))
    for i, m in enumerate(msgs[:-1]):
        if m["role"] != "assistant":
            continue
        answered = {blk.get("tool_use_id") for blk in blocks[i + 1] if blk.get("type") == "tool_result"}
        missing = [blk["id"] for blk in blocks[i] if blk.get("type") == "tool_use" and blk["id"] not in answered]
        if missing:
            raise _ant("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. "
                       "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                       % (i, ", ".join(missing)))
    if "system" in b:
        s = b["system"]
        if not isinstance(s, str):
            if not isinstance(s, list):
                raise _ant("system: Input should be a valid list")
            for j, blk in enumerate(s):
                if not isinstance(blk, dict) or blk.get("type") != "text":
                    raise _ant("system.%d.type: Input should be 'text'" % j)
                if not isinstance(blk.get("text"), str):
                    raise _ant("system.%d.text: Field required" % j)
                for k in blk:
                    if k not in ("type", "text", "cache_control", "citations"):
                        raise _ant("system.%d.%s: Extra inputs are not permitted" % (j, k))
    if "tools" in b:
        tools = b["tools"]
        if not isinstance(tools, list):
            raise _ant("tools: Input should be a valid list")
        names = set()
        for j, t in enumerate(tools):
            w = "tools.%d" % j
            if not isinstance(t, dict):
                raise _ant("%s: Input should be a valid dictionary or object to extract fields from" % w)
            if t.get("type", "custom") != "custom":
                raise _ant("%s.type: the fake server implements only custom (client) tools" % w)
            for k in t:
                if k not in ("name", "description", "input_schema", "type", "cache_control"):
                    raise _ant("%s.%s: Extra inputs are not permitted" % (w, k))
            for k in ("name", "input_schema"):
                if k not in t:
                    raise _ant("%s.%s: Field required" % (w, k))
            if not isinstance(t["name"], str) or not _ANTHROPIC_TOOL_NAME.match(t["name"]):
                raise _ant("%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'" % w)
            if t["name"] in names:
                raise _ant("tools: Tool names must be unique.")
            names.add(t["name"])
            if "description" in t and not isinstance(t["description"], str):
                raise _ant("%s.description: Input should be a valid string" % w)
            sch = t["input_schema"]
            if not isinstance(sch, dict):
                raise _ant("%s.input_schema: Input should be a valid dictionary" % w)
            if sch.get("type") != "object":
                raise _ant("%s.input_schema.type: Input should be 'object'" % w)
    if "tool_choice" in b:
        tc = b["tool_choice"]
        if not isinstance(tc, dict) or tc.get("type") not in ("auto", "any", "tool", "none"):
            raise _ant("tool_choice: Input tag found using 'type' does not match any of the expected tags: "
                       "'auto', 'any', 'tool', 'none'")
        if tc["type"] == "tool" and not isinstance(tc.get("name"), str):
            raise _ant("tool_choice.tool.name: Field required")
    for k, hi in (("temperature", 1), ("top_p", 1)):
        if k in b:
            if not _is_num(b[k]):
                raise _ant("%s: Input should be a valid number" % k)
            if b[k] < 0:
                raise _ant("%s: Input should be greater than or equal to 0" % k)
            if b[k] > hi:
                raise _ant("%s: Input should be less than or equal to %d" % (k, hi))
    if "stream" in b and not isinstance(b["stream"], bool):
        raise _ant("stream: Input should be a valid boolean")
    if "stop_sequences" in b and not (isinstance(b["stop_sequences"], list)
                                      and all(isinstance(x, str) for x in b["stop_sequences"])):
        raise _ant("stop_sequences: Input should be a valid list of strings")


# ---------------------------------------------------------------------------------------------
# images in a request (both providers): checked like the real APIs, decoded for the tests


def sniff_image(data):
    """The media type the bytes are (JPEG, PNG, GIF, WebP), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _b64(data):
    # strict, as both APIs are: the standard alphabet, padded, nothing else (no line breaks)
    if not isinstance(data, str) or len(data) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", data):
        raise ValueError("not base64")
    return base64.b64decode(data, validate=True)


def _images(kind, b):
    """Every image of a validated request, in order: dicts with where (the part's path, as the
    API names it), media_type and data (the decoded bytes). Raises the API's 400 for an image
    part of the wrong shape, bad base64 or bytes that are no image."""
    out = []
    for i, m in enumerate(b.get("messages") or ()):
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            if kind == "openai" and part.get("type") == "image_url":
                out.append(_oai_image("messages[%d].content[%d]" % (i, j), part))
            elif kind == "anthropic" and part.get("type") == "image":
                if m.get("role") != "user":
                    raise _ant("messages.%d.content.%d: image blocks can only be in user messages" % (i, j))
                out.append(_ant_image("messages.%d.content.%d" % (i, j), part))
    return out


def _oai_image(w, part):
    for k in part:
        if k not in ("type", "image_url"):
            raise _oai("Additional properties are not allowed ('%s' was unexpected) - '%s'" % (k, w), w)
    iu = part.get("image_url")
    if iu is None:
        raise _oai_missing(w + ".image_url")
    if not isinstance(iu, dict):
        raise _oai_type(w + ".image_url", "an object", iu)
    for k in iu:
        if k not in ("url", "detail"):
            raise _oai("Additional properties are not allowed ('%s' was unexpected) - '%s.image_url'" % (k, w),
                       w + ".image_url")
    if "detail" in iu and iu["detail"] not in ("auto", "low", "high"):
        raise _oai("Invalid value: '%s'. Supported values are: 'auto', 'low', and 'high'." % (iu["detail"],),
                   w + ".image_url.detail", "invalid_value")
    url = iu.get("url")
    if url is None:
        raise _oai_missing(w + ".image_url.url")
    if not isinstance(url, str):
        raise _oai_type(w + ".image_url.url", "a string", url)
    m = re.match(r"data:([^;,]*);base64,", url)
    if not m:
        raise _oai("Invalid '%s.image_url.url'. Expected a base64-encoded data URL with an image MIME type "
                   "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value that is not one "
                   "(the fake serves no http(s) image URLs)." % w, w + ".image_url.url", "invalid_value")
    if m.group(1) not in IMAGE_TYPES:
        raise _oai("Invalid MIME type. Only image types are supported.", w + ".image_url.url", "invalid_image_format")
    try:
        data = _b64(url[m.end():])
    except (ValueError, binascii.Error):
        raise _oai("Invalid base64 image_url.", w + ".image_url.url", "invalid_base64") from None
    if not sniff_image(data):
        raise _oai("You uploaded an unsupported image. Please make sure your image has of one the following "
                   "formats: ['png', 'jpeg', 'gif', 'webp'].", None, "invalid_image_format")
    return {"where": w, "media_type": m.group(1), "data": data}


def _ant_image(w, blk):
    for k in blk:
        if k not in ("type", "source", "cache_control"):
            raise _ant("%s.%s: Extra inputs are not permitted" % (w, k))
    src = blk.get("source")
    if not isinstance(src, dict):
        raise _ant("%s.source: %s" % (w, "Field required" if src is None else "Input should be a valid dictionary"))
    if src.get("type") != "base64":
        raise _ant("%s.source: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', "
                   "'url', 'file' (the fake takes base64 only)" % (w, src.get("type")))
    for k in src:
        if k not in ("type", "media_type", "data"):
            raise _ant("%s.source.base64.%s: Extra inputs are not permitted" % (w, k))
    mt = src.get("media_type")
    if mt not in IMAGE_TYPES:
        raise _ant("%s.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                   "'image/webp'" % w)
    if "data" not in src:
        raise _ant("%s.source.base64.data: Field required" % w)
    try:
        data = _b64(src["data"])
    except (ValueError, binascii.Error):
        raise _ant("%s.source.base64.data: invalid base64 data" % w) from None
    got = sniff_image(data)
    if got is None:
        raise _ant("Could not process image")
    if got != mt:
        raise _ant("%s.source.base64.data: Image does not match the provided media type %s" % (w, mt))
    return {"where": w, "media_type": mt, "data": data}
