"""Tests of the fake LLM API servers themselves (host_tests/support/fakes/llm_server.py).

CPython only. The official openai and anthropic SDKs are the clients that must accept the fakes
as the real APIs; raw http.client / socket clients check the exact bytes (SSE format, chunk
framing) and the injected faults.
"""
import http.client
import json
import socket
import ssl
import time

import anthropic
import httpx
import httpx2
import openai
import pytest

from fakes.llm_server import DEFAULT_TEXT, FakeLLM

TOOLS_OAI = [{"type": "function", "function": {
    "name": "get_time", "description": "Current time in a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}]
TOOLS_ANT = [{"name": "get_time", "description": "Current time in a time zone",
              "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}]
LONG = "Grüße aus Köln! 😀 Das ist eine längere Antwort, die in mehrere Stücke zerlegt wird. ✓ Ende."
ARGS = {"tz": "Europe/Zürich", "note": "a longer argument so that it is split 🙂", "n": [1, 2, 3]}


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


def _fake(kind, **kw):
    fake = FakeLLM(kind, **kw).start()
    yield fake
    fake.stop()
    assert fake.errors == []


@pytest.fixture
def oai():
    yield from _fake("openai")


@pytest.fixture
def ant():
    yield from _fake("anthropic")


@pytest.fixture
def oai_plain():
    yield from _fake("openai", tls=False)


@pytest.fixture
def ant_plain():
    yield from _fake("anthropic", tls=False)


def ctx(fake):
    return ssl.create_default_context(cafile=fake.ca_pem_path)   # check_hostname + CERT_REQUIRED


@pytest.fixture
def oai_sdk(oai):
    # openai 3.x accepts a legacy httpx.Client as well as an httpx2.Client
    with httpx.Client(verify=ctx(oai), timeout=5.0) as http:
        yield openai.OpenAI(base_url=oai.base_url, api_key=oai.api_key, http_client=http, max_retries=0)


@pytest.fixture
def ant_sdk(ant):
    # anthropic 2.x refuses a legacy httpx.Client: it needs httpx2; it appends /v1 itself
    with httpx2.Client(verify=ctx(ant), timeout=5.0) as http:
        yield anthropic.Anthropic(base_url=ant.origin, api_key=ant.api_key, http_client=http, max_retries=0)


_open = []


@pytest.fixture(autouse=True)
def _close_raw_connections():
    yield
    while _open:
        _open.pop().close()


def connect(fake, timeout=5.0):
    """A raw http.client connection, closed after the test."""
    if fake.tls:
        c = http.client.HTTPSConnection("localhost", fake.port, context=ctx(fake), timeout=timeout)
    else:
        c = http.client.HTTPConnection("localhost", fake.port, timeout=timeout)
    _open.append(c)
    return c


def auth(fake):
    if fake.kind == "openai":
        return {"Authorization": "Bearer " + fake.api_key, "Content-Type": "application/json"}
    return {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01", "Content-Type": "application/json"}


def endpoint(fake):
    return "/v1/chat/completions" if fake.kind == "openai" else "/v1/messages"


def minimal(fake, **kw):
    if fake.kind == "openai":
        b = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    else:
        b = {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    b.update(kw)
    return b


def post(fake, body, conn=None, headers=None, path=None):
    """One raw request; returns (response, raw body bytes). `body` dict -> JSON, bytes as is."""
    c = conn or connect(fake)
    hdrs = auth(fake)
    hdrs.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    c.request("POST", path or endpoint(fake), body=data, headers=hdrs)
    r = c.getresponse()
    return r, r.read()


def sse_events(data):
    """Split a decoded SSE body into events: list of (event name or None, data string)."""
    text = data.decode("utf-8")
    assert text.endswith("\n\n"), text[-80:]
    out = []
    for block in text[:-2].split("\n\n"):
        name, payload = None, None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            else:
                assert field == "data", line
                payload = value
        out.append((name, payload))
    return out


def raw_exchange(fake, request_bytes, timeout=3.0):
    """Plain socket (tls=False fakes): send bytes, read until the server closes."""
    s = socket.create_connection(("127.0.0.1", fake.port), timeout=timeout)
    try:
        s.sendall(request_bytes)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                return got
            got += d
    finally:
        s.close()


def request_bytes(fake, body, close=True):
    data = json.dumps(body).encode()
    lines = ["POST %s HTTP/1.1" % endpoint(fake), "Host: localhost:%d" % fake.port,
             "Content-Length: %d" % len(data)]
    lines += ["%s: %s" % kv for kv in auth(fake).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def dechunk(body):
    """Decode chunked framing by hand; return (list of chunk payloads, complete?)."""
    chunks = []
    while body:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return chunks, False
        size = int(line, 16)
        if size == 0:
            return chunks, rest == b"\r\n"
        if len(rest) < size + 2:
            chunks.append(rest[:size])
            return chunks, False
        chunks.append(rest[:size])
        assert rest[size:size + 2] == b"\r\n"
        body = rest[size + 2:]
    return chunks, False


# ---------------------------------------------------------------------------------------------
# OpenAI SDK


def test_openai_sdk_text(oai, oai_sdk):
    oai.reply_text(LONG)
    r = oai_sdk.chat.completions.create(model="gpt-test", messages=[{"role": "system", "content": "Be brief."},
                                                                     {"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == LONG
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-test" and r.object == "chat.completion"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    req = oai.requests[0]
    assert req["method"] == "POST" and req["path"] == "/v1/chat/completions" and req["conn"] == 1
    assert req["headers"]["authorization"] == "Bearer " + oai.api_key
    assert req["body"]["messages"][1] == {"role": "user", "content": "hi"} and req["stream"] is False
    assert oai.base_url.startswith("https://localhost:") and oai.base_url.endswith("/v1")


def test_openai_sdk_default_reply_and_truncated(oai, oai_sdk):
    r = oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == DEFAULT_TEXT
    oai.reply_text("cut sho", truncated=True)
    r = oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert r.choices[0].finish_reason == "length"


def test_openai_sdk_tool_round_trip(oai, oai_sdk):
    oai.reply_tool_calls([("get_time", ARGS), ("get_time", {"tz": "UTC"})])
    oai.reply_text("It is noon.")
    msgs = [{"role": "user", "content": "time?"}]
    r = oai_sdk.chat.completions.create(model="m", messages=msgs, tools=TOOLS_OAI)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert [c.id for c in calls] == oai.requests[0]["reply"]["ids"]
    assert all(c.id.startswith("call_") and c.type == "function" for c in calls)
    assert json.loads(calls[0].function.arguments) == ARGS and calls[0].function.name == "get_time"
    msgs.append(choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}))
    for c in calls:
        msgs.append({"role": "tool", "tool_call_id": c.id, "content": "12:00"})
    r = oai_sdk.chat.completions.create(model="m", messages=msgs, tools=TOOLS_OAI)
    assert r.choices[0].message.content == "It is noon."
    assert oai.requests[1]["status"] == 200


def test_openai_sdk_stream_text(oai, oai_sdk):
    oai.reply_text(LONG)
    pieces = []
    usage = None
    for chunk in oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.content:
                pieces.append(ch.delta.content)
    assert "".join(pieces) == LONG
    assert len(pieces) >= len(LONG) // 20 and all(len(p) <= 20 for p in pieces)
    assert usage is not None and usage.completion_tokens > 0
    assert oai.requests[0]["stream"] is True
    # the SDK's stream helper reassembles the same
    oai.reply_text(LONG)
    with oai_sdk.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == LONG and final.choices[0].finish_reason == "stop"


def test_openai_sdk_stream_tool_calls(oai, oai_sdk):
    oai.reply_tool_calls([("get_time", ARGS), ("get_time", {"tz": "UTC"})], text="Let me check.")
    arg_deltas = 0
    for chunk in oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "t?"}],
                                                 tools=TOOLS_OAI, stream=True):
        for ch in chunk.choices:
            for tc in ch.delta.tool_calls or ():
                if tc.function and tc.function.arguments:
                    arg_deltas += 1
    assert arg_deltas > 4   # arguments arrive in several pieces
    oai.reply_tool_calls([("get_time", ARGS), ("get_time", {"tz": "UTC"})], text="Let me check.")
    with oai_sdk.chat.completions.stream(model="m", messages=[{"role": "user", "content": "t?"}],
                                         tools=TOOLS_OAI) as s:
        final = s.get_final_completion()
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls" and msg.content == "Let me check."
    assert [json.loads(c.function.arguments) for c in msg.tool_calls] == [ARGS, {"tz": "UTC"}]
    assert [c.id for c in msg.tool_calls] == oai.requests[1]["reply"]["ids"]


def test_openai_sdk_errors(oai, oai_sdk):
    oai.reply_error(429, "Rate limit reached for requests", retry_after=7)
    with pytest.raises(openai.RateLimitError) as ei:
        oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert ei.value.response.headers["retry-after"] == "7"
    assert ei.value.code == "rate_limit_exceeded" and ei.value.type == "requests"
    assert ei.value.body["message"] == "Rate limit reached for requests"
    oai.reply_error(500, "The server had an error")
    with pytest.raises(openai.InternalServerError):
        oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    bad = openai.OpenAI(base_url=oai.base_url, api_key="sk-wrong-key-123456", max_retries=0,
                        http_client=oai_sdk._client)
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert ei.value.code == "invalid_api_key" and "Incorrect API key" in ei.value.message

    oai.reply_text("never sent")
    with pytest.raises(openai.BadRequestError) as ei:   # a tool message without its tool call
        oai_sdk.chat.completions.create(model="m", messages=[
            {"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "12:00"}])
    assert "must be a response to a preceeding message with 'tool_calls'" in ei.value.message
    with pytest.raises(openai.BadRequestError) as ei:
        oai_sdk.chat.completions.create(model="m", messages=[])
    assert ei.value.code == "empty_array"
    assert oai.pending_replies() == 1   # refused requests consume no scripted reply
    assert [r["status"] for r in oai.requests] == [429, 500, 401, 400, 400]


def test_openai_sdk_honours_retry_after(oai):
    oai.reply_error(429, "slow down", retry_after=0.05)   # a float: fast test; the SDK accepts it
    oai.reply_text("after retry")
    with httpx.Client(verify=ctx(oai), timeout=5.0) as http:
        sdk = openai.OpenAI(base_url=oai.base_url, api_key=oai.api_key, http_client=http, max_retries=1)
        r = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "after retry"
    assert [r["headers"]["x-stainless-retry-count"] for r in oai.requests] == ["0", "1"]


def test_openai_sdk_keep_alive(oai, oai_sdk):
    for i in range(4):
        oai.reply_text("reply %d" % i)
    for i in range(2):
        r = oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "reply %d" % i
    with oai_sdk.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_completion().choices[0].message.content == "reply 2"
    r = oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "reply 3"
    # the stream reused the connection; the SDK then drops it, because it stops reading at
    # "data: [DONE]" and closes the response before the last chunk (the fake keeps it open:
    # see test_raw_keep_alive_and_connection_close), so the 4th call may open a second one
    assert [r["conn"] for r in oai.requests][:3] == [1, 1, 1] and oai.connections <= 2


def test_openai_sdk_plain_http_and_httpx2(oai_plain):
    assert oai_plain.base_url.startswith("http://localhost:")
    oai_plain.reply_text("over plain http")
    with httpx2.Client(timeout=5.0) as http:
        sdk = openai.OpenAI(base_url=oai_plain.base_url, api_key=oai_plain.api_key, http_client=http,
                            max_retries=0)
        r = sdk.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "over plain http"


def test_openai_sdk_sees_cut_stream_and_sse_error(oai, oai_sdk):
    oai.reply_text(LONG)
    oai.inject("cut_sse", events=3)
    with pytest.raises(openai.APIConnectionError):
        for _ in oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True):
            pass
    oai.inject("sse_error", events=2, message="The server had an error while processing your request.")
    with pytest.raises(openai.APIError) as ei:
        for _ in oai_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True):
            pass
    assert "server had an error" in ei.value.message


# ---------------------------------------------------------------------------------------------
# Anthropic SDK


def test_anthropic_sdk_text(ant, ant_sdk):
    ant.reply_text(LONG)
    r = ant_sdk.messages.create(model="claude-test", max_tokens=100, system="Be brief.",
                                messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in r.content] == ["text"] and r.content[0].text == LONG
    assert r.stop_reason == "end_turn" and r.role == "assistant" and r.model == "claude-test"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    req = ant.requests[0]
    assert req["path"] == "/v1/messages" and req["headers"]["anthropic-version"]
    assert req["body"]["system"] == "Be brief." and req["stream"] is False
    assert ant.base_url == ant.origin + "/v1"


def test_anthropic_sdk_tool_round_trip(ant, ant_sdk):
    ant.reply_tool_calls([("get_time", ARGS)], text="Checking.")
    ant.reply_text("It is noon.")
    msgs = [{"role": "user", "content": "time?"}]
    r = ant_sdk.messages.create(model="c", max_tokens=100, messages=msgs, tools=TOOLS_ANT)
    assert r.stop_reason == "tool_use" and [b.type for b in r.content] == ["text", "tool_use"]
    use = r.content[1]
    assert use.input == ARGS and use.name == "get_time" and use.id == ant.requests[0]["reply"]["ids"][0]
    assert use.id.startswith("toolu_")
    msgs.append({"role": "assistant", "content": [b.model_dump(include={"type", "text", "id", "name", "input"})
                                                  for b in r.content]})
    msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "12:00"}]})
    r = ant_sdk.messages.create(model="c", max_tokens=100, messages=msgs, tools=TOOLS_ANT)
    assert r.content[0].text == "It is noon." and ant.requests[1]["status"] == 200


def test_anthropic_sdk_stream_text(ant, ant_sdk):
    ant.reply_text(LONG)
    with ant_sdk.messages.stream(model="c", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == LONG and len(pieces) > 3
    assert final.content[0].text == LONG and final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    # raw events through the SDK: pings are there, and skipped by the helpers
    ant.reply_text(LONG)
    kinds = [ev.type for ev in ant_sdk.messages.create(model="c", max_tokens=100, stream=True,
                                                        messages=[{"role": "user", "content": "hi"}])]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]


def test_anthropic_sdk_stream_tool_use(ant, ant_sdk):
    ant.reply_tool_calls([("get_time", ARGS), ("get_time", {"tz": "UTC"})])
    json_deltas = 0
    with ant_sdk.messages.stream(model="c", max_tokens=100, tools=TOOLS_ANT,
                                 messages=[{"role": "user", "content": "t?"}]) as s:
        for ev in s:
            if ev.type == "content_block_delta" and ev.delta.type == "input_json_delta":
                json_deltas += 1
        final = s.get_final_message()
    assert json_deltas > 4
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.input) for b in final.content] == [("tool_use", ARGS), ("tool_use", {"tz": "UTC"})]
    assert [b.id for b in final.content] == ant.requests[0]["reply"]["ids"]


def test_anthropic_sdk_errors(ant, ant_sdk):
    ant.reply_error(429, "Number of request tokens has exceeded your rate limit", retry_after=12)
    with pytest.raises(anthropic.RateLimitError) as ei:
        ant_sdk.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert ei.value.response.headers["retry-after"] == "12"
    assert ei.value.body["error"]["type"] == "rate_limit_error" and ei.value.body["type"] == "error"
    ant.reply_error(529, "Overloaded")
    with pytest.raises(anthropic.APIStatusError) as ei:
        ant_sdk.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert ei.value.status_code == 529 and ei.value.body["error"]["type"] == "overloaded_error"

    bad = anthropic.Anthropic(base_url=ant.origin, api_key="sk-ant-wrong", max_retries=0,
                              http_client=ant_sdk._client)
    with pytest.raises(anthropic.AuthenticationError) as ei:
        bad.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert ei.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.BadRequestError) as ei:   # a tool_result without its tool_use
        ant_sdk.messages.create(model="c", max_tokens=10, messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "let me see"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "12"}]}])
    assert "unexpected `tool_use_id` found in `tool_result` blocks: toolu_x" in ei.value.message
    with pytest.raises(anthropic.BadRequestError) as ei:
        ant_sdk.messages.create(model="c", max_tokens=10, messages=[
            {"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}])
    assert "top-level `system` parameter" in ei.value.message
    assert [r["status"] for r in ant.requests] == [429, 529, 401, 400, 400]


def test_anthropic_sdk_keep_alive_and_stream_error(ant, ant_sdk):
    for i in range(3):
        ant.reply_text("reply %d" % i)
    for i in range(3):
        with ant_sdk.messages.stream(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
            assert s.get_final_text() == "reply %d" % i
    assert ant.connections == 1 and {r["conn"] for r in ant.requests} == {1}
    ant.reply_text(LONG)
    ant.inject("sse_error", events=3)
    with pytest.raises(anthropic.APIStatusError) as ei:
        with ant_sdk.messages.stream(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
            s.get_final_message()
    assert "overloaded_error" in str(ei.value)


def test_anthropic_sdk_plain_http(ant_plain):
    ant_plain.reply_text("hello from the LAN")
    with httpx2.Client(timeout=5.0) as http:
        sdk = anthropic.Anthropic(base_url=ant_plain.origin, api_key=ant_plain.api_key, http_client=http,
                                  max_retries=0)
        r = sdk.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert r.content[0].text == "hello from the LAN"


# ---------------------------------------------------------------------------------------------
# exact bytes: SSE format and chunk framing (raw clients)


def test_openai_sse_bytes(oai):
    oai.reply_tool_calls([("get_time", ARGS)], text=LONG)
    r, data = post(oai, minimal(oai, stream=True, tools=TOOLS_OAI, stream_options={"include_usage": True}))
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert r.getheader("Transfer-Encoding") == "chunked" and r.getheader("Content-Length") is None
    events = sse_events(data)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    body = [c for c in chunks if c["choices"]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in body)
    assert text == LONG
    calls = [tc for c in body for tc in c["choices"][0]["delta"].get("tool_calls", ())]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"] == {"name": "get_time", "arguments": ""}
    args = [tc["function"]["arguments"] for tc in calls[1:]]
    assert len(args) > 3 and json.loads("".join(args)) == ARGS
    assert body[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    assert all(c["usage"] is None and c["obfuscation"] for c in body)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_anthropic_sse_bytes(ant):
    ant.reply_tool_calls([("get_time", ARGS)], text=LONG)
    r, data = post(ant, minimal(ant, stream=True, tools=TOOLS_ANT))
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert r.getheader("Transfer-Encoding") == "chunked"
    events = sse_events(data)
    names = [n for n, _ in events]
    for name, d in events:
        assert json.loads(d)["type"] == name
    assert ("ping", '{"type": "ping"}') in events
    squeezed = [n for i, n in enumerate(names) if n not in ("ping", "content_block_delta")
                or names[i - 1] not in ("ping", "content_block_delta")]
    assert squeezed == ["message_start", "content_block_start", "ping", "content_block_stop",
                        "content_block_start", "content_block_delta", "content_block_stop",
                        "message_delta", "message_stop"]
    objs = [json.loads(d) for _, d in events]
    start = objs[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] > 0
    text = "".join(o["delta"]["text"] for o in objs if o["type"] == "content_block_delta" and o["index"] == 0)
    assert text == LONG
    tool_start = [o for o in objs if o["type"] == "content_block_start"][1]["content_block"]
    assert tool_start["type"] == "tool_use" and tool_start["input"] == {} and tool_start["id"].startswith("toolu_")
    parts = [o["delta"]["partial_json"] for o in objs if o["type"] == "content_block_delta" and o["index"] == 1]
    assert parts[0] == "" and len(parts) > 3 and json.loads("".join(parts)) == ARGS
    assert objs[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert objs[-2]["usage"]["output_tokens"] > 0


def test_chunks_do_not_follow_events(oai_plain):
    oai_plain.reply_text(LONG)
    got = raw_exchange(oai_plain, request_bytes(oai_plain, minimal(oai_plain, stream=True)))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close" in head
    chunks, complete = dechunk(body)
    assert complete
    joined = b"".join(chunks)
    assert joined.endswith(b"data: [DONE]\n\n")
    assert any(not c.endswith(b"\n\n") for c in chunks)            # split inside an event
    assert any(c.count(b"\n\ndata: ") >= 1 for c in chunks)         # two events in one chunk
    undecodable = 0
    for c in chunks:
        try:
            c.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content", "")
                   for _, d in sse_events(joined)[:-1]) == LONG
    assert undecodable >= 2   # chunks split inside UTF-8 characters: clients must cope


def test_non_streaming_bytes(ant):
    ant.reply_text("héllo")
    r, data = post(ant, minimal(ant))
    assert r.status == 200 and r.getheader("Content-Type") == "application/json"
    assert int(r.getheader("Content-Length")) == len(data)
    assert r.getheader("request-id").startswith("req_")
    assert "héllo".encode() in data   # raw UTF-8, not \\u escapes
    obj = json.loads(data)
    assert obj["type"] == "message" and obj["content"] == [{"type": "text", "text": "héllo"}]


# ---------------------------------------------------------------------------------------------
# HTTP behaviour: keep-alive, Connection: close, auth, routing


def test_raw_keep_alive_and_connection_close(oai):
    c = connect(oai)
    for _ in range(3):
        r, data = post(oai, minimal(oai), conn=c)
        assert r.status == 200 and r.getheader("Connection") == "keep-alive"
    r, data = post(oai, minimal(oai, stream=True), conn=c)   # streamed, then a plain one again
    r, data = post(oai, minimal(oai), conn=c, headers={"Connection": "close"})
    assert r.getheader("Connection") == "close"
    assert oai.connections == 1 and len(oai.requests) == 5
    c.close()
    p = FakeLLM("openai", tls=False).start()
    try:
        got = raw_exchange(p, request_bytes(p, minimal(p)))   # returns only because the server closes
        assert got.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in got
    finally:
        p.stop()


def test_anthropic_headers_required(ant):
    r, data = post(ant, minimal(ant), headers={"anthropic-version": ""})
    # an empty header counts as missing
    assert r.status == 400 and "anthropic-version" in json.loads(data)["error"]["message"]
    c = connect(ant)
    c.request("POST", "/v1/messages", body=json.dumps(minimal(ant)).encode(),
              headers={"x-api-key": ant.api_key, "Content-Type": "application/json"})
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status == 400 and body["error"] == {"type": "invalid_request_error",
                                                 "message": "anthropic-version: header is required"}
    r, data = post(ant, minimal(ant), headers={"x-api-key": "nope"})
    assert r.status == 401 and json.loads(data)["error"]["message"] == "invalid x-api-key"
    hdrs = {"Authorization": "Bearer " + ant.api_key, "anthropic-version": "2023-06-01"}
    c.request("POST", "/v1/messages", body=json.dumps(minimal(ant)).encode(), headers=hdrs)
    r = c.getresponse()
    assert r.status == 200 and r.read()


def test_openai_auth_and_routing(oai):
    r, data = post(oai, minimal(oai), headers={"Authorization": ""})
    assert r.status == 401 and "didn't provide an API key" in json.loads(data)["error"]["message"]
    r, data = post(oai, minimal(oai), path="/v1/completions")
    assert r.status == 404 and json.loads(data)["error"]["message"] == "Invalid URL (POST /v1/completions)"
    c = connect(oai)
    c.request("GET", "/v1/chat/completions", headers=auth(oai))
    r = c.getresponse()
    assert r.status == 405 and "error" in json.loads(r.read())
    r, data = post(oai, b"{not json", conn=c)
    assert r.status == 400 and "could not parse the JSON body" in json.loads(data)["error"]["message"]


def test_require_key_false():
    p = FakeLLM("openai", tls=False, require_key=False).start()
    try:
        c = http.client.HTTPConnection("localhost", p.port, timeout=5)
        c.request("POST", "/v1/chat/completions", body=json.dumps(minimal(p)).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())["choices"][0]["message"]["content"] == DEFAULT_TEXT
        c.close()
    finally:
        p.stop()


def test_malformed_http_is_400_and_close(oai_plain):
    got = raw_exchange(oai_plain, b"POST /v1/chat/completions HTTP/1.1\nHost: x\n\n")
    assert got.startswith(b"HTTP/1.1 400 ") and b"malformed HTTP request" in got


def test_tls_chain_is_leaf_and_intermediate_and_the_gateway_bundle_holds_each_root_once(oai):
    # the LLM fake presents leaf + intermediate (RSA-2048) under the root in its ca.pem; the
    # Telegram fake shares that root, so the bundle gatewayrun writes for tls.ca_file holds it once
    from cryptography import x509
    from fakes.httpserve import presented_chain
    from fakes.telegram_server import FakeTelegram
    import gatewayrun
    leaf, inter = [x509.load_der_x509_certificate(d) for d in presented_chain(oai.port)]
    with open(oai.ca_pem_path, "rb") as f:
        (root,) = x509.load_pem_x509_certificates(f.read())
    leaf.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    assert [c.public_key().key_size for c in (leaf, inter, root)] == [2048] * 3
    with FakeTelegram() as tg:
        with open(gatewayrun.write_config(tg, llm=oai)) as f:
            bundle = json.load(f)["tls"]["ca_file"]
        with open(bundle, "rb") as f:
            assert [c.subject for c in x509.load_pem_x509_certificates(f.read())] == [root.subject]
        with FakeTelegram(key_type="ecdsa") as tg_ec:   # two roots: both, each once
            with open(gatewayrun.write_config(tg_ec, llm=oai)) as f:
                bundle = json.load(f)["tls"]["ca_file"]
            with open(bundle, "rb") as f:
                assert len(x509.load_pem_x509_certificates(f.read())) == 2


# ---------------------------------------------------------------------------------------------
# validation, like the real APIs


OAI_BAD = [
    ({"messages": [{"role": "user", "content": "hi"}]}, "you must provide a model parameter"),
    ({"model": "m"}, "Missing required parameter: 'messages'."),
    ({"model": "m", "messages": []}, "empty array"),
    ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, "Invalid value: 'robot'"),
    ({"model": "m", "messages": [{"role": "user"}]}, "Missing required parameter: 'messages[0].content'."),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "Invalid type for 'messages[0].content'"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "foo": 1},
     "Unrecognized request argument supplied: foo"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "tool_calls": [
                                     {"id": "call_1", "type": "function",
                                      "function": {"name": "f", "arguments": "{}"}}]},
                                 {"role": "tool", "tool_call_id": "call_2", "content": "x"}]},
     "'tool_call_id' of 'call_2' not found in 'tool_calls' of previous message"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "tool_calls": [
                                     {"id": "call_1", "type": "function",
                                      "function": {"name": "f", "arguments": "{}"}}]},
                                 {"role": "user", "content": "and?"}]},
     "did not have response messages: call_1"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "tool_calls": [
                                     {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": {}}}]}]},
     "Invalid type for 'messages[1].tool_calls[0].function.arguments': expected a string"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"},
                                 {"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
     "must be a response to a preceeding message with 'tool_calls'"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": []}]},
     "Invalid 'messages[1].tool_calls': empty array"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "f"}]},
     "Missing required parameter: 'tools[0].type'."),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}],
      "tools": [{"type": "function", "function": {"parameters": {"type": "object"}}}]},
     "Missing required parameter: 'tools[0].function.name'."),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}],
      "tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "does not match pattern"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
     "Invalid schema for function 'f'"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"},
     "'tool_choice' is only allowed when 'tools' are specified"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "100"},
     "Invalid type for 'max_tokens': expected an integer, but got a string instead."),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0},
     "integer below minimum value"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
     "Invalid type for 'temperature'"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 3},
     "decimal above maximum value. Expected a value <= 2"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
     "Invalid type for 'stream'"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}},
     "only allowed when 'stream' is enabled"),
]

