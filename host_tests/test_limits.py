"""Model-call limits (agents.defaults.max_calls_per_hour / max_calls_per_day) on the unix port.

The agent counts every model call in <workspace>/state/model_calls before making it; a message
that finds a limit reached gets a polite answer naming the limit, and the fake LLM receives no
request for it. The count is on flash, so a restart does not reset it.
"""
import os

import pytest

import gatewayrun
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

ALICE = 111
HEAP = "128k"  # the agent on the 64-bit port, as test_agent.py


@pytest.fixture
def tg():
    with FakeTelegram() as t:
        yield t


def _texts(tg):
    """What the chat shows: each bot message's last text (placeholder edits applied)."""
    last = {}
    for s in tg.sent:
        if s["method"] in ("sendMessage", "editMessageText"):
            last[s["message_id"]] = s["result"]["text"]
    return [last[k] for k in sorted(last)]


def _run(cfg, cycles=3):
    r = gatewayrun.run(cfg, cycles=cycles, heap=HEAP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return r


def _calls_file(cfg):
    with open(os.path.join(os.path.dirname(cfg), "ws", "state", "model_calls")) as f:
        return [int(x) for x in f.read().split()]


def test_hourly_limit_answers_politely_without_a_model_call_and_survives_a_restart(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "one")
        tg.send_text(alice, "two")
        llm.reply_text("first answer")
        llm.reply_text("second answer")
        llm.reply_text("never sent: the limit stops it")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"max_calls_per_hour": 2, "stream": False})
        _run(cfg)
        assert len(llm.requests) == 2
        assert _calls_file(cfg)[1] == 2  # this hour's count, on flash
        tg.send_text(alice, "three")
        _run(cfg, cycles=2)  # a restart: the count is still there
        assert len(llm.requests) == 2  # no request reached the model
        assert llm.pending_replies() == 1
        assert not llm.errors, llm.errors
    texts = _texts(tg)
    assert texts[:2] == ["first answer", "second answer"]
    assert texts[2].startswith("Sorry, I have reached my limit of 2 model calls per hour")
    assert "agents.defaults.max_calls_per_hour" in texts[2] and "try again in" in texts[2]
    assert all(s["params"]["chat_id"] == ALICE for s in tg.sent)


def test_daily_limit_counts_tool_steps_too(tg):
    with FakeLLM("anthropic") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "list my files")
        llm.reply_tool_calls([("list_dir", {"path": "."})])  # call 1
        llm.reply_text("never sent")  # call 2 would pass the daily limit of 1
        cfg = gatewayrun.write_config(tg, llm=llm, placeholder=False,
                                      agent={"max_calls_per_day": 1, "max_calls_per_hour": 60, "stream": False})
        _run(cfg)
        assert len(llm.requests) == 1
        assert not llm.errors, llm.errors
    texts = _texts(tg)
    assert len(texts) == 1 and "1 model calls per day" in texts[0]
    assert "agents.defaults.max_calls_per_day" in texts[0]


def test_zero_means_no_limit(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        for i in range(3):
            tg.send_text(alice, "q%d" % i)
            llm.reply_text("a%d" % i)
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"max_calls_per_hour": 0, "max_calls_per_day": 0,
                                                         "stream": False})
        _run(cfg)
        assert len(llm.requests) == 3
    assert _texts(tg) == ["a0", "a1", "a2"]
    assert _calls_file(cfg)[1::2] == [3, 3]


def test_count_windows(tmp_path):
    # the counter alone (CPython, host shim): hour and day windows roll over by the clock
    from picoclaw.agent.limits import count_call

    d = str(tmp_path)
    t = 1_700_000_000 - 1_700_000_000 % 86400 + 3600 * 5  # 05:00 UTC
    assert [count_call(d, t + i, (2, 3)) for i in range(3)] == [0, 0, 3600]
    assert count_call(d, t + 3600, (2, 3)) == 0  # the next hour: one left for the day
    assert count_call(d, t + 3601, (2, 3)) == 86400
    assert count_call(d, t + 3602, (2, 3)) == 86400  # persisted in the file
    assert count_call(d, t + 86400, (2, 3)) == 0  # the next day
    assert count_call(d, t + 86401, (0, 0)) == 0  # no limits


def test_heartbeat_at_the_limit_stays_silent(tg):
    """A heartbeat that finds the limit reached sends nothing (the owner would get the same
    apology every interval); a message from the owner still gets the polite answer."""
    import json

    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.add_chat(alice)
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"max_calls_per_hour": 1, "stream": False})
        data = json.load(open(cfg))
        data["heartbeat"] = {"enabled": True, "interval": 30}
        json.dump(data, open(cfg, "w"))
        ws = os.path.join(os.path.dirname(cfg), "ws")
        os.makedirs(ws, exist_ok=True)
        with open(os.path.join(ws, "HEARTBEAT.md"), "w") as f:
            f.write("- Remind the owner to water the plants.\n")
        llm.reply_text("HEARTBEAT_OK")  # the first heartbeat takes the hour's only call
        _run(cfg, cycles=1)
        tg.send_text(alice, "hi")
        r = _run(cfg, cycles=2)  # restarted: a heartbeat at start, then the message
        assert len(llm.requests) == 1
        assert "model call limit per hour reached" in r.stdout
    texts = _texts(tg)
    assert len(texts) == 1 and texts[0].startswith("Sorry, I have reached my limit of 1 model calls per hour")
