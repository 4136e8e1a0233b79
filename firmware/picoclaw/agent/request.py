# What a model request says besides its settings: the system prompt and the session lines
# it carries, both streamed from flash. Loaded with the model side (agent.loop._MODEL_SIDE)
# and dropped with it; the provider modules (llm/openai.py, llm/anthropic.py) reach it
# through Agent.write_system and Agent.history.
from picoclaw.clock import iso, now
from picoclaw.json.files import LineSource
from micropython import const

from picoclaw.json.stream import JsonReader, utf8_boundary

# the workspace files the system prompt carries, each with its cap in bytes (a file past
# its cap is cut, with a note, so no file can crowd the history out of the request)
_FILE_CAPS = "AGENTS.md 2048 SOUL.md 1024 USER.md 1024 IDENTITY.md 1024 memory/MEMORY.md 4096"
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
    files (each capped) and the summary of older turns."""
    # bytes, not str: a constant the escaper reads in place (a str would be encoded, a
    # 300-byte copy for each of the two passes over the request)
    w.json_part(b"You are PicoClaw, a personal assistant living on a microcontroller "
                b"(MicroPython), talking with your owner on Telegram. Be brief. You can "
                b"use Markdown. Your workspace holds files you can read and write with "
                b"your tools; keep long-term notes in memory/MEMORY.md (read it when the "
                b"past matters, add durable facts). ")
    w.json_part("Time now: %s UTC. Chat id: %d." % (iso(now()), a.chat_id))
    caps = _FILE_CAPS.split()
    for i in range(0, len(caps), 2):
        try:
            f = open("%s/%s" % (a.workspace, caps[i]), "rb")
        except OSError:
            continue
        with f:
            w.json_part("\n\n## %s\n" % caps[i])
            _stream_capped(f, w, int(caps[i + 1]), a.linebuf)
    s = a.session
    if s is not None and s.summary_end():
        with open(s.path, "rb") as f:
            p = JsonReader(LineSource(f, a.linebuf), a.small)
            p.expect(_OBJ)  # the summary line: {"summary": "..."}
            p.next_key()
            w.json_part("\n\n## Earlier in this conversation (summary)\n")
            p.copy_str(w.json_part, _SUMMARY_CAP)


def _stream_capped(f, w, cap, buf):
    while cap > 0:
        n = f.readinto(buf)
        if not n:
            return
        if n > cap:
            w.json_part(buf, utf8_boundary(buf, cap))
            w.json_part("\n[cut]")
            return
        cap -= n
        w.json_part(buf, n)
