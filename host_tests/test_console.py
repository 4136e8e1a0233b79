"""`picoclaw agent` (the assistant in a terminal) and SIMULATE=1, on the unix port from .mpy.

The console runs the gateway's Agent with the terminal in place of the chat: against the
fake OpenAI server over TLS (a real provider as far as the code can tell), and against
SIMULATE=1's in-process scripted model with no network at all.
"""
import json
import os

import gatewayrun
import unixport
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram

HEAP = "128k"


def _agent(cfg, args, stdin=None, simulate=False, heap=HEAP):
    import subprocess

    env = unixport.env(unixport.build() + ":.frozen", **({"SIMULATE": "1"} if simulate else {}))
    return subprocess.run([unixport.micropython(), "-X", "heapsize=" + heap, "-m", "picoclaw", "agent",
                           "--config", cfg] + list(args), cwd=unixport.ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def _ws(cfg):
    return os.path.join(os.path.dirname(cfg), "ws")


def test_one_turn_against_a_provider_with_a_tool_call():
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        llm.reply_tool_calls([("list_dir", {"path": "."})])
        llm.reply_text("You have **two** files.")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": True})
        r = _agent(cfg, ["-m", "what files do I have?"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert not llm.errors, llm.errors
        assert len(llm.requests) == 2
        assert "tool list_dir:" in r.stdout
        assert r.stdout.rstrip().endswith("You have **two** files.")  # plain text, as the model wrote it
        assert not tg.requests  # the console needs no Telegram
        assert llm.api_key not in r.stdout + r.stderr
        with open(os.path.join(_ws(cfg), "sessions", "1.jsonl")) as f:
            lines = [json.loads(x) for x in f]
        assert lines[0] == {"u": "what files do I have?"} and len(lines) == 4  # user, call, result, answer


def test_conversation_on_stdin_with_the_simulated_model():
    with FakeTelegram() as tg:
        cfg = gatewayrun.write_config(tg)
        data = json.load(open(cfg))
        data["providers"] = {"openai": {"api_key": "sk-not-used"}}
        data["agents"]["defaults"]["model"] = "any"
        json.dump(data, open(cfg, "w"))
        r = _agent(cfg, [], stdin="hello\nWhat time is it?\nremember: tea at five\n/clear\n\nnot read\n",
                   simulate=True)
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "SIMULATE=1" in out and "You said: hello" in out and "tool get_time:" in out
        assert "tool append_file:" in out and "Started a new conversation." in out
        assert "not read" not in out  # the empty line ended the conversation
        with open(os.path.join(_ws(cfg), "memory", "MEMORY.md")) as f:
            assert f.read() == "- tea at five\n"
        assert not tg.requests


def test_bad_arguments_and_no_model():
    with FakeTelegram() as tg:
        cfg = gatewayrun.write_config(tg)
        r = _agent(cfg, ["-x"])
        assert r.returncode == 2 and "usage: picoclaw agent" in r.stdout
        r = _agent(cfg, ["-m", "hi"])
        assert r.returncode == 2 and "no model configured" in r.stdout


def test_simulated_gateway_runs_the_agent_offline():
    with FakeTelegram() as tg:  # only for write_config: SIMULATE=1 never touches it
        cfg = gatewayrun.write_config(tg, allow=("1001",))
        data = json.load(open(cfg))
        data["providers"] = {"openai": {"api_key": "sk-not-used"}}
        data["agents"]["defaults"]["model"] = "any"
        json.dump(data, open(cfg, "w"))
        # SIMULATE=1 keeps simulate.py loaded besides the agent: 160k (clean from 144k)
        r = unixport.run(["-m", "picoclaw", "gateway", "--config", cfg], heap="160k",
                         path=unixport.build() + ":.frozen", SIMULATE="1")
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "agent: openai, model any at http://simulated.model/v1" in out
        assert "tool get_time:" in out and "tool append_file:" in out
        # the transcript: plain text (no Telegram HTML), both sides in order
        assert " you: What time is it?\n      (the model calls get_time)\n" \
               " bot: (simulated model) Done. You said: What time is it?" in out
        assert "unauthorized user id=6666" in out
        assert not tg.requests
        # a scratch workspace, removed at the end: the configured one is never written
        assert not os.path.exists(os.path.join(_ws(cfg), "memory", "MEMORY.md"))
