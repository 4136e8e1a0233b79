# The skills list of the system prompt: one line per <workspace>/skills/<name>/SKILL.md, its
# name and description from PicoClaw's front matter, and the path the model reads it at.
#
#     ---
#     name: weather
#     description: Current weather and a forecast from wttr.in.
#     ---
#     (the instructions, read by the model with read_file when the skill fits)
#
# Loaded by agent/request.py only when <workspace>/skills exists, for one pass over the
# request, and dropped after it. Nothing is held whole: the folder is walked entry by entry
# and only the first bytes of each SKILL.md (the front matter) are read, into the agent's
# 256-byte line buffer; the list stops at _CAP bytes and counts the rest.
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
    d = a.workspace + "/skills"
    buf = a.linebuf
    used = more = 0
    try:
        for e in os.ilistdir(d):
            name = e[0]
            if e[1] != _DIR or not _readable(name):
                continue  # a file, a link, or a name read_file would refuse
            if used >= _CAP:
                more += 1  # past the cap: only counted
                continue
            head = _head(d + "/" + name + "/SKILL.md", buf)
            if head is None:
                continue  # a folder without a SKILL.md is not a skill (PicoClaw skips it too)
            line = _line(name, head, len(head) > len(buf) - 4)  # 4: a cut UTF-8 sequence
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


def _readable(name):
    # what tools/files.resolve accepts as a path part, so the model can read the path listed
    if not name or len(name) > _NAME_MAX or name[-1] in ". " or name[0] == ".":
        return False
    for c in name.encode():
        if c < 32 or c == 92 or c == 58:
            return False
    return True


def _head(path, buf):
    # the first bytes of the file (at most len(buf)), cut on a UTF-8 boundary; None: no
    # such file, or not readable
    try:
        with open(path, "rb") as f:
            n = f.readinto(buf) or 0
    except OSError:
        return None
    return bytes(memoryview(buf)[:utf8_boundary(buf, n) if n == len(buf) else n])


def _line(folder, head, full):
    """b'\\n- name: description (skills/<folder>/SKILL.md)' from the front matter at the
    start of `head`: a line "---", "key: value" lines, a line "---". full: head is only the
    file's first bytes, so a front matter not closed in it stands as far as it goes. Without
    a front matter or a description in it: the folder's name and a note."""
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
            key = s[:k].strip() if k > 0 else None
            if key == b"name":
                name = _value(s[k + 1:])
            elif key == b"description":
                desc = _value(s[k + 1:])
    f = folder.encode()
    if not desc or not closed:
        desc = b"(no description: SKILL.md has no front matter)"
        name = None
    return b"\n- " + (name or f) + b": " + desc + b" (skills/" + f + b"/SKILL.md)"


def _value(v):
    # a YAML scalar on one line: spaces and one pair of quotes around it stripped
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[:1] in (b"\"", b"'"):
        v = v[1:-1].strip()
    return v
