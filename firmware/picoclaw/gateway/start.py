# What the gateway does once at start: the command menu Telegram shows for "/"
# (setMyCommands), the commands gateway/commands.py answers in this mode.
#
# Sent only when the list differs from the last one Telegram took (<workspace>/state/commands
# holds that body), so a restart costs no request. A refusal or a failure is one log line and
# is tried again at the next start: the bot runs without its menu, never stops for it (a
# refused token stops it, as the first poll would have).
#
# app.build loads this module and calls run(gw); when the menu must be sent, the request waits
# for the first poll cycle (it runs as that cycle's tick, before its getUpdates), so the
# connection opens where the first poll would have opened it, after the start-up code has
# left the heap; then this module unloads itself. No module-level names and a last name in
# ROM ("start"): it interns 2 names, and the echo gateway sits just below the qstr pool's
# step at 300 (docs/memory.md).
from picoclaw import log, unload


def run(gw):
    """Arrange for the menu to be sent in the first cycle if it changed; else unload."""
    menu = (b'{"commands":[{"command":"help","description":"What I can do"},'
            b'{"command":"status","description":"How I am doing: uptime, heap, model calls"},'
            b'{"command":"memory","description":"What I keep in my long-term notes"},'
            b'{"command":"cron","description":"Scheduled jobs (/cron rm N removes one)"},'
            b'{"command":"clear","description":"Start a new conversation"},'
            b'{"command":"new","description":"Start a new conversation"}]}'
            if gw.agent else
            b'{"commands":[{"command":"help","description":"What I can do"},'
            b'{"command":"status","description":"How I am doing: uptime, heap, traffic"}]}')
    path = gw.state.dir + "/state/commands"[6:]  # "/commands": a literal that short is interned
    try:
        with open(path, "rb") as f:
            if f.read(len(menu) + 1) == menu:
                unload("picoclaw.gateway.start")
                return
    except OSError:
        pass  # never sent (or the file is gone): send it
    later = gw.tick  # the agent's timers, from this first tick on

    def tick():
        gw.tick = later
        unload("picoclaw.gateway.start")  # this code goes once the call returns
        try:
            gw.tg._call(b"setMyCommands", menu, None)
            from picoclaw.state import write_atomic

            write_atomic(path, menu)
            log.info("setMyCommands: Telegram's command menu set")
        except Exception as e:  # noqa: BLE001 - the menu never stops the bot
            if getattr(e, "code", 0) in (401, 404):
                raise  # the token is refused: the cycle says so and stops (gateway/recover.py)
            gw.tg.conn.close()  # a request may have been cut half-way
            log.warn("setMyCommands: %s; the menu is tried again at the next start" % e)
        return later() if later else None

    gw.tick = tick
