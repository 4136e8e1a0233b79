"""The commands the bot answers itself (gateway/commands.py) and the menu Telegram shows for
them (gateway/start.py: setMyCommands at start, only when the list changed): /help lists
every command, /memory shows the head of memory/MEMORY.md, unknown /commands go to the model
as text. The units on CPython; end to end the real gateway on the unix port (from .mpy)
against the fake Telegram (and the fake model) over TLS."""
import json
import os

import pytest

import gatewayrun
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

from picoclaw.gateway import commands
from picoclaw.gateway import start as menu_start

ALICE = 111


# ------------------------------------------------------------------ units (CPython)
class _Tg:
    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail
        self.conn = self
        self.closed = 0

    def _call(self, method, body, on_result):
        self.calls.append((method, bytes(body)))
        if self.fail:
            raise self.fail
        return True

    def close(self):
        self.closed += 1


class _State:
    def __init__(self, d):
        self.dir = d


class _Agent:
    limit = (0, 0)
    cron = False

    def __init__(self, ws):
        self.workspace = ws
        self.state_dir = ws + "/state"


class _Gw:
    handled = replies = denied = errors = 0

    def __init__(self, tmp_path, agent=True, tg=None):
        (tmp_path / "state").mkdir(exist_ok=True)
        self.state = _State(str(tmp_path / "state"))
        self.agent = _Agent(str(tmp_path)) if agent else None
        self.tick = (lambda: 7) if agent else None
        self.tg = tg or _Tg()
        self.out = []

    def _send(self, u, text):
        self.out.append(text)
        return True


class _U:
    chat_id = ALICE


def _menu(gw):
    """Run gateway/start.run and the first tick; the menu sent (a list of commands) or None."""
    menu_start.run(gw)
    if gw.tick is None or gw.tick() in (None, 7):
        pass
    if not gw.tg.calls:
        return None
    method, body = gw.tg.calls[-1]
    assert method == b"setMyCommands"
    return json.loads(body)["commands"]


def test_the_menu_is_sent_once_then_only_when_it_changed(tmp_path):
    gw = _Gw(tmp_path)
    later = gw.tick
    cmds = _menu(gw)
    assert [c["command"] for c in cmds] == ["help", "status", "memory", "cron", "clear", "new"]
    assert gw.tick is later  # the agent's timers are back after the first tick
    assert (tmp_path / "state" / "commands").read_bytes() == gw.tg.calls[0][1]
    gw2 = _Gw(tmp_path)
    assert _menu(gw2) is None and gw2.tick is not None and gw2.tick() == 7  # same list: nothing sent
    (tmp_path / "state" / "commands").write_bytes(b'{"commands":[]}')  # an older version's menu
    assert _menu(_Gw(tmp_path)) == cmds


def test_echo_mode_menu_lists_what_works_there(tmp_path):
    gw = _Gw(tmp_path, agent=False)
    cmds = _menu(gw)
    assert [c["command"] for c in cmds] == ["help", "status"]
    assert gw.tick is None  # echo mode has no timers
    for c in cmds:  # Telegram's rules (the fake checks them too)
        assert 1 <= len(c["description"]) <= 256


def test_a_refused_menu_is_logged_and_tried_at_the_next_start(tmp_path, capsys):
    from picoclaw.telegram.api import APIError

    gw = _Gw(tmp_path, tg=_Tg(APIError("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")))
    assert _menu(gw) is not None
    assert gw.tg.closed == 1 and not (tmp_path / "state" / "commands").exists()
    assert _menu(_Gw(tmp_path)) is not None  # sent again at the next start


def test_a_refused_token_stops_the_bot_as_the_first_poll_would(tmp_path):
    from picoclaw.telegram.api import APIError

    gw = _Gw(tmp_path, tg=_Tg(APIError("setMyCommands", 401, "Unauthorized")))
    menu_start.run(gw)
    with pytest.raises(APIError):
        gw.tick()  # raised to the cycle, whose recovery stops the gateway with its message
    assert not (tmp_path / "state" / "commands").exists()


def test_every_menu_command_is_answered_and_listed_by_help(tmp_path):
    gw = _Gw(tmp_path)
    cmds = _menu(gw)
    commands.run(gw, _U(), b"/help")
    help_text = gw.out[-1]
    for c in cmds:
        assert "/" + c["command"] in help_text, c
        if c["command"] != "clear" and c["command"] != "new":
            assert commands.run(gw, _U(), b"/" + c["command"].encode()), c
    (tmp_path / "e").mkdir()
    echo = _Gw(tmp_path / "e", agent=False)
    commands.run(echo, _U(), b"/help@pico_bot")
    assert "/status" in echo.out[-1] and "/memory" not in echo.out[-1] and "echo" in echo.out[-1]


def test_unknown_commands_go_to_the_model(tmp_path):
    gw = _Gw(tmp_path)
    for head in (b"/weather Berlin", b"/memoryx", b"/", b"/start_over"):
        assert commands.run(gw, _U(), head) is False, head
    assert gw.out == []