ANT_BAD = [
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model: Field required"),
    ({"model": "c", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
    ({"model": "c", "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]},
     "max_tokens: Input should be a valid integer"),
    ({"model": "c", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]},
     "max_tokens: Input should be greater than or equal to 1"),
    ({"model": "c", "max_tokens": 5, "messages": []}, "at least one message"),
    ({"model": "c", "max_tokens": 5, "messages": [{"role": "assistant", "content": "hi"}]},
     'first message must use the "user" role'),
    ({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "a"},
                                                  {"role": "user", "content": "b"}]},
     'roles must alternate between "user" and "assistant"'),
    ({"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "a"},
                                                  {"role": "user", "content": "b"}]},
     'Unexpected role "system"'),
    ({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": ""}]},
     "all messages must have non-empty content"),
    ({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
     "text content blocks must be non-empty"),
    ({"model": "c", "max_tokens": 5, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}]}]},
     "unexpected `tool_use_id` found in `tool_result` blocks: toolu_2"),
    ({"model": "c", "max_tokens": 5, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": "go on"}]},
     "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"),
    ({"model": "c", "max_tokens": 5, "system": [{"type": "image"}],
      "messages": [{"role": "user", "content": "hi"}]}, "system.0.type: Input should be 'text'"),
    ({"model": "c", "max_tokens": 5, "system": 5, "messages": [{"role": "user", "content": "hi"}]},
     "system: Input should be a valid list"),
    ({"model": "c", "max_tokens": 5, "tools": [{"name": "f", "description": "d"}],
      "messages": [{"role": "user", "content": "hi"}]}, "tools.0.input_schema: Field required"),
    ({"model": "c", "max_tokens": 5, "tools": [{"type": "function", "function": {"name": "f"}}],
      "messages": [{"role": "user", "content": "hi"}]}, "tools.0"),
    ({"model": "c", "max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "hi"}]},
     "temperature: Input should be less than or equal to 1"),
    ({"model": "c", "max_tokens": 5, "foo": 1, "messages": [{"role": "user", "content": "hi"}]},
     "foo: Extra inputs are not permitted"),
]


def test_openai_validation(oai):
    c = connect(oai)
    for body, expected in OAI_BAD:
        r, data = post(oai, body, conn=c)
        err = json.loads(data)["error"]
        assert r.status == 400, (body, data)
        assert expected in err["message"], (body, err)
        assert err["type"] == "invalid_request_error" and set(err) == {"message", "type", "param", "code"}
    assert oai.connections == 1   # errors keep the connection alive
    ok = {"model": "m", "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_2", "content": "b"},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "a"}]}],
        "tools": TOOLS_OAI, "tool_choice": "auto", "max_completion_tokens": 100, "temperature": 0.7}
    r, data = post(oai, ok, conn=c)
    assert r.status == 200, data


