"""One bad update, user, server or full flash never stops the bot (unix port, .mpy, real sockets).

The rule these tests hold the gateway and the agent to: a failure stays inside the update,
request or tool call that caused it. The bot logs it in one line, moves on, saves the offset,
and the next update is answered. Each test injects an ordinary event that real bots meet (a
user who blocks the bot, a deleted "Thinking..." message, a proxy that answers chunked, a
provider that streams keep-alive comments for minutes, a poison update, a full flash) and
then checks three things: what the user saw, how many model calls it cost, and that a later
update from someone else is still answered.

Figures (FAULT lines, pytest -s): per fault kind, how often it was injected, model calls,
messages the user got, updates lost or repeated.
"""
import json
import os
import re

import pytest

import gatewayrun
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

ALICE = 111
BOB = 222
HEAP = "128k"  # the agent on the 64-bit port (test_agent.py)


@pytest.fixture
def tg():
    with FakeTelegram() as t:
        yield t


def _final_texts(tg, chat=None):
    """What a chat shows at the end: each bot message's last text (edits applied)."""
    last = {}
    for s in tg.sent:
        if s["method"] in ("sendMessage", "editMessageText") and chat in (None, s["params"]["chat_id"]):
            last[s["message_id"]] = s["result"]["text"]
    return [last[k] for k in sorted(last) if k not in tg.deleted]


def _ws(cfg):
    return os.path.join(os.path.dirname(cfg), "ws")


def _fault(kind, injected, model_calls, messages, lost=0, repeated=0):
    print("FAULT %s injected=%d model_calls=%d messages=%d lost=%d repeated=%d"
          % (kind, injected, model_calls, messages, lost, repeated))


def _run(cfg, cycles, heap=HEAP, timeout=120):
    r = gatewayrun.run(cfg, cycles=cycles, heap=heap, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-2000:]
    return r


# -- 1. a refused send is final for its update ----------------------------------------------

@pytest.mark.parametrize("placeholder", [True, False])
def test_a_user_who_blocked_the_bot_costs_one_update_not_everyone(tg, placeholder):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        bob = tg.user(BOB, "Bob", "bob")
        tg.send_text(alice, "hello, then I block you")
        last = tg.send_text(bob, "hi from Bob")
        tg.blocked.add(ALICE)
        if not placeholder:  # with a placeholder the 403 comes before the model is asked
            llm.reply_text("An answer Alice will never see.")
        llm.reply_text("Hello Bob!")
        cfg = gatewayrun.write_config(tg, llm=llm, allow=(str(ALICE), str(BOB)), placeholder=placeholder,
                                      typing=False, agent={"stream": False})
        r = _run(cfg, cycles=3)
        assert len(llm.requests) == (1 if placeholder else 2), r.stdout
        assert not llm.errors, llm.errors
    assert _final_texts(tg) == ["Hello Bob!"]
    assert gatewayrun.saved_offset(cfg) == last + 1
    assert re.search(r"update \d+: .*blocked", r.stdout), r.stdout
    _fault("blocked (placeholder %s)" % placeholder, 1, len(llm.requests), len(_final_texts(tg)))


def test_a_chat_action_refused_ends_the_update_before_any_model_call(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "hi")
        tg.blocked.add(ALICE)
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
        r = _run(cfg, cycles=2)
        assert not llm.requests, r.stdout
    assert [s["method"] for s in tg.requests if s["method"] != "getUpdates"] == ["sendChatAction"]


# -- 2. a deleted placeholder: the answer comes as a new message, tools ran once ------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_deleted_placeholder_gets_a_new_message_and_the_tool_runs_once(tg, stream):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.vanish("Thinking\u2026")  # the user deletes it at once
        tg.send_text(alice, "add milk to my list")
        last = tg.send_text(alice, "thanks")
        llm.reply_tool_calls([("append_file", {"path": "list.md", "content": "- milk\n"})])
        llm.reply_text("Added milk to your list.")
        llm.reply_text("You're welcome.")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": stream})
        r = _run(cfg, cycles=3)
        assert len(llm.requests) == 3, r.stdout
    with open(os.path.join(_ws(cfg), "list.md")) as f:
        assert f.read() == "- milk\n"
    texts = _final_texts(tg)
    assert texts == ["Added milk to your list.", "You're welcome."], texts
    assert gatewayrun.saved_offset(cfg) == last + 1
    assert "Telegram refused the HTML" not in r.stdout
    # one placeholder per message, each either deleted by the user or edited into the answer
    assert sum(1 for s in tg.sent if s["params"].get("text") == "Thinking\u2026") == 2
    _fault("placeholder deleted (stream %s)" % stream, 2, len(llm.requests), len(texts))


def test_html_refused_falls_back_to_plain_only_for_entity_errors(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "hi")
        llm.reply_text("**bold** answer")
        # the edit into the placeholder fails for another reason: a new message, as HTML
        tg.inject("editMessageText", "status", 400, "Bad Request: message can't be edited")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
        r = _run(cfg, cycles=2)
        assert len(llm.requests) == 1
    sends = [s for s in tg.sent if s["method"] == "sendMessage"]
    assert sends[-1]["params"].get("parse_mode") == "HTML"
    assert _final_texts(tg)[-1] == "bold answer"
    assert "Telegram refused the HTML" not in r.stdout
