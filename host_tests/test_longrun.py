"""Recovery over a long run (issue 6): the gateway (unix port, .mpy, echo mode in a board-sized
heap; also with the agent and a fake model) polls through simulated hours against the fake
Telegram while faults are injected every few simulated minutes; at the end it still answers
and its heap is back at its level.

Time is scaled (host_tests/support/longrun_driver.py says exactly how): the fake holds an empty long
poll timeout / SCALE seconds and the driver counts it as the whole poll timeout; back-off and
retry_after sleeps last 1/SCALE of their length and count whole; everything else counts at
real speed. The driver prints the simulated clock and the heap after every poll cycle; this
test reads those lines and, when the simulated clock passes the next event, sends a message
(every MSG_EVERY simulated seconds) or injects the next fault (every FAULT_EVERY), cycling
through the fault list. 401 is not among them: the gateway stops on it by design (a rejected
token: FatalError, exit 2; test_gateway.py checks that).

Checks: exit 0 with the FIGURES line; no MemoryError or "out of memory" logged; every message
answered exactly once (echo: with its own text; agent: one reply, its placeholder edited into
the model's answer), except in the one window no Bot API client can close (test_crash.py): a
sendMessage Telegram performed whose answer was cut ("truncate", "chunked_truncate" on
sendMessage) is sent again, and each such request must be repeated exactly once; after the
last fault a new message is answered by the long poll running when it was sent (or the next);
the heap after the last plain empty poll equals, within HEAP_TOLERANCE, the heap after the
first plain empty poll once every fault kind has been through (code loaded on first use
stays by design: see the MODULES figure).

    pytest -s host_tests/test_longrun.py                      # 2 simulated hours each, ~10 s
    PICOCLAW_LONGRUN=1 pytest -s host_tests/test_longrun.py   # also 24 simulated hours of each
LONGRUN_SCALE overrides the 24-hour runs' time scale (default 250: ~8 minutes real each);
LONGRUN_LOG=FILE keeps the gateway's output. Figures: the LONGRUN-* lines (pytest -s).
"""
import collections
import os
import re
import subprocess
import threading
import time

import pytest

import gatewayrun
import unixport
from fakes.llm_server import DEFAULT_TEXT, FakeLLM
from fakes.telegram_server import CONFLICT_POLL, FakeTelegram
from unixport import mpybuild

ALICE = 111
POLL_S = 30  # channels.telegram.poll_timeout: the default
MSG_EVERY = 300  # simulated seconds between user messages
FAULT_EVERY = 240  # simulated seconds between faults
# The board's 64 KB plus what the driver itself costs: its names spill into a new qstr pool
# (3.5 KB: `python -m picoclaw gateway` in echo mode fills its last pool to within four names)
# and its code; so the gateway has about the free heap it has in 64k without the driver (where
# tools/bench.py's echo burst passes). 68k was enough with the gateway at 289 names; at 296 the
# start-up's trust file no longer fit beside the driver.
HEAP = "70k"
AGENT_HEAP = "136k"  # test_agent.py's 128k for the agent, plus the driver's share
HEAP_TOLERANCE = 256  # bytes: measured 0; a little room for allocator noise
STALL_S = 0.5  # real seconds a short stall holds the connection before the fake drops it