def test_anthropic_validation(ant):
    c = connect(ant)
    for body, expected in ANT_BAD:
        r, data = post(ant, body, conn=c)
        obj = json.loads(data)
        assert r.status == 400, (body, data)
        assert obj["type"] == "error" and obj["error"]["type"] == "invalid_request_error"
        assert expected in obj["error"]["message"], (body, obj)
    ok = {"model": "c", "max_tokens": 5, "system": [{"type": "text", "text": "be brief"}], "tools": TOOLS_ANT,
          "messages": [
              {"role": "user", "content": [{"type": "text", "text": "hi"}]},
              {"role": "assistant", "content": [{"type": "text", "text": "checking"},
                                                {"type": "tool_use", "id": "toolu_1", "name": "get_time",
                                                 "input": {"tz": "UTC"}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "12:00"},
                                           {"type": "text", "text": "thanks"}]},
              {"role": "assistant", "content": "It is"}]}   # prefill: the final assistant turn
    r, data = post(ant, ok, conn=c)
    assert r.status == 200, data
    assert ant.connections == 1


# ---------------------------------------------------------------------------------------------
# fault injection, seen by raw clients


def test_inject_checks_arguments(oai):
    with pytest.raises(ValueError):
        oai.inject("explode")
    with pytest.raises(ValueError):
        oai.inject("drop_at")
    with pytest.raises(ValueError):
        oai.inject("stall", seconds=1, bytes=3)


