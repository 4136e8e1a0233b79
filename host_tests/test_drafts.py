"""Live drafts (sendMessageDraft, Bot API 10.1) on the MicroPython unix port (from .mpy).

In a private chat a streamed answer shows as a draft that grows (throttled: at most one per
3 s and 200 bytes of new text, so the number of drafts follows the answer's length, not its
SSE events), then arrives once as a normal sendMessage; no "Thinking..." message. Groups,
streaming.enabled false (both config shapes) and a Telegram that refuses drafts keep the
placeholder edited into the answer; a draft that fails on the network is only skipped.
"""
import time

import gatewayrun
import pytest
from fakes.llm_server import FakeLLM, _LLMConn
from fakes.telegram_server import FakeTelegram

ALICE = 111
GROUP = -1001234567890
HEAP = "128k"
SENTENCE = "The quick brown fox jumps over the lazy dog, and the answer keeps on growing. "


class _SlowConn(_LLMConn):
    def event(self, data):
        time.sleep(self.server_delay)
        super().event(data)


class SlowLLM(FakeLLM):
    """The fake model, streaming one small delta every `delay` seconds, as a model does."""
    _conn_class = _SlowConn

    def __init__(self, kind, delay):
        super().__init__(kind)
        _SlowConn.server_delay = delay


@pytest.fixture
def tg():
    with FakeTelegram() as t:
        yield t


def _run(tg, llm, cycles=3, **telegram):
    cfg = gatewayrun.write_config(tg, llm=llm, allow=(str(ALICE), str(GROUP)), **telegram)
    r = gatewayrun.run(cfg, cycles=cycles, heap=HEAP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert not llm.errors, llm.errors
    return r


def _chat(tg):
    """The calls to the chat (not start-up's, such as setMyCommands)."""
    return [s for s in tg.sent if s["method"] in ("sendChatAction", "sendMessage", "editMessageText")]


def _methods(tg):
    return [s["method"] for s in _chat(tg)]


def test_a_private_chat_sees_the_answer_grow_in_drafts_then_as_one_message(tg):
    answer = SENTENCE * 16  # 1,248 bytes in 209 SSE events of 6 characters, ~6 s
    with SlowLLM("openai", 0.03) as llm:
        llm.delta_chars = 6
        tg.send_text(tg.user(ALICE, "Alice", "alice"), "tell me a long story")
        llm.reply_text(answer)
        _run(tg, llm)
    drafts = tg.drafts
    assert drafts[0]["text"] == ""  # the first, empty: Telegram shows "Thinking..."
    assert len({d["draft_id"] for d in drafts}) == 1 and drafts[0]["draft_id"] != 0
    grown = [d["text"] for d in drafts[1:]]
    assert 1 <= len(grown) <= len(answer) // 200  # one per 3 s and 200 bytes, not one per event
    for before, after in zip([""] + grown, grown):
        assert len(after) >= len(before) + 200 and answer.startswith(after.rstrip())
    assert _methods(tg) == ["sendChatAction", "sendMessage"]  # no placeholder, no edits
    assert _chat(tg)[1]["params"]["text"] == answer.rstrip()
    assert _chat(tg)[1]["params"]["parse_mode"] == "HTML"


def test_a_group_gets_the_placeholder_edited_into_the_answer(tg):
    with FakeLLM("openai") as llm:
        tg.send_text(tg.user(ALICE, "Alice", "alice"), "@fake_test_bot hi all", chat=tg.group_chat(GROUP))
        llm.reply_text("Hello, group!")
        _run(tg, llm)
    assert tg.drafts == []
    assert _methods(tg) == ["sendChatAction", "sendMessage", "editMessageText"]
    assert tg.sent[-1]["result"]["text"] == "Hello, group!"


@pytest.mark.parametrize("version3", [False, True])
def test_streaming_enabled_false_keeps_the_placeholder(tg, version3):
    with FakeLLM("anthropic") as llm:
        tg.send_text(tg.user(ALICE, "Alice", "alice"), "hi")
        llm.reply_text("Hi Alice!")
        _run(tg, llm, version3=version3, **gatewayrun.NO_DRAFTS)
    assert tg.drafts == []
    assert _methods(tg) == ["sendChatAction", "sendMessage", "editMessageText"]
    assert _chat(tg)[1]["params"]["text"] == "Thinking\u2026"
    assert tg.sent[-1]["result"]["text"] == "Hi Alice!"


def test_a_refused_draft_falls_back_to_the_placeholder_for_the_run(tg):
    """An old Telegram (or a chat it refuses drafts in) answers 400: that turn sends the
    placeholder instead, drafts stay off for the run (one log line), every answer arrives once."""
    alice = tg.user(ALICE, "Alice", "alice")
    tg.inject("sendMessageDraft", "status", 400, "Bad Request: method not found")
    with FakeLLM("openai") as llm:
        tg.send_text(alice, "first")
        tg.send_text(alice, "second")
        llm.reply_text("First answer.")
        llm.reply_text("Second answer.")
        r = _run(tg, llm)
    assert tg.drafts == []
    assert sum(1 for q in tg.requests if q["method"] == "sendMessageDraft") == 1  # tried once
    assert r.stdout.count("Telegram refused a live draft") == 1
    assert _methods(tg) == ["sendChatAction", "sendMessage", "editMessageText"] * 2
    assert [s["result"]["text"] for s in tg.sent if s["method"] == "editMessageText"] == \
        ["First answer.", "Second answer."]


def test_a_draft_lost_on_the_network_is_only_skipped(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    tg.inject("sendMessageDraft", "close")
    tg.inject("sendMessageDraft", "close")  # and on the fresh connection it retries on
    with FakeLLM("openai") as llm:
        tg.send_text(alice, "first")
        tg.send_text(alice, "second")
        llm.reply_text("First answer.")
        llm.reply_text("Second answer.")
        _run(tg, llm)
    assert [d["text"] for d in tg.drafts] == [""]  # the second turn's: drafts stayed on
    assert _methods(tg) == ["sendChatAction", "sendMessage"] * 2
    assert [s["params"]["text"] for s in tg.sent if s["method"] == "sendMessage"] == \
        ["First answer.", "Second answer."]


def test_an_answer_lost_on_the_way_is_delivered_once_when_resumed(tg):
    """No placeholder, so the session note says 0: the retried update delivers the answer as
    a new message, once, from the session (no second model call)."""
    alice = tg.user(ALICE, "Alice", "alice")
    tg.inject("sendMessage", "close")  # the answer's sendMessage: the connection drops,
    tg.inject("sendMessage", "close")  # and again on the fresh one it retries on at once
    with FakeLLM("openai") as llm:
        tg.send_text(alice, "hello")
        llm.reply_text("Hello Alice.")
        r = _run(tg, llm)
        assert len(llm.requests) == 1
    assert "resuming its turn (1 model calls made, answer ready)" in r.stdout
    assert [s["params"]["text"] for s in tg.sent if s["method"] == "sendMessage"] == ["Hello Alice."]
