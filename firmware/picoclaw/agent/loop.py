# The agent's turn loop: a user's message becomes model calls and tool runs, then an answer.
#
# One turn (Agent.turn): the message is appended to the chat's session file; then up to
# max_tool_iterations model calls, each request streamed from flash and each answer
# streamed to flash (llm/); the tool calls of an answer run one at a time (tools/) and
# their results go to the session too; the final text is converted for Telegram
# (telegram/format.py) and sent (deliver.py). Heartbeat and cron jobs run turns too (tick).
# Only this module, session.py and clock.py stay loaded between turns: each step loads what
# it needs and drops it after (docs/architecture.md lists them), so the heap holds one
# step's code at a time.
import time

from micropython import const

from picoclaw import load, log, unload
from picoclaw.clock import now
from picoclaw.agent.session import Session, scrub
from picoclaw.telegram.api import APIError, refused

_MEDIA = const(16)  # the inbox record's flag (telegram/inbox.py): a voice note, audio or image
_TURN_BYTES = const(131072)  # session bytes one turn may add (tool calls carry their arguments,
#                              up to 8 x 16 KB per answer): past it the turn stops, so one task
#                              cannot fill the flash


# The model side: loaded for each model call and dropped after it, so the tools and the
# formatter, loaded in their turn, find its ~12 KB of heap free
_MODEL_SIDE = ("picoclaw.llm.call", "picoclaw.llm.openai", "picoclaw.llm.anthropic", "picoclaw.net.sse",
               "picoclaw.llm.errors", "picoclaw.llm.answer", "picoclaw.agent.request")


