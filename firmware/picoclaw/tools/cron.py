# The `cron` tool: the model adds, lists and removes scheduled jobs (store: agent/schedule.py).
#
# Arguments are read straight from the streaming parser; the job text is copied in pieces
# into one buffer of at most TEXT_CAP bytes (over it: refused, so nothing is silently cut).
# Firing the jobs is the agent's part (Schedule.due, from its tick); this module is loaded
# only while the tool runs, and kept small for that moment: one function does the work.
from micropython import const

from picoclaw.json.stream import OBJ

_TEXT_CAP = const(512)  # schedule.TEXT_CAP, copied: importing schedule.py here would load its
#                          code also when only SCHEMAS is read (tools/offer.write_schemas)
_PREVIEW = const(60)  # characters of each job's text shown by list
_SMALL = const(100)  # cap for action, mode, at and cron strings: all short
_CLOCK_DAY = const(18262)  # 2020-01-01 as days since 1970: earlier means the clock is unset

SCHEMAS = (
    (b"cron",
     b"Schedule a message or a task for later, list scheduled jobs, or remove one. Times are"
     b" the owner's local time, in the zone the replies name (UTC if none is configured)."
     b" action=add needs text and exactly one of: at (one time), in (one time, seconds from now), every (repeat every"
     b" N seconds, N >= 60) or cron (5-field cron expression). mode=deliver (default) sends"
     b" text to the user as is when due, so write it as the message itself (e.g. 'Reminder:"
     b" call mum'); mode=agent gives text to you as an instruction then (e.g. 'read the"
     b" sensor and report'), at most every 30 minutes. action=remove needs id (see action=list).",
     b'{"type":"object","properties":{'
     b'"action":{"type":"string","enum":["add","list","remove"]},'
     b'"at":{"type":"string","description":"one time, YYYY-MM-DD HH:MM"},'
     b'"in":{"type":"integer","description":"one time, this many seconds from now"},'
     b'"every":{"type":"integer","description":"repeat every this many seconds (60 or more)"},'
     b'"cron":{"type":"string","description":"minute hour day-of-month month day-of-week,'
     b' e.g. 0 8 * * 1-5 (weekdays at 08:00); * , - / allowed; weekday 0 or 7 = Sunday"},'
     b'"text":{"type":"string","description":"message to send, or task to do (up to 512 bytes)"},'
     b'"mode":{"type":"string","enum":["deliver","agent"]},'
     b'"id":{"type":"integer","description":"job id, for remove"}},'
     b'"required":["action"]}'),
)


def _int(v, what):
    # a number argument: JSON number, or a string of digits (models send both); 0 and ""
    # count as absent, as models fill unused parameters with them
    if isinstance(v, str):
        v = v.strip()
        if v.lstrip("-").isdigit():
            v = int(v)
        elif not v:
            v = None
    elif isinstance(v, float) and v == int(v):
        v = int(v)
    if v is None or isinstance(v, int) and not isinstance(v, bool):
        return v or None
    raise ValueError("%s must be a whole number" % what)


def _when(s, j):
    # a job's schedule in words: "every day at 08:00 UTC, next 2026-11-24 08:00 UTC"
    n = j[2]
    if j[1] == "at":
        return "once at " + s.fmt(j[5])
    if j[1] == "every":
        n = int(n)
        r = "every %d seconds" % n
        for k in (86400, 3600, 60):
            if n % k == 0:
                n //= k
                k = "day" if k == 86400 else "hour" if k == 3600 else "minute"
                r = "every " + (k if n == 1 else "%d %ss" % (n, k))
                break
    else:
        p = n.split()
        r = 'cron "%s" (%s)' % (n, s.zone())
        # the common shapes in words: daily or weekly at a time, hourly at a minute
        if p[0].isdigit() and p[2] == "*" and p[3] == "*":
            if p[1].isdigit() and (p[4] == "*" or len(p[4]) == 1 and p[4].isdigit()):
                k = int(p[4]) % 7 * 3 if p[4] != "*" else -1
                r = "every %s at %02d:%02d %s" % (
                    "day" if k < 0 else "SunMonTueWedThuFriSat"[k:k + 3], int(p[1]), int(p[0]), s.zone())
            elif p[1] == "*" and p[4] == "*":
                r = "every hour at minute %d" % int(p[0])
    return r + ", next " + s.fmt(j[5])


def run(name, args, ctx, out):
    """The `cron` tool: action add | list | remove (see SCHEMAS). Bad arguments and refused
    jobs become one line "error: ..." for the model."""
    try:
        s = ctx.cron  # the job store; True: the workspace's, loaded now (the agent
        if s is True:  # unloads it after the tool, and reads the next fire time again)
            from picoclaw.agent.schedule import Schedule

            s = Schedule(ctx.workspace, getattr(ctx, "tz", ""))  # the owner's zone
        act = at = rel = every = expr = text = mode = jid = None
        cut = False
        args.expect(OBJ)  # the arguments object
        while args.next_key():
            if args.key_is(b"action"):
                act = args.read_str(_SMALL)
            elif args.key_is(b"at"):
                at = args.value(args.next())
                at = (at.strip() or None) if isinstance(at, str) else _int(at, "at")
            elif args.key_is(b"in"):
                rel = _int(args.value(args.next()), "in")
            elif args.key_is(b"every"):
                every = _int(args.value(args.next()), "every")
            elif args.key_is(b"cron"):
                expr = args.read_str(_SMALL)
                cut = cut or args.truncated
            elif args.key_is(b"text"):
                text = bytearray()
                cut = cut or args.copy_str(lambda b, n: text.extend(memoryview(b)[:n]), _TEXT_CAP)[1]
            elif args.key_is(b"mode"):
                mode = args.read_str(_SMALL)
            elif args.key_is(b"id"):
                jid = _int(args.value(args.next()), "id")
            else:
                args.skip()
        if s is None:
            raise ValueError("scheduling is not available on this device")
        if act == "list":
            r = s.jobs(_PREVIEW)
            if not r:
                out.write("no jobs")
            for j in r:
                # one line per job: the model reads the list line by line
                out.write("job %d: %s; %s: %s\n" % (
                    j[0], _when(s, j), j[3], j[6].replace("\n", " ").replace("\r", " ")))
        elif act == "remove":
            if jid is None:
                raise ValueError("id is required to remove a job (action=list shows the ids)")
            if not s.remove(jid):
                raise ValueError("no job %d (action=list shows the ids)" % jid)
            out.write("removed job %d" % jid)
        elif act == "add":
            now = ctx.now()
            if now // 86400 < _CLOCK_DAY:
                raise ValueError("the clock is not set yet (no network time), so nothing can be scheduled")
            if cut:
                raise ValueError("text over %d bytes or cron over %d characters: make it shorter"
                                 % (_TEXT_CAP, _SMALL))
            if not text:
                raise ValueError("text is required: the message to send or the task to do")
            if (at is not None) + (rel is not None) + (every is not None) + bool(expr) != 1:
                raise ValueError("give exactly one of at, in, every or cron")
            if rel is not None:
                if rel < 0:
                    raise ValueError("in must be a number of seconds from now, over 0")
                at = now + rel
            jid = s.add("every" if every else "cron" if expr else "at", every or expr or at, text,
                        mode or "deliver", ctx.chat_id, now)
            for j in s.jobs():
                if j[0] == jid:
                    out.write("added job %d: %s" % (jid, _when(s, j)))
        else:
            raise ValueError('action must be "add", "list" or "remove"')
    except ValueError as e:  # the message is for the model (JSON errors name the byte)
        out.write("error: %s" % e)
