"""The demo: a fake Telegram with scripted users, the gateway on the unix port, the transcript.

    make demo        (or: .venv/bin/python tools/demo.py)

Part 1, echo: starts the fake Bot API server (HTTPS with a throwaway CA), scripts three users
(Ann, who is allowed; Eve, who is not; and Ann again with emoji and a 4096-character message),
runs the gateway from .mpy on the MicroPython unix port in a 64 KB heap, and prints the
conversation and the heap figures the gateway reports.

Part 2, the assistant: the same gateway with a model (the fake OpenAI server over HTTPS, its
answers scripted): Ann asks it to remember something (an append_file tool call), to tell the
time (get_time), to set a reminder (cron) and what it knows about her (read_file). Prints
the conversation, each tool call the model made and what the tool answered.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
import shim  # noqa: E402

shim.install()
import gatewayrun  # noqa: E402
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

HEAP = "64k"  # the board-sized heap of the foundation issue (the echo burst needs 62k)
AGENT_HEAP = "128k"  # the agent on the 64-bit port, with room (every tool in turn needs 116k; README)


def main():
    with FakeTelegram() as tg:
        ann = tg.user(1001, "Ann", "ann")
        eve = tg.user(6666, "Eve", "eve")
        script = [
            (ann, "/start"),
            (ann, "Hello from the board!"),
            (eve, "let me in"),
            (ann, "Good morning \u2600\ufe0f \U0001F600 \u4e2d\u6587"),
            (ann, ("0123456789abcdef" * 256)),
        ]
        for user, text in script:
            tg.send_text(user, text)
        tg.send_photo(ann)
        cfg = gatewayrun.write_config(tg, allow=("1001",))
        print("fake Telegram at %s; gateway: micropython -X heapsize=%s -m picoclaw gateway" % (tg.base_url, HEAP))
        r = gatewayrun.run(cfg, cycles=3, heap=HEAP)
        print()
        _show_log(r)
        print("--- conversation ---")
        for user, text in script:
            print("%-4s -> bot: %s" % (user["first_name"], _short(text)))
        print("Ann  -> bot: (a photo)")
        for s in tg.sent:
            who = "Ann" if s["params"]["chat_id"] == 1001 else s["params"]["chat_id"]
            print("bot  -> %s: %s" % (who, _short(s["params"]["text"])))
        m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", r.stdout)
        if m:
            print("--- heap (unix port, 64-bit) ---")
            print("heap %s; after start-up %s bytes used; TLS handshakes %s; TCP connections seen by the server %d"
                  % (HEAP, m.group(1), m.group(3), tg.connections))
        return r.returncode


def _show_log(r):
    # the gateway's console, minus the lines it prints for the tools (FIGURES, qstr counts)
    print("--- gateway log ---")
    print("\n".join(l for l in r.stdout.splitlines() if not l.startswith(("FIGURES", "qstr pool"))))
    if r.returncode:
        print(r.stderr)


def agent_demo():
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        ann = tg.user(1001, "Ann", "ann")
        turns = [
            ("Please remember that my sister's birthday is on 12 March.",
             [("append_file", {"path": "memory/MEMORY.md", "content": "- Ann's sister: birthday 12 March\n"})],
             "Noted: your sister's birthday is on **12 March**."),
            ("What time is it?", [("get_time", {})], "It is the time `get_time` said (UTC)."),
            ("Remind me to water the plants in 2 hours.",
             [("cron", {"action": "add", "in": 7200, "text": "Water the plants", "mode": "deliver"})],
             "Done: I will remind you in 2 hours."),
            ("What do you know about me?", [("read_file", {"path": "memory/MEMORY.md"})],
             "From my notes:\n- your sister's birthday is on 12 March"),
        ]
        for text, calls, answer in turns:
            tg.send_text(ann, text)
            llm.reply_tool_calls(calls)
            llm.reply_text(answer)
        cfg = gatewayrun.write_config(tg, allow=("1001",), llm=llm, agent={"stream": True})
        print("\n=== part 2: the assistant (fake OpenAI at %s, heap %s) ===" % (llm.base_url, AGENT_HEAP))
        r = gatewayrun.run(cfg, cycles=3, heap=AGENT_HEAP)
        _show_log(r)
        print("--- conversation ---")
        finals = {}
        for s in tg.sent:
            if s["method"] in ("sendMessage", "editMessageText"):
                finals[s["message_id"]] = s["result"]["text"]
        answers = [finals[k] for k in sorted(finals)]
        for (text, calls, _), answer in zip(turns, answers):
            print("Ann -> bot: %s" % _short(text))
            for name, args in calls:
                print("    (model calls %s %s)" % (name, json.dumps(args)))
            print("bot -> Ann: %s" % _short(answer))
        print("--- tool results the model read ---")
        for req in llm.requests:
            msgs = req["body"].get("messages", [])
            if msgs and msgs[-1].get("role") == "tool":
                print("    %s" % _short(msgs[-1]["content"]))
        m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", r.stdout)
        if m:
            print("--- heap (unix port, 64-bit) ---")
            print("heap %s; after start-up %s bytes used, at the end %s; TLS handshakes %s (Telegram and model)"
                  % (AGENT_HEAP, m.group(1), m.group(2), m.group(3)))
        return r.returncode or (1 if llm.errors else 0)


def _short(t):
    t = t.replace("\n", " / ")
    return t if len(t) <= 70 else "%s... (%d characters)" % (t[:60], len(t))


if __name__ == "__main__":
    sys.exit(main() or agent_demo())
