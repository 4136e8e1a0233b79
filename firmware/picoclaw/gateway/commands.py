# The commands the bot answers itself, with no model call, so they work at any call limit
# and with the provider down: /start and /help (what the bot is, the commands), /status (how
# it is doing) and /cron (the scheduled jobs: a list, and "/cron rm N" to remove one), and
# with a model /clear or /new (a new conversation) and /memory (the head of the long-term
# notes); any other "/..." text goes to the model as text, as PicoClaw does (echoed without
# one). gateway/start.py sends Telegram the menu of these (setMyCommands).
#
# Loaded by the gateway for one such message and dropped after it.
import gc
import time

from micropython import const

from picoclaw import load, log, unload

_PREVIEW = const(60)  # characters of each job's text in the list
_MEMORY_HEAD = const(1024)  # bytes of memory/MEMORY.md /memory shows: a screen on a phone


def run(gw, u, head):
    """Answer the command at the start of update `u` (head: its first bytes, "/help@bot
    ..."), for gateway `gw`. Returns False when it is not one of these commands."""
    words = head.split()
    cmd = words[0].split(b"@")[0]
    a = getattr(gw, "agent", None)
    if cmd == b"/start" or cmd == b"/help":
        gw._send(u, "Hi! I am PicoClaw, an assistant living on a microcontroller.\n"
                 "Send me a message and I will answer it.\n"
                 "/status: how I am doing\n"
                 "/memory: my long-term notes (their first lines)\n"
                 "/cron: scheduled jobs (/cron rm N removes one)\n"
                 "/clear or /new: a new conversation\n"
                 "/help: this text\n"
                 "Any other /command goes to me as text." if a else
                 "Hi! I am PicoClaw, living on a microcontroller. No model is configured, so "
                 "I echo your messages back.\n/status: how I am doing\n/help: this text")
    elif cmd == b"/status":
        gw._send(u, status(gw))
    elif cmd == b"/cron":
        gw._send(u, cron(gw, words[1:]))
    elif (cmd == b"/clear" or cmd == b"/new") and a:
        s = load("picoclaw.agent.session").Session(a.workspace, u.chat_id, 0)
        s.clear()
        s.end_turn()
        gw._send(u, "Started a new conversation.")
    elif cmd == b"/memory" and a:
        gw._send(u, memory(a.workspace))
    else:
        return False
    return True


def memory(ws):
    """The /memory text: the first _MEMORY_HEAD bytes of memory/MEMORY.md, cut at a line,
    and how much more there is; or that there are no notes yet."""
    try:
        with open(ws + "/memory/MEMORY.md", "rb") as f:
            head = f.read(_MEMORY_HEAD + 1)
            size = f.seek(0, 2)
    except OSError:
        head = b""
        size = 0
    more = len(head) > _MEMORY_HEAD
    if more:  # cut at the last line end, or on a UTF-8 boundary in a line that long
        head = head[:_MEMORY_HEAD]
        i = head.rfind(b"\n")
        if i > 0:
            head = head[:i]
        else:
            from picoclaw.json.stream import utf8_boundary

            head = head[:utf8_boundary(head, len(head))]
    try:
        text = head.decode().strip()
    except UnicodeError:
        return "memory/MEMORY.md is not UTF-8 text, so I cannot show it here."
    if not any(line.strip() and not line.startswith("#") for line in text.split("\n")):
        return "No notes yet: memory/MEMORY.md holds nothing but its title. I add durable facts there as we talk."
    if more:
        text += "\n[... %d more bytes: ask me to read memory/MEMORY.md]" % (size - len(head))
    return text


def status(gw):
    """The /status text: uptime, heap, traffic, model calls left, the last error."""
    gc.collect()
    up = time.ticks_diff(time.ticks_ms(), log._t0) // 1000  # the log's clock: since start
    lines = ["PicoClaw: up %dd %dh %dm, heap %d B used, %d B free"
             % (up // 86400, up // 3600 % 24, up // 60 % 60, gc.mem_alloc(), gc.mem_free()),
             "updates handled %d, replies %d, denied %d, errors %d"
             % (gw.handled, gw.replies, gw.denied, gw.errors)]
    a = getattr(gw, "agent", None)
    if a is None:
        lines.append("no model configured: echo mode")
    else:
        # limit.count_call's file, read without counting: "hour n day n"
        v = [0, 0, 0, 0]
        try:
            with open(a.state_dir + "/model_calls") as f:
                v = [int(x) for x in f.read().split()] + v
        except (OSError, ValueError):
            pass
        t = load("picoclaw.clock").now()
        lines.append("model calls: %d this hour, %d today; limits %d per hour, %d per day (0: none)"
                     % (v[1] if v[0] == t // 3600 else 0, v[3] if v[2] == t // 86400 else 0,
                        a.limit[0], a.limit[1]))
    lines.append("last error: " + (log.last_error[:200] or "none since start"))
    c = load("picoclaw.crash").status()  # crash.txt on the board's flash, if there was one
    unload("picoclaw.crash")
    if c:
        lines.append("last crash: " + c)
    return "\n".join(lines)


def cron(gw, args):
    """The /cron text: the job list, or the result of "/cron rm N"."""
    a = getattr(gw, "agent", None)
    if a is None or not a.cron:
        return "No scheduler here: jobs need a model configured (providers.*)."
    s = load("picoclaw.agent.schedule").Schedule(a.workspace, a.tz)  # times shown in the owner's zone
    try:
        if args and args[0] in (b"rm", b"remove", b"del", b"delete"):
            if len(args) != 2 or not args[1].isdigit():
                return "Usage: /cron rm N (N from /cron)"
            jid = int(args[1])
            if not s.remove(jid):
                return "No job %d. /cron lists them." % jid
            a.cron_next = -1  # the agent reads the store again at its next tick
            return "Removed job %d." % jid
        jobs = s.jobs(_PREVIEW)
        if not jobs:
            return "No scheduled jobs."
        out = []
        for j in jobs:
            out.append("%d: %s %s, %s, next %s: %s" % (j[0], j[1], j[2], j[3], s.fmt(j[5]),
                                                       j[6].replace("\n", " ")))
        return "\n".join(out) + "\n/cron rm N removes one."
    finally:
        unload("picoclaw.agent.schedule")
