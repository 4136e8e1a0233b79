# The assistant: each authorized message becomes a model conversation with tools.
#
# One turn: the user's text is appended to the chat's session file; then up to
# max_tool_iterations model calls, each request streamed from flash (system prompt from the
# workspace files, the session's recent lines) and each answer streamed to flash (llm.Turn);
# tool calls run one at a time (tools/ loads each tool's module only while it runs) and
# their results are appended to the session too, so a follow-up question sees them. The
# final text is converted and split for Telegram (tgformat) and sent, editing the
# "Thinking..." placeholder when there is one. Heartbeat and cron jobs run turns too.
#
# Only this module, session.py and clock.py stay loaded between turns. Each step of a turn
# loads what it needs and drops it after (_drop): the model side (_MODEL_SIDE) for a model
# call, the tool registry and one tool module for a tool call, tgformat for the answer,
# schedule.py for the cron tool or a due job (_Cron). The steps never overlap, so the heap
# holds one group at a time (README: "The agent's heap").
import os
import time

from micropython import const

from . import log
from .clock import iso, now
from .jsonstream import JsonError, JsonReader, StreamSource
from .session import LineSource, Session
from .state import write_atomic
from .telegram import APIError

_FILE_CAPS = ("AGENTS.md 2048 SOUL.md 1024 USER.md 1024 IDENTITY.md 1024 memory/MEMORY.md 4096")
_RESULT_CAP = const(4096)  # bytes of one tool result the model reads (bigger ones are cut, said so)
_EDIT_MS = const(2000)  # streaming: at most one placeholder edit per 2 s (Telegram's edit limits)


def attach(gw, cfg, tg, conn):
    """Make the gateway answer with an Agent (conn: the connection to the model)."""
    try:
        import machine  # a board: gpio tools work on the pins board.json allows
    except ImportError:
        machine = None
    # cfg.pins and the schema file (a.schemas): providers.resolve, run first at start
    a = Agent(cfg, tg, conn, pins=cfg.pins, machine=machine, cron=_Cron(cfg.workspace))
    gw.answer = a.answer
    gw.tick = a.tick
    gw.agent = a  # main.py sets a.alive (the watchdog) through it
    for i in gw.allow_ids:  # heartbeats go to the first user id (config or paired owner)
        if i > 0:
            a.owner = i
            break
    return a


class _Cron:
    """The job store (schedule.py, ~9 KB of heap as code) loaded only while it is used: by
    the cron tool, and by the timers when a job is due. In between, only the earliest next
    fire time is kept, so most poll cycles cost a comparison (and the first one a stat())."""

    def __init__(self, workspace):
        self.ws = workspace
        self.s = None
        self.next = -1  # earliest next fire (epoch s); None: no jobs; -1: not read yet

    def tick(self, t, fire):
        """Fire the jobs due at `t` (fire(job), with the store unloaded again); returns the
        next fire time, or None without jobs."""
        if self.next == -1:
            try:
                os.stat(self.ws + "/cron/jobs")
            except OSError:
                self.next = None
        if self.next is None or self.next != -1 and t < self.next:
            return self.next
        jobs = self.store().due(t)  # (the first time: the file is read, due or not)
        self.release()
        for job in jobs:
            fire(job)
        return self.next

    def store(self):
        if self.s is None:
            from .schedule import Schedule

            self.s = Schedule(self.ws)
        return self.s

    def release(self):
        """Note the next fire time and unload the store (after the cron tool, the timers)."""
        if self.s is not None:
            self.next = self.s.next_due()
            self.s = None
            _drop(("schedule",))

    def __getattr__(self, name):  # the cron tool: load the store, then act on it
        return getattr(self.store(), name)


def _render(path, out, html):
    # tgformat (~8 KB of heap as code) is loaded only while it converts an answer: the
    # pieces are in a file by the time they are sent
    import gc
    gc.collect()
    from . import tgformat

    try:
        return tgformat.render(path, out, html=html)
    finally:
        _drop(("tgformat",))


# The model side: loaded for each model call and dropped after it, so the tools and the
# formatter, loaded in their turn, find its ~12 KB of heap free
_MODEL_SIDE = ("llm", "llm_openai", "llm_anthropic", "sse")


