"""The agent on the MicroPython unix port (from .mpy): fake Telegram + fake LLM over TLS.

Each test drives the real CLI (`micropython -m picoclaw gateway`) against both fakes: the
OpenAI-compatible and the Anthropic protocol, plain and streamed (SSE) answers, tool calls
that touch the workspace, the session carried into follow-up questions, and failures.
"""
import json
import os

import pytest

import gatewayrun
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

ALICE = 111
HEAP = "128k"  # the agent on the 64-bit port: a 2-tool-call burst needs 96k, every tool 112k (README)

KINDS = [("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)]


@pytest.fixture
def tg():
    with FakeTelegram() as t:
        yield t


def _run(tg, llm, cycles=3, heap=HEAP, agent=None, **telegram):
    cfg = gatewayrun.write_config(tg, llm=llm, agent=agent, **telegram)
    r = gatewayrun.run(cfg, cycles=cycles, heap=heap)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert not llm.errors, llm.errors
    return r, cfg


def _final_texts(tg):
    """What the chat shows at the end: each bot message's last text (edits applied)."""
    last = {}
    for s in tg.sent:
        if s["method"] in ("sendMessage", "editMessageText"):
            last[s["message_id"]] = s["result"]["text"]
    return [last[k] for k in sorted(last)]


def _ws(cfg):
    return os.path.join(os.path.dirname(cfg), "ws")


@pytest.mark.parametrize("kind,stream", KINDS)
def test_answer_replaces_the_placeholder(tg, kind, stream):
    with FakeLLM(kind) as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "Hello there \U0001F600")
        llm.reply_text("Hi **Alice**! How can I help? \U0001F600")
        _run(tg, llm, agent={"stream": stream}, **gatewayrun.NO_DRAFTS)  # live drafts: test_drafts.py
        req = llm.requests[-1]
        assert req["body"]["model"] == "test-model" and bool(req["stream"]) == stream
        msgs = req["body"]["messages"]
        assert msgs[-1]["role"] == "user" and "Hello there \U0001F600" in json.dumps(msgs[-1], ensure_ascii=False)
    methods = [s["method"] for s in tg.sent]
    assert methods[0] == "sendChatAction" and methods[1] == "sendMessage"
    assert "editMessageText" in methods
    assert _final_texts(tg) == ["Hi Alice! How can I help? \U0001F600"]


@pytest.mark.parametrize("kind,stream", KINDS)
def test_tool_call_writes_the_workspace_and_the_result_goes_back(tg, kind, stream):
    with FakeLLM(kind) as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "remember that my cat is called Miso")
        llm.reply_tool_calls([("append_file", {"path": "memory/MEMORY.md", "content": "Cat: Miso\n"})],
                             text="Noting that.")
        llm.reply_text("Done, I will remember Miso.")
        r, cfg = _run(tg, llm, agent={"stream": stream})
        assert len(llm.requests) == 2
        second = json.dumps(llm.requests[1]["body"]["messages"])
        assert "append_file" in second and "Cat: Miso" in second  # the call and its result went back
        tools = llm.requests[0]["body"]["tools"]
        assert any("append_file" in json.dumps(t) for t in tools)
    with open(os.path.join(_ws(cfg), "memory", "MEMORY.md")) as f:
        assert f.read() == "Cat: Miso\n"
    assert _final_texts(tg)[-1] == "Done, I will remember Miso."


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_follow_up_carries_the_session_and_clear_starts_over(tg, kind):
    with FakeLLM(kind) as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "my name is Alice")
        llm.reply_text("Nice to meet you, Alice.")
        cfg = gatewayrun.write_config(tg, llm=llm)
        gatewayrun.run(cfg, cycles=2, heap=HEAP)
        tg.send_text(alice, "what is my name?")
        llm.reply_text("Alice.")
        gatewayrun.run(cfg, cycles=2, heap=HEAP)  # a restart in between: the session is on flash
        msgs = llm.requests[-1]["body"]["messages"]
        texts = json.dumps(msgs)
        assert "my name is Alice" in texts and "Nice to meet you" in texts and "what is my name?" in texts
        tg.send_text(alice, "/clear")
        tg.send_text(alice, "hello again")
        llm.reply_text("Hello!")
        gatewayrun.run(cfg, cycles=2, heap=HEAP)
        assert "my name is Alice" not in json.dumps(llm.requests[-1]["body"]["messages"])
    assert "Started a new conversation." in _final_texts(tg)


def test_tool_iteration_limit_gets_a_clear_final_message(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "loop please")
        for _ in range(3):
            llm.reply_tool_calls([("list_dir", {"path": "."})])
        _run(tg, llm, agent={"max_tool_iterations": 2, "stream": False})
        assert len(llm.requests) == 2
    assert "stopped after 2 tool steps" in _final_texts(tg)[-1]


def test_model_errors_are_retried_then_apologised_for(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "one")
        llm.reply_error(500, "boom")
        llm.reply_text("recovered")
        tg.send_text(alice, "two")
        llm.reply_error(400, "bad request from the test")
        _run(tg, llm, agent={"stream": False}, placeholder=False)
    texts = _final_texts(tg)
    assert texts[0] == "recovered"
    assert texts[1].startswith("Sorry, I could not reach the model") and "bad request" in texts[1]


