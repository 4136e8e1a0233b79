# What the gateway does after a failed poll cycle: which failures stop the bot, how long to
# wait, and the words for it. Loaded by Gateway.cycle only after a failure and dropped after
# it, so none of this stays in the heap of a bot that works.
#
# A wrong base_url (not the Bot API) or a rejected token stops the bot: retrying cannot fix
# them. 429 waits as long as Telegram says; 409 (a second poller), the network and a full
# flash wait out the back-off. Anything else (a body that does not parse, or does not fit in
# memory, a bug meeting odd input) may fail again on the same bytes, so it is counted against
# the offset: from the first, the gateway polls one update at a time (poll_once reads
# _poison) and tries again at once (a collection is often the cure); after _POISON_TRIES at
# one offset it steps past the update there.
import gc

from micropython import const

from picoclaw import log
from picoclaw.gateway.loop import FatalError
from picoclaw.telegram.api import APIError

_ENOSPC = const(28)
_POISON_TRIES = const(3)  # a poll that fails this often at one offset is stepped past


def run(gw, e):
    """Wait (or raise FatalError) after the failure `e` of one of gateway `gw`'s cycles."""
    if not isinstance(e, (APIError, OSError)):
        _poisoned(gw, e)
        return
    if not isinstance(e, APIError):  # NetError (one line saying what to check), HTTPError
        if e.args and e.args[0] == _ENOSPC:
            gw._wait("flash full: no room for the bot's own files; free some space on the board")
        else:
            gw._wait("network: %s" % e)
        return
    if e.code < 0:  # not the Bot API (telegram.APIError): a wrong base_url stops at a 4xx;
        if -500 < e.code <= -400:  # a 200 page (a captive portal) is waited out
            raise FatalError(e.description)
        gw._wait(e.description)
    elif e.code in (401, 404):
        raise FatalError("Telegram rejected the bot token (%d %s): check channels.telegram.token"
                         % (e.code, e.description))
    elif e.code == 429:
        gw.errors += 1
        wait = max(e.retry_after, 1) * 1000
        log.warn("Telegram says too many requests: waiting %d s" % (wait // 1000))
        gw.sleep_ms(wait)
    elif e.code == 409:
        gw.errors += 1
        log.warn("409 Conflict: another instance of this bot is polling (or a webhook is set); retrying")
        gw.sleep_ms(gw.backoff_ms())
    else:
        gw._wait("Telegram error: %s" % e)


def _poisoned(gw, e):
    if log.level <= log.DEBUG:
        import sys

        sys.print_exception(e)
    msg = "%s in a poll cycle: %s (free heap %d)" % (type(e).__name__, e, gc.mem_free())
    off = gw.state.offset
    gw._poison = gw._poison + 1 if off == gw._poison_offset else 1
    gw._poison_offset = off
    if gw._poison >= _POISON_TRIES and off:
        gw.errors += 1
        log.error("update %d cannot be handled (%s): skipping it" % (off, msg))
        gw.state.save_offset(off + 1)
        gw._poison = 0
    elif gw._poison == 1:
        gw.errors += 1
        log.warn("%s; trying again, one update at a time" % msg)
    else:
        gw._wait(msg)