# (label, method, action, args[, times]): args for FakeTelegram.inject, or for method "model"
# the keywords of FakeLLM.inject. Faults on sendMessage and the model are injected with the
# message that triggers them; cut getUpdates answers get a message sent while that poll is
# held, so the cut falls inside an update. A connection dropped (or stalled) before any byte
# of the answer is, once, invisible to the gateway: httpclient sends the request again on a
# new connection (it cannot tell it from an idle connection the server closed); `times` 2
# drops that one too.
POLL_FAULTS = [
    ("poll: dropped connection", "getUpdates", "close", ()),
    ("poll: cut mid-body", "getUpdates", "truncate", (150,)),
    ("poll: stall, then dropped", "getUpdates", "stall", (STALL_S,)),
    ("poll: 429 retry_after 20", "getUpdates", "status",
     (429, "Too Many Requests: retry after 20", {"retry_after": 20})),
    ("poll: 409 Conflict", "getUpdates", "status", (409, CONFLICT_POLL)),
    ("poll: 500", "getUpdates", "status", (500, "Internal Server Error")),
    ("poll: 502", "getUpdates", "status", (502, "Bad Gateway")),
    ("poll: malformed JSON", "getUpdates", "body", (b'{"ok":true,"result":[{"update_id":',)),
    ("poll: chunked body cut", "getUpdates", "chunked_truncate", (150,)),
    ("poll: HTML error page", "getUpdates", "body", (b"<html>502 Bad Gateway</html>",)),
    ("poll: invalid UTF-8", "getUpdates", "utf8", ()),
    ("poll: dropped, and again on the new connection", "getUpdates", "close", (), 2),
]
SEND_FAULTS = [
    ("send: 429 retry_after 5", "sendMessage", "status",
     (429, "Too Many Requests: retry after 5", {"retry_after": 5})),
    ("send: 500", "sendMessage", "status", (500, "Internal Server Error")),
    ("send: answer cut mid-body", "sendMessage", "truncate", (30,)),
    ("send: dropped connection", "sendMessage", "close", ()),
    ("send: chunked answer cut", "sendMessage", "chunked_truncate", (20,)),
    ("send: malformed JSON", "sendMessage", "body", (b'{"ok":true,"result":{"message_id":',)),
    ("send: stall, then dropped", "sendMessage", "stall", (STALL_S,)),
    ("send: dropped, and again on the new connection", "sendMessage", "close", (), 2),
]
# llm.call retries each of these (429/5xx, a dropped or cut connection, a body that does not
# parse); the agent's own sends are left alone: what a failed placeholder or edit should
# leave in the chat is the agent's business (test_agent.py)
MODEL_FAULTS = [
    ("model: 500", "model", "status", {"status": 500}),
    ("model: 429 retry-after 5", "model", "status", {"status": 429, "headers": {"retry-after": "5"}}),
    ("model: dropped mid-answer", "model", "drop_at", {"n": 120, "body": True}),
    ("model: stream cut", "model", "cut_sse", {}),
    ("model: malformed JSON", "model", "malformed", {}),
    ("model: stall mid-answer", "model", "stall", {"seconds": STALL_S, "at": 60, "body": True}),
]


def _interleave(a, b):
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i:i + 1] + b[i:i + 1]
    return out


ECHO_FAULTS = _interleave(POLL_FAULTS, SEND_FAULTS)
AGENT_FAULTS = _interleave(POLL_FAULTS, MODEL_FAULTS)
# The 24-hour run makes the first stall of each Telegram method outlast the client's read
# timeout (getUpdates: poll + 10 s, sendMessage: 30 s; real seconds: not scaled)
LONG_STALL = {"getUpdates": POLL_S + 15, "sendMessage": 35}
# sendMessage faults that Telegram performs before the answer is lost: the window
WINDOW = ("truncate", "chunked_truncate")
_LINE = re.compile(r"LONGRUN t_sim_s=(\d+) heap=(\d+) cycle=(\d+) errors=(\d+)")
_FIG = re.compile(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+) cycles=(\d+) t_sim_s=(\d+)")


def _bot_replies(tg):
    """{user message_id: [what each bot message answering it shows last (edits applied)]}."""
    text, to = {}, {}
    for s in tg.sent:
        if s["method"] == "sendMessage":
            to[s["message_id"]] = (s["params"].get("reply_parameters") or {}).get("message_id")
        if s["method"] in ("sendMessage", "editMessageText"):
            text[s["message_id"]] = s["result"]["text"]
    out = collections.defaultdict(list)
    for mid, user_mid in to.items():
        out[user_mid].append(text[mid])
    return out