def test_long_answer_is_split_for_telegram(tg):
    with FakeLLM("anthropic") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "tell me a long story")
        para = ("word " * 150).strip()
        llm.reply_text("\n\n".join("%d %s" % (i, para) for i in range(20)))  # ~15 KB
        _run(tg, llm, agent={"stream": True})
    texts = _final_texts(tg)
    assert len(texts) >= 4 and all(len(t) <= 4096 for t in texts)
    assert "".join(texts).replace("\n", "").replace(" ", "") == \
        "".join("%d %s" % (i, para) for i in range(20)).replace(" ", "")


def test_onboard_writes_a_starter_config_and_workspace_once(tmp_path):
    cfg = str(tmp_path / "config.json")
    r = gatewayrun.run(cfg, cycles=0, cmd="onboard")
    assert r.returncode == 0, r.stdout + r.stderr
    ws = tmp_path / "workspace"
    for name in ("AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "HEARTBEAT.md", "memory/MEMORY.md"):
        assert (ws / name).exists(), name
    with open(cfg) as f:
        conf = json.load(f)  # valid JSON in PicoClaw's current shape (version 3)
    assert conf["agents"]["defaults"]["workspace"] == "workspace"  # beside it, on a host or a board
    assert "token" in conf["channel_list"]["telegram"]["settings"]
    (ws / "USER.md").write_text("mine")
    r = gatewayrun.run(cfg, cycles=0, cmd="onboard")
    assert r.returncode == 0 and "wrote" not in r.stdout  # nothing overwritten
    assert (ws / "USER.md").read_text() == "mine"


def test_a_job_the_model_schedules_fires_while_polling(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "remind me to stretch in 2 seconds")
        llm.reply_tool_calls([("cron", {"action": "add", "in": 2, "text": "Time to stretch!",
                                        "mode": "deliver"})])
        llm.reply_text("Scheduled.")
        _run(tg, llm, cycles=6, agent={"stream": False})
        assert "added job" in json.dumps(llm.requests[1]["body"]["messages"])
    texts = _final_texts(tg)
    assert texts == ["Scheduled.", "Time to stretch!"]  # fired on time, delivered once


def test_heartbeat_acts_or_stays_silent(tg):
    with FakeLLM("anthropic") as llm:
        tg.add_chat(tg.user(ALICE, "Alice", "alice"))  # the owner started the bot before
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
        cfg_data = json.load(open(cfg))
        cfg_data["heartbeat"] = {"enabled": True, "interval": 30}
        json.dump(cfg_data, open(cfg, "w"))
        ws = _ws(cfg)
        os.makedirs(ws, exist_ok=True)
        with open(os.path.join(ws, "HEARTBEAT.md"), "w") as f:
            f.write("- If the plants were not watered today, remind the owner.\n")
        llm.reply_text("HEARTBEAT_OK")
        r = gatewayrun.run(cfg, cycles=1, heap=HEAP)
        assert r.returncode == 0, r.stdout[-2000:]
        assert len(llm.requests) == 1 and "plants" in json.dumps(llm.requests[0]["body"])
        assert not [s for s in tg.sent if s["method"] != "sendChatAction"]  # HEARTBEAT_OK: silent
        llm.reply_text("Water the plants today!")
        gatewayrun.run(cfg, cycles=1, heap=HEAP)
    assert _final_texts(tg) == ["Water the plants today!"]
    assert tg.sent[-1]["params"]["chat_id"] == ALICE


def test_html_refused_by_telegram_is_sent_as_plain_text(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "hi")
        llm.reply_text("**bold** answer")
        tg.inject("editMessageText", "status", 400, "Bad Request: can't parse entities: test")
        _run(tg, llm, agent={"stream": False})
    edits = [s for s in tg.sent if s["method"] == "editMessageText"]
    assert edits[-1]["params"].get("parse_mode") is None and edits[-1]["result"]["text"] == "**bold** answer"


def test_long_history_is_summarised_and_kept_within_budget(tg):
    budget = 700
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False, "history_bytes": budget})
        for i in range(8):
            tg.send_text(alice, "fact %d: %s" % (i, "blah " * 40))
        for i in range(16):  # answers, and summaries when asked (whichever comes first)
            llm.reply_text("reply %d %s" % (i, "ok " * 30))
        gatewayrun.run(cfg, cycles=10, heap=HEAP)
        bodies = [json.dumps(q["body"]) for q in llm.requests]
    asked = [i for i, b in enumerate(bodies) if "Summarise the conversation" in b]
    assert asked, "no summary was asked for"
    assert all("tools" not in llm.requests[i]["body"] for i in asked)  # a summary needs no tools
    last = [b for b in bodies if "fact 7:" in b][-1]
    assert "Earlier in this conversation (summary)" in last and "fact 0:" not in last
    path = os.path.join(_ws(cfg), "sessions", "%d.jsonl" % ALICE)
    with open(path) as f:
        assert f.readline().startswith('{"s":')
    assert os.path.getsize(path) <= 2 * budget + 1024


