# A provider's error, read from its answer: the message of an error body (both providers
# send {"error": {"message": ...}}) or of an "error" event in a stream, as an llm.LLMError.
#
# Loaded only when there is an error (llm.call, the provider modules, agent/loop for a
# photo a model without vision refused: refused()), and unloaded with the rest of the model
# side (agent._MODEL_SIDE).
from picoclaw.net.http import HTTPError
from picoclaw.json.stream import OBJ, JsonError, JsonReader
from picoclaw.llm.call import LLMError


def error_message(p):
    """The message of an error body: {"error": {"message": ...}} (both providers)."""
    msg = None
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"error"):
            msg = _message_of(p)
        else:
            p.skip()
    return msg


def stream_error(p):
    """An "error" inside an answer or a stream (its value is next): raise it."""
    raise LLMError(0, _message_of(p) or "error in stream")


def _message_of(p):
    # {"message": ..., ...} -> the message; anything else -> None
    msg = None
    if p.next() == OBJ:
        while p.next_key():
            if p.key_is(b"message"):
                msg = p.read_str(200)
            else:
                p.skip()
    return msg


def from_response(conn):
    """LLMError from a non-200 answer: the provider's error message if the body says one."""
    msg = None
    try:
        p = JsonReader(conn, bytearray(200))  # values up to the message's 200-byte cap
        msg = error_message(p) or ""
    except (JsonError, HTTPError, OSError):
        conn.close()
    status = conn.status
    if (msg is None or not msg and status == 404) and status < 500 and status != 429:
        # not JSON at all (an HTML 404 page): the URL is wrong, not the key or the model
        from picoclaw.net.stream import failure

        return LLMError(status, failure(3, conn, status, 1, 0))
    if status == 401 or status == 403:
        msg = "the provider refused the API key (%s)" % (msg or status)
    return LLMError(status, msg or "HTTP %d" % status, conn.retry_after)


# a model without vision: the line its answer ends with once the photo went as a note
_BLIND = b"\n\n(This model cannot see images, so it got the caption only.)"


def refused(a, e):
    """After a failed call (LLMError e) of agent a: was it a model that cannot see images
    refusing the photo its request carried in full (llm/image.py set a.photo)? Then every
    photo becomes a note until restart (a.blind), and the call is made again
    (agent/loop.Agent._model_call) through said(), which ends its answer saying why; else
    None. A 400 about image support: "image_url is only supported by certain models"
    (OpenAI), "this model does not support image input" (Ollama, others); not "Could not
    process image", which is about that file and gets the apology as any refusal."""
    m = (e.message or "").lower()
    if not getattr(a, "photo", False) or e.status != 400 or "image" not in m or "support" not in m:
        return None
    a.blind = True
    a.photo = False
    from picoclaw import log

    log.warn("the model refused a photo (%s): photos go as a note until restart" % e.message)
    return said


def said(reply):
    """The answer of the call made again (its reply file, or None) ends with the line that
    says the model could not see the photo."""
    if reply:
        with open(reply, "ab") as f:
            f.write(_BLIND)
    return reply
