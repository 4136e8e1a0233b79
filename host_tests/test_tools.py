# Agent tools (registry, files, system, message, gpio): confinement of every path to the
# workspace, streaming of big contents through a small heap, caps and their notes, the GPIO
# allow-list, and the schemas the LLM request carries. Runs on CPython (pytest) and on the
# unix port (test_unix_port.py: host_tests/support/mp_runner.py, this file and the firmware
# from .mpy), where it passes at 118k; the tools under test get only ROOM of it.
import gc
import io
import json
import os
import sys

import mptest
import picoclaw
from picoclaw import tools
from picoclaw.json import stream as jsonstream

BASE = "/tmp/picoclaw-tools-test-" + sys.implementation.name
WS = BASE + "/ws"
SENTINEL = BASE + "/secret.txt"
RES = BASE + "-result"  # outside BASE, so a snapshot of BASE does not see it
# contents generated on the fly: multi-byte characters (2, 3, 4 bytes) land on every offset
PAT = "Lorem ipsum \u00e9 dolor \u20ac sit \U0001F600 amet; ".encode()  # 40 bytes, 34 characters
REP = PAT * (1200 // len(PAT) + 2)
# free heap a file tool gets in the big-content tests (MicroPython: one region, every other
# hole filled), less than any content or file they handle (20 KB and more). Measured need on
# the x64 unix port: about 10-13 KB (the files module itself is 8.7 KB of it)
ROOM = 16000


# -- helpers ---------------------------------------------------------------------------------
class Ctx:
    """The agent's context as TOOLS_SPEC.md describes it."""

    def __init__(self, **kw):
        self.workspace = WS
        self.chat_id = 7
        self.send = None
        self.pins = {}
        self.machine = None
        self.cron = None
        self.read_cap = 4096
        self.t = 1700000000
        self.st = {"heap_free": 41000, "heap_used": 23000, "uptime_s": 93784,
                   "wifi": {"ssid": "home", "rssi": -61, "password": "hunter2"}}
        for k in kw:
            setattr(self, k, kw[k])

    def now(self):
        if isinstance(self.t, BaseException):
            raise self.t
        return self.t

    def status(self):
        if isinstance(self.st, BaseException):
            raise self.st
        return self.st


class Gen:
    """Parser source: `pre`, then n bytes of PAT repeated, then `post`. Never held whole, so
    a 40 KB content costs the test no more heap than a 40-byte one."""

    def __init__(self, pre, n, post):
        self.buf = bytearray(256)
        self.start = 0
        self.pre = pre
        self.n = n
        self.post = post
        self.i = 0

    def fill(self):
        a = len(self.pre)
        b = a + self.n
        end = b + len(self.post)
        buf = self.buf
        i = self.i
        k = 0
        while k < 256 and i < end:
            if i < a:
                buf[k] = self.pre[i]
            elif i < b:
                buf[k] = PAT[(i - a) % len(PAT)]
            else:
                buf[k] = self.post[i - b]
            i += 1
            k += 1
        self.i = i
        return k


def _put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _put_pat(path, n):
    with open(path, "wb") as f:
        i = 0
        while i < n:
            k = min(256, n - i)
            s = i % len(PAT)
            f.write(REP[s:s + k])
            i += k


def _is_pat(path, n, start=0):
    """Is the file n bytes of PAT, continuing the pattern from offset `start`?"""
    buf = bytearray(256)
    i = 0
    with open(path, "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            s = (start + i) % len(PAT)
            if buf[:k] != REP[s:s + k]:
                return False
            i += k
    return i == n


def _is_pat_bytes(b):
    for i in range(0, len(b), 256):
        s = i % len(PAT)
        k = min(256, len(b) - i)
        if b[i:i + k] != REP[s:s + k]:
            return False
    return True


def _get(path):
    with open(path, "rb") as f:
        return f.read()


def _kind(p):
    try:
        return os.stat(p)[0] & 0xF000
    except OSError:
        return 0


def _rmtree(p):
    k = _kind(p)
    if k == 0x4000:
        for e in list(os.ilistdir(p)):
            _rmtree(p + "/" + e[0])
        os.rmdir(p)
    elif k:
        os.remove(p)


def _fresh():
    _rmtree(BASE)
    os.mkdir(BASE)
    os.mkdir(WS)
    _put(SENTINEL, b"do not touch")
    _put(WS + "/notes.txt", b"hello world\n")


def _tree(p=BASE, acc=None):
    """Sorted [(path, content)] of everything under p: the snapshot attacks must not change."""
    acc = [] if acc is None else acc
    for e in os.ilistdir(p):
        q = p + "/" + e[0]
        if _kind(q) == 0x4000:
            acc.append((q + "/", b""))
            _tree(q, acc)
        else:
            acc.append((q, _get(q)))
    return sorted(acc)


def _reader(args):
    if isinstance(args, dict):
        args = json.dumps(args).encode()
    src = args if hasattr(args, "fill") else jsonstream.StreamSource(io.BytesIO(args), bytearray(256))
    return jsonstream.JsonReader(src, bytearray(256))


def call(name, args, ctx=None, cap=16384):
    """Run tool `name` with `args` (dict, JSON bytes or a source); return the result text."""
    out = tools.Result(RES, cap)
    try:
        tools.run(name, _reader(args), ctx or Ctx(), out)
    finally:
        out.close()
    return str(_get(RES), "utf-8")


def _squeeze(room):
    """MicroPython: leave one free region of `room` bytes and fill every other hole of the
    heap, so a tool that held its content or file whole would fail. Keep the returned
    ballast alive while the tool runs."""
    if not mptest.MICROPYTHON:
        return None
    # load the file tools once first: their first import interns their names for good
    # (the qstr pool may grow by a block then), a one-time cost this test is not about
    call("list_dir", {})
    call("write_file", {})  # the writing side too ("path is required": nothing written)
    gc.collect()
    hole = bytearray(room)
    keep = None
    for size in (2048, 256, 32, 1):  # a chain of tuples: no list to grow
        try:
            while True:
                keep = (keep, bytearray(size))
        except MemoryError:
            pass
    hole = None  # noqa: F841
    gc.collect()
    return keep


class _Pin:
    """Fake machine.Pin: records modes and levels (class-level, reset by _fake_machine)."""
    IN = 1
    OUT = 3
    modes = {}
    levels = {}

    def __init__(self, n, mode=-1):
        self.n = n
        if mode != -1:
            _Pin.modes[n] = mode

    def value(self, v=None):
        if v is None:
            return _Pin.levels.get(self.n, 0)
        _Pin.levels[self.n] = v


class _ADC:
    raw = {}

    def __init__(self, pin):
        self.n = pin.n

    def read_u16(self):
        return _ADC.raw.get(self.n, 0)


class _Machine:
    Pin = _Pin
    ADC = _ADC


def _fake_machine():
    _Pin.modes = {}
    _Pin.levels = {}
    _ADC.raw = {}
    return _Machine


PINS = {"gpio_out": [2, 4], "gpio_in": [5], "adc": [26]}


def _cron_present():
    # the cron tool is another module's work: covered here only when it is in the firmware
    try:
        picoclaw.load("picoclaw.tools.cron")
    except ImportError:
        return False
    finally:
        picoclaw.unload("picoclaw.tools.cron")
    return True


# -- registry ----------------------------------------------------------------------------------
def test_module_of_names_each_tool_and_nothing_else():
    assert tools.module_of("read_file") == "files"
    assert tools.module_of("list_dir") == "files"
    assert tools.module_of("write_file") == "writes"
    assert tools.module_of("system_status") == "system"
    assert tools.module_of("message") == "message"
    assert tools.module_of("adc_read") == "gpio"
    assert tools.module_of("cron") == "cron"
    for bad in ("", "e_file", "read", "files", "read_file:files", "read_file get_time", "nope", "ron"):
        assert tools.module_of(bad) is None, bad
    names = [p.split(":")[0] for p in tools.NAMES.split()]
    assert len(names) == len(set(names))


def _schemas(ctx, anthropic):
    from picoclaw.tools.offer import write_schemas

    w = io.BytesIO()
    write_schemas(w, ctx, anthropic)
    return json.loads("[" + str(w.getvalue(), "utf-8") + "]")


def _check_schema(params, desc):
    assert isinstance(desc, str) and len(desc) > 20
    assert params["type"] == "object"
    props = params["properties"]
    assert isinstance(props, dict)
    for k in params.get("required", []):
        assert k in props, k


def test_schemas_parse_in_both_shapes_and_name_every_tool():
    ctx = Ctx(send=lambda t: None, pins=PINS, machine=_fake_machine(), cron=object(),
              web=(0, (), ("searxng", "", "http://127.0.0.1:1", 5)))
    want = [p.split(":")[0] for p in tools.NAMES.split()]
    if not _cron_present():
        want.remove("cron")
    got = []
    for e in _schemas(ctx, False):
        assert e["type"] == "function"
        f = e["function"]
        _check_schema(f["parameters"], f["description"])
        got.append(f["name"])
    assert got == want, got
    got = []
    for e in _schemas(ctx, True):
        _check_schema(e["input_schema"], e["description"])
        got.append(e["name"])
    assert got == want, got
    for mod in ("schemas", "files", "writes", "system", "message", "gpio", "cron"):
        assert "picoclaw.tools." + mod not in sys.modules, mod
        assert not hasattr(tools, mod), mod
    from picoclaw.tools import schemas  # every schema it holds names a registered tool

    for s in schemas.SCHEMAS:
        assert tools.module_of(s[0].decode()) not in (None, "cron"), s[0]
        assert b'"' not in s[1] and b"\\" not in s[1], s[0]
    schemas = None
    picoclaw.unload("picoclaw.tools.schemas")


def test_schemas_leave_out_what_the_device_lacks():
    names = [e["name"] for e in _schemas(Ctx(), True)]
    assert names == ["read_file", "write_file", "append_file", "edit_file", "list_dir",
                     "get_time", "system_status"], names
    names = [e["name"] for e in _schemas(Ctx(pins={"adc": [26], "gpio_out": []}), True)]
    assert "adc_read" in names and "gpio_read" not in names and "gpio_write" not in names
    descs = " ".join(e["function"]["description"] for e in _schemas(Ctx(), False))
    assert "memory/MEMORY.md" in descs


def test_run_drops_the_module_and_refuses_unknown_or_unavailable_tools():
    _fresh()
    assert call("get_time", b"{}").startswith("2023-11-14T22:13:20Z")
    assert "picoclaw.tools.system" not in sys.modules and not hasattr(tools, "system")
    assert call("nope", b"{}") == "error: unknown tool nope"
    assert call("message", {"text": "hi"}) == "error: tool message is not available on this device"
    assert call("gpio_write", {"pin": 2, "value": 1}).startswith("error: tool gpio_write is not available")
    assert "picoclaw.tools.message" not in sys.modules


def test_failures_are_one_error_line_and_memoryerror_passes():
    _fresh()
    r = call("read_file", b'{"path": 5}')
    assert r.startswith("error: bad arguments for read_file: JSON") and "\n" not in r, r
    r = call("system_status", b"{}", Ctx(st=RuntimeError("boom\nsecond line")))
    assert r == "error: system_status failed: RuntimeError boom", r
    assert "picoclaw.tools.system" not in sys.modules
    try:
        call("get_time", b"{}", Ctx(t=MemoryError()))
    except MemoryError:
        pass
    else:
        assert False, "MemoryError was swallowed"
    assert "picoclaw.tools.system" not in sys.modules
    assert call("read_file", b'{"path": "notes.txt"').startswith("error: bad arguments")


def test_result_cuts_at_a_character_boundary_with_a_note():
    out = tools.Result(RES, 10)
    out.write("abcdefgh")
    out.write("\u00e9\u00e9")  # 4 bytes, only 2 fit: one whole character
    out.write("more")
    assert out.cut and out.n == 10
    out.close()
    assert _get(RES) == "abcdefgh\u00e9\n[cut: result over 10 bytes]".encode()
    out = tools.Result(RES, 10)
    out.write(b"abcdefghi")
    out.write(memoryview(b"\xe2\x82\xacxyz")[:3])  # a 3-byte character does not fit in 1
    assert out.n == 9 and out.cut
    out.close()


# -- files: happy paths ------------------------------------------------------------------------
def test_file_tools_happy_path():
    _fresh()
    assert call("write_file", {"path": "memory/MEMORY.md", "content": "# Memory\n- likes tea\n"}) \
        == "wrote 21 bytes to memory/MEMORY.md"
    assert call("read_file", {"path": "memory/MEMORY.md"}) == "# Memory\n- likes tea\n"
    assert call("append_file", {"path": "memory/MEMORY.md", "content": "- caf\u00e9 at 8\n"}) \
        == "appended 13 bytes to memory/MEMORY.md (now 34 bytes)"
    assert call("edit_file", {"path": "memory/MEMORY.md", "old": "tea", "new": "green tea"}) \
        == "edited memory/MEMORY.md: replaced 1 occurrence (now 40 bytes)"
    assert _get(WS + "/memory/MEMORY.md") == "# Memory\n- likes green tea\n- caf\u00e9 at 8\n".encode()
    assert call("append_file", {"path": "new/deep/log.txt", "content": "one"}).startswith("appended 3")
    assert call("write_file", {"content": "two", "path": "new/deep/log.txt"}) == "wrote 3 bytes to new/deep/log.txt"
    assert _get(WS + "/new/deep/log.txt") == b"two"
    assert call("write_file", {"path": "empty.txt", "content": ""}) == "wrote 0 bytes to empty.txt"
    assert call("read_file", {"path": "empty.txt"}) == "(empty file)"
    lines = sorted(call("list_dir", {}).splitlines())
    assert lines == ["empty.txt (0 bytes)", "memory/", "new/", "notes.txt (12 bytes)"], lines
    assert call("list_dir", {"path": "new/deep/"}) == "log.txt (3 bytes)\n"
    assert call("list_dir", {"path": "."}) == call("list_dir", {"path": ""})
    os.mkdir(WS + "/void")
    assert call("list_dir", {"path": "void"}) == "(empty folder)"
    assert call("read_file", {"path": "./notes.txt", "offset": "6"}) == "world\n"
    assert call("read_file", {"path": "notes.txt", "offset": None}) == "hello world\n"
    assert call("edit_file", {"path": "notes.txt", "old": "hello ", "new": ""}).startswith("edited")
    assert _get(WS + "/notes.txt") == b"world\n"
    assert not [e for e in os.ilistdir(WS) if e[0] == ".tool~"]  # staging file gone


def test_file_tools_explain_what_is_wrong():
    _fresh()
    before = _tree()
    cases = (
        ("read_file", {"path": "missing.txt"}, "no such file: missing.txt"),
        ("read_file", {}, "path is required"),
        ("read_file", {"path": None}, "path is required"),
        ("read_file", {"path": "notes.txt", "offset": 99}, "offset 99 is outside notes.txt (12 bytes)"),
        ("read_file", {"path": "notes.txt", "offset": -1}, "offset -1 is outside"),
        ("read_file", {"path": "notes.txt", "offset": "x"}, "offset must be a whole number"),
        ("edit_file", {"path": "missing.txt", "old": "a", "new": "b"}, "no such file"),
        ("edit_file", {"path": "notes.txt", "old": "", "new": "b"}, "old is required"),
        ("edit_file", {"path": "notes.txt", "old": "hello"}, "new is required"),
        ("write_file", {"path": "x.txt"}, "content is required"),
        ("write_file", {"path": "notes.txt/x", "content": "a"}, "notes.txt/x: "),
        ("list_dir", {"path": "notes.txt"}, "notes.txt is a file: use read_file"),
        ("list_dir", {"path": "nowhere"}, "no such folder: nowhere"),
        ("read_file", {"path": "a" * 161}, "path is too long"),
        ("read_file", {"path": ".tool~"}, "reserved"),
    )
    for name, args, want in cases:
        r = call(name, args)
        assert r.startswith("error: ") and want in r and "\n" not in r, (name, args, r)
    for d in ("state", "sessions", "cron"):  # the running agent's files
        os.mkdir(WS + "/" + d)
        _put(WS + "/" + d + "/f", b"agent data")
        for name in ("write_file", "append_file", "edit_file"):
            r = call(name, {"path": "./" + d + "/f", "content": "x", "old": "agent", "new": "x"})
            assert r.startswith("error: ./%s/f is kept by PicoClaw itself" % d) or \
                d == "state" and r.startswith("error: no such file: ./state/f"), r
        if d == "state":  # the inbox (strangers' messages) and the offset: invisible
            assert call("read_file", {"path": d + "/f"}).startswith("error: no such file: state/f")
            assert "state" not in call("list_dir", {})
            continue
        assert call("write_file", {"path": d, "content": "x"}).startswith("error: %s is kept" % d)
        assert call("read_file", {"path": d + "/f"}) == "agent data"
        assert _get(WS + "/" + d + "/f") == b"agent data"
    os.mkdir(WS + "/dir")
    before = _tree()
    for name in ("read_file", "write_file", "append_file", "edit_file"):
        r = call(name, {"path": "dir", "content": "x", "old": "a", "new": "b"})
        assert r == "error: dir is a folder: use list_dir", r
    assert _tree() == before


def test_symbolic_links_inside_the_workspace_are_not_followed():
    _fresh()
    out = BASE + "-outside"  # beside BASE: the helpers here walk BASE and would follow a link
    try:
        os.mkdir(out)
    except OSError:
        pass
    _put(out + "/secret.txt", b"do not touch")
    links = ((out, WS + "/outside"), (out + "/secret.txt", WS + "/secret"))
    for target, link in links:
        if hasattr(os, "symlink"):
            os.symlink(target, link)
        else:  # the unix port: no os.symlink, but a shell
            os.system("ln -s %s %s" % (target, link))
    try:
        for name, args in (("read_file", {"path": "secret"}), ("read_file", {"path": "outside/secret.txt"}),
                           ("write_file", {"path": "outside/new.txt", "content": "x"}),
                           ("append_file", {"path": "secret", "content": "x"}),
                           ("list_dir", {"path": "outside"})):
            r = call(name, args)
            assert r.startswith("error: ") and "symbolic link" in r and "do not touch" not in r, (name, r)
        assert _get(out + "/secret.txt") == b"do not touch"
        assert not [e for e in os.ilistdir(out) if e[0] == "new.txt"]
    finally:
        for _target, link in links:
            os.remove(link)


def test_writes_stop_at_the_workspace_quota_with_a_clear_error():
    _fresh()
    small = Ctx(workspace_quota_kb=4)  # 4 KB in all; notes.txt holds 12 bytes of it
    assert call("write_file", {"path": "a.txt", "content": "x" * 3000}, small) == "wrote 3000 bytes to a.txt"
    for name in ("write_file", "append_file"):
        r = call(name, {"path": "b.txt", "content": "y" * 2000}, small)
        assert r.startswith("error: not written: the workspace is full (quota 4 KB"), r
    assert not [e for e in os.ilistdir(WS) if e[0] in ("b.txt", ".tool~")]
    assert call("append_file", {"path": "a.txt", "content": "z" * 500}, small).startswith("appended 500")
    os.mkdir(WS + "/sessions")  # a session counts too (state/ does not)
    _put(WS + "/sessions/1.jsonl", b"s" * 300)  # 4096 - 3512 - 300: 284 bytes left
    os.mkdir(WS + "/state")
    _put(WS + "/state/inbox", b"i" * 9000)
    r = call("write_file", {"path": "c.txt", "content": "w" * 600}, small)
    assert r.startswith("error: not written"), r
    assert call("write_file", {"path": "c.txt", "content": "w" * 200}, small) == "wrote 200 bytes to c.txt"


def test_what_the_tools_write_is_scrubbed():
    from picoclaw import log

    _fresh()
    log.set_secrets(["123456:TEST-token-abcdefghijklmnop"])
    try:
        call("write_file", {"path": "n.txt", "content": "token 123456:TEST-token-abcdefghijklmnop and key "
                                                          "sk-proj-abcdefghijklmnopqrstuvwx."})
        call("append_file", {"path": "n.txt", "content": " Bearer abcdefghijklmnopqrstuvwxyz"})
        text = _get(WS + "/n.txt")
        assert b"TEST-token" not in text and b"abcdefghijklmnop" not in text, text
        assert text.startswith(b"token xxxx") and b"key sk-xxxx" in text
    finally:
        log.set_secrets([])


# -- files: confinement ------------------------------------------------------------------------
BAD = ("../secret.txt", "../pwned", "./../pwned", "a/../../pwned", "a/b/../../../pwned",
       "//etc/passwd", "/etc/passwd", BASE + "/pwned", "~/pwned", "~", "C:\\pwned",
       "a\\..\\..\\pwned", "..\\pwned", "..", "../", "a/..", "a/../notes.txt", "../ws/notes.txt",
       "x\x00y", "notes.txt\x00.png", "a/\tb", "line\nbreak", "...", "..../pwned", ".. /pwned",
       "a/.. /../pwned", "a. /b", "pwned.", "C:pwned", "./..", "a/./../..", "/", "")


def test_every_escape_is_refused_and_nothing_changes():
    _fresh()
    os.mkdir(WS + "/a")
    before = _tree()
    for bad in BAD:
        for name, args in (("read_file", {"path": bad}),
                           ("write_file", {"content": "pwned", "path": bad}),
                           ("append_file", {"path": bad, "content": "pwned"}),
                           ("edit_file", {"path": bad, "old": "do not", "new": "pwned"}),
                           ("list_dir", {"path": bad})):
            if name == "list_dir" and bad in ("", "/"):
                continue  # "" is the workspace itself; "/" is refused below
            r = call(name, args)
            assert r.startswith("error: ") and "\n" not in r, (name, bad, r)
            assert "do not touch" not in r and "hello" not in r, (name, bad, r)
        assert _tree() == before, bad
    assert call("list_dir", {"path": "/"}).startswith("error: path must be relative")
    assert _get(SENTINEL) == b"do not touch"


def test_odd_but_harmless_names_stay_inside_the_workspace():
    _fresh()
    for p, where in (("%2e%2e/pwned", "/%2e%2e/pwned"), ("./x", "/x"), ("a//b", "/a/b"),
                     ("a/./b/.", "/a/b"), ("\uff0e\uff0e/y", "/\uff0e\uff0e/y"), (".hidden", "/.hidden"),
                     ("%2e%2e%2fz", "/%2e%2e%2fz")):
        assert call("write_file", {"path": p, "content": "in"}).startswith("wrote 2 bytes"), p
        assert _get(WS + where) == b"in", p
        assert call("read_file", {"path": p}) == "in"
    assert _get(SENTINEL) == b"do not touch"
    assert sorted(e[0] for e in os.ilistdir(BASE)) == ["secret.txt", "ws"]


# -- files: big contents, small heap -----------------------------------------------------------
def test_read_is_cut_with_a_note_and_continues_by_offset():
    _fresh()
    n = len(PAT) * 300  # 12 KB of 1- to 4-byte characters
    _put_pat(WS + "/big.txt", n)
    ctx = Ctx(read_cap=1000)
    off = 0
    rounds = 0
    while True:
        r = call("read_file", {"path": "big.txt", "offset": off}, ctx).encode()
        i = r.find(b"\n[cut: ")
        part = r if i < 0 else r[:i]
        assert part == REP[off % len(PAT):off % len(PAT) + len(part)], off  # whole characters
        if i < 0:
            assert off + len(part) == n
            break
        assert 997 <= len(part) <= 1000, len(part)
        off += len(part)
        assert r[i:] == ("\n[cut: big.txt is %d bytes, this was bytes %d-%d; read on with offset=%d]"
                         % (n, off - len(part), off, off)).encode(), r[i:]
        rounds += 1
    assert rounds in (11, 12), rounds
    # a read far into a 24 KB file, with less free heap than the file
    _put_pat(WS + "/big.txt", 24000)
    ballast = _squeeze(ROOM)
    r = call("read_file", {"path": "big.txt", "offset": 20000}, cap=4096)
    ballast = None  # noqa: F841
    assert r.startswith("Lorem ipsum") and r.endswith("bytes 20000-23936; read on with offset=23936]"), r[-60:]
    # an offset inside a character starts at the next whole one
    s = PAT.find("\u20ac".encode())
    assert call("read_file", {"path": "big.txt", "offset": s + 1}, Ctx(read_cap=20)).startswith(" sit ")
    # the result's own cap bounds the read, leaving room for the note
    r = call("read_file", {"path": "big.txt"}, Ctx(read_cap=100000), cap=2000)
    assert "[cut: big.txt is" in r and not r.endswith("result over 2000 bytes]"), r[-80:]


def test_write_and_append_stream_big_content_through_a_small_heap():
    _fresh()
    n = len(PAT) * 500  # 20 KB
    ballast = _squeeze(ROOM)  # less free heap than the content: it cannot be held whole
    r = call("write_file", Gen(b'{"path": "big/one.txt", "content": "', n, b'"}'))
    r2 = call("append_file", Gen(b'{"content": "', n, b'", "path": "big/one.txt"}'))
    ballast = None  # noqa: F841
    assert r == "wrote %d bytes to big/one.txt" % n, r
    assert r2 == "appended %d bytes to big/one.txt (now %d bytes)" % (n, 2 * n), r2
    assert _is_pat(WS + "/big/one.txt", 2 * n)


def test_content_over_the_cap_is_cut_with_a_note():
    _fresh()
    n = 40000
    ballast = _squeeze(ROOM)
    r = call("write_file", Gen(b'{"path": "cut.txt", "content": "', n, b'"}'))
    ballast = None  # noqa: F841
    size = os.stat(WS + "/cut.txt")[6]
    assert 32765 <= size <= 32768 and _is_pat(WS + "/cut.txt", size)
    assert REP[size % len(PAT)] & 0xC0 != 0x80  # cut where a character starts
    assert r == ("wrote %d bytes to cut.txt; content was over 32768 bytes and was cut there: add"
                 " the rest with append_file" % size), r


def test_edit_streams_a_big_file_through_a_small_heap():
    _fresh()
    n = len(PAT) * 250
    _put_pat(WS + "/big.txt", n)
    with open(WS + "/big.txt", "ab") as f:
        f.write(b"<<MARK>>")
    with open(WS + "/big.txt", "ab") as f:
        f.write(REP[:len(PAT)] * 250)
    ballast = _squeeze(ROOM)
    r = call("edit_file", {"path": "big.txt", "old": "<<MARK>>", "new": "\u00e9"})
    ballast = None  # noqa: F841
    assert r == "edited big.txt: replaced 1 occurrence (now %d bytes)" % (2 * n + 2), r
    with open(WS + "/big.txt", "rb") as f:
        f.seek(n - 4)
        assert f.read(10) == PAT[-4:] + "\u00e9".encode() + REP[:4]


def test_edit_finds_matches_across_every_buffer_boundary():
    _fresh()
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * 60  # 2160 bytes, no 'X'
    for olen in (1, 7, 300, 1024):
        old = (b"X" + b"Y" * (olen - 2) + b"Z") if olen > 1 else b"X"
        for pos in (0, 1, 255, 256, 257, olen + 250, olen + 255, olen + 256, olen + 257,
                    2 * olen + 255, 2 * olen + 256, 1100, 2160):
            _put(WS + "/e.txt", filler[:pos] + old + filler[pos:])
            r = call("edit_file", {"path": "e.txt", "old": old.decode(), "new": "<new>"})
            assert r.startswith("edited e.txt"), (olen, pos, r)
            assert _get(WS + "/e.txt") == filler[:pos] + b"<new>" + filler[pos:], (olen, pos)


def test_edit_with_no_match_or_two_matches_changes_nothing():
    _fresh()
    _put(WS + "/e.txt", b"one two one " + b"." * 3000 + b" one")
    before = _tree()
    r = call("edit_file", {"path": "e.txt", "old": "three", "new": "x"})
    assert r.startswith("error: old was not found in e.txt"), r
    r = call("edit_file", {"path": "e.txt", "old": "one", "new": "x"})
    assert r.startswith("error: old occurs more than once in e.txt"), r
    r = call("edit_file", {"path": "e.txt", "old": "..." * 1000 + " one", "new": "x"})
    assert r.startswith("error: old is over 1024 bytes"), r
    r = call("edit_file", {"path": "e.txt", "old": "two", "new": "x" * 1025})
    assert r.startswith("error: new is over 1024 bytes"), r
    _put(WS + "/s.txt", b"x" + b"ab" * 300 + b"y")  # spanning pair, far apart: still two
    before = _tree()
    r = call("edit_file", {"path": "s.txt", "old": "abab", "new": "c"})
    assert r.startswith("error: old occurs more than once"), r
    assert _tree() == before


def test_list_dir_caps_the_count_with_a_note():
    _fresh()
    for i in range(70):
        _put(WS + "/f%02d" % i, b"x" * i)
    os.mkdir(WS + "/sub")
    _put(WS + "/.tool~", b"leftover staging file")  # never shown
    r = call("list_dir", {}).splitlines()
    assert len(r) == 65 and r[-1] == "[8 more entries not shown]", r[-3:]  # 70 + notes.txt + sub/
    shown = [x for x in r[:-1]]
    assert all(x.endswith(" bytes)") or x == "sub/" for x in shown), shown
    assert not [x for x in shown if ".tool~" in x]


# -- system, message, gpio ---------------------------------------------------------------------
def test_get_time_is_utc_iso_with_weekday_and_uptime():
    cases = ((0, "1970-01-01T00:00:00Z (Thu"), (951782400, "2000-02-29T00:00:00Z (Tue"),
             (1735689599, "2024-12-31T23:59:59Z (Tue"), (1709251199, "2024-02-29T23:59:59Z (Thu"),
             (4102444800, "2100-01-01T00:00:00Z (Fri"), (1700000000, "2023-11-14T22:13:20Z (Tue"),
             (253402300799, "9999-12-31T23:59:59Z (Fri"))
    for t, want in cases:
        r = call("get_time", b"{}", Ctx(t=t))
        assert r.startswith(want), (t, r)
    r = call("get_time", b"{}", Ctx(st={}))
    assert r == "2023-11-14T22:13:20Z (Tue, UTC; unix time 1700000000)", r
    assert call("get_time", b"{}").endswith("; up 1d 2h 3m 4s")
    assert "clock looks unset" in call("get_time", b"{}", Ctx(t=946684800))
    # with agents.defaults.timezone: local time, the offset in the ISO string and named
    r = call("get_time", b"{}", Ctx(st={}, tz="+05:30"))
    assert r == "2023-11-15T03:43:20+05:30 (Wed, local time, UTC+05:30; unix time 1700000000)", r
    r = call("get_time", b"{}", Ctx(st={}, tz="EST5EDT,M3.2.0,M11.1.0"))
    assert r.startswith("2023-11-14T17:13:20-05:00 (Tue, local time, UTC-05:00;"), r
    r = call("get_time", b"{}", Ctx(st={}, t=1690000000, tz="EST5EDT,M3.2.0,M11.1.0"))
    assert r.startswith("2023-07-22T00:26:40-04:00 (Sat, local time, UTC-04:00 daylight saving;"), r
    if not mptest.MICROPYTHON:  # CPython's own calendar agrees on a spread of days
        import time

        for t in range(0, 4200000000, 86400 * 97 + 3607):
            g = time.gmtime(t)
            want = "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]
            assert call("get_time", {"x": 1}, Ctx(t=t, st={})).startswith(want), t


def test_system_status_shows_facts_and_no_secrets():
    ctx = Ctx()
    ctx.st = dict(ctx.st, token="123:ABC", api_key="sk-secret", wifi_password="pw1")
    r = call("system_status", b"{}", ctx)
    assert r == ("heap_free: 41000\nheap_used: 23000\nuptime_s: 1d 2h 3m 4s (93784 s)\n"
                 "wifi: rssi -61, ssid home\n"), r
    for s in ("hunter2", "ABC", "sk-secret", "pw1", "password"):
        assert s not in r, s
    assert call("system_status", b"{}", Ctx(st={})) == "no status available"


def test_message_sends_capped_text():
    sent = []
    ctx = Ctx(send=sent.append)
    assert call("message", {"text": "Reminder: tea \u2615"}, ctx) == "sent"
    assert sent == ["Reminder: tea \u2615"]
    # 130 patterns: 4420 characters in 5200 bytes; 4096 characters are 120 patterns and 16
    assert call("message", Gen(b'{"text": "', 130 * len(PAT), b'"}'), ctx) == "sent (cut to 4096 characters)"
    assert len(sent) == 2 and len(sent[1]) == 4096
    b = sent.pop().encode()
    assert len(b) == 120 * len(PAT) + 17 and _is_pat_bytes(b)
    assert call("message", Gen(b'{"text": "', 120 * len(PAT), b'"}'), ctx) == "sent"
    assert len(sent[1]) == 120 * 34
    r = call("message", {"text": ""}, ctx)
    assert r == "error: text is required and may not be empty" and len(sent) == 2, r
    ctx.send = None
    assert call("message", {"text": "x"}, ctx).startswith("error: tool message is not available")


def test_gpio_only_on_allowed_pins():
    m = _fake_machine()
    ctx = Ctx(pins=PINS, machine=m)
    assert call("gpio_write", {"pin": 2, "value": 1}, ctx) == "pin 2 set to 1"
    assert _Pin.levels[2] == 1 and _Pin.modes[2] == _Pin.OUT
    assert call("gpio_read", {"pin": 2}, ctx) == "pin 2: 1"
    assert _Pin.modes[2] == _Pin.OUT  # reading an output does not turn it into an input
    _Pin.levels[5] = 1
    assert call("gpio_read", {"pin": "5"}, ctx) == "pin 5: 1" and _Pin.modes[5] == _Pin.IN
    _ADC.raw[26] = 32768
    assert call("adc_read", {"pin": 26}, ctx) == "adc pin 26: 32768 of 65535 (50%)"
    assert call("gpio_write", {"pin": 4, "value": True}, ctx) == "pin 4 set to 1"
    before = (dict(_Pin.modes), dict(_Pin.levels))
    for name, args, want in (
            ("gpio_write", {"pin": 5, "value": 1}, "error: pin 5 is not allowed (allowed: 2, 4)"),
            ("gpio_write", {"pin": 0, "value": 1}, "error: pin 0 is not allowed (allowed: 2, 4)"),
            ("gpio_read", {"pin": 26}, "error: pin 26 is not allowed (allowed: 2, 4, 5)"),
            ("adc_read", {"pin": 2}, "error: pin 2 is not allowed (allowed: 26)"),
            ("gpio_write", {"pin": 2, "value": 2}, "error: value must be 0 or 1"),
            ("gpio_write", {"pin": 2}, "error: value must be 0 or 1"),
            ("gpio_read", {}, "error: pin is required"),
            ("gpio_read", {"pin": "two"}, "error: pin must be a whole number"),
            ("gpio_read", {"pin": 1.5}, "error: pin must be a whole number")):
        assert call(name, args, ctx) == want, (name, args, call(name, args, ctx))
    assert (_Pin.modes, _Pin.levels) == before
    assert call("adc_read", {"pin": 26}, Ctx(pins={"adc": [26]}, machine=None)) == "error: no GPIO on this board"
    assert call("gpio_write", {"pin": 2, "value": 1}, Ctx(pins={"adc": [26]}, machine=m)).startswith(
        "error: tool gpio_write is not available")
