# Workspace file tools: read_file, write_file, append_file, edit_file, list_dir.
#
# Every path comes from the model, so it is checked component by component and rebuilt
# from the clean components under ctx.workspace; a path that is absolute, names a parent
# ("..") or could be read as one by some file system is refused before anything is opened,
# and so is one through a symbolic link (where the port can tell: littlefs and FAT have
# none). state/ (the inbox with strangers' messages, the offset) is invisible to the tools.
# File data flows through one 256-byte buffer per operation: no file and no content
# argument is ever held in RAM whole (edit_file holds its two small strings, <= 1 KB each).
#
# Flash is budgeted: what the tools write must fit the workspace quota
# (agents.defaults.workspace_quota_kb: everything in the workspace but state/ counts,
# sessions included) and must leave _RESERVE bytes of the flash free, so the bot's own
# writes (state, sessions) never find it full. Written text passes the log's scrubber.
import os

from micropython import const

from ..session import scrub

_BUF = const(256)  # bytes per read/write step
_PATH_CAP = const(160)  # a longer path is refused: board file systems keep names short
_CONTENT_CAP = const(32768)  # write/append content beyond this is dropped, with a note
_EDIT_CAP = const(1024)  # old/new of edit_file: both sit in RAM while the file streams by
_LIST_CAP = const(64)  # list_dir shows this many entries and counts the rest
_TMP = "/.tool~"  # staging file at the workspace root; hidden from list_dir, not a valid path
_RESERVE = const(98304)  # bytes of flash the tools leave free: a turn's state (inbox of 10
#                          messages, the answer and its Telegram pieces, tool calls) and the
#                          sessions' growth until the next summary
_DEPTH = const(8)  # folders deep the quota walk goes (deeper ones count as empty)


def _path(ws, p, folder=False):
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
    if len(parts) == 1 and parts[0] == _TMP[1:]:
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


def _kind(p):
    """0x4000 for a folder, 0x8000 for a file, 0 when nothing is there; and the size."""
    try:
        st = os.stat(p)
    except OSError:
        return 0, 0
    return st[0] & 0xF000, st[6]


def _mkdirs(ws, p):
    # create the folders between the workspace and the file, each inside the workspace
    i = len(ws) + 1
    while True:
        i = p.find("/", i)
        if i < 0:
            return
        try:
            os.mkdir(p[:i])
        except OSError:
            pass  # exists; if it is a file, opening the target says so
        i += 1


def _replace(src, dst):
    try:
        os.rename(src, dst)  # atomic on POSIX and littlefs
    except OSError:
        if _kind(dst)[0] != 0x8000:
            raise
        os.remove(dst)  # FAT cannot rename onto an existing file
        os.rename(src, dst)


def _move(mv, d, s, n):
    # memoryview slice assignment is a memcpy: copy in pieces that do not overlap
    while n > 0:
        k = min(n, s - d)
        mv[d:d + k] = mv[s:s + k]
        d += k
        s += k
        n -= k


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


def _args(args, tmp, cap=_CONTENT_CAP):
    """Read the arguments object: [path, offset, content bytes (-1: absent), content cut,
    old, new]. Content goes straight to the staging file `tmp`, whatever the key order, at
    most `cap` bytes of it (a[3] says if it was cut)."""
    a = [None, 0, -1, False, None, None]
    args.expect(1)  # OBJ
    while args.next_key():
        if args.key_is(b"path"):
            a[0] = args.read_str(_PATH_CAP)
            if args.truncated:
                raise ValueError("path is too long")
        elif args.key_is(b"offset"):
            v = args.value(args.next())
            if isinstance(v, str) and v.strip().isdigit():  # models send "120" as well
                v = int(v)
            if v is not None and v != "" and not isinstance(v, int):
                raise ValueError("offset must be a whole number of bytes")
            a[1] = v or 0
        elif args.key_is(b"content"):
            try:
                os.mkdir(tmp[:-len(_TMP)])  # a fresh workspace
            except OSError:
                pass
            with open(tmp, "wb") as f:
                a[2], a[3] = args.copy_str(lambda b, n: f.write(memoryview(b)[:n]),
                                           max(0, min(cap, _CONTENT_CAP)))
        elif args.key_is(b"old") or args.key_is(b"new"):
            k = 4 if args.key_is(b"old") else 5
            # a short string comes in one piece and costs its size; a longer one gets the
            # whole cap at its second piece, filled in place and shortened at the end
            # (growing piece by piece leaves a trail of freed blocks in a tight heap)
            b = [None, 0]

            def sink(s, m):
                buf = b[0]
                n = b[1]
                if buf is None:
                    buf = bytearray(memoryview(s)[:m])
                else:
                    if len(buf) < _EDIT_CAP:
                        buf = bytearray(_EDIT_CAP)
                        buf[:n] = b[0]
                    buf[n:n + m] = memoryview(s)[:m]
                b[0] = buf
                b[1] = n + m

            if args.copy_str(sink, _EDIT_CAP)[1]:
                raise ValueError("%s is over %d bytes: edit a smaller piece" % ("old" if k == 4 else "new", _EDIT_CAP))
            buf = b[0] or bytearray()
            buf[b[1]:] = b""
            a[k] = buf
        else:
            args.skip()
    return a


