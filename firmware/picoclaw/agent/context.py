# The skills list of the system prompt: one line per <workspace>/skills/<name>/SKILL.md, its
# name and description from PicoClaw's front matter, and the path the model reads it at.
#
#     ---
#     name: weather
#     description: Current weather and a forecast from wttr.in.
#     ---
#     (the instructions, read by the model with read_file when the skill fits)
#
# Named after PicoClaw's context builder (pkg/agent/context.go lists its skills the same
# way), and for the name: "context" is one of MicroPython's own names, so the module interns
# one name fewer (docs/memory.md), which keeps the two-tool burst with skills within the
# fifth qstr pool, 620 names (tools/bench_skills.py: 106k, where one more name made it 112k).
#
# Loaded by agent/request.py only when <workspace>/skills exists, for one pass over the
# request, and dropped after it. Nothing is held whole: the folder is walked entry by entry
# and only the first bytes of each SKILL.md (the front matter) are read, into the agent's
# 256-byte line buffer; the list stops at _CAP bytes and counts the rest.
#
# One function: each function name would be one more name interned for good, and the
# agent's turn path sits just under the qstr pool's step at 620 (docs/memory.md); for the
# same reason no str literal here is 10 characters or shorter.
import os

from micropython import const

from picoclaw.json.stream import utf8_boundary

_CAP = const(1024)  # bytes of skill lines in the prompt: room for ~10 skills, never the history's
_NAME_MAX = const(64)  # PicoClaw's MaxNameLength; a longer folder name is skipped
_DIR = const(0x4000)  # ilistdir's type of a folder


def write(a, w):
    """The "## Skills" section of the system prompt, as JSON string content, for agent `a`
    (its workspace, its line buffer) into the writer `w`. Writes nothing when no folder in
    skills/ holds a SKILL.md."""
    # one literal for both paths, sliced: "/skills" or "/SKILL.md" alone would be interned
    path = "%s/skills/%s/SKILL.md"
    d = path[:9] % a.workspace  # <workspace>/skills
    buf = a.linebuf
    used = more = 0
    try:
        for e in os.ilistdir(d):
            folder = e[0]
            if e[1] != _DIR or used >= _CAP:
                more += e[1] == _DIR  # a file or a link is no skill; past the cap: counted
                continue
            # a name tools/files.resolve refuses (control characters, \ or :, a trailing dot
            # or space) could not be read by the model: skipped, as are hidden folders
            f = folder.encode()
            if (not f or len(f) > _NAME_MAX or f[-1] in b". " or f[0] == 46
                    or any(c < 32 or c == 92 or c == 58 for c in f)):
                continue
            try:
                with open(path % (a.workspace, folder), "rb") as fh:
                    n = fh.readinto(buf) or 0
            except OSError:
                continue  # a folder without a SKILL.md is not a skill (PicoClaw skips it too)
            full = n == len(buf)  # only the file's first bytes: a front matter may go on
            head = bytes(memoryview(buf)[:utf8_boundary(buf, n) if full else n])
            # the front matter: a line "---", "key: value" lines, a line "---"; one not
            # closed within the buffer stands as far as it goes
            lines = head.split(b"\n")
            name = desc = None
            closed = full
            if lines[0].rstrip(b"\r") == b"---":
                for s in lines[1:]:
                    s = s.rstrip(b"\r")
                    if s == b"---":
                        closed = True
                        break
                    k = s.find(b":")
                    if k > 0:
                        key = s[:k].strip()
                        v = s[k + 1:].strip()
                        if len(v) >= 2 and v[0] == v[-1] and v[0] in b"\"'":  # one pair of quotes
                            v = v[1:-1].strip()
                        if key == b"name":
                            name = v
                        elif key == b"description":
                            desc = v
            if not desc or not closed:
                name = None
                desc = b"(no description: SKILL.md has no front matter)"
            line = b"\n- " + (name or f) + b": " + desc + b" (skills/" + f + b"/SKILL.md)"
            if used + len(line) > _CAP:
                more += 1
                used = _CAP
                continue
            if not used:
                w.json_part("\n\n## Skills\nThe following skills extend your capabilities. To use "
                            "a skill, read its SKILL.md file using the read_file tool.")
            w.json_part(line)
            used += len(line)
    except OSError:
        pass  # the folder went away, or an entry cannot be read: the list so far stands
    if more:
        w.json_part("\n%d more skills: list_dir skills" % more)
