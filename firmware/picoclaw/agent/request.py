# What a model request says besides its settings: the system prompt and the session lines
# it carries, both streamed from flash. Loaded with the model side (agent.loop._MODEL_SIDE)
# and dropped with it; the provider modules (llm/openai.py, llm/anthropic.py) reach it
# through Agent.write_system and Agent.history.
import os

from picoclaw import load, unload
from picoclaw.clock import civil_from_days, iso, now
from picoclaw.json.files import LineSource
from micropython import const

from picoclaw.json.stream import JsonReader, utf8_boundary

_OBJ = const(1)  # the JsonReader event of an object's start
_SUMMARY_CAP = const(8192)  # bytes of the summary of older turns (summary.py writes less)


def history(a):
    """A JsonReader at each session line of the request's range (a._hist), in order."""
    start, end = a._hist
    try:
        f = open(a.session.path, "rb")
    except OSError:
        return
    with f:
        f.seek(start)
        src = LineSource(f, a.linebuf, end - start if end >= 0 else -1)
        p = JsonReader(src, a.small)
        more = src.at_line()
        while more:
            p.reset(src)
            yield p
            more = src.next_line()


def write_system(a, w):
    """The system prompt, as JSON string content: who we are, the time, the workspace
    files (each capped), today's and yesterday's notes, the skills and the summary of older
    turns."""
    # bytes, not str: a constant the escaper reads in place (a str would be encoded, a
    # 600-byte copy for each of the two passes over the request)
    w.json_part(b"You are PicoClaw, a personal assistant living on a microcontroller "
                b"(MicroPython), talking with your owner on Telegram. Be brief. You can "
                b"use Markdown. Your workspace holds files you can read and write with "
                b"your tools; keep long-term notes in memory/MEMORY.md (read it when the "
                b"past matters, add durable facts) and the day's notes (what happened, what "
                b"is to do) in memory/YYYYMM/YYYYMMDD.md, the owner's date (today's and "
                b"yesterday's are below when they exist). Skills are instructions in "
                b"skills/<name>/SKILL.md: when one listed below fits the task, read it with "
                b"read_file first. ")
    t = now()
    w.json_part("Time now: %s UTC. Chat id: %d." % (iso(t), a.chat_id))
    day = t
    if a.tz:  # the owner's date (agents.defaults.timezone; config.py checked the spec)
        z = load("picoclaw.zone")
        try:
            day += z.offset(z.parse(a.tz), t)
        finally:
            unload("picoclaw.zone")
    # the workspace files the system prompt carries, each with its cap in bytes (a file past
    # its cap is cut, with a note, so no file can crowd the history out of the request); a
    # literal in place: a module-level name would be interned for good
    caps = "AGENTS.md 2048 SOUL.md 1024 USER.md 1024 IDENTITY.md 1024 memory/MEMORY.md 4096".split()
    for d in (day // 86400, day // 86400 - 1):  # a pass at midnight and the next differ: the
        y, m, n = civil_from_days(d)  # body changed, and the call sends it again (llm/call.py)
        # today's and yesterday's notes, PicoClaw's memory/YYYYMM/YYYYMMDD.md, 1 KB each (a
        # literal in place: a module-level name would be interned)
        caps += ("memory/%04d%02d/%04d%02d%02d.md 1024" % (y, m, y, m, n)).split()
    for i in range(0, len(caps), 2):
        try:
            f = open("%s/%s" % (a.workspace, caps[i]), "rb")
        except OSError:
            continue
        with f:
            w.json_part("\n\n## %s\n" % caps[i])
            _stream_capped(f, w, int(caps[i + 1]), a.linebuf)
    try:  # "%s/skills" sliced from a longer literal: one that short would be interned
        os.stat("%s/skills/%s/SKILL.md"[:9] % a.workspace)
    except OSError:
        pass  # no skills folder: the skills code (agent/context.py) is not loaded at all
    else:
        try:
            load("picoclaw.agent.context").write(a, w)
        finally:
            unload("picoclaw.agent.context")
    s = a.session
    if s is not None and s.summary_end():
        with open(s.path, "rb") as f:
            p = JsonReader(LineSource(f, a.linebuf), a.small)
            p.expect(_OBJ)  # the summary line: {"summary": "..."}
            p.next_key()
            w.json_part("\n\n## Earlier in this conversation (summary)\n")
            p.copy_str(w.json_part, _SUMMARY_CAP)


def _stream_capped(f, w, cap, buf):
    while True:  # on past the cap by one read: a file of exactly the cap is not cut
        n = f.readinto(buf)
        if not n:
            return
        if n > cap:
            w.json_part(buf, utf8_boundary(buf, cap))
            w.json_part("\n[cut]")
            return
        cap -= n
        w.json_part(buf, n)