def test_drop_at(oai_plain):
    oai_plain.reply_text("first")
    oai_plain.inject("drop_at", n=0)
    with pytest.raises(http.client.RemoteDisconnected):
        post(oai_plain, minimal(oai_plain))
    assert oai_plain.requests[0]["reply"]["text"] == "first"   # the request was performed
    oai_plain.inject("drop_at", n=20)
    got = raw_exchange(oai_plain, request_bytes(oai_plain, minimal(oai_plain), close=False))
    assert got == b"HTTP/1.1 200 OK\r\nDat"
    oai_plain.inject("drop_at", n=10, body=True)
    got = raw_exchange(oai_plain, request_bytes(oai_plain, minimal(oai_plain), close=False))
    head, _, body = got.partition(b"\r\n\r\n")
    assert len(body) == 10 and int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) > 10
    oai_plain.inject("drop_at", n=30, body=True)
    with pytest.raises(http.client.IncompleteRead):
        post(oai_plain, minimal(oai_plain, stream=True))
    r, data = post(oai_plain, minimal(oai_plain))   # one-shot: the next request is fine
    assert r.status == 200 and oai_plain.connections == 5


def test_stall(ant):
    ant.inject("stall", seconds=0.3)
    t = time.monotonic()
    r, data = post(ant, minimal(ant))
    assert r.status == 200 and time.monotonic() - t >= 0.3
    ant.inject("stall", seconds=1.0, at=40, body=True)   # mid-stream: headers and 40 bytes, then silence
    c = connect(ant, timeout=0.3)
    c.request("POST", "/v1/messages", body=json.dumps(minimal(ant, stream=True)).encode(), headers=auth(ant))
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(socket.timeout):
        r.read()
    c.close()


