# The gateway loop: poll Telegram, let authorized users through, answer, survive failures.
#
# One poll cycle: getUpdates (long poll) -> inbox on flash -> each update handled in order,
# and the offset saved after each, so a crash repeats at most the update being handled.
# Until the agent lands the answer is an echo of the user's text.
import gc
import os
import time

from micropython import const

from . import log
from .httpclient import HTTPError
from .jsonstream import JsonError
from .netio import TLSError, handshakes
from .telegram import APIError, read_inbox

_TRUNCATED = const(1)  # telegram.py's inbox record flags
_HAS_TEXT = const(2)
_FROM_BOT = const(4)
_POISON_TRIES = const(3)  # a body that fails to parse this often in a row is skipped past
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
        self.failures = 0  # failed cycles in a row: the back-off exponent
        self.handled = 0  # updates handled (any kind)
        self.replies = 0
        self.denied = 0
        self.errors = 0
        self._poison = 0
        self._poison_offset = -1
        self.pairing = None  # pairing.Pairing while nobody is admitted (pairing.attach sets it)
        self.group = None  # group(update, inbox file) -> mentioned? (group.py; groups in allow_from)
        if not self.allow_ids and not self.allow_names:
            log.warn("allow_from is empty: only a paired owner is admitted (see PAIRING below). "
                     "Or send your bot a message, find 'from id=...' in this log, and add that "
                     "id to channels.telegram.allow_from")

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
        log.info("handled %d updates, %d replies, %d denied, %d errors; heap %d used, %d free"
                 % (self.handled, self.replies, self.denied, self.errors, gc.mem_alloc(), gc.mem_free()))
        print("FIGURES baseline=%d end=%d handshakes=%d" % (base, gc.mem_alloc(), handshakes()))
        import micropython

        micropython.qstr_info()  # the interned names (the tools read n_qstr: the pool grows in steps)
        if sim:
            sim.report()
        return 0

    def cycle(self):
        """One poll and its handling, with every failure turned into a wait."""
        try:
            self.poll_once()
            self.failures = 0
            self._poison = 0
        except APIError as e:
            self.errors += 1
            if e.code in (401, 404):
                raise FatalError("Telegram rejected the bot token (%d %s): check channels.telegram.token"
                                 % (e.code, e.description))
            if e.code == 429:
                wait = max(e.retry_after, 1) * 1000
                log.warn("Telegram says too many requests: waiting %d s" % (wait // 1000))
                self.sleep_ms(wait)
            elif e.code == 409:
                log.warn("409 Conflict: another instance of this bot is polling (or a webhook "
                         "is set); retrying")
                self.sleep_ms(self.backoff_ms())
            else:
                self._wait("Telegram error: %s" % e)
        except TLSError as e:
            self.errors += 1
            self._wait("%s (check the time, tls.ca_file, or the network)" % e)
        except JsonError as e:
            self.errors += 1
            # A body that does not parse is fetched again; if the same offset keeps failing the
            # culprit is an update we cannot read: poll one at a time, then step past it.
            self.tg.conn.close()
            off = self.state.offset
            self._poison = self._poison + 1 if off == self._poison_offset else 1
            self._poison_offset = off
            if self._poison >= _POISON_TRIES and off:
                log.error("update %d cannot be parsed (%s): skipping it" % (off, e))
                self.state.save_offset(off + 1)
                self._poison = 0
            else:
                self._wait("malformed response: %s" % e)
        except (HTTPError, OSError) as e:
            self.errors += 1
            self._wait("network: %s" % e)
        except MemoryError as e:
            self.errors += 1
            if log.level <= log.DEBUG:
                import sys

                sys.print_exception(e)
            self.tg.conn.close()
            gc.collect()
            self._wait("out of memory in a poll cycle (free %d)" % gc.mem_free())

    def backoff_ms(self):
        """Delay before the next attempt: exponential with full jitter (random in
        [ceiling/2, ceiling], the ceiling doubling from 1 s up to a minute), so a bot and a
        flaky server never retry in lockstep."""
        ceiling = min(_BACKOFF_CAP_MS, 1000 << min(self.failures, 16))
        self.failures += 1
        r = os.urandom(2)
        return ceiling // 2 + ((r[0] << 8 | r[1]) * (ceiling // 2)) // 65535

    def _wait(self, msg):
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
        with open(self.state.inbox_path, "rb") as f:
            for u in read_inbox(f):
                if u.update_id < self.state.offset:
                    continue  # already handled before a restart
                self.handle(u, f)
                self.state.save_offset(u.update_id + 1)
                self.handled += 1

    # -- one update ---------------------------------------------------------------------
    def handle(self, u, f):
        if u.kind != "message":
            log.debug("update %d: %s skipped" % (u.update_id, u.kind))
            return
        if u.flags & _FROM_BOT:
            return
        if u.from_id not in self.allow_ids and u.username.lower() not in self.allow_names:
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
        if not u.flags & _HAS_TEXT:
            log.info("update %d: non-text message from %d skipped" % (u.update_id, u.from_id))
            return
        f.seek(u.text_offset)
        head = f.read(min(u.text_len, 16))
        f.seek(u.text_offset)
        if head.startswith(b"/start") or head.startswith(b"/help"):
            self._send(u, ("Hi! I am PicoClaw, an assistant living on a microcontroller.\n"
                "Send me a message and I will answer (for now I echo it back).\n"
                "/help shows this text."))
        elif self.answer:
            self.answer(self, u, f)
            self.replies += 1
        else:
            if u.flags & _TRUNCATED:
                log.warn("update %d: text over the cap, echoing the first part" % u.update_id)
            self._send(u, None, f)
        log.info("update %d: answered %d (%d bytes in)" % (u.update_id, u.from_id, u.text_len))

    def _send(self, u, text, f=None):
        """sendMessage with 429 honoured; a 400 (bad request) is logged, not retried."""
        for _ in range(5):
            try:
                if f is not None:
                    f.seek(u.text_offset)
                    self.tg.send_message(u.chat_id, None, u.message_id, text_file=f, text_len=u.text_len)
                else:
                    self.tg.send_message(u.chat_id, text, u.message_id)
                self.replies += 1
                return True
            except APIError as e:
                if e.code == 429:
                    wait = max(e.retry_after, 1)
                    log.warn("sendMessage: too many requests, waiting %d s" % wait)
                    self.sleep_ms(wait * 1000)
                    continue
                if e.code in (401, 404):
                    raise
                if 400 <= e.code < 500:
                    log.error("update %d: reply refused: %s" % (u.update_id, e))
                    return False
                raise
        log.error("update %d: reply still rate-limited after 5 tries" % u.update_id)
        raise OSError("rate limited")
