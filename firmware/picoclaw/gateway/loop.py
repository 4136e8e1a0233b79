# The gateway loop: poll Telegram, let authorized users through, answer, survive failures.
#
# One poll cycle: getUpdates (long poll) -> inbox on flash -> each update handled in order,
# and the offset saved after each, so a crash repeats at most the update being handled.
# With no model configured the answer is an echo of the user's text.
#
# A failure stays where it happened. A network failure or a 5xx/429 from Telegram ends the
# cycle and is retried after a back-off (nothing is lost: the offset did not move). Whatever
# else fails while one update is handled (Telegram refuses the reply, a bug meets odd input)
# ends that update, logged with its id, and the next one is handled. Out of memory is tried
# once more and then skipped. A poll that keeps failing at the same offset (a body that does
# not parse, or does not fit in memory) is retried one update at a time, then stepped past.
import gc
import os
import time

from micropython import const

from picoclaw import load, log, unload
from picoclaw.json.stream import JsonError
from picoclaw.net.stream import handshakes
from picoclaw.telegram.api import APIError, refused
from picoclaw.telegram.inbox import read_inbox

_TRUNCATED = const(1)  # telegram/inbox.py's record flags
_HAS_TEXT = const(2)
_FROM_BOT = const(4)
_BAD_ID = const(8)
_MEDIA = const(16)
_BACKOFF_CAP_MS = const(60000)  # a long outage is retried every minute or so, never hammered


class FatalError(Exception):
    """A failure retrying cannot fix (a rejected token): the gateway stops."""