class _Script:
    """What the host does, driven by the simulated clock the driver prints."""

    def __init__(self, tg, llm, faults, target, long_stalls):
        self.tg = tg
        self.llm = llm
        self.faults = faults
        self.alice = tg.user(ALICE, "Alice", "alice")
        self.target = target
        self.expected = {}  # user message_id -> the text its reply must show
        self.mid = 5000
        self.next_msg = 90
        self.next_fault = 200
        self.injected = []  # (simulated s, label)
        self.queued = 0  # one-shot faults queued in the fakes
        self.long_stalls = set(LONG_STALL) if long_stalls else set()
        self.helpers = []  # threads sending a message once a faulted poll is open
        self.final = None  # message_id of the message sent after the last fault
        self.final_at = 0  # len(tg.requests) when it was queued
        self.round_cycle = None  # the cycle by which every kind of fault had been taken once

    def send(self, prefix):
        """Queue a message from Alice (our own message_id, to find its reply); returns it."""
        self.mid += 1
        text = "%s%04d" % (prefix, self.mid)
        self.tg.send_update("message", {"message_id": self.mid, "from": self.alice, "date": int(time.time()),
                                        "chat": self.tg.private_chat(self.alice), "text": text})
        self.expected[self.mid] = DEFAULT_TEXT if self.llm else text
        return self.mid

    def _taken(self):
        return (sum(1 for r in self.tg.requests if r.get("fault"))
                + (sum(1 for r in self.llm.requests if r.get("fault")) if self.llm else 0))

    def _answered(self, replies, mid):
        return self.expected[mid] in replies.get(mid, ())

    def quiet(self):
        """Every message answered, every fault consumed, no helper pending."""
        replies = _bot_replies(self.tg)
        return (all(self._answered(replies, m) for m in self.expected) and self._taken() == self.queued
                and not any(h.is_alive() for h in self.helpers))

    def on_cycle(self, t, cycle):
        if self.round_cycle is None and len(self.injected) >= len(self.faults) and self._taken() == self.queued:
            self.round_cycle = cycle
        if self.final is not None:
            return
        if t >= self.next_msg and t < self.target - 600:
            self.send("m")
            self.next_msg += MSG_EVERY
        if t >= self.next_fault and t < self.target - 900:
            label, method, action, args, *times = self.faults[len(self.injected) % len(self.faults)]
            if action == "utf8" and not self.quiet():
                return  # its update id must come after everything sent: wait for a quiet cycle
            self.inject(t, label, method, action, args, times[0] if times else 1)
            self.next_fault += FAULT_EVERY
        if t >= self.target - 450 and self.quiet():
            self.final_at = len(self.tg.requests)
            self.final = self.send("z")  # after the last fault took effect and its back-off ended

    def inject(self, t, label, method, action, args, times):
        tg = self.tg
        if action == "stall" and method in self.long_stalls:
            self.long_stalls.discard(method)
            args = (LONG_STALL[method],)
            label += " (past the read timeout)"
        self.injected.append((t, label))
        self.queued += times
        if action == "utf8":
            # Telegram never sends invalid UTF-8, a broken proxy might: the answer of the next
            # poll is replaced by an update with bad bytes, under an update id reserved by an
            # edited_message the gateway's allowed_updates filters out (so nothing is skipped)
            uid = tg.send_edit(self.alice, "reserved")
            assert uid in [u["update_id"] for u in tg.filtered]
            self.mid += 1
            text = "u%04d" % self.mid
            body = (b'{"ok":true,"result":[{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,'
                    b'"is_bot":false,"first_name":"Alice","username":"alice"},"chat":{"id":%d,"type":'
                    b'"private"},"date":%d,"text":"%s bad \xff\xfe bytes \xe6\x97"}}]}'
                    % (uid, self.mid, ALICE, ALICE, int(time.time()), text.encode()))
            tg.inject("getUpdates", "body", body)
            self.expected[self.mid] = DEFAULT_TEXT if self.llm else text + " bad \ufffd\ufffd bytes \ufffd"
            return
        for _ in range(times):
            if method == "model":
                self.llm.inject(action, **args)
            else:
                tg.inject(method, action, *args)
        if method != "getUpdates":
            self.send("f")  # the reply (or model call) this fault hits
        elif action in WINDOW:
            start = len(tg.requests)

            def when_open():
                end = time.monotonic() + 60
                while time.monotonic() < end and not any(
                        r.get("method") == method and r.get("fault") for r in tg.requests[start:]):
                    time.sleep(0.002)
                self.send("f")

            h = threading.Thread(target=when_open, daemon=True)
            h.start()
            self.helpers.append(h)


