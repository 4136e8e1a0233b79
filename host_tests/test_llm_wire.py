# The model's wire formats, without a network: SSE framing, both providers' answers (plain
# and streamed) parsed into an Answer on flash at every split point, and requests written from
# a session file. Runs on CPython and on the unix port.
import json
import os

from mptest import Chunks

from picoclaw.llm import call as llm
from picoclaw.llm import anthropic as llm_anthropic
from picoclaw.llm import openai as llm_openai
from picoclaw.json.stream import JsonReader
from picoclaw.llm.answer import Answer
from picoclaw.agent.session import Session
from picoclaw.json.files import FileOut, LineSource
from picoclaw.net.sse import SseSource

TMP = "/tmp/picoclaw-wire-test"


def _dir():
    for d in ("/tmp", TMP):
        try:
            os.mkdir(d)
        except OSError:
            pass
    return TMP


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class _Conn:
    """A response body source (Chunks) that also answers fill() == 0 after the end."""

    def __init__(self, body, sizes):
        self.c = Chunks(body, sizes, 64)
        self.buf = self.c.buf
        self.start = 0

    def fill(self):
        n = self.c.fill()
        self.start = self.c.start
        return n


def _parse(proto, body, stream, sizes):
    conn = _Conn(body, sizes)
    t = Answer(_dir())
    proto.parse(JsonReader(conn, bytearray(128)), conn, t, stream)
    t.close()
    calls = [(c[0], c[1], _read(c[2])) for c in t.calls]
    return _read(t.reply_path).decode(), calls, t.stop


OPENAI_SSE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo \\ud83d\\ude00"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"read_file","arguments":""}}]},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"path\\":"}}]},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \\"a.txt\\"}"}}]},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    b"data: [DONE]\n\n")

ANTHROPIC_SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","content":[],"usage":{"input_tokens":5}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo \\ud83d\\ude00"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"read_file","input":{}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"path\\":"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"a.txt\\"}"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n')

WANT_TEXT = "Hello \U0001F600"


def test_openai_stream_at_every_window_size():
    for k in range(1, 40):
        text, calls, stop = _parse(llm_openai, OPENAI_SSE, True, [k])
        assert text == WANT_TEXT, k
        assert calls == [("call_A", "read_file", b'{"path": "a.txt"}'), ("call_B", "get_time", b"{}")], k
        assert stop == "tool_calls"


def test_anthropic_stream_at_every_window_size():
    for k in range(1, 40):
        text, calls, stop = _parse(llm_anthropic, ANTHROPIC_SSE, True, [k])
        assert text == WANT_TEXT, k
        assert calls == [("toolu_A", "read_file", b'{"path": "a.txt"}')], k
        assert stop == "tool_use"


def test_plain_answers_of_both_providers():
    big = "x\"y\\z " * 1200  # a tool input holding a long string: streamed, not held
    body = json.dumps({"id": "r", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "write_file", "arguments": json.dumps({"path": "n.md", "content": big})}}]}}]}).encode()
    text, calls, stop = _parse(llm_openai, body, False, [7, 64])
    assert text == "" and calls[0][:2] == ("call_1", "write_file") and stop == "tool_calls"
    assert json.loads(calls[0][2]) == {"path": "n.md", "content": big}
    body = json.dumps({"id": "m", "type": "message", "role": "assistant", "stop_reason": "tool_use", "content": [
        {"type": "text", "text": "Saving \u4e2d."},
        {"type": "tool_use", "id": "toolu_1", "name": "write_file",
         "input": {"path": "n.md", "content": big, "opts": {"a": [1, -2.5e3, True, None], "b": {}}}}]}).encode()
    text, calls, stop = _parse(llm_anthropic, body, False, [5, 64])
    assert text == "Saving \u4e2d." and calls[0][:2] == ("toolu_1", "write_file") and stop == "tool_use"
    assert json.loads(calls[0][2]) == {"path": "n.md", "content": big, "opts": {"a": [1, -2500.0, True, None], "b": {}}}


def test_error_inside_a_stream_is_an_llm_error():
    body = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    try:
        _parse(llm_anthropic, body, True, [9])
    except llm.LLMError as e:
        assert "Overloaded" in str(e)
    else:
        assert False, "no error raised"


def test_sse_source_skips_comments_and_other_fields():
    body = b": keep-alive\nid: 7\nevent: x\ndata:{\"a\":1}\r\n\r\nretry: 10\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"
    for k in range(1, 20):
        src = SseSource(_Conn(body, [k]))
        got = []
        while src.next_event():
            p = JsonReader(src, bytearray(16))
            p.expect(1)
            p.next_key()
            got.append(p.read_int())
            assert not p.next_key()
            p.finish()
        assert got == [1, 2], k


