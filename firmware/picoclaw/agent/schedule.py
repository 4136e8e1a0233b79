# Scheduled jobs (the `cron` tool's store): one-shot, interval and cron-expression jobs,
# kept on flash in <workspace>/cron/jobs, and the UTC calendar math they need.
#
# Times are UTC epoch seconds passed in by the caller (`now`): nothing here reads a clock, and
# dates come from day numbers (clock.civil_from_days), not time.gmtime/mktime, whose epoch
# differs between ports. Cron fields and "YYYY-MM-DD HH:MM" are the owner's local time
# (agents.defaults.timezone, zone.py). Loaded only while a job is added, listed or fired
# (tools/cron.py, agent/timers.py, /cron), then unloaded; job texts stay on flash, and every
# change rewrites the file through a temp file and a rename (state.replace).
#
# File format, one job per line, 7 tab-separated fields ("#" lines are comments; a line that
# does not parse is skipped with a warning and dropped at the next rewrite):
#     id  kind  spec  mode  chat_id  next  text
#     3   cron  0 8 * * *  deliver  123456789  1795507200  Drink water\nthen stretch
# kind at|every|cron, spec its epoch second | interval in seconds | 5-field expression, mode
# agent|deliver, next the next fire (epoch second), text UTF-8 with \\ \n \r escaped.
import os

from micropython import const

from picoclaw.clock import civil_from_days, days_from_civil  # noqa: F401 (also this module's API)

from picoclaw import log
from picoclaw.state import makedirs, replace

TEXT_CAP = const(512)  # bytes of UTF-8 per job text: a reminder or a task, not a document
_MAX_JOBS = const(16)  # bounds the job list in RAM and the work of every rewrite
_BATCH = const(4)  # jobs one due() call fires: their texts are in RAM together (4 x 512 B)
_LINE = const(1200)  # longest valid line: a 512-byte text escaped (x2) plus the fields
_PIECE = const(128)  # lines are read in pieces of this size (most lines fit in one)
_SPEC_CAP = const(100)  # a cron expression is ~10-40 characters
_YEARS = const(8)  # cron search horizon: Feb 29 can be 8 years away (2096 -> 2104)
_EVERY_MIN = const(60)  # a job more often than once a minute would starve the gateway
_AGENT_MIN = const(1800)  # seconds between the runs of an agent-mode job: each is a model call
#                           (the heartbeat's default pace); a job due sooner is held back
_EVERY_MAX = const(315360000)  # 10 years
# a parsed cron expression is one bytearray of flags: minute 0-59 at 0, hour 0-23 at _HO,
# day 1-31 at _DM, month 1-12 at _MO, weekday 0-6 (Sunday 0) at _DW, then "the day field
# starts with *" and "the weekday field starts with *"
_HO = const(60)
_DM = const(84)
_MO = const(115)
_DW = const(127)
_DMSTAR = const(134)
_DWSTAR = const(135)
_NF = const(136)


def _dim(y, m):
    # days in month: 31 for 1 3 5 7 8 10 12 (the bit trick), February by the leap rule
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 + ((m ^ (m >> 3)) & 1)


def _num(s):
    if not s.isdigit():
        raise ValueError('"%s" is not a number' % s)
    return int(s)


