# Workspace file tools that write: write_file, append_file, edit_file. The paths follow the
# rules of files.py (loaded with this module); state/, sessions/ and cron/ are the running
# agent's own and read-only here.
#
# Content goes straight from the arguments to a staging file (files.STAGING) through the
# parser's buffer, then replaces or extends the target: no content argument is ever held
# in RAM whole (edit_file holds its two small strings, <= 1 KB each). Written text passes
# the log's scrubber first, so a key the model saw in an error never lands in a file.
#
# Flash is budgeted: what the tools write must fit the workspace quota
# (agents.defaults.workspace_quota_kb: everything in the workspace but state/ counts,
# sessions included) and must leave _RESERVE bytes of the flash free, so the bot's own
# writes (state, sessions) never find it full.
import os

from micropython import const

from picoclaw.agent.session import scrub
from picoclaw.json.stream import OBJ
from picoclaw.tools.files import STAGING, fs_error, kind, resolve

_BUF = const(256)  # bytes per read/write step
_PATH_CAP = const(160)  # as files.py's
_CONTENT_CAP = const(32768)  # write/append content beyond this is dropped, with a note
_EDIT_CAP = const(1024)  # old/new of edit_file: both sit in RAM while the file streams by
_RESERVE = const(98304)  # bytes of flash the tools leave free: a turn's state (inbox of 10
#                          messages, the answer and its Telegram pieces, tool calls) and the
#                          sessions' growth until the next summary
_DEPTH = const(8)  # folders deep the quota walk goes (deeper ones count as empty)


def _room(ws, quota_kb):
    """Bytes the tools may still write: the quota left, and the flash beyond the reserve."""
    room = quota_kb * 1024
    todo = [(ws, 0)]  # the workspace's files, state/ left out, up to _DEPTH folders down
    while todo:
        d, level = todo.pop()
        for e in os.ilistdir(d):
            if level == 0 and e[0] == "state":
                continue
            k, size = kind(d + "/" + e[0])
            if k != 0x4000:
                room -= size
            elif level < _DEPTH:
                todo.append((d + "/" + e[0], level + 1))
    try:
        st = os.statvfs(ws)
        room = min(room, st[0] * st[4] - _RESERVE)  # f_bsize * f_bavail
    except (OSError, AttributeError):
        pass
    return room


def run(name, args, ctx, out):
    ws = ctx.workspace
    tmp = ws + STAGING
    a = None
    quota_kb = getattr(ctx, "workspace_quota_kb", 512)
    try:
        room = _room(ws, quota_kb)
        a = _args(args, tmp, room)
        rel = a[0]
        p = resolve(ws, rel)
        i = p.find("/", len(ws) + 1)
        if p[len(ws) + 1:i if i > 0 else len(p)] in ("state", "sessions", "cron"):
            # the running agent's own files: a change under it could break the turn
            raise ValueError("%s is kept by PicoClaw itself: state/, sessions/ and cron/ are"
                             " read-only for tools (jobs: use the cron tool)" % rel)
        k = kind(p)[0]
        if k == 0x4000:
            raise ValueError("%s is a folder: use list_dir" % rel)
        if name == "edit_file":
            if not k:
                raise ValueError("no such file: %s" % rel)
            if a[3] and a[4] is not None and len(a[4]) - len(a[3]) > room:
                raise ValueError("not edited: the workspace is full (quota or flash): delete or "
                                 "shorten files first")
            _edit(p, rel, a[3], a[4], tmp, out)
            return
        # write_file, append_file
        if a[1] < 0:
            raise ValueError("content is required")
        if a[2] and room < _CONTENT_CAP:  # cut by the room left, not by the cap
            raise ValueError("not written: the workspace is full (quota %d KB, "
                             "agents.defaults.workspace_quota_kb, or the flash): delete or "
                             "shorten files first" % quota_kb)
        _mkdirs(ws, p)
        scrub(tmp)
        if name == "write_file":
            _replace(tmp, p)
            out.write("wrote %d bytes to %s" % (a[1], rel))
        else:
            buf = bytearray(_BUF)
            with open(tmp, "rb") as src, open(p, "ab") as dst:
                while True:
                    n = src.readinto(buf)
                    if not n:
                        break
                    dst.write(memoryview(buf)[:n] if n < _BUF else buf)
            out.write("appended %d bytes to %s (now %d bytes)" % (a[1], rel, kind(p)[1]))
        if a[2]:
            out.write("; content was over %d bytes and was cut there: add the rest with"
                      " append_file" % _CONTENT_CAP)
    except OSError as e:
        raise fs_error(e, a and a[0])
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _args(args, tmp, cap=_CONTENT_CAP):
    """Read the arguments object: [path, content bytes (-1: absent), content cut, old,
    new]. Content goes straight to the staging file `tmp`, whatever the key order, at most
    `cap` bytes of it (a[2] says if it was cut)."""
    a = [None, -1, False, None, None]
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"path"):
            a[0] = args.read_str(_PATH_CAP)
            if args.truncated:
                raise ValueError("path is too long")
        elif args.key_is(b"content"):
            try:
                os.mkdir(tmp[:-len(STAGING)])  # a fresh workspace
            except OSError:
                pass
            with open(tmp, "wb") as f:
                a[1], a[2] = args.copy_str(lambda b, n: f.write(memoryview(b)[:n]),
                                           max(0, min(cap, _CONTENT_CAP)))
        elif args.key_is(b"old") or args.key_is(b"new"):
            k = 3 if args.key_is(b"old") else 4
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
                raise ValueError("%s is over %d bytes: edit a smaller piece" % ("old" if k == 3 else "new", _EDIT_CAP))
            buf = b[0] or bytearray()
            buf[b[1]:] = b""
            a[k] = buf
        else:
            args.skip()
    return a


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
    out.write("edited %s: replaced 1 occurrence (now %d bytes)" % (rel, kind(p)[1]))


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
        if kind(dst)[0] != 0x8000:
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