class _Agent:
    model = "m"
    max_tokens = 64
    temperature = 0.5
    extra = None

    def __init__(self, path):
        self.path = path

    def write_system(self, w):
        w.json_part("sys")

    def history(self):
        with open(self.path, "rb") as f:
            src = LineSource(f, bytearray(16))
            p = JsonReader(src, bytearray(64))
            more = src.at_line()
            while more:
                p.reset(src)
                yield p
                more = src.next_line()


def _bytes_file(data):
    """An open binary file holding `data`, at its start (an inbox stand-in)."""
    path = _dir() + "/inbox"
    with open(path, "wb") as f:
        f.write(data)
    return open(path, "rb")


def _session():
    d = _dir()
    s = Session(d, 42, 100000)
    s.clear()
    buf = bytearray(64)
    s.append_user_text("hi \"there\" \U0001F600", buf)
    with open(d + "/r", "wb") as f:
        f.write("let me look \u4e2d".encode())
    with open(d + "/a", "wb") as f:
        f.write(b'{"path": "x.md"}')
    s.append_assistant(d + "/r", [("call_1", "read_file", d + "/a")], buf)
    with open(d + "/t", "wb") as f:
        f.write(b"line1\nline2 \"q\"")
    s.append_tool("call_1", d + "/t", buf)
    with open(d + "/r", "wb") as f:
        f.write(b"It says line1.")
    s.append_assistant(d + "/r", (), buf)
    s.end_turn()
    return s


def _body(proto, s):
    out = open(_dir() + "/body", "wb")
    w = FileOut(out, bytearray(32))
    proto.body(w, _Agent(s.path), False, None)
    w._flush()
    out.close()
    return json.loads(_read(_dir() + "/body"))


def test_requests_are_written_from_the_session_file():
    s = _session()
    b = _body(llm_openai, s)
    assert b["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi \"there\" \U0001F600"},
        {"role": "assistant", "content": "let me look \u4e2d", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "x.md"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "line1\nline2 \"q\""},
        {"role": "assistant", "content": "It says line1."}]
    b = _body(llm_anthropic, s)
    assert b["system"] == "sys" and b["messages"] == [
        {"role": "user", "content": "hi \"there\" \U0001F600"},
        {"role": "assistant", "content": [{"type": "text", "text": "let me look \u4e2d"},
                                          {"type": "tool_use", "id": "call_1", "name": "read_file",
                                           "input": {"path": "x.md"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "line1\nline2 \"q\""}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It says line1."}]}]


def test_history_budget_starts_at_a_user_line():
    s = _session()
    size = s.size()
    buf = bytearray(64)
    s.append_user_text("second question", buf)
    s.budget = s.size() - size + 5  # only the last user line fits
    assert s.history_start() == size
    s.budget = 100000
    assert s.history_start() == 0


def test_an_unfinished_turn_is_cut_back_by_the_next_one():
    # a reset between the tool call line and its result, and the update skipped: the next
    # turn in that chat cuts its session back to where the unfinished turn began (its note,
    # sessions/<chat>.open), so no request carries a dangling call; other chats are untouched
    d = _dir()
    buf = bytearray(16)
    a = Session(d, 7, 100000)
    a.clear()
    a.append_user_text("first", buf)
    a.append_assistant(d + "/nothing", (), buf)
    a.end_turn()
    done = _read(a.path)
    a.append_user(_bytes_file(b"second"), 6, buf, update_id=4242)
    assert a.note() == [len(done), 4242, 0, 0]
    with open(d + "/args", "wb") as f:
        f.write(b"{}")
    a.append_assistant(d + "/nothing", [("call_9", "get_time", d + "/args")], buf)  # then: reset
    b = Session(d, 8, 100000)
    b.clear()
    b.append_user_text("in another chat", buf)
    assert _read(b.path) == b'{"u":"in another chat"}\n'
    assert a.note()[1] == 4242  # chat 7's note is its own
    b.end_turn()
    b.append_user_text("next", buf)  # nothing open: nothing cut
    assert _read(b.path) == b'{"u":"in another chat"}\n{"u":"next"}\n'
    b.end_turn()
    a2 = Session(d, 7, 100000)
    a2.append_user_text("third", buf)  # not the same update: the unfinished turn goes
    assert _read(a2.path) == done + b'{"u":"third"}\n'
    a2.note(55, 1)
    assert a2.note() == [len(done), 0, 55, 1]
    a2.end_turn()
    assert a2.note() is None