def test_memory_shows_the_head_of_the_notes(tmp_path):
    ws = str(tmp_path)
    assert commands.memory(ws).startswith("No notes yet")  # no file
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "MEMORY.md").write_text("# Long-term memory\n\n")  # what onboard writes
    assert commands.memory(ws).startswith("No notes yet")
    (tmp_path / "memory" / "MEMORY.md").write_text("# Long-term memory\n\n- Cat: Miso\n- Likes tea \u2615\n")
    assert commands.memory(ws) == "# Long-term memory\n\n- Cat: Miso\n- Likes tea \u2615"
    lines = "".join("- fact %03d: %s\n" % (i, "\u00e9" * 20) for i in range(200))
    (tmp_path / "memory" / "MEMORY.md").write_text(lines)
    t = commands.memory(ws)
    body, note = t.rsplit("\n", 1)
    assert len(body.encode()) <= 1024 and body.endswith("\u00e9" * 20)  # cut at a line end
    size = len(lines.encode())
    assert note == "[... %d more bytes: ask me to read memory/MEMORY.md]" % (size - len(body.encode()))
    (tmp_path / "memory" / "MEMORY.md").write_bytes(b"x" * 1023 + "\u00e9".encode() + b"tail")
    t = commands.memory(ws)
    assert t.startswith("x" * 1023 + "\n[...")  # one long line: cut on a UTF-8 boundary
    (tmp_path / "memory" / "MEMORY.md").write_bytes(b"\xff\xfe not text")
    assert "not UTF-8" in commands.memory(ws)


# ------------------------------------------------------------------ end to end (unix port)
def _texts(tg):
    return [s["params"].get("text") for s in tg.sent if s["method"] in ("sendMessage", "editMessageText")]


def _set_calls(tg):
    return [r for r in tg.requests if r["method"] == "setMyCommands"]


def test_echo_gateway_sets_its_menu_once_and_answers_when_it_is_refused():
    with FakeTelegram() as tg:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_text(alice, "hello")
        cfg = gatewayrun.write_config(tg)
        r = gatewayrun.run(cfg, cycles=2, heap="96k")
        assert r.returncode == 0, r.stdout[-3000:]
        assert [c["command"] for c in tg.commands] == ["help", "status"]
        assert "setMyCommands: Telegram's command menu set" in r.stdout
        assert _texts(tg) == ["hello"]
        # the next start: the same list, no request
        tg.send_text(alice, "again")
        r = gatewayrun.run(cfg, cycles=2, heap="96k")
        assert r.returncode == 0 and len(_set_calls(tg)) == 1, r.stdout[-3000:]
        # a changed list (as after an upgrade): sent again; refused: one line, the bot answers
        ws = os.path.join(os.path.dirname(cfg), "ws", "state", "commands")
        with open(ws, "wb") as f:
            f.write(b'{"commands":[]}')
        tg.inject("setMyCommands", "status", 400, "Bad Request: BOT_COMMAND_INVALID")
        tg.send_text(alice, "still there?")
        r = gatewayrun.run(cfg, cycles=2, heap="96k")
        assert r.returncode == 0, r.stdout[-3000:]
        assert "setMyCommands: setMyCommands failed: 400" in r.stdout and "tried again at the next start" in r.stdout
        assert _texts(tg)[-1] == "still there?"
        tg.send_text(alice, "and now?")
        r = gatewayrun.run(cfg, cycles=2, heap="96k")
        assert r.returncode == 0 and len(_set_calls(tg)) == 3, r.stdout[-3000:]  # tried again, taken
        assert _texts(tg)[-1] == "and now?" and "Traceback" not in r.stdout + r.stderr


def test_agent_memory_and_help_answered_without_the_model_unknown_command_goes_to_it():
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        cfg = gatewayrun.write_config(tg, llm=llm)
        mem = os.path.join(os.path.dirname(cfg), "ws", "memory")
        os.makedirs(mem)
        with open(os.path.join(mem, "MEMORY.md"), "w") as f:
            f.write("# Long-term memory\n\n- Cat: Miso\n")
        tg.send_text(alice, "/memory")
        tg.send_text(alice, "/help")
        tg.send_text(alice, "/weather Berlin")
        llm.reply_text("Sunny, 21 degrees.")
        r = gatewayrun.run(cfg, cycles=3, heap="128k")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        texts = _texts(tg)
        assert texts[0] == "# Long-term memory\n\n- Cat: Miso"
        assert texts[1].startswith("Hi! I am PicoClaw") and "/memory" in texts[1] and "/new" in texts[1]
        assert texts[-1] == "Sunny, 21 degrees."
        assert len(llm.requests) == 1  # only /weather reached the model, as text
        assert "/weather Berlin" in json.dumps(llm.requests[0]["body"]["messages"][-1])