class Gateway:
    def __init__(self, cfg, tg, state, sleep_ms=None, answer=None):
        # copy what the loop needs: holding cfg would keep the config loader's code in RAM
        self.poll_timeout = cfg.poll_timeout
        self.poll_limit = cfg.poll_limit
        self.tg = tg
        self.state = state
        self.allow_ids = cfg.allow_ids  # parsed from allow_from by config.load
        self.allow_names = cfg.allow_names
        self.sleep_ms = sleep_ms or time.sleep_ms
        self.answer = answer  # answer(gateway, update, inbox file) for other text; None: echo
        self.tick = None  # tick() -> seconds until a timer is due (or None); runs due timers
        self.agent = None  # the Agent behind `answer` (app.build), or None in echo mode
        # The board's hooks (board/start.py), None elsewhere. on_cycle(): at the start of each
        # poll cycle (Wi-Fi rejoin, watchdog, LED). on_update(): when an update starts being
        # handled, and again through busy() before each model call and tool run of its turn,
        # work that may outlast a watchdog.
        self.on_cycle = None
        self.on_update = None
        self.failures = 0  # failed cycles in a row: the back-off exponent
        self.handled = 0  # updates handled (any kind)
        self.replies = 0
        self.denied = 0
        self.errors = 0
        self._poison = 0  # failed polls in a row at the offset _poison_offset
        self._poison_offset = -1
        self.pairing = None  # pairing.Pairing while nobody is admitted (pairing.attach sets it)
        self.group = None  # group(update, inbox file) -> mentioned? (group.py; groups in allow_from)

    # -- loop ---------------------------------------------------------------------------
    def serve(self, cycles=-1, sim=None):
        """Poll forever (or `cycles` times, or until the simulation `sim` is done); then log
        a summary and print the FIGURES line the tools read. Returns the exit code."""
        gc.collect()
        base = gc.mem_alloc()
        log.info("gateway up: heap %d used, %d free" % (base, gc.mem_free()))
        try:
            while cycles != 0:
                cycles -= 1
                self.cycle()
                if sim and (sim.finished() or self.errors > 20):
                    break  # a simulation must end by itself
        except FatalError as e:
            log.error(str(e))
            return 2
        except KeyboardInterrupt:
            log.info("stopped by the user")
        gc.collect()
        print("FIGURES baseline=%d end=%d handshakes=%d" % (base, gc.mem_alloc(), handshakes()))
        log.info("handled %d updates, %d replies, %d denied, %d errors; heap %d used, %d free"
                 % (self.handled, self.replies, self.denied, self.errors, gc.mem_alloc(), gc.mem_free()))
        import micropython

        micropython.qstr_info()  # the interned names (the tools read n_qstr: the pool grows in steps)
        if sim:
            sim.report()  # SIMULATE=1: the conversation
        return 0

    def cycle(self):
        """One poll and its handling, with every failure turned into a wait."""
        if self.on_cycle:
            self.on_cycle()
        try:
            self.poll_once()
            self.failures = 0
            self._poison = 0
        except FatalError:
            raise
        except Exception as e:  # noqa: BLE001 - what failed decides the wait: gateway/recover.py
            if not isinstance(e, (APIError, OSError)):  # JSON, memory, a bug meeting odd input:
                self.tg.conn.close()  # a request or a body may have been cut half-way
                gc.collect()
            try:  # the words and the rules for it, loaded only now
                load("picoclaw.gateway.recover").run(self, e)
            except MemoryError:  # no room even for its code: the bare facts, still a wait
                self._wait(str(e))
            finally:
                unload("picoclaw.gateway.recover")

    def busy(self):
        """Work on an update goes on (the agent calls this before each model call and tool run)."""
        if self.on_update:
            self.on_update()

    def backoff_ms(self):
        """Delay before the next attempt: exponential with full jitter (random in
        [ceiling/2, ceiling], the ceiling doubling from 1 s up to a minute), so a bot and a
        flaky server never retry in lockstep."""
        ceiling = min(_BACKOFF_CAP_MS, 1000 << min(self.failures, 16))
        self.failures += 1
        r = os.urandom(2)
        return ceiling // 2 + ((r[0] << 8 | r[1]) * (ceiling // 2)) // 65535

    def _wait(self, msg):
        self.errors += 1
        ms = self.backoff_ms()
        log.warn("%s; retrying in %d ms" % (msg, ms))
        self.sleep_ms(ms)

    def poll_once(self):
        limit = 1 if self._poison else self.poll_limit
        timeout = self.poll_timeout
        if self.tick:  # cron and heartbeat: fire what is due, and wake up for the next one
            due = self.tick()
            if due is not None and due < timeout:
                timeout = max(0, due)
        n = self.tg.get_updates(self.state.offset, timeout, limit, self.state.inbox_path)
        if not n:
            return
        bad = 0
        with open(self.state.inbox_path, "rb") as f:
            for u in read_inbox(f):
                if u.flags & _BAD_ID:
                    bad += 1  # never confirmed: the offset must not jump to a wild id
                    continue
                if u.update_id < self.state.offset:
                    continue  # already handled before a restart
                # Whatever fails while this update is handled stays with it (see the top of
                # this file); only the network's failures end the cycle, to be retried.
                for attempt in (0, 1):
                    try:
                        self.busy()
                        self.handle(u, f)
                        break
                    except MemoryError:
                        self.tg.conn.close()  # a request may have been cut half-way
                        gc.collect()
                        self.errors += 1
                        log.warn("update %d: out of memory (free %d)%s" % (
                            u.update_id, gc.mem_free(), "" if attempt else ": trying once more"))
                        if attempt:
                            self._send(u, "Sorry, I ran out of memory on this message and gave up on it.")
                    except (OSError, JsonError, FatalError):
                        # the network, or an answer that does not parse (was the reply sent?
                        # not known): the cycle backs off and the update is handled again
                        raise
                    except Exception as e:  # noqa: BLE001 - odd input meeting a bug; a refusal
                        if isinstance(e, APIError) and (not refused(e) or e.code in (401, 404)):
                            raise  # 429, 5xx: retried by the cycle; 401/404: the token
                        self.errors += 1
                        log.error("update %d: %s: %s; skipped" % (u.update_id, type(e).__name__, e))
                        break
                self.state.save_offset(u.update_id + 1)
                self.handled += 1
        if bad and bad == n:
            # Telegram will send it again at once: wait, so that is not a busy loop
            self._wait("an update with an id outside the Bot API's range was skipped")

    # -- one update ---------------------------------------------------------------------
    def handle(self, u, f):
        if u.kind != "message":
            log.debug("update %d: %s skipped" % (u.update_id, u.kind))
            return
        if u.flags & _FROM_BOT:
            return
        if not u.from_id:  # a channel, or an anonymous group admin: nobody to admit
            self.denied += 1
            log.info("update %d: message without a sender (channel or anonymous admin) ignored"
                     % u.update_id)
            return
        if u.from_id not in self.allow_ids and (not u.username or u.username.lower() not in self.allow_names):
            if self.pairing and self.pairing.offer(self, u, f):
                return  # a /pair attempt, answered by pairing.py
            self.denied += 1
            log.info("message from unauthorized user id=%d @%s ignored; to admit them add %d to "
                     "channels.telegram.allow_from" % (u.from_id, u.username or "-", u.from_id))
            return
        if u.chat_type != "private" and not (u.chat_id in self.allow_ids and self.group and self.group(u, f)):
            log.info("update %d: %s chat %d skipped (answered only if allow_from lists the group and "
                     "the message mentions me)" % (u.update_id, u.chat_type, u.chat_id))
            return
        # a voice note or a photo (its caption is no command) goes to the agent, which
        # fetches it (agent/media.py); with no model it is skipped, as any non-text message
        media = u.flags & _MEDIA and self.answer
        if not (u.flags & _HAS_TEXT or media):
            log.info("update %d: non-text message from %d skipped" % (u.update_id, u.from_id))
            return
        f.seek(u.text_offset)
        head = f.read(min(u.text_len, 16))
        f.seek(u.text_offset)
        done = False
        if head[:1] == b"/" and not media:
            # /start, /help, /status, /cron: answered without a model call, so they work at
            # any call limit; commands.py is loaded for this message and dropped after it
            try:
                done = load("picoclaw.gateway.commands").run(self, u, head)
            finally:
                unload("picoclaw.gateway.commands")
        if done:
            pass  # a command, answered
        elif self.answer:
            self.answer(self, u, f)
            self.replies += 1
        else:
            if u.flags & _TRUNCATED:
                log.warn("update %d: text over the cap, echoing the first part" % u.update_id)
            self._send(u, None, f)
        log.info("update %d: answered %d (%d bytes in)" % (u.update_id, u.from_id, u.text_len))

    def _send(self, u, text, f=None):
        """sendMessage (Telegram waits out a 429 itself); a refusal (blocked, chat gone) is
        logged and ends this reply, anything else is raised to the cycle."""
        try:
            if f is not None:
                f.seek(u.text_offset)
                self.tg.send_message(u.chat_id, None, u.message_id, text_file=f, text_len=u.text_len)
            else:
                self.tg.send_message(u.chat_id, text, u.message_id)
            self.replies += 1
            return True
        except APIError as e:
            if not refused(e) or e.code in (401, 404):
                raise
            log.error("update %d: reply refused: %s" % (u.update_id, e))
            return False
