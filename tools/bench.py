"""Benchmarks on the MicroPython unix port against the fake servers, ours against a baseline bot.

    python tools/bench.py [--quick] [--out build/bench] [--only NAMES] [--no-baseline] [--romfs]

Prints a table and writes bench.json, bench.md and heap.png (matplotlib, if installed) to --out.
The baseline (tools/benchmp/baseline_bot.py) is a bot written the way existing MicroPython
Telegram bots are: micropython-lib `requests` (HTTP/1.0, a new TLS connection per call),
`json.loads` of whole bodies, history in a list. Every figure is measured on both in the same run.

Figures (all on the 64-bit unix port; mbedTLS is outside its GC heap):
- min heap: smallest -X heapsize (2 KB steps) at which a scenario completes with no
  MemoryError and no "out of memory" logged. Bisection runs with fewer messages
  (BISECT_N); the heap found is then confirmed with the full count, stepping up 2 KB until
  it passes.
- working heap (the issue's figure): the peak of gc.mem_alloc() after a collection, sampled
  at every connect, send and receive of both connections and at every file opened
  (heap_driver.py's PEAK: inside every step of a turn), minus the heap after start-up (the
  FIGURES baseline the gateway prints). Also given: min heap minus that baseline, i.e. what
  the loop needs with fragmentation included (a stricter figure). Import baseline:
  gc.mem_alloc() grown by importing the modules from .mpy (tools/figures.py's method).
- parser: tools/benchmp/parse_bench.py (see there) on getUpdates bodies of 1, 10, 100
  updates made from host_tests/data/getupdates.json.
- overhead per message: one message at a time, the next queued once the reply is in.
  t0 = the update queued in the fake while the gateway long-polls (the poll answers at
  once); t1 = the fake Telegram has received the final reply (the echo, or the edit carrying
  the model's final text); LLM time = the fake LLM's own time per request (request read ->
  response written), summed over the requests between t0 and t1. Overhead = t1 - t0 - LLM
  time: the gateway's work plus the fake Telegram's own handling of each request (CPython).
- handshakes per 100 messages: TCP/TLS connections accepted by both fakes, scaled to 100.
- boot to first poll: process start (Popen) to the fake's first getUpdates.
- --romfs: the scenarios' min heap and start-up heap with our code in a ROMFS image
  (tools/benchmp/romfs_driver.py), where .mpy code executes in place as from a board's flash.
  The port has no flash, so the image sits in the heap in one bytearray; the heap is made
  bigger by exactly what that takes and every figure leaves it out (no live-peak figure).
- soak: N echo messages through heap_driver.py (the gateway plus a heap sample per
  request and per poll cycle); start is the heap after a collection at the end of the first
  poll cycle (the connection to Telegram open: before it, its socket and TLS objects would
  count as growth), end the same after the last cycle. (The FIGURES line's end, taken once
  serve() has logged its summary, is ~0.5 KB higher at any length: the summary's objects.)
"""
import argparse
import functools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests", "support"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gatewayrun  # noqa: E402
import unixport  # noqa: E402
from fakes.llm_server import FakeLLM  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

MP = os.path.join(ROOT, "tools", "benchmp")
ALICE = 111
SHORT = "0123456789"
LONG = "0123456789abcdef" * 256  # 4096 characters, Telegram's maximum
FIGRE = re.compile(r"FIGURES baseline=(\d+) end=(\d+)")
SCENARIOS = ("burst", "tools", "long", "stream16k", "session")
TITLES = {"burst": "100-message burst (echo)", "tools": "100-message burst, 2 tool calls each",
          "long": "100 messages of 4096 characters (echo)", "stream16k": "16 KB streamed replies",
          "session": "200-turn session (agent)"}