class Agent:
    """The assistant. Made by agent/setup.agent() at start: its settings are attributes, so
    the code that sets them leaves the heap with setup.py.

    It is also the tools' context (`ctx` in tools/): what a tool may use of it is
    workspace (the folder the file tools are confined to), workspace_quota_kb, chat_id (the
    turn's chat), read_cap (bytes a read returns), pins and machine (what board.json lets
    the gpio tools touch, and the board's machine module or None), cron and cron_next (the
    job store is offered; the next fire time), web (agent/setup.web: the web tools'
    settings), media (agent/setup.media: media caps and the transcription endpoint), tz,
    state_dir, now() (epoch seconds),
    send(text) (a message to the turn's chat) and status() (or None: heap and uptime)."""

    # -- the gateway's hook -------------------------------------------------------------
    def answer(self, gw, u, f):
        """Answer message `u` whose text is in the inbox file f. Whatever Telegram refuses
        (the user blocked the bot, the chat is gone) or the flash cannot hold closes the
        turn and ends the update here, logged; a network failure is raised with the turn
        open, and the gateway's retry of the same update resumes the turn from the
        session (resume.py) instead of starting it again, so no tool runs twice and an
        answer that exists is not asked for again."""
        import gc

        gc.collect()  # the poll's garbage gone before the turn's first allocations (2 KB, measured)
        s = Session(self.workspace, u.chat_id, self.budget)
        try:
            v = s.note()
            if v and v[1] == u.update_id:  # this update's turn, cut short: take it up again
                try:
                    v = load("picoclaw.agent.resume").resume(self, s, v)
                finally:
                    unload("picoclaw.agent.resume")
                if v:
                    self.turn(s, u.chat_id, u.message_id, resume=v)
                    return
            if u.flags & _MEDIA:
                # a voice note, an audio file, a photo or an image document: fetched from
                # Telegram by agent/media.py, which appends the user's line (a transcript, a
                # caption with its image) or answers itself (too big, not served) and
                # returns False
                try:
                    go = load("picoclaw.agent.media").intake(self, s, u, f)
                finally:
                    unload("picoclaw.agent.media")
                if not go:
                    s.end_turn()
                    return
            else:
                f.seek(u.text_offset)
                s.append_user(f, u.text_len, self.buf, update_id=u.update_id)
            self.turn(s, u.chat_id, u.message_id)
        except (APIError, OSError) as e:
            # Telegram refused the answer for good (the user blocked the bot, the chat is
            # gone) or the flash is full (ENOSPC): the turn is closed and the update ends
            # here. A network failure is raised with the turn left open.
            api = isinstance(e, APIError)
            if not (refused(e) if api else e.args and e.args[0] == 28):
                raise
            log.error("update %d: %s (%s): not answered" % (
                u.update_id, "Telegram refused the answer" if api else "flash full", e))
            s.end_turn()
            if not api:
                try:
                    self.tg.send_message(u.chat_id, "Sorry, my flash is full, so I cannot answer. "
                                         "My owner needs to free some space.", u.message_id)
                except (APIError, OSError):
                    pass

    def turn(self, s, chat_id, reply_to=0, silent=None, resume=None):
        """Model calls and tool runs for the user line just appended to session s; sends
        the answer. silent: None for a message someone sent; for a turn nobody typed
        (heartbeat, cron) True, or bytes: an answer starting with them is not sent (the
        heartbeat's HEARTBEAT_OK). Such a turn shows no "typing" and no placeholder, and
        when the model cannot be reached (a call limit, an outage) it sends nothing either,
        only logs. resume: (model calls made, tool calls to run, answer ready, pieces
        delivered, placeholder message) for a turn taken up again (resume.py). Returns the
        reply path."""
        self.session = s
        self.chat_id = chat_id
        steps, calls, done, sent = resume[:4] if resume else (0, (), False, 0)
        self.placeholder_id = resume[4] if resume else 0
        # A private chat (a positive id) sees the answer grow in a live draft (Telegram,
        # below): placeholder_id is then minus the draft's id, the user's message (non-zero,
        # one per turn, the same when resumed), and no message is there to edit. The
        # placeholder's way: a group, drafts off, no stream, one TLS connection at a time
        # (net/tlsheap.py), a turn resumed with a placeholder to edit; and no reply_to: a
        # timer's turn (silent) or the console's.
        if (chat_id > 0 and reply_to and self.drafts and self.live_edits and self.stream
                and not self.placeholder_id):
            self.placeholder_id = -reply_to
            self._edit_len = 0  # the streamed answer's gate (llm/answer.py) counts from here
        if not resume:
            # "typing..." and the empty first draft ("Thinking...") or the placeholder: a network
            # failure costs only the courtesy; a refusal (blocked, kicked) is raised, and the
            # update is over, but a draft refused as such sends the placeholder (deliver.edit)
            try:
                if self.typing and silent is None:
                    self.tg.send_action(chat_id)
                if self.placeholder and self.placeholder_id < 0:
                    Telegram(self).send_message(chat_id, None)
                if self.placeholder and silent is None and not self.placeholder_id:
                    self.placeholder_id = self.tg.send_message(chat_id, "Thinking\u2026", reply_to)
                    self._edited = time.ticks_ms()
                    self._edit_len = 0
                    s.note(self.placeholder_id, 0)  # a retried update edits this one, not a new one
            except APIError as e:
                if refused(e):
                    raise
                log.debug("typing/placeholder: %s" % e)
            except OSError as e:
                if e.args and e.args[0] == 28:
                    raise  # flash full: the note could not be written
                log.debug("typing/placeholder: %s" % e)
        path = self.state_dir + "/reply"
        reply = path
        while not done:
            for c in calls:  # each with the tool registry loaded for it (tools.call)
                try:
                    load("picoclaw.tools").call(self, s, c)
                finally:
                    # the job store too, which the cron tool loads
                    unload("picoclaw.tools", "picoclaw.agent.schedule")
            if steps == self.max_iter or s.size() - s.turn_start > _TURN_BYTES:
                self._say("I stopped after %d tool steps without a final answer%s. Ask me to continue "
                          "if you want me to go on." % (steps, "" if steps == self.max_iter else
                                                        " (this task wrote over 128 KB of history)"))
                s.append_assistant(path, (), self.buf)
                break
            reply = self._model(s)
            steps += 1
            calls = self._last_calls
            done = reply is None or not calls
        if silent is not None and (reply is None or silent is not True and _starts(path, silent)):
            # a timer's turn that could not reach the model (a call limit, a provider outage)
            # stays silent: the log has it, and the owner is not told so every interval
            s.end_turn()
            return path
        self.placeholder_id = max(self.placeholder_id, 0)  # a draft is no message: the answer is sent
        self._deliver(s, chat_id, path, reply_to, sent)
        s.end_turn()
        self._maybe_compact(s)
        return path

    # -- one model call -----------------------------------------------------------------
    def _model(self, s, tools=True):
        try:
            return self._model_call(s, tools)
        finally:
            unload(*_MODEL_SIDE)

    def _model_call(self, s, tools):
        import gc
        if self.alive:
            self.alive()
        self._last_calls = ()
        try:
            w = load("picoclaw.agent.limits").count_call(self.state_dir, now(), self.limit)
        finally:
            unload("picoclaw.agent.limits")
        if w:  # a limit is reached: a polite answer instead of a model call
            unit = "day" if w > 3600 else "hour"
            log.warn("model call limit per %s reached: no call" % unit)
            self._say("Sorry, I have reached my limit of %d model calls per %s (agents.defaults."
                      "max_calls_per_%s), so I cannot answer now. Please try again in %d minutes."
                      % (self.limit[w // 86400], unit, unit, (w - now() % w) // 60 + 1))
            s.append_assistant(self.state_dir + "/reply", (), self.buf)
            return None
        if s.turn_start >= 0:
            scrub(s.path, s.turn_start)  # this turn's lines, before a model reads them
        from picoclaw.llm import call as llm

        proto = llm.provider_module(self.kind)
        self._hist = (s.history_start(), -1)
        again = None  # a photo refused by a model that cannot see images (below)
        tg = self.tg
        if self.placeholder_id < 0:  # the streamed answer's progress edits go to the live draft
            self.tg = Telegram(self)
        try:
            self.calls += 1
            t = llm.call(self.conn, proto, self, self.stream, self.schemas if tools else None,
                         self.stream and self.live_edits and self.placeholder_id)
        except llm.LLMError as e:
            from picoclaw.llm import errors  # a provider's error (a 4xx body loaded it)

            again = errors.refused(self, e)  # a photo refused by a model without vision?
            if not again:
                log.error("model call failed: %s" % e)
                self._say("Sorry, I could not reach the model (%s). Try again in a moment." % e.message)
                s.append_assistant(self.state_dir + "/reply", (), self.buf)
                return None
        finally:
            self.tg = tg
        if again:  # once more, each photo a note; again() ends the answer saying why
            return again(self._model_call(s, tools))
        from picoclaw.llm.answer import valid_object  # loaded by llm.call with the answer

        calls = []
        for cid, name, path in t.calls:
            if not valid_object(path):
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

    def _say(self, text):
        # an apology may quote a provider's error, which may quote the request: scrubbed
        # (a model's own answer needs no scrubbing: nothing it was sent held a secret)
        path = self.state_dir + "/reply"
        with open(path, "wb") as f:
            f.write(log.scrub(text).encode())
        scrub(path)

    # -- what the provider modules read while writing the request ------------------------
    # Both come from agent/request.py, loaded for each pass over the request (the body is
    # written twice: counted, then sent) and dropped when its history has been written, so
    # reading the answer, the model call's heap peak, finds its code gone.
    def write_system(self, w):
        """The system prompt, as JSON string content (the first part of a request)."""
        load("picoclaw.agent.request").write_system(self, w)

    def history(self):
        """A JsonReader at each session line the request carries, in order (the last part
        of a request that reads the session)."""
        from picoclaw.agent import request

        try:
            yield from request.history(self)
        finally:
            request = None  # this frame's reference too, or the code stays in the heap
            unload("picoclaw.agent.request")

    # -- delivering -------------------------------------------------------------------
    def _deliver(self, s, chat_id, path, reply_to, start):
        """Send the answer in file `path`, from piece `start` on: converted into state/out by
        telegram/format.py (~8 KB of heap as code), then sent by deliver.py, each loaded only for its
        part (that step is a turn's heap peak too). Where Telegram cannot parse the HTML,
        the rest goes again as plain text. The answer is final by now: nothing here runs the
        turn again (deliver.py)."""
        import gc

        out = self.state_dir + "/out"
        for html in (True, False):
            if html and not self.html:
                continue
            gc.collect()
            from picoclaw.telegram import format as tgformat

            try:
                # its 512-byte input window: the model connection's buffer, idle by now
                pieces = tgformat.render(path, out, html=html, buf=self.conn.buf)
            finally:
                tgformat = None  # this frame's reference too, or the code stays in the heap
                unload("picoclaw.telegram.format")
            try:
                start = load("picoclaw.agent.deliver").send(self, s, chat_id, out, pieces, html, reply_to, start)
            finally:
                unload("picoclaw.agent.deliver")
            if start < 0:
                return

    # -- history upkeep -----------------------------------------------------------------
    def _maybe_compact(self, s):
        """When the session file passes twice its budget, the model summarises the turns
        that no longer fit and they are replaced by that summary (summary.py)."""
        if s.size() > 2 * self.budget:
            try:
                load("picoclaw.agent.summary").compact(self, s)
            except MemoryError:
                # the answer is out and the turn is closed: failing here would make the
                # gateway answer the message again. Requests stay within the budget anyway;
                # the file is summarised after a later turn.
                log.warn("summary skipped (out of memory): history kept")
            finally:
                unload("picoclaw.agent.summary", "picoclaw.agent.limits", *_MODEL_SIDE)

    # -- timers (the gateway calls this every cycle) --------------------------------------
    def tick(self):
        """Run due heartbeat and cron jobs; returns seconds until the next one (or None)."""
        t = now()
        due = None
        todo = []  # None: the heartbeat; then the cron jobs due
        if self.heartbeat_s and self.owner:
            if t >= self._next_beat:
                self._next_beat = t + self.heartbeat_s
                todo.append(None)
            due = self._next_beat - t
        nxt = self.cron_next
        if self.cron and nxt is not None and (nxt < 0 or t >= nxt):
            try:
                todo.extend(self._timers("due", t))  # the store read (and unloaded) in there
            except Exception as e:  # noqa: BLE001 - a broken job store must not stop the polling
                log.error("cron: cannot read the jobs (%s: %s); trying again in a minute"
                          % (type(e).__name__, e))
                self.cron_next = t + 60
        for job in todo:
            # whatever fails in one of these turns (MemoryError, Telegram, the flash) stays in
            # it, logged: the poll that follows must happen
            try:
                if job is None:
                    s = self._timers("heartbeat")
                    if s is not None:
                        self.turn(s, self.owner, silent=b"HEARTBEAT_OK")
                else:
                    r = self._timers("job", job)
                    if r is not None:
                        self.turn(r[0], r[1], silent=True)
            except Exception as e:  # noqa: BLE001
                log.error("%s failed: %s: %s" % ("heartbeat" if job is None else "cron job %d" % job.id,
                                                  type(e).__name__, e))
        nxt = self.cron_next
        if self.cron and nxt is not None:
            due = max(0, nxt - t) if due is None else min(due, max(0, nxt - t))
        return due

    def _timers(self, name, *args):
        # timers.py's `name` (heartbeat, due, job), with the module and the job store
        # unloaded again before the turn it prepares runs
        try:
            return getattr(load("picoclaw.agent.timers"), name)(self, *args)
        finally:
            unload("picoclaw.agent.timers", "picoclaw.agent.schedule")

    def send(self, text):
        """The `message` tool: text to the turn's chat."""
        self.tg.send_message(self.chat_id, text)


class Telegram:
    """The Bot API as a drafting turn sees it (a.tg in Agent._model_call; named like the
    client it stands in for, a name interned already: docs/memory.md): the empty first
    draft and the streamed answer's progress edits (llm/answer.Answer._edit) go to the
    turn's live draft, throttled there (deliver.edit, loaded for each: at most one per 2 s,
    the answer's own gate). Resident, so kept to the least: the summary's model call, the
    two-tool burst's peak, has it in the heap."""

    def __init__(self, a):
        self.a = a
        self.tg = a.tg  # the Bot API client, a.tg again once the call is over

    def send_message(self, chat_id, text, text_file=None, text_len=0, edit=0):
        try:
            load("picoclaw.agent.deliver").edit(self, text_file, text_len)
        finally:
            unload("picoclaw.agent.deliver")


def _starts(path, prefix):
    try:
        with open(path, "rb") as f:
            return f.read(len(prefix)) == prefix
    except OSError:
        return False

