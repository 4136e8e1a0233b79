"""The demo: a fake Telegram with scripted users, the gateway on the unix port, the transcript.

    make demo        (or: .venv/bin/python tools/demo.py)

Part 1, echo: starts the fake Bot API server (HTTPS with a throwaway CA), scripts three users
(Ann, who is allowed; Eve, who is not; and Ann again with emoji and a 4096-character message),
runs the gateway from .mpy on the MicroPython unix port in a board-sized heap, and prints the
gateway's log, then the conversation as it happened (each message with its answer, or why it
got none), then the heap it took and what that means on each board in boards/.

Part 2, the assistant: the same gateway with a model (the fake OpenAI server over HTTPS, its
answers scripted): Ann asks it to remember something (an append_file tool call), to tell the
time (get_time), to set a reminder (cron) and what it knows about her (read_file). Prints
the conversation with each tool call the model made and what the tool answered, in order.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests", "support"))
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
            (ann, None),  # a photo
        ]
        ids = [tg.send_text(user, text) if text else tg.send_photo(user) for user, text in script]
        cfg = gatewayrun.write_config(tg, allow=("1001",))
        print("=== part 1: echo (fake Telegram at %s; the bot: micropython -X heapsize=%s -m picoclaw gateway) ==="
              % (tg.base_url, HEAP))
        r = gatewayrun.run(cfg, cycles=3, heap=HEAP)
        _show_log(r)
        print("--- conversation ---")
        replies = iter(s["params"]["text"] for s in tg.sent if s["method"] == "sendMessage")
        for (user, text), uid in zip(script, ids):
            name = user["first_name"]
            print("%-4s: %s" % (name, _short(text) if text else "(a photo)"))
            if re.search(r"update %d: (answered|out of memory)" % uid, r.stdout):  # an answer, or an apology
                print("bot : %s" % _short(next(replies, "?")))
            elif text and "unauthorized user id=%d" % user["id"] in r.stdout:
                print("      (not answered: %s is not in allow_from; the log names the id to add)" % name)
            elif re.search(r"update %d: non-text" % uid, r.stdout):
                print("      (not answered: not a text message)")
            else:
                print("      (no answer: see the log above)")
        m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", r.stdout)
        if m:
            _heap_figures("echo", HEAP, int(m.group(1)), int(m.group(2)), 1)
            print("TLS handshakes %s; TCP connections seen by the server %d" % (m.group(3), tg.connections))
        return r.returncode


def _heap_figures(mode, heap, start, end, connections):
    # what this run used on the 64-bit unix port, and what that means on each board: a
    # 32-bit port needs about 0.70x the heap (pointers and GC blocks are half the size), plus
    # the TLS buffers where mbedTLS allocates inside the GC heap (the Pico boards)
    print("--- heap: this run (unix port, 64-bit, %s heap): %.1f KB in use after start-up, %.1f KB at the end"
          % (heap, start / 1024, end / 1024))
    print("    on a board (32-bit: about 0.70x, plus TLS where it is in the heap; %s mode; a turn's peak"
          " and fragmentation need more: docs/figures.md):" % mode)
    for name in sorted(os.listdir(os.path.join(ROOT, "boards"))):
        with open(os.path.join(ROOT, "boards", name, "board.json")) as f:
            b = json.load(f)
        need = end * 0.70 + (b.get("tls_heap", 0) * connections if b.get("tls_in_gc_heap") else 0)
        print("    %-17s has %5.0f KB; what this run held at its end would take about %3.0f KB there (%s)"
              % (name, b["gc_heap"] / 1024, need / 1024,
                 "TLS inside the heap" if b.get("tls_in_gc_heap") else "TLS outside the heap"))


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
        print("\n=== part 2: the assistant (fake OpenAI at %s; the same bot with a model, heap %s) ==="
              % (llm.base_url, AGENT_HEAP))
        r = gatewayrun.run(cfg, cycles=3, heap=AGENT_HEAP)
        _show_log(r)
        print("--- conversation ---")
        finals = {}
        for s in tg.sent:
            if s["method"] in ("sendMessage", "editMessageText"):
                finals[s["message_id"]] = s["result"]["text"]
        answers = [finals[k] for k in sorted(finals)]
        results = iter(m[-1]["content"] for m in (req["body"].get("messages", []) for req in llm.requests)
                       if m and m[-1].get("role") == "tool")
        for (text, calls, _), answer in zip(turns, answers):
            print("Ann : %s" % _short(text))
            for name, args in calls:
                print("      (the model calls %s %s; the tool answers: %s)"
                      % (name, json.dumps(args), _short(next(results, "?"))))
            print("bot : %s" % _short(answer))
        m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", r.stdout)
        if m:
            _heap_figures("agent", AGENT_HEAP, int(m.group(1)), int(m.group(2)), 2)
            print("TLS handshakes %s (Telegram and the model)" % m.group(3))
        return r.returncode or (1 if llm.errors else 0)


def _short(t):
    t = t.replace("\n", " / ")
    return t if len(t) <= 70 else "%s... (%d characters)" % (t[:60], len(t))


if __name__ == "__main__":
    sys.exit(main() or agent_demo())
