# What the gateway does after a poll cycle failed on the Bot API, the network or the flash.
#
# A wrong base_url (not the Bot API) or a rejected token stops the bot: retrying cannot fix
# them. 429 waits as long as Telegram says, 409 (a second poller) and everything else waits
# out the gateway's back-off. Loaded by Gateway.cycle only after such a failure and dropped
# after it, so none of this wording stays in the heap of a bot that works.
from micropython import const

from picoclaw import log
from picoclaw.gateway.loop import FatalError
from picoclaw.telegram.api import APIError

_ENOSPC = const(28)


def run(gw, e):
    """Wait (or raise FatalError) after the failure `e` of one of gateway `gw`'s cycles."""
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
