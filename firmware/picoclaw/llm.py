# One model call: write the request from flash, read the answer to flash.
#
# The provider module (llm_openai or llm_anthropic, chosen by config; only that one is
# loaded) knows the wire shapes; this module owns the connection, retries and the Turn:
# the answer's text goes to `<workspace>/state/reply`, each tool call's arguments to
# `<workspace>/state/call<i>` (raw JSON), so neither ever sits in RAM whole.
from micropython import const

from . import log
from .httpclient import HTTPError
from .jsonstream import JsonError, JsonReader

_MAX_CALLS = const(8)  # tool calls kept from one answer; more are refused to the model
_ARGS_CAP = const(16384)  # bytes of arguments per tool call (a write_file of a 16 KB note)
_TEXT_CAP = const(32768)  # bytes of answer text kept; the rest is cut (and said so)
_READ_MS = const(120000)  # a model may think for a while before its first byte
_TRIES = const(3)  # tries for 429 and 5xx answers

class LLMError(Exception):
    """The provider refused or failed. status: HTTP status (0: no answer)."""

    def __init__(self, status, message, retry_after=-1):
        super().__init__("LLM %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Turn:
    """What one model call produced, on flash. calls: [(id, name, args_path)]."""

    def __init__(self, state_dir, on_text=None):
        self.dir = state_dir
        self.reply_path = state_dir + "/reply"
        self._reply = open(self.reply_path, "wb")
        self.text_len = 0
        self.text_cut = False
        self.calls = []
        self._args = None  # open file of the call being written
        self._arg_len = 0
        self.stop = ""
        self.on_text = on_text  # progress callback (streaming): on_text(turn)

    def text(self, buf, n):
        if self.text_len + n > _TEXT_CAP:
            n = _TEXT_CAP - self.text_len
            self.text_cut = True
        if n > 0:
            self._reply.write(memoryview(buf)[:n])
            self.text_len += n
            if self.on_text:
                self._reply.flush()
                self.on_text(self)

    def call(self, cid, name):
        """Start a new tool call. Returns False once _MAX_CALLS were started."""
        self._close_args()
        if len(self.calls) >= _MAX_CALLS:
            return False
        path = "%s/call%d" % (self.dir, len(self.calls))
        self.calls.append([cid or "call_%d" % len(self.calls), name or "", path])
        self._args = open(path, "wb")
        self._arg_len = 0
        return True

    def set_call(self, cid=None, name=None):
        if self.calls:
            c = self.calls[-1]
            if cid:
                c[0] = cid
            if name:
                c[1] = name

    def args(self, buf, n):
        if self._args is None or self._arg_len + n > _ARGS_CAP:
            return
        self._args.write(memoryview(buf)[:n])
        self._arg_len += n

    def write_args(self, data):
        if self._args is not None:
            self._args.write(data)
            self._arg_len += len(data)

    def _close_args(self):
        if self._args is not None:
            if not self._arg_len:
                self._args.write(b"{}")  # a call without arguments
            self._args.close()
            self._args = None

    def close(self):
        self._close_args()
        if self._reply is not None:
            self._reply.close()
            self._reply = None


def provider_module(name):
    """The module speaking `name`'s protocol: Anthropic Messages or OpenAI Chat Completions."""
    if name == "anthropic":
        from . import llm_anthropic as m
    else:
        from . import llm_openai as m
    return m


def call(conn, proto, a, turn, stream, tools):
    """POST one request for agent `a` and read the answer into `turn`. Retries 429/5xx
    and a dropped connection (the request is re-sent from flash); raises LLMError."""
    err = None
    for attempt in range(_TRIES):
        if attempt:
            wait = err.retry_after if err and err.retry_after > 0 else 2 << attempt
            log.warn("%s; retrying in %d s" % (err, wait))
            a.sleep_ms(min(wait, 60) * 1000)
            turn.__init__(turn.dir, turn.on_text)
        try:
            conn.request(b"POST", proto.PATH, body=lambda w: proto.body(w, a, stream, tools),
                         headers=proto.headers(a.api_key), timeout_ms=_READ_MS)
            if conn.status != 200:
                from .llm_error import from_response  # only now: errors are rare

                raise from_response(conn)
            p = JsonReader(conn, a.small)
            proto.parse(p, conn, turn, stream)
            conn.done()
            turn.close()
            return
        except LLMError as e:
            conn.done()
            turn.close()
            if e.status != 429 and e.status < 500:
                raise
            err = e
        except (HTTPError, OSError, JsonError) as e:
            conn.close()
            turn.close()
            err = LLMError(0, str(e))
    raise err


def write_head(w, a, stream):
    """The fields both protocols share, opening the request object (left open)."""
    w.write(b'{"model":')
    w.json_begin()
    w.json_part(a.model)
    w.json_end()
    w.write(b',"max_tokens":%d,"temperature":' % a.max_tokens)
    w.write("%.2f" % a.temperature)
    if stream:
        w.write(b',"stream":true')


def write_tail(w, a, sep, tools):
    """Close the messages array (after a.extra, the summary request's closing instruction,
    if any), write the tool schemas (tools: the file agent.attach wrote them to, in the
    provider's shape; None: no tools), close the request object."""
    if a.extra:
        w.write(sep + b'{"role":"user","content":')
        w.json_begin()
        w.json_part(a.extra)
        w.json_end()
        w.write(b"}")
    w.write(b"]")
    if tools:
        w.write(b',"tools":[')
        buf = a.linebuf
        with open(tools, "rb") as f:
            n = f.readinto(buf)
            while n:
                w.write(buf, n)
                n = f.readinto(buf)
        w.write(b"]")
    w.write(b"}")


def copy_string(p, w):
    """Copy the next string value of reader p into writer w as a JSON string (null: "")."""
    w.json_begin()
    p.copy_str(w.json_part, 1 << 20)  # our own files: capped when they were written
    w.json_end()