def parse_cron(expr):
    """Parse "min hour dom month dow" into a flags bytearray for next_fire().

    Each field: `*`, a number, a range `a-b`, a step `*/s`, `a-b/s` or `a/s` (a to the
    maximum), or a comma list of those. Weekday 0 and 7 are Sunday. Raises ValueError
    naming the field and the problem.
        parse_cron("*/15 9-17 * * 1-5")
    """
    p = expr.split()
    if len(p) != 5:
        raise ValueError('cron needs 5 fields "minute hour day-of-month month day-of-week", got %d'
                         % len(p))
    f = bytearray(_NF)
    for i in range(5):
        # the field's lowest and highest value (literals, not module globals: a global is
        # a dict entry and a name kept for good)
        lo = b"\x00\x00\x01\x01\x00"[i]
        hi = b"\x3b\x17\x1f\x0c\x07"[i]
        for item in p[i].split(","):
            try:
                a = item.find("/")
                rng = item if a < 0 else item[:a]
                step = 1 if a < 0 else _num(item[a + 1:])
                if step < 1:
                    raise ValueError("step must be 1 or more")
                if rng == "*":
                    a, b = lo, hi
                else:
                    d = rng.find("-")
                    a = _num(rng if d < 0 else rng[:d])
                    # "a/s" runs from a to the maximum
                    b = _num(rng[d + 1:]) if d >= 0 else hi if item != rng else a
                    if b < a:
                        raise ValueError("range %d-%d goes backwards" % (a, b))
                    v = a if a < lo or a > hi else b
                    if v < lo or v > hi:
                        raise ValueError("%d is out of range %d-%d" % (v, lo, hi))
            except ValueError as e:
                raise ValueError('cron %s field "%s": %s' % (
                    "minute|hour|day-of-month|month|day-of-week".split("|")[i], p[i], e))
            at = b"\x00\x3c\x54\x73\x7f"[i]  # 0, _HO, _DM, _MO, _DW
            for v in range(a, b + 1, step):
                f[at + (v % 7 if i == 4 else v - lo)] = 1
    # Vixie cron's rule: when both day fields are restricted (neither starts with "*") a day
    # matches if EITHER matches; otherwise both must (and the "*" one always does)
    f[_DMSTAR] = p[2][0] == "*"
    f[_DWSTAR] = p[4][0] == "*"
    return f


def next_fire(f, t):
    """The first whole minute strictly after `t` (seconds) matching the parsed cron `f`, in
    seconds; None if nothing matches within about 8 years (an impossible date like Feb 31).

    Skips whole months and days that cannot match, then picks the hour and minute from the
    flags: at most a few thousand cheap steps even for expressions that never match."""
    m = t // 60 + 1
    day = m // 1440
    m -= day * 1440
    hh = m // 60
    mm = m % 60
    y, mo, d = civil_from_days(day)
    end = y + _YEARS
    while y <= end:
        if f[_MO + mo - 1]:
            dim = _dim(y, mo)
            day = days_from_civil(y, mo, d)
            while d <= dim:
                dm = f[_DM + d - 1]
                dw = f[_DW + (day + 4) % 7]  # 1970-01-01 was a Thursday (4)
                if (dm and dw) if (f[_DMSTAR] or f[_DWSTAR]) else (dm or dw):
                    # the first matching hour from hh; in hour hh only minutes from mm count
                    for h in range(hh, 24):
                        if f[_HO + h]:
                            for mi in range(mm if h == hh else 0, 60):
                                if f[mi]:
                                    return ((day * 24 + h) * 60 + mi) * 60
                d += 1
                day += 1
                hh = mm = 0
        mo += 1
        d = 1
        hh = mm = 0
        if mo > 12:
            mo = 1
            y += 1
    return None


def parse_at(s, off=0):
    """Epoch seconds of "YYYY-MM-DD HH:MM[:SS]" (or "T" between, or a date alone = 00:00),
    read as UTC shifted by `off` seconds (local = UTC + off) unless it ends in "Z"; or a
    string of digits, taken as epoch seconds. Raises ValueError.
        parse_at("2026-11-24 08:00") == 1795507200"""
    s = s.strip()
    if s.isdigit():
        return int(s)
    if s.endswith("Z"):
        s = s[:-1]
        off = 0
    # one split for date and time: "2026-11-24 08:00" -> 2026 11 24 08 00
    v = s.replace("T", "-").replace(" ", "-").replace(":", "-").split("-")
    try:
        if len(v) != 3 and len(v) != 5 and len(v) != 6:
            raise ValueError
        for i in range(len(v)):
            v[i] = _num(v[i])
        v += [0, 0, 0]  # time or seconds not given
        y, mo, d, h, mi, sec = v[:6]
        if not (1970 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= _dim(y, mo)
                and h < 24 and mi < 60 and sec < 60):
            raise ValueError
    except ValueError:
        raise ValueError('at must be "YYYY-MM-DD HH:MM" or seconds since 1970, got "%s"' % s)
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off


def _text(b):
    # a line's text field -> str: undo the \\ \n \r escapes (UnicodeError, a ValueError, if
    # it is not UTF-8)
    if b.find(b"\\") < 0:
        return str(b, "utf-8")  # most texts: one copy, no work buffer
    out = bytearray()
    i = 0
    while True:
        j = b.find(b"\\", i)
        if j < 0 or j + 1 >= len(b):
            out += b[i:]
            return str(out, "utf-8")
        out += b[i:j]
        c = b[j + 1]
        out.append(10 if c == 110 else 13 if c == 114 else c)  # \n \r, else the byte itself
        i = j + 2