def test_cut_sse(ant):
    ant.reply_text(LONG)
    ant.inject("cut_sse", events=4)
    c = connect(ant)
    c.request("POST", "/v1/messages", body=json.dumps(minimal(ant, stream=True)).encode(), headers=auth(ant))
    r = c.getresponse()
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    partial = ei.value.partial
    whole = partial[:partial.rindex(b"\n\n") + 2]
    assert [n for n, _ in sse_events(whole)] == ["message_start", "content_block_start", "ping",
                                                 "content_block_delta"]
    assert partial[len(whole):].startswith(b"event: content_block_delta\n")   # then cut mid-event
    ant.inject("cut_sse")   # non-streaming: half the Content-Length
    with pytest.raises(http.client.IncompleteRead):
        post(ant, minimal(ant))


def test_malformed_and_status(oai):
    oai.reply_text("kept for later")
    oai.inject("malformed")
    r, data = post(oai, minimal(oai))
    assert r.status == 200 and int(r.getheader("Content-Length")) == len(data)
    with pytest.raises(ValueError):
        json.loads(data)
    oai.inject("malformed")
    r, data = post(oai, minimal(oai, stream=True))
    bad = [d for _, d in sse_events(data) if d != "[DONE]"]
    with pytest.raises(ValueError):
        [json.loads(d) for d in bad]
    oai.inject("status", status=502, body="<html><body>502 Bad Gateway</body></html>")
    r, data = post(oai, minimal(oai))
    assert r.status == 502 and r.getheader("Content-Type") == "text/html" and b"Bad Gateway" in data
    oai.inject("status", status=503, headers={"Retry-After": "3"})
    r, data = post(oai, minimal(oai))
    assert r.status == 503 and r.getheader("Retry-After") == "3"
    assert json.loads(data)["error"]["type"] == "server_error"
    r, data = post(oai, minimal(oai))   # none of the replaced requests consumed the reply
    assert json.loads(data)["choices"][0]["message"]["content"] == "kept for later"