def run(name, args, ctx, out):
    ws = ctx.workspace
    tmp = ws + _TMP
    a = None
    room = _CONTENT_CAP
    try:
        if name != "read_file" and name != "list_dir":
            # what the tools may still write: the quota left, and the flash beyond the reserve
            room = getattr(ctx, "workspace_quota_kb", 512) * 1024
            todo = [(ws, 0)]  # the workspace's files, state/ left out, up to _DEPTH folders down
            while todo:
                d, level = todo.pop()
                for e in os.ilistdir(d):
                    if level == 0 and e[0] == "state":
                        continue
                    kind, size = _kind(d + "/" + e[0])
                    if kind != 0x4000:
                        room -= size
                    elif level < _DEPTH:
                        todo.append((d + "/" + e[0], level + 1))
            try:
                st = os.statvfs(ws)
                room = min(room, st[0] * st[4] - _RESERVE)  # f_bsize * f_bavail
            except (OSError, AttributeError):
                pass
        a = _args(args, tmp, room)
        rel = a[0]
        if name == "list_dir":
            _list(ws, _path(ws, rel or ".", True), rel or ".", out)
            return
        p = _path(ws, rel)
        if name != "read_file":
            i = p.find("/", len(ws) + 1)
            if p[len(ws) + 1:i if i > 0 else len(p)] in ("state", "sessions", "cron"):
                # the running agent's own files: a change under it could break the turn
                raise ValueError("%s is kept by PicoClaw itself: state/, sessions/ and cron/ are"
                                 " read-only for tools (jobs: use the cron tool)" % rel)
        kind, size = _kind(p)
        if kind == 0x4000:
            raise ValueError("%s is a folder: use list_dir" % rel)
        if name == "read_file":
            if not kind:
                raise ValueError("no such file: %s" % rel)
            _read(p, rel, a[1], size, ctx, out)
        elif name == "edit_file":
            if not kind:
                raise ValueError("no such file: %s" % rel)
            if a[4] and a[5] is not None and len(a[5]) - len(a[4]) > room:
                raise ValueError("not edited: the workspace is full (quota or flash): delete or "
                                 "shorten files first")
            _edit(p, rel, a[4], a[5], tmp, out)
        else:  # write_file, append_file
            if a[2] < 0:
                raise ValueError("content is required")
            if a[3] and room < _CONTENT_CAP:  # cut by the room left, not by the cap
                raise ValueError("not written: the workspace is full (quota %d KB, "
                                 "agents.defaults.workspace_quota_kb, or the flash): delete or "
                                 "shorten files first" % getattr(ctx, "workspace_quota_kb", 512))
            _mkdirs(ws, p)
            scrub(tmp)
            if name == "write_file":
                _replace(tmp, p)
                out.write("wrote %d bytes to %s" % (a[2], rel))
            else:
                buf = bytearray(_BUF)
                with open(tmp, "rb") as src, open(p, "ab") as dst:
                    while True:
                        n = src.readinto(buf)
                        if not n:
                            break
                        dst.write(memoryview(buf)[:n] if n < _BUF else buf)
                out.write("appended %d bytes to %s (now %d bytes)" % (a[2], rel, _kind(p)[1]))
            if a[3]:
                out.write("; content was over %d bytes and was cut there: add the rest with"
                          " append_file" % _CONTENT_CAP)
    except OSError as e:
        n = e.args[0] if e.args else 0
        raise ValueError("%s: %s" % (
            (a and a[0]) or "workspace",
            "not found" if n == 2 else "no space left on flash" if n == 28 else
            "a part of the path is a file, not a folder" if n == 20 else
            "file system error %d" % n))
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


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


def _edit(p, rel, old, new, tmp, out):
    if not old:
        raise ValueError("old is required and may not be empty")
    if new is None:
        raise ValueError("new is required (empty to delete)")
    n_old = len(old)
    win = bytearray(n_old + _BUF)  # a match can start anywhere in the window
    mv = memoryview(win)
    have = 0
    eof = False
    count = 0
    with open(p, "rb") as f, open(tmp, "wb") as t:
        while True:
            if not eof:
                n = f.readinto(mv[have:])  # the window is never full here
                if n:
                    have += n
                else:
                    eof = True
            i = win.find(old, 0, have)
            if i >= 0:
                count += 1
                if count > 1:
                    raise ValueError("old occurs more than once in %s: include more of the"
                                     " surrounding text so it is unique" % rel)
                t.write(mv[:i])
                t.write(new)
                i += n_old
                _move(mv, 0, i, have - i)
                have -= i
            elif eof:
                t.write(mv[:have])
                break
            elif have >= n_old:
                # no match starts before have-n_old+1: write that part, keep the tail,
                # where a match may begin that the next read completes
                i = have - n_old + 1
                t.write(mv[:i])
                _move(mv, 0, i, have - i)
                have -= i
    if not count:
        raise ValueError("old was not found in %s (it must match exactly, spaces and line"
                         " breaks included)" % rel)
    scrub(tmp)
    _replace(tmp, p)
    out.write("edited %s: replaced 1 occurrence (now %d bytes)" % (rel, _kind(p)[1]))


def _list(ws, p, rel, out):
    kind = _kind(p)[0]
    if kind != 0x4000:
        raise ValueError(("%s is a file: use read_file" if kind else "no such folder: %s") % rel)
    shown = more = 0
    ls = getattr(os, "ilistdir", None)
    for e in (ls(p) if ls else os.listdir(p)):
        nm = e if isinstance(e, str) else e[0]
        if p == ws and (nm == _TMP[1:] or nm == "state"):
            continue
        if shown >= _LIST_CAP:
            more += 1
            continue
        kind, size = _kind(p + "/" + nm)
        out.write("%s/\n" % nm if kind == 0x4000 else "%s (%d bytes)\n" % (nm, size))
        shown += 1
    if more:
        out.write("[%d more entries not shown]" % more)
    elif not shown:
        out.write("(empty folder)")
