"""Measure the foundation's figures on the unix port and print them (README and notes).

    python tools/figures.py

- .mpy size of the firmware, and the heap taken by importing the runtime modules;
- the smallest -X heapsize at which a 100-message burst completes over TLS against the
  fake Telegram, for 10-character and for 4096-character messages (bisection, 2 KB steps);
- working heap: the smallest heap minus gc.mem_alloc() after start-up (what the loop needs,
  fragmentation included); and gc.mem_alloc() after the burst, to show nothing accumulates;
- TLS handshakes per 100 messages.
The unix port is 64-bit: pointers and GC blocks are twice a board's, so code costs about
twice the heap it takes on an ESP32 or RP2040 (see README).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests", "support"))
import shim  # noqa: E402

shim.install()
import gatewayrun  # noqa: E402
import mpybuild  # noqa: E402
import unixport  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

RUNTIME = ["picoclaw.gateway.loop", "picoclaw.telegram.api", "picoclaw.net.http", "picoclaw.json.stream",
           "picoclaw.net.stream", "picoclaw.state", "picoclaw.log", "picoclaw.json.write"]


def import_cost():
    code = ("import gc\ngc.collect()\na=gc.mem_alloc()\n" + "".join("import %s\n" % m for m in RUNTIME)
            + "gc.collect()\nprint(a, gc.mem_alloc())")
    r = unixport.run(["-c", code], heap="256k", path=unixport.build() + ":.frozen")
    a, b = map(int, r.stdout.split())
    return a, b - a


def burst(heap, text, n=100):
    with FakeTelegram() as tg:
        alice = tg.user(111, "Alice", "alice")
        for i in range(n):
            tg.send_text(alice, text)
        cfg = gatewayrun.write_config(tg, poll_limit=10)
        try:
            r = gatewayrun.run(cfg, cycles=n // 10 + 3, heap=heap, timeout=120)
        except subprocess.TimeoutExpired:
            return None
        ok = r.returncode == 0 and len(tg.sent) == n and all(s["params"]["text"] == text for s in tg.sent)
        m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", r.stdout)
        return (int(m.group(1)), int(m.group(2)), tg.connections) if ok and m else None


def min_heap(text, lo=40, hi=256):
    """Smallest heap in KB (2 KB steps) at which the burst completes."""
    if not burst("%dk" % hi, text):
        return None, None
    best = None
    while hi - lo > 2:
        mid = (lo + hi) // 2 // 2 * 2
        res = burst("%dk" % mid, text)
        if res:
            hi, best = mid, res
        else:
            lo = mid
    return hi, best or burst("%dk" % hi, text)


def main():
    out, _ = mpybuild.build(unixport.MPY)
    print("firmware .mpy total: %d bytes" % mpybuild.total_size(out))
    base, cost = import_cost()
    print("interpreter baseline: %d bytes; importing the runtime modules: %d bytes" % (base, cost))
    for label, text in (("10-char", "0123456789"), ("4096-char", ("0123456789abcdef" * 256))):
        kb, res = min_heap(text)
        if kb is None:
            print("%s burst: did not complete even at 256k" % label)
            continue
        b, end, conns = res
        print("%s burst x100: min heap %dk; at that heap: heap after start-up %d, working heap "
              "(min heap - start-up) %d; after the burst %d (+%d: the open TLS connection); "
              "TLS handshakes %d" % (label, kb, b, kb * 1024 - b, end, end - b, conns))


if __name__ == "__main__":
    main()
