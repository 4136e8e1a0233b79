"""Exactly-once replies across crashes: the gateway (unix port, .mpy, echo mode) is SIGKILLed at
random moments of a 200-message run against the fake Telegram and restarted until every update
is answered; then every update must have exactly one reply, except where the kill fell in the
one window no Bot API client can close (see below), and none may be lost.

The scheme (gateway.py/state.py): the offset is the acknowledgement. It is written atomically
(temp file + rename) right after Telegram confirms the reply, so a kill before the reply reached
Telegram re-answers the update after the restart (at least once), and a kill after the offset
was written skips it (at most once). The one window left is between Telegram committing the
sendMessage and the offset being renamed into place: the Bot API has no idempotency key and no
way to ask "did I already answer message M?", so a client killed there cannot know and answers
again. The test detects every kill that lands there (the fake recorded a reply to an update the
offset on disk does not cover yet) and checks that each repeat is such a kill, and nothing else.

Figures (CRASH line, pytest -s): cycles, kills mid-run, lost, repeated, kills in the window.
CRASH_SEED picks the kill times (default fixed, so a failure replays).
"""
import collections
import os
import random
import subprocess
import time

import pytest

import gatewayrun
import unixport
from fakes.telegram_server import FakeTelegram

N = 200
ALICE = 111


def _offset(cfg):
    d = os.path.join(os.path.dirname(cfg), "ws", "state", "telegram_offset")
    for p in (d, d + ".tmp"):  # state.read_int's order: a FAT rename cut leaves only the temp
        try:
            with open(p) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            pass
    return 0


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_sigkill_at_random_moments_loses_nothing_repeats_only_in_the_window(framing):
    # chunked: every answer in chunked transfer encoding, in small pieces (a proxy can do
    # that): the same guarantee at the same 64k heap
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "6")))
    path = unixport.build() + ":.frozen"
    with FakeTelegram() as tg:
        tg.framing = framing
        alice = tg.user(ALICE, "Alice", "alice")
        ids = [tg.send_text(alice, "m%03d" % i) for i in range(N)]
        update_of = {"m%03d" % i: u for i, u in enumerate(ids)}
        cfg = gatewayrun.write_config(tg, poll_limit=10)
        seen = 0  # replies in tg.sent already classified
        in_window = collections.Counter()  # update -> replies sent but not acknowledged on disk
        cycles = kills = 0
        t0 = time.monotonic()
        while len({s["params"]["text"] for s in tg.sent}) < N or _offset(cfg) <= ids[-1]:
            assert cycles < 400, "no progress: %d replies after %d cycles" % (len(tg.sent), cycles)
            p = subprocess.Popen([unixport.micropython(), "-X", "heapsize=64k", "-m", "picoclaw", "gateway",
                                  "--config", cfg], cwd=unixport.ROOT, env=unixport.env(path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # start-up takes ~80 ms and 200 echoes ~0.4 s: kills land in start-up, polls,
            # sends and offset writes alike
            try:
                p.wait(rnd.uniform(0.02, 0.15))
                raise AssertionError("gateway exited by itself: %s" % p.stderr.read())
            except subprocess.TimeoutExpired:
                p.kill()  # SIGKILL: no cleanup, no flush, like a power cut or a watchdog reset
                p.wait()
                p.stderr.close()
            # a request already in the socket when the kill came is still served by the fake
            # (as Telegram would): let it land before classifying what was sent
            time.sleep(0.1)
            cycles += 1
            sent = tg.sent[:]  # the fake only appends
            off = _offset(cfg)
            if len(sent) > seen:
                kills += 1
            for s in sent[seen:]:
                u = update_of[s["params"]["text"]]
                if u >= off:  # Telegram has it, the disk does not say so: the restart repeats it
                    in_window[u] += 1
            seen = len(sent)
        elapsed = time.monotonic() - t0
        # a last clean run: nothing left to answer, nothing answered again
        r = gatewayrun.run(cfg, cycles=1, heap="64k")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        replies = collections.Counter(update_of[s["params"]["text"]] for s in tg.sent)
        lost = [u for u in ids if not replies[u]]
        repeated = sum(n - 1 for n in replies.values())
        print("CRASH framing=%s cycles=%d kills_mid_run=%d lost=%d repeated=%d in_window=%d time=%.1fs"
              % (framing, cycles, kills, len(lost), repeated, sum(in_window.values()), elapsed))
        assert not lost, lost
        assert len(tg.sent) == sum(replies.values())  # every reply answers one of ours
        # every repeat is a kill in the window, and every kill in the window was repeated once
        assert {u: n - 1 for u, n in replies.items() if n > 1} == dict(in_window)
        assert all(s["params"]["chat_id"] == ALICE for s in tg.sent)
        assert _offset(cfg) == ids[-1] + 1