class Job:
    """A job due() fired: `id`, `kind`, `spec`, `mode` ("agent": run `text` as an agent
    turn; "deliver": send it as is), `chat_id`, `when` (the epoch second it was due) and
    `text` (str)."""

    def __init__(self, j, raw):
        self.id, self.kind, self.spec, self.mode, self.chat_id, self.when = j
        self.text = _text(raw)


class Schedule:
    """The job store: `Schedule(workspace, tz=0)` loads <workspace>/cron/jobs. tz: the
    time zone cron fields and "at" times are read in and times are shown in: a zone string
    (config agents.defaults.timezone, e.g. "+02:00" or "CET-1CEST,M3.5.0,M10.5.0/3") or an
    offset in minutes east of UTC; 0 or "" is UTC.

    jobs() gives tuples (id, kind, spec, mode, chat_id, next): kind "at" | "every" | "cron",
    spec a str (epoch second, interval seconds, or the expression), mode "agent" or
    "deliver", next the epoch second of the next fire; jobs(preview) adds the text. due()
    gives Job objects.

        s = Schedule("/workspace")
        jid = s.add("cron", "0 8 * * *", "Drink water", "deliver", chat_id, now)
        for job in s.due(now):          # job.id, job.chat_id, job.mode, job.text, ...
            ...
        nxt = s.next_due()              # None without jobs; <= now while some are due
    A job missed while the board was off fires once when due() is next called, not once per
    missed time; after firing, its next time is the first one after `now`. At most _BATCH
    (4) jobs fire per due() call; the rest stay due for the next call. Damaged lines are
    skipped, logged and counted in `damaged`. A failed flash write raises OSError and leaves
    the file and the jobs as they were.
    """

    def __init__(self, workspace, tz=0):
        d = workspace + "/cron"
        makedirs(d)
        self.path = p = d + "/jobs"
        self.z = (tz * 60,) if isinstance(tz, int) else None
        if tz and self.z is None:
            # zone.py's functions are kept here, the module itself is not (it would stay in
            # RAM after this store is dropped)
            from picoclaw import load, unload

            m = load("picoclaw.zone")
            self.z = m.parse(tz)
            self._off, self._utc = m.offset, m.utc
            unload("picoclaw.zone")
        self.off = self.z[0] if self.z else 0  # the standard offset, seconds east
        self.damaged = 0
        self._jobs = []
        try:
            os.stat(p)
        except OSError:
            try:
                os.rename(p + ".tmp", p)  # a crash in state.replace's FAT path left only it
            except OSError:
                return
        for j, _ in self._scan(1):
            self._jobs.append(j)

    # -- public API -------------------------------------------------------------------
    def add(self, kind, spec, text, mode, chat_id, now):
        """Add a job; returns its id. `spec`: for "at" epoch seconds (int) or a
        "YYYY-MM-DD HH:MM" string (must be after `now`); for "every" seconds >= 60 (first
        fire at now + spec); for "cron" the expression. `text`: str or UTF-8 bytes, 1 to
        TEXT_CAP bytes. Raises ValueError with a message fit for the user."""
        if len(self._jobs) >= _MAX_JOBS:
            raise ValueError("too many jobs (%d is the most); remove one first" % _MAX_JOBS)
        if mode not in ("agent", "deliver"):
            raise ValueError('mode must be "agent" or "deliver"')
        b = text.encode() if isinstance(text, str) else bytes(text)
        if not b.strip() or len(b) > TEXT_CAP:
            raise ValueError("text must be 1 to %d bytes, not %d" % (TEXT_CAP, len(b)))
        if kind == "at":
            nxt = spec if isinstance(spec, int) else parse_at(spec)
            if not isinstance(spec, int) and not spec.strip().isdigit() and not spec.strip().endswith("Z"):
                nxt = self.utc(nxt)  # a local wall time
            if nxt <= now:
                raise ValueError("%s is in the past (now: %s)" % (self.fmt(nxt), self.fmt(now)))
            spec = str(nxt)
        elif kind == "every":
            nxt = spec if isinstance(spec, int) else int(spec) if spec.isdigit() else 0
            if not _EVERY_MIN <= nxt <= _EVERY_MAX:
                raise ValueError("every must be a whole number of seconds from 60 to 315360000 (10 years)")
            spec = str(nxt)
            nxt += now
        elif kind == "cron":
            spec = " ".join(spec.split())
            if len(spec) > _SPEC_CAP:
                raise ValueError("cron expression over %d characters" % _SPEC_CAP)
            nxt = self._next(spec, now)
            if nxt is None:
                raise ValueError('cron "%s" never matches a real date' % spec)
        else:
            raise ValueError('kind must be "at", "every" or "cron"')
        if mode == "agent" and kind != "at":
            # every run is a model call: at most one per _AGENT_MIN (a few runs looked at, so
            # "0,1 8 * * *" is caught wherever now falls)
            t = prev = nxt
            for _ in range(4):
                t = nxt + int(spec) if kind == "every" else self._next(spec, prev)
                if t is None or t - prev < _AGENT_MIN:
                    raise ValueError("a job in agent mode runs the model each time: at most once "
                                     "every %d minutes (deliver mode has no such limit)" % (_AGENT_MIN // 60))
                prev = t
                if kind == "every":
                    break
        jid = 1
        for j in self._jobs:
            jid = max(jid, j[0] + 1)
        self._save(None, 0, [jid, kind, spec, mode, chat_id, nxt],
                   b.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r"))
        return jid

    def remove(self, jid):
        """Delete job `jid`; False if there is none."""
        if not self._get(jid):
            return False
        self._save({jid: None})
        return True

    def jobs(self, preview=0):
        """The jobs as tuples, in the file's order. With `preview` > 0 each tuple has a 7th
        item, the text cut to `preview` characters (ending "..." if cut): reads the file."""
        r = []
        if not preview:
            for j in self._jobs:
                r.append(tuple(j))
            return r
        for j, raw in self._scan():
            t = _text(raw)
            if len(t) > preview:
                t = t[:max(0, preview - 3)] + "..."
            r.append(tuple(j) + (t,))
        return r

    def next_due(self):
        """Epoch second of the earliest next fire (<= now while a job is due), or None with
        no jobs."""
        t = None
        for j in self._jobs:
            if t is None or j[5] < t:
                t = j[5]
        return t

    def due(self, now):
        """Jobs due at `now` (at most 4, in the file's order), as Job objects; fired
        one-shots are removed and the others moved to their first time after `now`, and the
        file rewritten. [] (no file access) when nothing is due."""
        ch = {}
        for j in self._jobs:
            t = j[5]
            if t <= now and len(ch) < _BATCH:
                if j[1] == "every":
                    n = int(j[2])
                    ch[j[0]] = t + ((now - t) // n + 1) * n  # keep the phase: 08:00, 09:00, ...
                else:
                    ch[j[0]] = None if j[1] == "at" else self._next(j[2], now)
                if j[3] == "agent" and ch[j[0]] is not None and ch[j[0]] < now + _AGENT_MIN:
                    # a job from an older file (or edited by hand) that runs the model too often
                    ch[j[0]] = now + _AGENT_MIN
        return self._save(ch, 1) if ch else []

    def fmt(self, t):
        """`t` as "YYYY-MM-DD HH:MM[:SS] UTC" (in the configured zone, its offset named)."""
        o = self.offset(t)
        t += o
        d = t // 86400
        s = t - d * 86400
        y, m, dd = civil_from_days(d)
        r = "%04d-%02d-%02d %02d:%02d" % (y, m, dd, s // 3600, s // 60 % 60)
        if s % 60:
            r += ":%02d" % (s % 60)
        return r + " " + self.zone(o)

    def zone(self, o=None):
        """ "UTC", or "UTC+HH:MM" / "UTC-HH:MM" for the offset o (seconds; None: the zone's
        standard offset, with its daylight one if it has one: "UTC+01:00/+02:00")."""
        if o is None and self.z and len(self.z) > 1:
            return self.zone(self.z[0]) + "/" + self.zone(self.z[1])[3:]
        o = (self.off if o is None else o) // 60
        if not o:
            return "UTC"
        a = abs(o)
        return "UTC%s%02d:%02d" % ("+" if o > 0 else "-", a // 60, a % 60)

    def offset(self, t):
        """Seconds east of UTC at the UTC instant t."""
        return self.off if not self.z or len(self.z) == 1 else self._off(self.z, t)

    def utc(self, local):
        """The UTC instant of a local wall time (seconds as if UTC)."""
        return local - self.off if not self.z or len(self.z) == 1 else self._utc(self.z, local)

    # -- internals ----------------------------------------------------------------------
    def _get(self, jid):
        for j in self._jobs:
            if j[0] == jid:
                return j
        return None

    def _next(self, spec, now):
        # the next matching local wall time after now's, as a UTC instant
        t = next_fire(parse_cron(spec), now + self.offset(now))
        return None if t is None else self.utc(t)

    def _scan(self, load=0):
        # (job, escaped text) for each good line of the file: with `load`, every one up to
        # the cap (damaged lines counted and logged); else those whose job is in the list.
        # The first line of an id wins. Callers run it to the end (that closes the file).
        seen = []
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            n = 0
            while True:
                # readline(n) takes an n-byte block at once: a line comes in small pieces
                # (most lines are one), joined once; past _LINE bytes nothing is kept
                line = f.readline(_PIECE)
                if not line:
                    return
                n += 1
                if line[-1] != 10:
                    parts = [line]
                    k = len(line)
                    while True:
                        line = f.readline(_PIECE)
                        if not line:
                            break
                        k += len(line)
                        if k <= _LINE:
                            parts.append(line)
                        if line[-1] == 10:
                            break
                    line = b"".join(parts) if k <= _LINE else b""
                try:
                    if not line or line[-1] != 10:  # too long, or a write cut short
                        raise ValueError("over %d bytes or cut short" % _LINE)
                    if line[0] in b"#\r\n":  # a comment or a blank line
                        continue
                    p = line.split(b"\t", 6)  # the last field keeps the line end
                    if len(p) != 7:
                        raise ValueError("%d fields, not 7" % len(p))
                    # str() of these known words allocates nothing (docs/memory.md)
                    kind = str(p[1], "utf-8")
                    mode = str(p[3], "utf-8")
                    if kind not in ("at", "every", "cron") or mode not in ("agent", "deliver"):
                        raise ValueError("unknown kind or mode")
                    k = str(p[2], "utf-8")
                    if kind == "cron":
                        parse_cron(k)
                    elif int(k) < (_EVERY_MIN if kind == "every" else 0):
                        raise ValueError("bad interval")
                    j = int(p[0])
                    if j < 1 or j in seen:
                        raise ValueError("id %d used twice" % j if j in seen else "bad id")
                    j = [j, kind, k, mode, int(p[4]), int(p[5])]
                    raw = p[6].rstrip(b"\r\n")  # \r: a file edited on Windows
                    _text(raw)  # the text must be UTF-8
                    if not load:
                        j = self._get(j[0])
                        if not j:
                            continue
                    elif len(seen) >= _MAX_JOBS:
                        raise ValueError("over the %d-job cap" % _MAX_JOBS)
                    seen.append(j[0])
                except ValueError as e:
                    if load:
                        self.damaged += 1
                        log.warn("cron: %s line %d skipped: %s" % (self.path, n, e))
                    continue
                yield j, raw

    def _save(self, ch=None, fire=0, new=None, text=None):
        # Rewrite the file (temp file, then rename) from the list with the changes `ch`
        # ({id: next fire; None drops the job}) and the `new` job with escaped `text`; the
        # texts of the others are copied line by line from the old file. Only then is the
        # list updated. With `fire`, returns the changed jobs as Job objects.
        tmp = self.path + ".tmp"
        kept = []
        got = []
        with open(tmp, "wb") as w:
            w.write(b"# id kind spec mode chat_id next text\n")
            for j, raw in self._scan():
                if ch and j[0] in ch:
                    if fire:
                        got.append(Job(j, raw))
                    j = j[:5] + [ch[j[0]]]  # a copy: the list stays as it was if the write fails
                if j[5] is not None:
                    self._write(w, j, raw)
                    kept.append(j)
            if new:
                self._write(w, new, text)
                kept.append(new)
        replace(tmp, self.path)
        self._jobs = kept
        return got

    def _write(self, w, j, raw):
        w.write(("%d\t%s\t%s\t%s\t%d\t%d\t" % tuple(j)).encode())
        w.write(raw)
        w.write(b"\n")
