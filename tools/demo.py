"""The demo: a fake Telegram with scripted users, the gateway on the unix port, the transcript.

    make demo        (or: .venv/bin/python tools/demo.py)

Starts the fake Bot API server (HTTPS with a throwaway CA), scripts three users (Ann, who is
allowed; Eve, who is not; and Ann again with emoji and a 4096-character message), runs the
gateway from .mpy on the MicroPython unix port in a small heap, and prints the conversation
and the heap figures the gateway reports.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
import shim  # noqa: E402

shim.install()
import gatewayrun  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

# Smallest heap the 100-message burst needs on the 64-bit unix port is 90 KB (tools/figures.py);
# the demo leaves a margin. On a 32-bit board the same code needs about half (README).
HEAP = "64k"  # the board-sized heap of the foundation issue


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
        print("\n--- gateway log ---")
        print("\n".join(l for l in r.stdout.splitlines() if not l.startswith("FIGURES")))
        if r.returncode:
            print(r.stderr)
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


def _short(t):
    t = t.replace("\n", " / ")
    return t if len(t) <= 70 else "%s... (%d characters)" % (t[:60], len(t))


if __name__ == "__main__":
    sys.exit(main())
