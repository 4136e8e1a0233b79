# One model call: write the request from flash, read the answer to flash.
#
# The provider module (llm/openai.py or llm/anthropic.py, chosen by config; only that one is
# loaded) knows the wire shapes; this module owns the connection and the retries, and
# llm/answer.Answer puts the answer on flash: its text in `<workspace>/state/reply`, each tool
# call's arguments in `<workspace>/state/call<i>` (raw JSON), so neither sits in RAM whole.
import time

from micropython import const

from picoclaw import log
from picoclaw.net.http import HTTPError
from picoclaw.net.stream import NetError
from picoclaw.json.stream import JsonError, JsonReader

_TRIES = const(3)  # tries for 429 and 5xx answers


class Enough(Exception):
    """Raised by the Answer when it reaches its cap: reading stops there (a stream
    that never ends is not read to its end), and the answer so far is the answer."""


class LLMError(Exception):
    """The provider refused or failed. status: HTTP status (0: no answer)."""

    def __init__(self, status, message, retry_after=-1):
        super().__init__("LLM %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.retry_after = retry_after


def provider_module(name):
    """The module speaking `name`'s protocol: Anthropic Messages or OpenAI Chat Completions."""
    if name == "anthropic":
        from picoclaw.llm import anthropic as m
    else:
        from picoclaw.llm import openai as m
    return m


def call(conn, proto, a, stream, tools, on_text=False):
    """POST one request for agent `a` and read the answer into an Answer (llm/answer.py), which
    is returned. Retries 429/5xx and a dropped connection (the request is re-sent from
    flash); raises LLMError. on_text: edit a's placeholder as the text comes. The whole
    call, retries included, ends within a.timeout_s seconds (agents.defaults.request_timeout):
    a provider that streams keep-alive comments for ever is cut off there."""
    err = None
    end = time.ticks_add(time.ticks_ms(), a.timeout_s * 1000)
    for attempt in range(_TRIES):
        if attempt:
            wait = err.retry_after if err and err.retry_after > 0 else 2 << attempt
            if wait * 1000 >= time.ticks_diff(end, time.ticks_ms()):
                break  # no time left for another try
            log.warn("%s; retrying in %d s" % (err, wait))
            a.sleep_ms(min(wait, 60) * 1000)
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0:
            break
        answer = None
        try:
            conn.request(b"POST", proto.PATH, body=lambda w: proto.body(w, a, stream, tools),
                         headers=proto.headers(a.api_key), timeout_ms=left)
            if conn.status != 200:
                from picoclaw.llm.errors import from_response  # only now: errors are rare

                raise from_response(conn)
            # the answer's side only now: writing the request (system prompt, history) is
            # the model call's heap peak, and does not need it
            from picoclaw.llm.answer import Answer

            answer = Answer(a.state_dir, a if on_text else None)
            p = JsonReader(conn, a.small)
            try:
                proto.parse(p, conn, answer, stream)
                conn.done()
            except Enough:
                conn.close()  # the rest of the answer is not wanted: not read, not kept
            answer.close()
            return answer
        except LLMError as e:
            conn.done()
            if answer:
                answer.close()
            if e.status != 429 and e.status < 500:
                raise
            err = e
        except (HTTPError, OSError, JsonError) as e:
            conn.close()
            if answer:
                answer.close()
            err = LLMError(0, str(e))
            if isinstance(e, NetError):
                raise err  # no connection at all (DNS, refused, TLS): says why; a retry seconds
                #            later meets the same (the gateway's next message tries again)
    raise err or LLMError(0, "no answer within %d s (agents.defaults.request_timeout)" % a.timeout_s)


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
    if any), write the tool schemas (tools: the file agent/setup.py wrote them to at start, in the
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