def words(n):
    """Plain prose of n characters (no Markdown: the reply's size is what is measured)."""
    s = ("the quick brown fox jumps over the lazy dog " * (n // 44 + 1))[:n]
    return s


# --------------------------------------------------------------------------- timed fakes
class TimedTelegram(FakeTelegram):
    """FakeTelegram that stamps what the bench needs: first getUpdates, each reply."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.first_poll = None
        self.stamps = []  # (monotonic, method, text)
        self.spans = []  # (start, end) of handling each request (a long poll's wait included)

    def _handle(self, conn, req):
        t = time.monotonic()
        try:
            return super()._handle(conn, req)
        finally:
            self.spans.append((t, time.monotonic()))

    def _m_getUpdates(self, p, conn):
        if self.first_poll is None:
            self.first_poll = time.monotonic()
        return super()._m_getUpdates(p, conn)

    def _record(self, method, p, message_id, result):
        self.stamps.append((time.monotonic(), method, p.get("text")))
        super()._record(method, p, message_id, result)


class TimedLLM(FakeLLM):
    """FakeLLM that records its own time per request (request read -> response written), and
    answers the agent's session summaries itself, so the scripted replies stay in step."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.spans = []  # (start, end)
        self.summaries = 0

    def _handle(self, conn, req):
        t = time.monotonic()
        if b"Summarise the conversation above" in req[4]:
            with self._cond:
                self._replies.insert(0, {"kind": "text", "text": "The owner asked questions; all answered.",
                                         "calls": [], "truncated": False})
                self.summaries += 1
        try:
            return super()._handle(conn, req)
        finally:
            self.spans.append((t, time.monotonic()))


# --------------------------------------------------------------------------- running
def _script(llm, scn, i):
    """Queue the model's replies for message i of a scenario."""
    if scn == "tools":
        llm.reply_tool_calls([("get_time", {})])
        llm.reply_tool_calls([("list_dir", {"path": "."})])
        llm.reply_text("answer %d" % i)
    elif scn == "stream16k":
        llm.reply_text(words(16384 - 12) + " answer %d" % i)
    else:
        llm.reply_text(words(100) + " answer %d" % i)


def _text(scn, i):
    if scn == "long":
        return LONG
    if scn == "session":
        return "turn %d: " % i + words(90)
    return SHORT if scn == "burst" else "question %d" % i


def _agentic(scn):
    return scn in ("tools", "stream16k", "session")


def _ok_output(r):
    out = (r.stdout or "") + (r.stderr or "")
    return r.returncode == 0 and "MemoryError" not in out and "out of memory" not in out


def _check(tg, llm, scn, n):
    if _agentic(scn):
        if llm.errors or llm.pending_replies():
            return False
        return len(_answers(tg)) == n
    texts = [s["params"]["text"] for s in tg.sent if s["method"] == "sendMessage"]
    return len(texts) == n and all(t == _text(scn, 0) for t in texts)


def _answers(tg):
    """Which messages' final answers reached the chat ("answer <i>" ends each scripted one)."""
    return set(int(m) for s in tg.sent for m in re.findall(r"answer (\d+)\Z", s["params"].get("text") or ""))


# the agent's model-call limits (max_calls_per_hour/day) would answer "limit reached" mid-bench
AGENT = {"stream": True, "max_calls_per_hour": 0, "max_calls_per_day": 0}


def _llm_for(scn):
    return TimedLLM("openai") if _agentic(scn) else None


def _queue(tg, llm, scn, n):
    """Queue scenario `scn`'s n messages in the fake Telegram and the model's replies."""
    alice = tg.user(ALICE, "Alice", "alice")
    for i in range(n):
        tg.send_text(alice, _text(scn, i))
        if llm:
            _script(llm, scn, i)


def run_ours(scn, heap_kb, n, driver=False, timeout=600, romfs=None, board=None, idle_s=60.0):
    """Run scenario `scn` with n messages on our gateway at heap_kb; a dict of figures, or
    None if it did not complete. romfs: (image path, its size) to run the code from that image
    (romfs_driver.py); heap_kb and the heap figures then leave the image out. board: a folder
    of boards/ whose memory profile the run has (its board.json beside config.json, and TLS
    standing in the heap as there: net/tlsheap.py). idle_s: the fake Telegram closes a
    connection idle that long (real servers: about 5 minutes), so the gateway reconnects."""
    llm = _llm_for(scn)
    with TimedTelegram(idle_timeout=idle_s) as tg:
        if llm:
            llm.start()
        try:
            _queue(tg, llm, scn, n)
            cfg = gatewayrun.write_config(tg, llm=llm, agent=AGENT if llm else None, poll_limit=10,
                                          poll_timeout=0)
            # a connection dropped just as a request goes out costs a cycle (a network retry)
            cycles = n // 10 + 2 + (n // 20 if idle_s < 1 else 0)
            script = [os.path.join(MP, "heap_driver.py")] if driver else ["-m", "picoclaw"]
            path, image = unixport.build() + ":.frozen", 0
            if romfs:
                script, path, image = [os.path.join(MP, "romfs_driver.py"), romfs[0]], ".frozen", romfs[1]
            try:
                env = {}
                if board:
                    shutil.copy(os.path.join(ROOT, "boards", board, "board.json"), os.path.dirname(cfg))
                    env["PICOCLAW_TLS_STAND_IN"] = "1"
                r = mp_run(script + ["gateway", "--config", cfg, "--cycles", str(cycles)], heap_kb, timeout,
                           path, image, env)
            finally:
                shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
            m = FIGRE.search(r.stdout)
            if not (_ok_output(r) and m and _check(tg, llm, scn, n)):
                return None
            pk = re.search(r"^PEAK (\d+)$", r.stdout, re.M)
            q = re.search(r"n_qstr=(\d+)", r.stdout)  # the gateway's qstr_info() at the end
            image = _blocks(romfs[1]) if romfs else 0  # what the image's bytearray holds
            return {"baseline": int(m.group(1)) - image, "end": int(m.group(2)) - image,
                    "tg_conns": tg.connections,
                    "llm_conns": llm.connections if llm else 0, "samples": _samples(r.stdout),
                    "cycles": [int(x) for x in re.findall(r"^CYCLE (\d+)$", r.stdout, re.M)],
                    "peak": int(pk.group(1)) if pk else None, "qstrs": int(q.group(1)) if q else None,
                    "tls_single": "one connection at a time" in r.stdout,
                    "tls_reserve_missed": "no room for the" in r.stdout,
                    "tls_out_of_memory": r.stdout.count("ran out of memory"), "errors": _errors(r.stdout)}
        finally:
            if llm:
                llm.stop()


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _blocks(n):
    """Bytes of heap that a bytearray of n bytes takes: its data in 32-byte blocks (64-bit)."""
    return (n + 31) // 32 * 32


def mp_run(args, heap_kb, timeout, path, image=0, env=None):
    """The unix port on args; stopped at the first sign of running out of heap (the gateway
    survives a MemoryError and backs off, which would make every failed bisection step slow).
    image: bytes of a ROMFS image the run keeps in its heap (a board keeps it in flash): the
    heap is made that much bigger, plus the allocation tables' share (3 bytes per 256)."""
    heap = heap_kb * 1024 + _blocks(image) * 259 // 256
    proc = subprocess.Popen([unixport.micropython(), "-X", "heapsize=%d" % heap] + args, cwd=ROOT,
                            env=unixport.env(path, **(env or {})), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "out of memory" in line or "MemoryError" in line:
                proc.kill()
                break
        proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
    out = "".join(lines)
    return _Result(proc.returncode if "out of memory" not in out else 1, out, "")


def _errors(out):
    m = re.search(r"replies, \d+ denied, (\d+) errors", out)  # the gateway's summary line
    return int(m.group(1)) if m else None


def _samples(out):
    return [(int(a), int(b)) for a, b in re.findall(r"^HEAP (\d+) (\d+)$", out, re.M)]


def _baseline_config(tg, llm, polls, sample=False):
    d = tempfile.mkdtemp(prefix="bench-base-")
    c = {"base_url": tg.base_url, "token": tg.token, "polls": polls, "limit": 10, "sample": sample,
         "llm": {"url": llm.base_url + "/chat/completions", "key": llm.api_key, "model": "test-model"}
         if llm else None}
    path = os.path.join(d, "bot.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def run_base(scn, heap_kb, n, sample=False, timeout=900):
    """The same scenario on the baseline bot."""
    llm = _llm_for(scn)
    with TimedTelegram() as tg:
        if llm:
            llm.start()
        try:
            _queue(tg, llm, scn, n)
            cfg = _baseline_config(tg, llm, n // 10 + 2, sample)
            try:
                r = mp_run([os.path.join(MP, "baseline_bot.py"), cfg], heap_kb, timeout, ".frozen")
            finally:
                shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
            m = FIGRE.search(r.stdout)
            ok = _ok_output(r) and m
            if ok and _agentic(scn):
                ok = not llm.errors and not llm.pending_replies() and len(_answers(tg)) == n
            elif ok:
                ok = len(tg.sent) == n
            if not ok:
                return None
            return {"baseline": int(m.group(1)), "end": int(m.group(2)), "tg_conns": tg.connections,
                    "llm_conns": llm.connections if llm else 0, "samples": _samples(r.stdout),
                    "cycles": [int(x) for x in re.findall(r"^CYCLE (\d+)$", r.stdout, re.M)]}
        finally:
            if llm:
                llm.stop()


def min_heap(runner, scn, n_bisect, n_full, lo=24, hi=512, cap=4096):
    """(KB, figures at that heap with n_full messages), or (None, None) past `cap` KB."""
    while not runner(scn, hi, n_bisect):
        lo, hi = hi, hi * 2
        if hi > cap:
            return None, None
    while hi - lo > 2:
        mid = (lo + hi) // 2 // 2 * 2
        if runner(scn, mid, n_bisect):
            hi = mid
        else:
            lo = mid
    for kb in range(hi, hi + 64, 2):  # confirm with the full count
        res = runner(scn, kb, n_full)
        if res:
            return kb, res
    return None, None


def on_board_kb(kb, tls_part):
    """A smallest heap of kb KB on this (64-bit) port stated for a 32-bit board: the TLS part
    (bytes, the same on both) plus 0.70x the rest (a 32-bit board's objects, measured)."""
    return (tls_part + (kb * 1024 - tls_part) * 0.70) / 1024


def board_figures(board, scn, n, romfs=None):
    """Scenario `scn` under `board`'s memory profile: the smallest heap on this (64-bit) port,
    and what it means on the board: the TLS part (what the connections hold, the reserve or a
    handshake's peak: the same bytes on both) plus 0.70x the rest (a 32-bit board's objects,
    measured), against board.json's gc_heap."""
    with open(os.path.join(ROOT, "boards", board, "board.json")) as f:
        info = json.load(f)
    kb, r = min_heap(functools.partial(run_ours, board=board, romfs=romfs), scn, min(10 if scn == "burst" else 40, n), n)
    fig = {"min_heap_kb": kb, "gc_heap_kb": info["gc_heap"] // 1024}
    if not r:
        return fig
    tls = info.get("tls") or {}
    held, handshake = tls.get("held", 0), tls.get("handshake", 0)
    n_open = 1 if scn == "burst" or r["tls_single"] else 2  # connections open at once
    # TLS's bytes at their most: the connections and, beside them, the reserve of one
    # connection's blocks (held while connections stay side by side, or while the only one is
    # open in echo mode), or during a handshake the others and its peak (net/tlsheap.py)
    reserve = held if info.get("tls_in_gc_heap") and not r["tls_single"] else 0
    part = max(n_open * held + reserve, (n_open - 1) * held + handshake)
    board_kb = on_board_kb(kb, part)
    fig.update(one_connection_at_a_time=r["tls_single"], tls_kb=round(part / 1024, 1),
               board_need_kb=round(board_kb, 1), board_spare_kb=round(info["gc_heap"] / 1024 - board_kb, 1),
               handshakes_per_100=(r["tg_conns"] + r["llm_conns"]) * 100.0 / n, qstrs=r.get("qstrs"),
               start_up=r["baseline"])
    if info.get("gc_heap_boot"):  # an ESP32: the GC heap outside TLS, against what it starts with
        fig["gc_heap_without_tls_board_kb"] = round((kb * 1024 - part) * 0.70 / 1024, 1)
        fig["gc_heap_boot_kb"] = info["gc_heap_boot"] // 1024
    return fig


def romfs_image(out):
    """A ROMFS image of build/mpy's .mpy files (mpremote romfs build, no compiling of its own):
    (its path relative to ROOT, as the driver gets it; its size)."""
    stage = tempfile.mkdtemp(prefix="bench-romfs-")
    try:
        mpy = unixport.build()
        for d, _dirs, files in os.walk(mpy):
            for f in files:
                if f.endswith(".mpy"):  # not the build's stamps
                    dst = os.path.join(stage, os.path.relpath(os.path.join(d, f), mpy))
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy(os.path.join(d, f), dst)
        subprocess.run([unixport.mpybuild._tool("mpremote"), "romfs", "--no-mpy", "-o", out,
                        "build", stage], check=True, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    # a short relative path: the port interns its argv (and the image's path is one more name)
    return os.path.relpath(out, ROOT), os.path.getsize(out)


# --------------------------------------------------------------------------- other figures
def import_cost(modules, path):
    code = ("import gc\ngc.collect()\na=gc.mem_alloc()\n" + "".join("import %s\n" % m for m in modules)
            + "gc.collect()\nprint(a, gc.mem_alloc())")
    r = unixport.run(["-c", code], heap="1m", path=path)
    a, b = map(int, r.stdout.split())
    return b - a


ECHO_MODULES = ["picoclaw.gateway.loop", "picoclaw.telegram.api", "picoclaw.net.http", "picoclaw.json.stream",
                "picoclaw.net.stream", "picoclaw.state", "picoclaw.log", "picoclaw.json.write"]
# what stays loaded between turns in agent mode; the model side (llm, the provider module,
# sse), the tool registry and tools, tgformat and schedule come and go within a turn
AGENT_MODULES = ECHO_MODULES + ["picoclaw.agent.loop", "picoclaw.agent.session", "picoclaw.clock"]


def getupdates_body(n):
    with open(os.path.join(ROOT, "host_tests", "data", "getupdates.json"), encoding="utf-8") as f:
        src = json.load(f)["result"]
    res = []
    for i in range(n):
        u = json.loads(json.dumps(src[i % len(src)]))
        u["update_id"] = 600000 + i
        res.append(u)
    return json.dumps({"ok": True, "result": res}, separators=(",", ":")).encode("ascii")


def parser_figures(tmp):
    paths = []
    for n in (1, 10, 100):
        p = os.path.join(tmp, "getupdates-%d.json" % n)
        with open(p, "wb") as f:
            f.write(getupdates_body(n))
        paths.append(p)
    r = unixport.run([os.path.join(MP, "parse_bench.py")] + paths, heap="4m", timeout=300,
                     path=unixport.build() + ":.frozen")
    if r.returncode:
        raise SystemExit("parse_bench failed:\n" + r.stdout + r.stderr)
    out = {}
    for path, size, name, us, alloc, peak in re.findall(r"^PARSE (\S+) (\d+) (\w+) (\d+) (\d+) (\d+)$",
                                                        r.stdout, re.M):
        n = int(path.rsplit("-", 1)[1].split(".")[0])
        out.setdefault(n, {"bytes": int(size)})[name] = {"us": int(us), "alloc": int(alloc), "peak": int(peak)}
    for n, d in out.items():
        for name in ("skip", "pick"):
            d[name]["speed_vs_loads"] = round(d["loads"]["us"] / max(1, d[name]["us"]), 2)
            d[name]["alloc_vs_loads"] = round(d[name]["alloc"] / max(1, d["loads"]["alloc"]), 3)
            d[name]["peak_vs_loads"] = round(d[name]["peak"] / max(1, d["loads"]["peak"]), 3)
    return out


def paced(scn, n, heap_kb):
    """One message at a time against our gateway: overhead per message (ms) and boot to first
    poll (ms). See the module docstring for the method."""
    llm = _llm_for(scn)
    with TimedTelegram() as tg:
        if llm:
            llm.start()
        proc = None
        cfg = None
        try:
            alice = tg.user(ALICE, "Alice", "alice")
            cfg = gatewayrun.write_config(tg, llm=llm, agent=AGENT if llm else None,
                                          poll_limit=10, poll_timeout=5)
            cmd = [unixport.micropython(), "-X", "heapsize=%dk" % heap_kb, "-m", "picoclaw", "gateway",
                   "--config", cfg]
            env = unixport.env(unixport.build() + ":.frozen")
            t_start = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 30
            while tg.first_poll is None and time.monotonic() < deadline:
                time.sleep(0.001)
            boot = (tg.first_poll - t_start) * 1000 if tg.first_poll else None
            over = []
            own = []
            for i in range(n):
                if llm:
                    _script(llm, scn, i)
                want = "answer %d" % i if llm else "m%d" % i
                with tg._cond:  # the poll cannot wake before the stamp is taken
                    tg.send_text(alice, "m%d" % i)
                    t0 = time.monotonic()
                    seen = len(tg.stamps)
                with tg._cond:
                    ok = tg._cond.wait_for(lambda: any(s[2] == want for s in tg.stamps[seen:]), 30)
                if not ok:
                    raise SystemExit("paced %s: no reply to message %d" % (scn, i))
                t1 = [s[0] for s in tg.stamps[seen:] if s[2] == want][-1]
                spent = sum(min(b, t1) - max(a, t0) for a, b in (llm.spans if llm else []) if b > t0 and a < t1)
                over.append((t1 - t0 - spent) * 1000)
                # the fake Telegram's own handling too (CPython: building and checking each
                # answer against the spec), what is left is the gateway's and agent's work
                tg_spent = sum(min(b, t1) - max(a, t0) for a, b in list(tg.spans) if b > t0 and a < t1)
                own.append((t1 - t0 - spent - tg_spent) * 1000)
            return boot, over, own
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
            if llm:
                llm.stop()
            if cfg:
                shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)


def baseline_boot():
    with TimedTelegram() as tg:
        cfg = _baseline_config(tg, None, 1)
        t = time.monotonic()
        subprocess.run([unixport.micropython(), "-X", "heapsize=256k", os.path.join(MP, "baseline_bot.py"), cfg],
                       cwd=ROOT, env=unixport.env(".frozen"), capture_output=True, timeout=60)
        shutil.rmtree(os.path.dirname(cfg), ignore_errors=True)
        return (tg.first_poll - t) * 1000 if tg.first_poll else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(math.ceil(p / 100.0 * len(xs))) - 1)]


# --------------------------------------------------------------------------- output
def markdown(res):
    L = ["| figure | PicoClaw | baseline (requests + json.loads) | ratio | target |", "|---|---|---|---|---|"]

    def row(what, ours, base, ratio="", target=""):
        L.append("| %s | %s | %s | %s | %s |" % (what, ours, base, ratio, target))

    kb = lambda b: "%.1f KB" % (b / 1024.0)  # noqa: E731
    imp = res.get("import")
    if imp:
        row("import baseline (.mpy): echo / agent modules", "%s / %s" % (kb(imp["echo"]), kb(imp["agent"])),
            kb(imp["baseline"]) + " (requests, json)")
    for scn in SCENARIOS:
        s = res.get("scenarios", {}).get(scn)
        if not s:
            continue
        o, b = s.get("ours"), s.get("base")
        fmt = lambda x: ("%dk" % x["min_heap_kb"]) if x and x.get("min_heap_kb") else "did not complete"  # noqa: E731
        ratio = "%.1fx" % (b["min_heap_kb"] / o["min_heap_kb"]) if o and b and b.get("min_heap_kb") and o.get(
            "min_heap_kb") else ""
        row("min heap: %s (n=%d)" % (TITLES[scn], s["n"]), fmt(o), fmt(b), ratio,
            "96k" if scn == "tools" else "")
        wk = lambda x: kb(x["working"]) if x and x.get("working") is not None else "-"  # noqa: E731
        wr = "%.1fx" % (b["working"] / float(o["working"])) if o and b and o.get("working") and b.get(
            "working") else ""
        row("&nbsp;&nbsp;working heap: live peak above the heap after start-up (sampled at every "
            "connect, send, receive and file open)", kb(o["peak_live"]) if o and o.get("peak_live") else "-",
            "", "", "<= 24 KB" if scn == "tools" else "")
        row("&nbsp;&nbsp;min heap - heap after start-up (the live peak plus fragmentation)", wk(o), wk(b), wr)
        if o and o.get("qstrs"):
            row("&nbsp;&nbsp;interned names at the end (the pool grows by a block at 300 and 620)",
                str(o["qstrs"]), "", "", "")
        hs = lambda x: "%d (%.0f per 100)" % (x["connections"], x["handshakes_per_100"]) if x and x.get(  # noqa
            "connections") is not None else "-"
        row("&nbsp;&nbsp;TLS handshakes for the n messages", hs(o), hs(b), "", "<= 2 per 100 (baseline > 200)")
    p = res.get("parser")
    if p:
        for n in sorted(p):
            d = p[n]
            row("parser, getUpdates of %d update(s) (%d bytes): time per parse" % (n, d["bytes"]),
                "skip %d us, pick %d us" % (d["skip"]["us"], d["pick"]["us"]), "json.loads %d us" % d["loads"]["us"],
                "speed x%.2f / x%.2f" % (d["skip"]["speed_vs_loads"], d["pick"]["speed_vs_loads"]),
                ">= x0.5" if n == 100 else "")
            row("&nbsp;&nbsp;peak live heap during a parse", "skip %d, pick %d" % (d["skip"]["peak"], d["pick"]["peak"]),
                "%d (the tree)" % d["loads"]["peak"],
                "%.3f / %.3f" % (d["skip"]["peak_vs_loads"], d["pick"]["peak_vs_loads"]),
                "<= 0.1" if n == 100 else "")
            row("&nbsp;&nbsp;bytes allocated per parse (GC off: every allocation)",
                "skip %d, pick %d" % (d["skip"]["alloc"], d["pick"]["alloc"]), "%d" % d["loads"]["alloc"],
                "%.3f / %.3f" % (d["skip"]["alloc_vs_loads"], d["pick"]["alloc_vs_loads"]), "")
    for key, label in (("overhead_echo", "echo"), ("overhead_tools", "2 tool calls, LLM time removed")):
        ov = res.get(key)
        if ov:
            own = (" (without the fake Telegram's own handling: median %.1f ms)" % ov["own_median_ms"]
                   if ov.get("own_median_ms") is not None else "")
            row("gateway overhead per message, %s (n=%d)" % (label, ov["n"]),
                "median %.1f ms, p95 %.1f ms%s" % (ov["median_ms"], ov["p95_ms"], own), "", "", "median < 5 ms")
    bt = res.get("boot")
    if bt:
        row("boot to first poll (process start to getUpdates)", "%.0f ms" % bt["ours_ms"],
            "%.0f ms" % bt["base_ms"] if bt.get("base_ms") else "-")
    for key in ("soak", "soak_base"):
        sk = res.get(key)
        if sk:
            row("soak: %d echo messages at %dk, heap after collection, after the first poll cycle -> end"
                % (sk["n"], sk["heap_kb"]),
                "%d -> %d (%+d)" % (sk["start"], sk["end"], sk["end"] - sk["start"]) if key == "soak" else "",
                "%d -> %d (%+d)" % (sk["start"], sk["end"], sk["end"] - sk["start"]) if key == "soak_base" else "",
                "", "within 512 bytes" if key == "soak" else "")
    return "\n".join(L) + "\n"


def picture(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib not installed: no %s" % path)
        return False
    panels = [("soak", "soak_base", "Soak (echo)"), ("curve_tools", "curve_tools_base",
                                                     "100 messages, 2 tool calls each")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, (ko, kb, title) in zip(axes, panels):
        for key, label, color in ((ko, "PicoClaw", "tab:blue"), (kb, "baseline (requests + json.loads)", "tab:red")):
            d = res.get(key) or {}
            s = d.get("samples") or []
            if s:
                ax.plot([t / 1000.0 for t, _ in s], [b / 1024.0 for _, b in s], color=color, lw=1,
                        label="%s, %d msgs" % (label, d.get("n", 0)))
        ax.set_title(title)
        ax.set_xlabel("seconds")
        ax.set_ylabel("live heap after gc.collect() (KB)")
        ax.set_ylim(bottom=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)  # the lines run along the top and middle
    fig.suptitle("Heap over time, MicroPython unix port (64-bit), sampled before every HTTP request")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages: a few minutes in all")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--only", default="", help="comma-separated parts: import,scenarios,parser,overhead,boot,"
                                              "soak,picture (default: all)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--romfs", action="store_true", help="scenarios: our code from a ROMFS image (executes in "
                                                         "place, as from a board's flash), the image left out")
    ap.add_argument("--board", default="", help="scenarios under these boards' memory profiles (folders of "
                                                "boards/, comma-separated; 'all': every one): TLS standing in the "
                                                "heap as on the board, and the figure stated for the board")
    a = ap.parse_args(argv)
    parts = set((a.only or "import,scenarios,parser,overhead,boot,soak,picture").split(","))
    q = a.quick
    n_msgs = 30 if q else 100
    n_session = 40 if q else 200
    n_bisect = 10
    n_soak = 1000 if q else 10000
    n_soak_base = 100 if q else 500
    os.makedirs(a.out, exist_ok=True)
    unixport.build()
    res = {"quick": q, "runtime": "MicroPython unix port (64-bit), modules from .mpy", "scenarios": {}}
    romfs = None
    if a.romfs:
        romfs = romfs_image(os.path.join(a.out, "romfs.img"))
        res["runtime"] = "MicroPython unix port (64-bit), modules from a ROMFS image of %d bytes (left out)" % romfs[1]
    t_all = time.time()

    def say(msg):
        print("[%5.0fs] %s" % (time.time() - t_all, msg), flush=True)

    if "import" in parts:
        path = unixport.build() + ":.frozen"
        res["import"] = {"echo": import_cost(ECHO_MODULES, path), "agent": import_cost(AGENT_MODULES, path),
                         "baseline": import_cost(["json", "requests"], ".frozen")}
        say("import baseline: %r" % res["import"])
    if "scenarios" in parts:
        for scn in a.scenarios.split(","):
            n = n_session if scn == "session" else n_msgs
            nb = 40 if _agentic(scn) else n_bisect  # one chat: its history fills its budget within ~30 turns
            entry = {"n": n}
            for who, runner in (("ours", run_ours), ("base", run_base)):
                if who == "base" and a.no_baseline:
                    continue
                if who == "ours" and romfs:
                    runner = functools.partial(run_ours, romfs=romfs)
                if who == "ours" and a.board:
                    continue  # the board profiles below
                kb, r = min_heap(runner, scn, min(nb, n), n)
                fig = {"min_heap_kb": kb}
                if r:
                    fig.update(baseline=r["baseline"], end=r["end"], working=kb * 1024 - r["baseline"],
                               qstrs=r.get("qstrs"),
                               connections=r["tg_conns"] + r["llm_conns"],
                               handshakes_per_100=(r["tg_conns"] + r["llm_conns"]) * 100.0 / n)
                if who == "ours" and r and not romfs:  # the working heap: the live peak, sampled
                    d = run_ours(scn, kb + 64, n, driver=True)
                    if d and d.get("peak"):
                        fig["peak_live"] = d["peak"] - d["baseline"]
                entry[who] = fig
                say("%s %s: %r" % (scn, who, fig))
            res["scenarios"][scn] = entry
    if "scenarios" in parts and a.board:
        names = sorted(os.listdir(os.path.join(ROOT, "boards"))) if a.board == "all" else a.board.split(",")
        res["boards"] = {}
        for board in names:
            for scn in a.scenarios.split(","):
                if scn not in ("burst", "tools"):
                    continue
                fig = board_figures(board, scn, n_msgs, romfs)
                res["boards"].setdefault(board, {})[scn] = fig
                say("%s %s: %r" % (board, scn, fig))
    if "parser" in parts:
        tmp = tempfile.mkdtemp(prefix="bench-parse-")
        try:
            res["parser"] = parser_figures(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        say("parser: %r" % res["parser"])
    if "overhead" in parts or "boot" in parts:
        n = 50 if q else 200
        boot, over, own = paced("burst", n, 256)
        res["overhead_echo"] = {"n": n, "median_ms": statistics.median(over), "p95_ms": pct(over, 95),
                                "own_median_ms": statistics.median(own)}
        boot2, over2, own2 = paced("tools", n // 2, 512)
        res["overhead_tools"] = {"n": n // 2, "median_ms": statistics.median(over2), "p95_ms": pct(over2, 95),
                                 "own_median_ms": statistics.median(own2)}
        res["boot"] = {"ours_ms": boot, "ours_agent_ms": boot2, "base_ms": None if a.no_baseline else baseline_boot()}
        say("overhead: %r %r boot %r" % (res["overhead_echo"], res["overhead_tools"], res["boot"]))
    if "soak" in parts:
        echo = res["scenarios"].get("burst", {}).get("ours", {}).get("min_heap_kb")
        heap = max(64, (echo or 56) + 8)
        r = run_ours("burst", heap, n_soak, driver=True, timeout=3600)
        res["soak"] = {"n": n_soak, "heap_kb": heap, "completed": bool(r)}
        if r:  # start: after the first poll cycle, once the connection is open (heap_driver.py)
            res["soak"].update(start=r["cycles"][0], end=r["cycles"][-1], start_before_connect=r["baseline"],
                               end_after_serve=r["end"], samples=r["samples"])
        say("soak ours: %r" % {k: v for k, v in res["soak"].items() if k != "samples"})
        if not a.no_baseline:
            r = run_base("burst", 1024, n_soak_base, sample=True, timeout=3600)
            res["soak_base"] = {"n": n_soak_base, "heap_kb": 1024, "completed": bool(r)}
            if r:
                res["soak_base"].update(start=r["baseline"], end=r["end"], samples=r["samples"])
            say("soak baseline: %r" % {k: v for k, v in res["soak_base"].items() if k != "samples"})
    if "picture" in parts:
        n = n_msgs
        r = run_ours("tools", 1024, n, driver=True)
        res["curve_tools"] = {"n": n, "samples": r["samples"] if r else []}
        if not a.no_baseline:
            r = run_base("tools", 2048, n, sample=True)
            res["curve_tools_base"] = {"n": n, "samples": r["samples"] if r else []}
        picture(res, os.path.join(a.out, "heap.png"))
    res["seconds"] = round(time.time() - t_all, 1)
    md = markdown(res)
    with open(os.path.join(a.out, "bench.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(md)
    print("written: %s/bench.json, bench.md%s (%.0f s)" % (a.out, ", heap.png" if "picture" in parts else "",
                                                           res["seconds"]))
    return res


if __name__ == "__main__":
    main()