def test_a_turn_cut_short_is_resumed_after_a_restart(tg):
    """The gateway is killed mid-turn: after a tool call and its result are on flash, while
    it waits to retry the model. The restarted gateway gets the same update again and
    resumes its turn from the session (sessions/<chat>.open notes it): the tool that ran is
    not run again, the next model call carries its result, and the session holds one user
    line and no tool call without its result (which the provider would refuse forever)."""
    import subprocess
    import time

    import unixport

    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "what files do I have?")
        llm.reply_tool_calls([("list_dir", {"path": "."})])
        llm.reply_error(500, "overloaded", retry_after=30)  # the gateway sleeps 30 s: killed then
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
        proc = subprocess.Popen([unixport.micropython(), "-X", "heapsize=" + HEAP, "-m", "picoclaw", "gateway",
                                 "--config", cfg, "--cycles", "3"], cwd=unixport.ROOT,
                                env=unixport.env(unixport.build() + ":.frozen"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while len(llm.requests) < 2 and time.time() < deadline:
                time.sleep(0.05)
            assert len(llm.requests) == 2
        finally:
            proc.kill()
            proc.wait()
        session = os.path.join(_ws(cfg), "sessions", "%d.jsonl" % ALICE)
        with open(session) as f:
            assert len(f.readlines()) == 3  # user, the tool call, its result: the turn is open
        llm.reply_text("You have a few files.")
        r = gatewayrun.run(cfg, cycles=2, heap=HEAP)
        assert r.returncode == 0, r.stdout[-3000:]
        assert not llm.errors, llm.errors  # every request was one the provider accepts
        assert len(llm.requests) == 3
        assert "resuming its turn (1 model calls made)" in r.stdout
        assert '"role": "tool"' in json.dumps(llm.requests[2]["body"]["messages"])
    with open(session) as f:
        lines = [json.loads(x) for x in f]
    assert [sorted(x) for x in lines] == [["u"], ["a", "c", "n"], ["id", "t"], ["a", "n"]]
    assert lines[3]["a"] == "You have a few files."
    assert not os.path.exists(os.path.join(_ws(cfg), "sessions", "%d.open" % ALICE))  # the turn finished
    assert _final_texts(tg)[-1] == "You have a few files."


def test_system_status_shows_the_boards_wifi(tmp_path):
    """On a board main.py puts board.status (heap, uptime, Wi-Fi) on the settings; the
    agent's tools read it instead of the unix port's heap-only facts (CPython, host shim)."""
    from picoclaw import config, tools
    from picoclaw.agent import setup as providers
    from picoclaw.json.stream import JsonReader, StreamSource

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"agents": {"defaults": {"workspace": str(tmp_path / "ws"), "provider": "openai"}}}))
    cfg = config.load(str(path))
    cfg.provider_kind, cfg.api_key = "openai", ""  # what providers.resolve sets
    cfg.status = lambda: {"heap_free": 1234, "uptime_s": 90, "wifi": "connected, RSSI -61 dBm",
                          "wifi_password": "hunter22"}
    a = providers.agent(cfg, cron=None)
    (tmp_path / "args").write_bytes(b"{}")
    out = tools.Result(str(tmp_path / "out"))
    with open(tmp_path / "args", "rb") as f:
        tools.run("system_status", JsonReader(StreamSource(f, bytearray(64)), bytearray(64)), a, out)
    out.close()
    text = (tmp_path / "out").read_text()
    assert "wifi: connected, RSSI -61 dBm" in text and "heap_free: 1234" in text
    assert "hunter22" not in text  # a key that looks secret is never shown


def test_a_summary_that_runs_out_of_memory_does_not_fail_the_answered_turn(tmp_path, capsys, monkeypatch):
    """Compaction runs after the answer is sent and the turn closed: a MemoryError there must
    not reach the gateway, which would answer the same message again (CPython, host shim)."""
    from picoclaw import config
    from picoclaw.agent import loop as agent
    from picoclaw.agent import setup as providers
    from picoclaw.agent.session import Session

    # unloading modules is the firmware's business: here it would leave other tests holding
    # a module that is no longer the one in sys.modules
    monkeypatch.setattr(agent, "unload", lambda *names: None)

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"agents": {"defaults": {"workspace": str(tmp_path / "ws"), "provider": "openai",
                                                        "history_bytes": 100}}}))
    cfg = config.load(str(path))
    cfg.provider_kind, cfg.api_key = "openai", ""
    a = providers.agent(cfg, cron=None)
    s = Session(a.workspace, 7, a.budget)
    for i in range(5):
        s.append_user_text("message %d %s" % (i, "x" * 60), a.buf)
        s.end_turn()
    assert s.size() > 2 * a.budget

    def no_memory(name):
        raise MemoryError("memory allocation failed")

    monkeypatch.setattr(agent, "load", no_memory)
    a._maybe_compact(s)  # no exception
    assert "summary skipped (out of memory)" in capsys.readouterr().out
    assert s.size() > 2 * a.budget  # nothing lost: the history is all still there