def _drop(names):
    """Unload picoclaw modules (their code leaves the heap once nothing refers to it)."""
    import sys

    pkg = sys.modules["picoclaw"].__dict__
    for n in names:
        sys.modules.pop("picoclaw." + n, None)
        pkg.pop(n, None)
    import gc

    gc.collect()  # now, not at the next failed allocation: 2 KB less min heap, measured


class Ctx:
    """What tools see (tools/__init__.py documents each attribute)."""

    def __init__(self, agent, pins, machine, cron):
        self.workspace = agent.ws
        self.chat_id = 0
        self.pins = pins
        self.machine = machine
        self.cron = cron
        self.read_cap = 4096
        self._agent = agent
        self.now = now

    def send(self, text):
        self._agent.tg.send_message(self.chat_id, text)

    def status(self):
        # the unix port's facts; on a board main.py's board.status (Wi-Fi, NTP uptime) replaces it
        import gc

        gc.collect()
        return {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(),
                "uptime_s": time.ticks_ms() // 1000}


class Agent:
    def __init__(self, cfg, tg, conn, pins=None, machine=None, cron=None):
        self.tg = tg
        self.conn = conn  # httpclient.Connection to the provider's api_base
        self.ws = cfg.workspace
        self.state_dir = cfg.workspace + "/state"
        self.schemas = self.state_dir + "/tools"  # the tool schemas requests carry (attach)
        self.kind = cfg.provider_kind  # "openai" or "anthropic": llm.provider_module
        self.api_key = cfg.api_key
        self.model = cfg.model
        self.max_tokens = cfg.max_tokens
        self.temperature = cfg.temperature
        self.max_iter = max(1, cfg.max_tool_iterations)
        self.stream = cfg.stream
        self.placeholder = cfg.placeholder
        self.html = True  # answers as Telegram HTML first (the console prints plain text)
        self.typing = cfg.typing
        self.budget = cfg.history_bytes
        self.owner = 0  # chat for heartbeats: attach() sets it
        self.heartbeat_s = cfg.heartbeat_interval * 60 if cfg.heartbeat_enabled else 0
        self._next_beat = now()  # the first beat right after start, then every interval
        self.small = bytearray(128)  # parser values: ids, names, short fields
        self.buf = bytearray(128)  # escape buffer for session writes
        self.linebuf = bytearray(256)  # reading session lines and workspace files
        self.ctx = Ctx(self, pins or {}, machine, cron)
        st = getattr(cfg, "status", None)  # a board's (main.py): Wi-Fi too
        if st is not None:
            self.ctx.status = st
        self.sleep_ms = time.sleep_ms
        self.alive = None  # called before each model call and tool run (a board's watchdog)
        self.session = None
        self.extra = None  # a final user message for the request (summaries)
        self._hist = (0, -1)  # session byte range the request carries
        self.calls = 0  # model calls since start (the benchmarks count them)
        self.limit = (cfg.max_calls_per_hour, cfg.max_calls_per_day)
        self._ph = 0
        self._edited = 0
        self._edit_len = 0

    # -- the gateway's hook -------------------------------------------------------------
    def answer(self, gw, u, f):
        """Answer message `u` whose text is in the inbox file f."""
        import gc

        gc.collect()  # the poll's garbage gone before the turn's first allocations (2 KB, measured)
        f.seek(u.text_offset)
        head = f.read(min(u.text_len, 6))
        s = Session(self.ws, u.chat_id, self.budget)
        if head.startswith(b"/clear") or head.startswith(b"/new"):
            s.clear()
            self.tg.send_message(u.chat_id, "Started a new conversation.", u.message_id)
            return
        f.seek(u.text_offset)
        s.append_user(f, u.text_len, self.buf)
        self.turn(s, u.chat_id, u.message_id)

    def turn(self, s, chat_id, reply_to=0, silent=None):
        """Model calls and tool runs for the user line just appended to session s; sends
        the answer (unless it starts with `silent`, bytes, or, for such a silent turn, the
        model could not be reached). Returns the reply path."""
        self.session = s
        self.ctx.chat_id = chat_id
        self._ph = 0
        if self.typing and not silent:
            try:
                self.tg.send_action(chat_id)
            except APIError as e:
                log.debug("typing: %s" % e)
        if self.placeholder and not silent:
            self._ph = self.tg.send_message(chat_id, "Thinking\u2026", reply_to)
            self._edited = time.ticks_ms()
            self._edit_len = 0
        reply = None
        for _ in range(self.max_iter):
            reply = self._model(s)
            if reply is None:
                break  # failed: the apology is the reply
            if not self._last_calls:
                break
            for cid, name, path in self._last_calls:
                self._run_tool(s, cid, name, path)
        else:
            self._say("I stopped after %d tool steps without a final answer. Ask me to continue "
                      "if you want me to go on." % self.max_iter)
            s.append_assistant(self.state_dir + "/reply", (), self.buf)
        path = self.state_dir + "/reply"
        if silent and (reply is None or _starts(path, silent)):
            # a heartbeat that could not reach the model (a call limit, a provider outage)
            # stays silent too: the log has it, and the owner is not told so every interval
            if self._ph:
                self._delete_placeholder(chat_id)
            s.end_turn()
            return path
        self._deliver(chat_id, path, reply_to)
        s.end_turn()
        self._maybe_compact(s)
        return path

    # -- one model call -----------------------------------------------------------------
    def _model(self, s, tools=True):
        try:
            return self._model_call(s, tools)
        finally:
            _drop(_MODEL_SIDE)

    def _model_call(self, s, tools):
        import gc
        gc.collect()
        from . import llm

        proto = llm.provider_module(self.kind)
        if self.stream:
            from . import sse  # noqa: F401 - its parser loads it mid-answer otherwise
        if self.alive:
            self.alive()
        w = count_call(self.state_dir, now(), self.limit)
        if w:  # a limit is reached: a polite answer instead of a model call
            unit = "day" if w > 3600 else "hour"
            log.warn("model call limit per %s reached: no call" % unit)
            self._say("Sorry, I have reached my limit of %d model calls per %s (agents.defaults."
                      "max_calls_per_%s), so I cannot answer now. Please try again in %d minutes."
                      % (self.limit[w // 86400], unit, unit, (w - now() % w) // 60 + 1))
            s.append_assistant(self.state_dir + "/reply", (), self.buf)
            return None
        self._hist = (s.history_start(), -1)
        t = llm.Turn(self.state_dir, self._progress if self.stream and self._ph else None)
        self._last_calls = ()
        try:
            self.calls += 1
            llm.call(self.conn, proto, self, t, self.stream, self.schemas if tools else None)
        except llm.LLMError as e:
            t.close()
            log.error("model call failed: %s" % e)
            self._say("Sorry, I could not reach the model (%s). Try again in a moment." % e.message)
            s.append_assistant(self.state_dir + "/reply", (), self.buf)
            return None
        calls = []
        for cid, name, path in t.calls:
            if not _valid_object(path):
                with open(path, "wb") as f:
                    f.write(b"{}")
                name = "invalid_arguments:" + name
            calls.append((cid, name, path))
        if t.text_cut:
            with open(t.reply_path, "ab") as f:
                f.write(b"\n[answer cut: too long]")
        s.append_assistant(t.reply_path, calls, self.buf)
        self._last_calls = calls
        return t.reply_path

    def _run_tool(self, s, cid, name, args_path):
        import gc
        gc.collect()
        from . import tools

        if self.alive:
            self.alive()

        out_path = self.state_dir + "/result"
        out = tools.Result(out_path, _RESULT_CAP)
        try:
            if name.startswith("invalid_arguments:"):
                out.write("error: the arguments of %s were not a JSON object" % name[18:])
            else:
                with open(args_path, "rb") as f:
                    p = JsonReader(StreamSource(f, bytearray(128)), bytearray(128))
                    tools.run(name, p, self.ctx, out)
        finally:
            out.close()
        _drop(("tools",))  # the registry too: loaded again for the next tool call
        if self.ctx.cron is not None:
            self.ctx.cron.release()  # the cron tool may have loaded the job store
        log.info("tool %s: %d bytes of result" % (name, out.n))
        s.append_tool(cid, out_path, self.buf)

    def _say(self, text):
        with open(self.state_dir + "/reply", "wb") as f:
            f.write(text.encode())

    # -- what the provider modules read while writing the request ------------------------
    def history(self):
        """JsonReader at each session line of the request's range, in order."""
        start, end = self._hist
        try:
            f = open(self.session.path, "rb")
        except OSError:
            return
        with f:
            f.seek(start)
            src = LineSource(f, self.linebuf, end - start if end >= 0 else -1)
            p = JsonReader(src, self.small)
            more = src.at_line()
            while more:
                p.reset(src)
                yield p
                more = src.next_line()

    def write_system(self, w):
        """The system prompt, as JSON string content: who we are, the time, the
        workspace files (each capped), and the summary of older turns."""
        # bytes, not str: a constant the escaper reads in place (a str would be encoded,
        # a 300-byte copy for each of the two passes over the request)
        w.json_part(b"You are PicoClaw, a personal assistant living on a microcontroller "
                    b"(MicroPython), talking with your owner on Telegram. Be brief. You can "
                    b"use Markdown. Your workspace holds files you can read and write with "
                    b"your tools; keep long-term notes in memory/MEMORY.md (read it when the "
                    b"past matters, add durable facts). ")
        w.json_part("Time now: %s UTC. Chat id: %d." % (iso(now()), self.ctx.chat_id))
        caps = _FILE_CAPS.split()
        for i in range(0, len(caps), 2):
            path = "%s/%s" % (self.ws, caps[i])
            try:
                f = open(path, "rb")
            except OSError:
                continue
            with f:
                w.json_part("\n\n## %s\n" % caps[i])
                _stream_capped(f, w, int(caps[i + 1]), self.linebuf)
        if self.session is not None and self.session.summary_end():
            with open(self.session.path, "rb") as f:
                p = JsonReader(LineSource(f, self.linebuf), self.small)
                p.expect(1)
                p.next_key()
                w.json_part("\n\n## Earlier in this conversation (summary)\n")
                p.copy_str(w.json_part, 8192)

    # -- delivering -------------------------------------------------------------------
    def _deliver(self, chat_id, path, reply_to):
        out = self.state_dir + "/out"
        for html in (True, False):
            if html and not self.html:
                continue
            pieces = _render(path, out, html)
            if not pieces:
                with open(out, "wb") as f:
                    f.write(b"(no answer)")
                pieces = [(0, 11)]
            try:
                with open(out, "rb") as f:
                    for i in range(len(pieces)):
                        off, n = pieces[i]
                        f.seek(off)
                        edit = self._ph if i == 0 else 0
                        try:
                            # units_cap=0: tgformat already cut each piece to Telegram's
                            # 4096 visible units; a cap here would count markup and could
                            # cut inside a tag
                            self.tg.send_message(chat_id, None, 0 if edit else reply_to, text_file=f,
                                                 text_len=n, units_cap=0, html=html, edit=edit)
                        except APIError as e:
                            if not (edit and "not modified" in e.description):
                                raise
                return
            except APIError as e:
                if not html or e.code != 400:
                    raise
                log.warn("Telegram refused the HTML (%s): sending plain text" % e.description)

    def _progress(self, turn):
        # streaming: edit the placeholder with the text so far, throttled
        t = time.ticks_ms()
        if time.ticks_diff(t, self._edited) < _EDIT_MS or turn.text_len - self._edit_len < 16:
            return
        self._edited = t
        self._edit_len = turn.text_len
        try:
            with open(turn.reply_path, "rb") as f:
                self.tg.send_message(self.ctx.chat_id, None, text_file=f, text_len=turn.text_len,
                                     edit=self._ph)
        except (APIError, OSError) as e:
            log.debug("progress edit: %s" % e)

    def _delete_placeholder(self, chat_id):
        try:
            self.tg.send_message(chat_id, "\u2705", edit=self._ph)
        except APIError:
            pass

    # -- history upkeep -----------------------------------------------------------------
    def _maybe_compact(self, s):
        """When the session file passes twice its budget, the model summarises the turns
        that no longer fit and they are replaced by that summary."""
        try:
            self._compact(s)
        finally:
            _drop(_MODEL_SIDE)

    def _compact(self, s):
        from . import llm

        if s.size() <= 2 * self.budget:
            return
        s.turn_start = -1
        keep = s.history_start()
        first = s.summary_end()
        if keep <= first or count_call(self.state_dir, now(), self.limit):
            return  # nothing to summarise, or no model calls left (history kept till later)
        self._hist = (first, keep)
        self.extra = ("Summarise the conversation above in a few short paragraphs for your own "
                      "memory: facts about the owner, decisions, open tasks. Plain text.")
        t = llm.Turn(self.state_dir)
        try:
            llm.call(self.conn, llm.provider_module(self.kind), self, t, False, None)
            s.compact(keep, t.reply_path, self.buf)
            log.info("session %s compacted" % s.path)
        except llm.LLMError as e:
            log.warn("summary failed (%s): history kept" % e)
        finally:
            t.close()
            self.extra = None
            self._hist = (0, -1)

    # -- timers (the gateway calls this every cycle) --------------------------------------
    def tick(self):
        """Run due heartbeat and cron jobs; returns seconds until the next one (or None)."""
        t = now()
        due = None
        if self.heartbeat_s and self.owner:
            if t >= self._next_beat:
                self._next_beat = t + self.heartbeat_s
                self._heartbeat()
            due = self._next_beat - t
        cron = self.ctx.cron
        if cron is not None:
            nxt = cron.tick(t, self._fire)
            if nxt is not None:
                due = max(0, nxt - t) if due is None else min(due, max(0, nxt - t))
        return due

    def _heartbeat(self):
        path = self.ws + "/HEARTBEAT.md"
        try:
            if not os.stat(path)[6]:
                return
        except OSError:
            return
        s = Session(self.ws, 0, self.budget)  # its own session: the chat stays clean
        s.clear()
        with open(path, "rb") as f:
            s.append_user(f, 4096, self.buf, "[heartbeat] Read HEARTBEAT.md below and act on it. If "
                          "nothing needs the owner's attention, answer exactly HEARTBEAT_OK.\n\n")
        log.info("heartbeat")
        self.turn(s, self.owner, silent=b"HEARTBEAT_OK")

    def _fire(self, job):
        chat = job.chat_id or self.owner
        if not chat:
            return
        if job.mode == "deliver":
            self.tg.send_message(chat, job.text)
            return
        s = Session(self.ws, chat, self.budget)
        s.append_user_text("[scheduled job %d] %s" % (job.id, job.text), self.buf)
        self.turn(s, chat)


def count_call(state_dir, at, limit):
    """Count one model call at `at` (seconds since 1970) against limit = (calls per hour,
    calls per day; 0 or less: none). Returns 0 when counted, or the window (3600 or
    86400) whose limit is reached, and then counts nothing. The windows are the clock's
    hours and UTC days (a burst may take up to twice a limit across a boundary); the
    count is the file state/model_calls ("hour n day n"), one atomic write per call."""
    path = state_dir + "/model_calls"
    v = [0, 0, 0, 0]
    for p in (path, path + ".tmp"):  # the temp file: see replace()
        try:
            with open(p) as f:
                w = [int(x) for x in f.read().split()]
            if len(w) == 4:
                v = w
                break
        except (OSError, ValueError):
            pass
    if v[0] != at // 3600:
        v[0], v[1] = at // 3600, 0
    if v[2] != at // 86400:
        v[2], v[3] = at // 86400, 0
    if 0 < limit[0] <= v[1]:
        return 3600
    if 0 < limit[1] <= v[3]:
        return 86400
    v[1] += 1
    v[3] += 1
    write_atomic(path, b"%d %d %d %d" % (v[0], v[1], v[2], v[3]))
    return 0


def _starts(path, prefix):
    try:
        with open(path, "rb") as f:
            return f.read(len(prefix)) == prefix
    except OSError:
        return False


def _valid_object(path):
    """Is the file one JSON object? (tool arguments as the model wrote them)"""
    try:
        with open(path, "rb") as f:
            p = JsonReader(StreamSource(f, bytearray(64)), bytearray(32))
            p.expect(1)
            p.skip_value(1)
            p.finish()
        return True
    except (JsonError, OSError):
        return False


def _stream_capped(f, w, cap, buf):
    from .jsonstream import utf8_boundary

    while cap > 0:
        n = f.readinto(buf)
        if not n:
            return
        if n > cap:
            n = utf8_boundary(buf, cap)
            cap = 0
            w.json_part(buf, n)
            w.json_part("\n[cut]")
            return
        cap -= n
        w.json_part(buf, n)