def _driver():
    """The driver compiled to .mpy like the firmware modules it runs (from source, its
    compilation alone would not fit in the echo heap); returns its directory."""
    out = os.path.join(unixport.ROOT, "build", "longrun")
    os.makedirs(out, exist_ok=True)
    subprocess.run([mpybuild._tool("mpy-cross"), "-O3", "-s", "longrun_driver", "-o",
                    os.path.join(out, "longrun_driver.mpy"),
                    os.path.join(unixport.HERE, "longrun_driver.py")], check=True)
    return out


def _gateway(script, cfg, target, scale, heap, budget_s):
    """Run the driver, feeding each LONGRUN line to the script; returns (output, the cycles
    as (t_sim_s, heap, cycle, errors, loaded modules), real seconds)."""
    path = unixport.build() + ":" + _driver() + ":.frozen"
    t0 = time.monotonic()
    p = subprocess.Popen([unixport.micropython(), "-X", "heapsize=" + heap, "-m", "longrun_driver",
                          str(target), str(scale), "gateway", "--config", cfg], cwd=unixport.ROOT,
                         env=unixport.env(path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace")
    killer = threading.Timer(budget_s, p.kill)
    killer.start()
    out, cycles, mods = [], [], []
    try:
        for line in p.stdout:
            out.append(line)
            if line.startswith("MODULES "):
                mods = line.split()[1:]
            m = _LINE.match(line)
            if m:
                t, heap_now, cycle, errors = (int(g) for g in m.groups())
                cycles.append((t, heap_now, cycle, errors, mods))
                script.on_cycle(t, cycle)
        p.wait()
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    real = time.monotonic() - t0
    for h in script.helpers:
        h.join(5)
    text = "".join(out)
    if os.environ.get("LONGRUN_LOG"):  # the gateway's whole output, for a post-mortem
        with open(os.environ["LONGRUN_LOG"], "w") as f:
            f.write(text)
    assert p.returncode == 0, "exit %s (killed after %d s?)\n%s" % (p.returncode, budget_s, text[-3000:])
    return text, cycles, real


def _run(hours, scale, budget_s, model=False, long_stalls=False):
    target = int(hours * 3600)
    faults = AGENT_FAULTS if model else ECHO_FAULTS
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        tg.time_scale = scale
        llm = llm if model else None  # echo: no model configured (the fake just idles)
        # the model-call limits count on the real clock (time.time(), not scaled): off, or a
        # simulated day's calls, made in minutes, would trip the hourly one
        cfg = gatewayrun.write_config(tg, llm=llm, poll_timeout=POLL_S,
                                      agent={"max_calls_per_hour": 0, "max_calls_per_day": 0})
        script = _Script(tg, llm, faults, target, long_stalls)
        text, cycles_seen, real = _gateway(script, cfg, target, scale, AGENT_HEAP if model else HEAP, budget_s)
        fig = _FIG.search(text)
        assert fig, text[-3000:]
        base, end, handshakes, cycles, t_sim = (int(g) for g in fig.groups())
        assert "MemoryError" not in text and "out of memory" not in text, text[-3000:]
        assert not tg.errors, tg.errors
        assert not llm or not llm.errors, llm.errors
        assert t_sim >= target

        # every fault injected was consumed by a request, and every kind came round
        taken = [r for r in tg.requests if r.get("fault")]
        assert script._taken() == script.queued, (script._taken(), script.queued)
        by_kind = collections.Counter(label for _, label in script.injected)
        assert {lb.split(" (")[0] for lb in by_kind} == {f[0] for f in faults}, by_kind
        # every message answered once, with what it should show; twice only where Telegram
        # performed a sendMessage whose answer was then cut (the window)
        window = collections.Counter(r["params"]["reply_parameters"]["message_id"] for r in taken
                                     if r["method"] == "sendMessage" and r["fault"][0] in WINDOW)
        replies = _bot_replies(tg)
        assert all(s["params"]["chat_id"] == ALICE for s in tg.sent if "chat_id" in s["params"])
        assert set(replies) == set(script.expected), set(replies) ^ set(script.expected)
        wrong = {m: r for m, r in replies.items() if set(r) != {script.expected[m]}}
        assert not wrong, wrong
        repeated = {m: len(r) - 1 for m, r in replies.items() if len(r) > 1}
        assert repeated == dict(window), (repeated, window)
        # after the last fault: answered by the long poll running when it was sent (or, should
        # that poll have just come back empty, the next one), counted in the fake's requests
        assert script.final is not None, "no quiet cycle after the last fault"
        after = tg.requests[script.final_at:]
        reply = next(i for i, r in enumerate(after) if r["method"] == "sendMessage" and r["params"]
                     and r["params"].get("reply_parameters", {}).get("message_id") == script.final)
        polls_after = sum(1 for r in after[:reply] if r["method"] == "getUpdates")
        assert polls_after <= 1, after[:reply + 1]
        # The heap: the first plain empty poll (connection open, nothing pending) after every
        # fault kind has been through once, against the last plain empty poll of the run.
        plain = [c for p, c in zip(cycles_seen, cycles_seen[1:])
                 if c[0] - p[0] in (POLL_S, POLL_S + 1) and c[3] == p[3]]
        warm = next(c for c in plain if c[2] > script.round_cycle)
        last = plain[-1]
        heaps = [c[1] for c in cycles_seen]
        fig = {"mode": "agent" if model else "echo", "simulated_h": round(t_sim / 3600, 2),
               "real_s": round(real, 1), "scale": scale, "cycles": cycles,
               "polls": sum(1 for r in tg.requests if r["method"] == "getUpdates"),
               "model_calls": len(llm.requests) if llm else 0,
               "messages": len(script.expected), "bot_messages": sum(len(r) for r in replies.values()),
               "lost": sum(1 for m in script.expected if m not in replies), "repeated_in_window": sum(repeated.values()), "faults": len(script.injected),
               "gateway_errors": cycles_seen[-1][3], "handshakes": handshakes,
               "heap_baseline": base, "heap_first_cycle": heaps[0], "heap_warm": warm[1],
               "warm_at_h": round(warm[0] / 3600, 2), "heap_last_poll": last[1], "heap_end": end,
               "heap_min": min(heaps), "heap_max": max(heaps),
               "final_answered_by_poll": "running" if not polls_after else "next"}
        print("\nLONGRUN-FIGURES %s" % " ".join("%s=%s" % kv for kv in fig.items()))
        print("LONGRUN-FAULTS " + "; ".join("%s x%d" % kv for kv in sorted(by_kind.items())))
        print("LONGRUN-MODULES loaded after start-up: %s" % (" ".join(
            sorted(set(cycles_seen[-1][4]) - set(cycles_seen[0][4]))) or "none"))
        assert warm[4] == last[4], (warm[4], last[4])  # nothing loaded after the warm-up
        assert abs(last[1] - warm[1]) <= HEAP_TOLERANCE, (warm, last)
        return fig


def test_two_simulated_hours_with_faults():
    _run(2, 1000, budget_s=180)


def test_agent_two_simulated_hours_with_faults():
    _run(2, 1000, budget_s=240, model=True)


@pytest.mark.skipif(os.environ.get("PICOCLAW_LONGRUN") != "1", reason="24 simulated hours: PICOCLAW_LONGRUN=1")
@pytest.mark.parametrize("model", [False, True], ids=["echo", "agent"])
def test_24_simulated_hours_with_faults(model):
    _run(24, int(os.environ.get("LONGRUN_SCALE", "250")), budget_s=3600, model=model, long_stalls=True)
