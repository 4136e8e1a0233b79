# Workspace file tools that only read: read_file and list_dir; and the path rules every
# file tool follows (writes.py has the tools that write, and loads this module too).
#
# Every path comes from the model, so it is checked component by component and rebuilt
# from the clean components under ctx.workspace; a path that is absolute, names a parent
# ("..") or could be read as one by some file system is refused before anything is opened,
# and so is one through a symbolic link (where the port can tell: littlefs and FAT have
# none). state/ (the inbox with strangers' messages, the offset) is invisible to the tools.
# File data flows through one 256-byte buffer per operation: no file is ever held in RAM
# whole. The reading tools are the ones a turn uses most (the model looks before it
# writes), so they load without the writing side's quota walk, staging and scrubbing.
import os

from micropython import const

from picoclaw.json.stream import OBJ

_BUF = const(256)  # bytes per read step
_PATH_CAP = const(160)  # a longer path is refused: board file systems keep names short
_LIST_CAP = const(64)  # list_dir shows this many entries and counts the rest
STAGING = "/.tool~"  # writes.py's staging file at the workspace root: hidden, not a valid path


def resolve(ws, p, folder=False):
    """Full path of workspace-relative `p`; ValueError saying why when it is refused."""
    if p is None:
        raise ValueError("path is required")
    for c in p.encode():
        # backslash and ':' are separators or drive letters elsewhere; control characters
        # and NUL end or corrupt names in the C layer
        if c < 32 or c == 92 or c == 58:
            raise ValueError("path may not contain \\, : or control characters")
    if p[:1] == "/" or p[:1] == "~":
        raise ValueError("path must be relative to the workspace (no leading / or ~): %s" % p)
    parts = []
    for s in p.split("/"):
        if s == "..":
            raise ValueError("path may not contain '..': %s" % p)
        if s and s != ".":
            if s[-1] == "." or s[-1] == " ":
                # FAT drops trailing dots and spaces, so "... " or ".. " would mean ".."
                raise ValueError("a name in the path ends with '.' or a space: %s" % p)
            parts.append(s)
    if not parts:
        if folder:
            return ws
        raise ValueError("path names the workspace itself, not a file")
    if len(parts) == 1 and parts[0] == STAGING[1:]:
        raise ValueError("%s is reserved" % p)
    if parts[0] == "state":
        raise ValueError("no such file: %s (state/ is PicoClaw's own)" % p)
    d = ws
    for s in parts:
        t = 0  # the entry's type as ilistdir tells it (0xA000: a link; stat would follow it)
        try:
            for e in os.ilistdir(d):
                if e[0] == s:
                    t = e[1]
                    break
        except OSError:
            break  # not there (yet): nothing below it can be a link
        if t & 0xF000 == 0xA000:
            raise ValueError("%s: a symbolic link, not followed" % p)
        d += "/" + s
    return ws + "/" + "/".join(parts)


def kind(p):
    """0x4000 for a folder, 0x8000 for a file, 0 when nothing is there; and the size."""
    try:
        st = os.stat(p)
    except OSError:
        return 0, 0
    return st[0] & 0xF000, st[6]


def fs_error(e, rel):
    """The file system's OSError e, said for the model as a ValueError."""
    n = e.args[0] if e.args else 0
    return ValueError("%s: %s" % (
        rel or "workspace",
        "not found" if n == 2 else "no space left on flash" if n == 28 else
        "a part of the path is a file, not a folder" if n == 20 else
        "file system error %d" % n))


def read_path(args):
    """The arguments object of a reading tool: (path, offset); other keys are skipped."""
    rel = None
    off = 0
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"path"):
            rel = args.read_str(_PATH_CAP)
            if args.truncated:
                raise ValueError("path is too long")
        elif args.key_is(b"offset"):
            v = args.value(args.next())
            if isinstance(v, str) and v.strip().isdigit():  # models send "120" as well
                v = int(v)
            if v is not None and v != "" and not isinstance(v, int):
                raise ValueError("offset must be a whole number of bytes")
            off = v or 0
        else:
            args.skip()
    return rel, off


def run(name, args, ctx, out):
    ws = ctx.workspace
    rel = None
    try:
        rel, off = read_path(args)
        if name == "list_dir":
            _list(ws, resolve(ws, rel or ".", True), rel or ".", out)
            return
        p = resolve(ws, rel)
        k, size = kind(p)
        if k == 0x4000:
            raise ValueError("%s is a folder: use list_dir" % rel)
        if not k:
            raise ValueError("no such file: %s" % rel)
        _read(p, rel, off, size, ctx, out)
    except OSError as e:
        raise fs_error(e, rel)


def _utf8_start(f, pos, buf, step):
    """The character start nearest byte `pos`: forward (step 1) or backward (step -1) over
    at most 3 UTF-8 continuation bytes, so reads begin and end on whole characters."""
    s = max(pos - 3, 0) if step < 0 else pos
    f.seek(s)
    n = f.readinto(memoryview(buf)[:4]) or 0
    for _ in range(3):
        k = pos - s
        if k < 0 or k >= n or buf[k] & 0xC0 != 0x80:
            break
        pos += step
    return pos


def _read(p, rel, off, size, ctx, out):
    cap = getattr(ctx, "read_cap", 0) or 4096
    room = getattr(out, "cap", 0) - 160  # keep room for the note in the result
    if 0 < room < cap:
        cap = room
    cap = max(cap, 16)
    if off < 0 or off > size:
        raise ValueError("offset %d is outside %s (%d bytes)" % (off, rel, size))
    if size == 0:
        out.write("(empty file)")
        return
    buf = bytearray(_BUF)
    mv = memoryview(buf)
    with open(p, "rb") as f:
        if off:
            off = _utf8_start(f, off, buf, 1)
        end = size
        if off + cap < size:
            end = _utf8_start(f, off + cap, buf, -1)
            if end <= off:  # not UTF-8 text: cut anywhere
                end = off + cap
        f.seek(off)
        pos = off
        while pos < end:
            n = f.readinto(mv[:min(_BUF, end - pos)])
            if not n:
                break
            out.write(mv[:n])
            pos += n
    if end < size:
        out.write("\n[cut: %s is %d bytes, this was bytes %d-%d; read on with offset=%d]"
                  % (rel, size, off, end, end))


def _list(ws, p, rel, out):
    k = kind(p)[0]
    if k != 0x4000:
        raise ValueError(("%s is a file: use read_file" if k else "no such folder: %s") % rel)
    shown = more = 0
    ls = getattr(os, "ilistdir", None)
    for e in (ls(p) if ls else os.listdir(p)):
        nm = e if isinstance(e, str) else e[0]
        if p == ws and (nm == STAGING[1:] or nm == "state"):
            continue
        if shown >= _LIST_CAP:
            more += 1
            continue
        k, size = kind(p + "/" + nm)
        out.write("%s/\n" % nm if k == 0x4000 else "%s (%d bytes)\n" % (nm, size))
        shown += 1
    if more:
        out.write("[%d more entries not shown]" % more)
    elif not shown:
        out.write("(empty folder)")
