# Scheduled jobs: cron parsing and next-fire math, the job file (atomic rewrite, damaged
# lines, cap), due() as the agent's tick uses it, and the `cron` tool driven through the
# streaming JSON reader.
#
# Runs on CPython and on the unix port (test_unix_port.py), compiled by mpy-cross like the
# firmware, so the case tables are plain tuples. The checks against references (datetime, a
# brute-force cron reading) are CPython only, in test_schedule_props.py. The tool's modules
# are imported here, at load: loaded later, into a heap the tests have fragmented, they need
# about 4 KB more.
import io
import os

from picoclaw import log, tools
from picoclaw.agent import schedule
from picoclaw.json.stream import JsonReader, StreamSource
from picoclaw.tools import cron

WS = "/tmp/picoclaw-schedule-test"
JOBS = WS + "/cron/jobs"
NOW = 1795503600  # 2026-11-24 07:00 UTC, a Tuesday


def _new(off=0):
    # a Schedule on an empty workspace (what earlier runs left removed)
    for name in (JOBS, JOBS + ".tmp"):
        for f in (os.remove, os.rmdir):
            try:
                f(name)
            except OSError:
                pass
    return schedule.Schedule(WS, off)


def _add(s, k, v, text="x", mode="deliver"):
    # s.add(kind, spec, ...) for chat 1 at NOW
    return s.add(k, v, text, mode, 1, NOW)


def _iso(t):
    if t is None:
        return "-"
    r = schedule.civil_from_days(t // 86400)
    return "%04d-%02d-%02d %02d:%02d" % (r + (t % 86400 // 3600, t // 60 % 60))


def _show(s, n=0):
    # s.jobs(n) as one string: "id kind spec mode chat_id next [text]; ..."
    r = []
    for e in s.jobs(n):
        r.append("%d %s %s %s %d " % e[:5] + _iso(e[5]) + (" " + e[6] if n else ""))
    return "; ".join(r)


def _col(s, i):
    # column i of s.jobs(99) as "a|b|c"
    r = []
    for e in s.jobs(99):
        r.append(str(e[i]))
    return "|".join(r)


def _due(s, t):
    # s.due(t) as one string, with the attributes the agent's tick reads:
    # "id chat_id mode when text; ..."
    r = []
    for e in s.due(t):
        r.append("%d %d %s %s %s" % (e.id, e.chat_id, e.mode, _iso(e.when), e.text))
    return "; ".join(r)


def _err(f, *args):
    try:
        f(*args)
    except ValueError as e:
        return str(e)
    raise AssertionError(args)  # no ValueError


def _file(*parts):
    # the jobs file's bytes; or write `parts` there
    with open(JOBS, "wb" if parts else "rb") as f:
        for data in parts:
            f.write(data)
        return f.read() if not parts else None


def _loaded():
    # (Schedule(WS), the warnings it logged)
    r = []
    f = log.warn
    log.warn = r.append
    try:
        return schedule.Schedule(WS), r
    finally:
        log.warn = f


# -- cron expressions, times (civil_from_days: see test_schedule_props.py) ----------------
BAD_CRON = (  # expression, what the error says
    ("* * * *", "cron needs 5 fields"),
    ("* * * * * *", "got 6"),
    ("60 * * * *", 'cron minute field "60": 60 is out of range 0-59'),
    ("* 24 * * *", 'hour field "24"'),
    ("* * 0 * *", "day-of-month field"),
    ("* * 32 * *", "out of range 1-31"),
    ("* * * 0 *", "month field"),
    ("* * * jan *", 'month field "jan": "jan" is not a number'),
    ("* * * * 8", "day-of-week field"),
    ("70-80 * * * *", "70 is out of range"),
    ("5-70 * * * *", "70 is out of range"),
    ("5-1 * * * *", "range 5-1 goes backwards"),
    ("*/0 * * * *", "step must be 1 or more"),
    ("*/ * * * *", '"" is not a number'),
    ("1,,2 * * * *", '"" is not a number'),
    ("-1 * * * *", "not a number"),
    ("1-2-3 * * * *", "not a number"),
)


def test_parse_cron():
    for line, text in BAD_CRON:
        r = _err(schedule.parse_cron, line)
        assert text in r, (line, r)


# expression, start (exclusive: a time for parse_at, or epoch seconds), next fire (- for
# none). 2026-02-01 is a Sunday: "13 * 5" is the 13th OR a Friday; "*/2" starts with * so it
# counts as unrestricted (Vixie cron's rule): odd days AND Fridays. Feb 29 is 8 years away
# from 2096 (2100 is no leap year).
NEXT_FIRE = (
    ("0 8 * * *", "2026-11-24 08:00", "2026-11-25 08:00"),
    ("0 8 * * *", "2026-11-24 07:59:30", "2026-11-24 08:00"),
    ("30 8,20 * * *", "2026-11-24 08:31", "2026-11-24 20:30"),
    ("30 8,20 * * *", "2026-11-24 20:31", "2026-11-25 08:30"),
    ("0 0 31 * *", "2026-01-31 00:00", "2026-03-31 00:00"),
    ("0 0 31 * *", "2026-04-01 00:00", "2026-05-31 00:00"),
    ("0 12 29 2 *", "2024-02-28 13:00", "2024-02-29 12:00"),
    ("0 12 29 2 *", "2024-02-29 12:00", "2028-02-29 12:00"),
    ("0 0 29 2 *", "2096-03-01 00:00", "2104-02-29 00:00"),
    ("0 0 31 2 *", "2026-01-01 00:00", "-"),
    ("0 0 31 4,6,9,11 *", "2026-01-01 00:00", "-"),
    ("0 9 13 * 5", "2026-02-01 00:00", "2026-02-06 09:00"),
    ("0 9 3 * 5", "2026-02-01 00:00", "2026-02-03 09:00"),
    ("0 9 13 * *", "2026-02-01 00:00", "2026-02-13 09:00"),
    ("0 9 */2 * 5", "2026-02-01 00:00", "2026-02-13 09:00"),
    ("0 8 * * 0", "2026-11-24 12:00", "2026-11-29 08:00"),
    ("0 8 * * 7", "2026-11-24 12:00", "2026-11-29 08:00"),
    ("0 8 * * 5-7", "2026-11-24 12:00", "2026-11-27 08:00"),
    ("*/15 * * * *", "2026-11-24 12:45", "2026-11-24 13:00"),
    ("1-30/5 * * * *", "2026-11-24 10:27", "2026-11-24 11:01"),
    ("0 */6 * * *", "2026-11-24 19:00", "2026-11-25 00:00"),
    ("* * * * *", "2026-11-24 10:20:59", "2026-11-24 10:21"),
    ("59 23 31 12 *", "2026-12-31 23:59", "2027-12-31 23:59"),
    ("0 0 * 1 1", "2026-12-15 00:00", "2027-01-04 00:00"),
    ("0 0 1 * *", -43200, "1970-01-01 00:00"),
    ("5/20  *  * *   *", "2026-11-24 10:45", "2026-11-24 11:05"),
    ("0 9-17/4 1,15 2-3 5-7", "2026-01-31 00:00", "2026-02-01 09:00"),
    ("0 9-17/4 1,15 2-3 5-7", "2026-02-01 17:00", "2026-02-06 09:00"),
    ("0 9-17/4 1,15 2-3 5-7", "2026-03-28 17:00", "2026-03-29 09:00"),
    ("0 9-17/4 1,15 2-3 5-7", "2026-03-31 17:00", "2027-02-01 09:00"),
)


def test_next_fire():
    for line, start, text in NEXT_FIRE:
        if isinstance(start, str):
            start = schedule.parse_at(start)
        r = _iso(schedule.next_fire(schedule.parse_cron(line), start))
        assert r == text, (line, start, r)


# text, offset (seconds: Schedule passes tz_offset_min * 60), epoch seconds (None: an error)
AT_TIMES = (
    ("2026-11-24 08:00", 0, 1795507200),
    ("2026-11-24", 0, 1795478400),
    ("2026-11-24T08:00:30Z", 0, 1795507230),
    ("1795507200", 0, 1795507200),
    ("2026-11-24 08:00", 3600, 1795503600),
    ("2026-11-24 08:00Z", 3600, 1795507200),
    ("2000-02-29 23:59:59", 0, 951868799),
    ("2026-02-29", 0, None),
    ("24/11/2026", 0, None),
    ("2026-11-24 25:00", 0, None),
    ("2026-11-24 08", 0, None),
    ("tomorrow", 0, None),
    ("", 0, None),
    ("2026-11-24 08:00:00:00", 0, None),
    ("1969-12-31 00:00", 0, None),
    ("2026-11-24  08:00", 0, None),
    ("-5", 0, None),
)


def test_parse_at():
    for text, off, r in AT_TIMES:
        if r is None:
            assert 'at must be "YYYY-MM-DD HH:MM"' in _err(schedule.parse_at, text), text
        else:
            assert schedule.parse_at(text, off) == r, text
    assert schedule.parse_at(" 2026-11-24 ") == 1795478400


def test_time_zone_offset():
    s = _new(120)
    _add(s, "cron", "0 8 * * *")  # 07:00 UTC is 09:00 local
    _add(s, "at", "2026-11-24 10:00")
    assert _show(s) == "1 cron 0 8 * * * deliver 1 2026-11-25 06:00; 2 at 1795507200 deliver 1 2026-11-24 08:00"
    assert s.fmt(1795507201) == "2026-11-24 10:00:01 UTC+02:00"
    assert schedule.Schedule(WS, -330).fmt(0) == "1969-12-31 18:30 UTC-05:30"


# agents.defaults.timezone: in Central Europe "0 8 * * *" fires at 07:00 UTC in winter and
# 06:00 UTC in summer, from the last Sunday of March (03-29 in 2026) to the last Sunday of
# October (10-25); 02:30 on 03-29 does not exist (read as 03:30 summer time), on 10-25 it
# comes twice (the first is taken); "at" times are local unless they end in Z.
# kind (next: the next "0 8 * * *" from that day; utc: that local time in UTC; at: an "at"
# job at that time), the time, the UTC result (as _iso shows it), how the zone's fmt() ends
ZONE_TIMES = (
    ("next", "2026-03-27", "2026-03-27 07:00", "UTC+01:00"),
    ("next", "2026-03-28", "2026-03-28 07:00", "UTC+01:00"),
    ("next", "2026-03-29", "2026-03-29 06:00", "UTC+02:00"),
    ("next", "2026-10-24", "2026-10-24 06:00", "UTC+02:00"),
    ("next", "2026-10-25", "2026-10-25 07:00", "UTC+01:00"),
    ("utc", "2026-03-29 02:30", "2026-03-29 01:30", "UTC+02:00"),
    ("utc", "2026-10-25 02:30", "2026-10-25 00:30", "UTC+02:00"),
    ("utc", "2026-12-24 18:00", "2026-12-24 17:00", "UTC+01:00"),
    ("at", "2026-12-24 18:00", "2026-12-24 17:00", "UTC+01:00"),
    ("at", "2026-11-24 07:30Z", "2026-11-24 07:30", "UTC+01:00"),
)


def test_time_zone_from_config():
    s = _new("+02:00")  # 07:00 UTC is 09:00 there: the next 08:00 is 06:00 UTC tomorrow
    _add(s, "cron", "0 8 * * *")
    assert s.fmt(s.next_due()) == "2026-11-25 08:00 UTC+02:00"
    s = _new("CET-1CEST,M3.5.0,M10.5.0/3")
    assert s.zone() == "UTC+01:00/+02:00"
    for row in ZONE_TIMES:
        k, v = row[0], row[1]
        if k == "next":
            t = s._next("0 8 * * *", schedule.parse_at(v))
        elif k == "utc":
            t = s.utc(schedule.parse_at(v))
        else:
            t = _add(s, "at", v)
            t = s.jobs()[t - 1][5]
        assert _iso(t) == row[2] and s.fmt(t).endswith(row[3]), row
    assert "zone database" in _err(schedule.Schedule, WS, "Europe/Berlin")


# -- the store --------------------------------------------------------------------------
REFUSED = (  # kind, spec, text, mode, what the error says
    ("at", "2026-11-24 06:00", "x", "deliver", "2026-11-24 06:00 UTC is in the past"),
    ("at", "next week", "x", "deliver", "at must be"),
    ("every", "59", "x", "deliver", "whole number of seconds from 60"),
    ("every", "hourly", "x", "deliver", "whole number"),
    ("cron", "0 0 31 2 *", "x", "deliver", "never matches"),
    ("cron", "61 * * * *", "x", "deliver", "minute field"),
    ("yearly", "1", "x", "deliver", "kind must be"),
    ("every", "60", "x", "shout", "mode must be"),
    ("every", "60", "", "deliver", "text must be 1 to 512 bytes, not 0"),
    ("cron", "0 0 * * " + ",".join(("1",) * 47), "x", "deliver", "over 100 characters"),
)


def test_add_refuses_bad_jobs():
    s = _new()
    for args in REFUSED:
        assert args[4] in _err(_add, s, *args[:4]), args
    assert "the past" in _err(_add, s, "at", NOW)
    assert "not 513" in _err(_add, s, "every", 60, "x" * 513)  # bytes, over the cap
    assert s.jobs() == [] and s.next_due() is None
    assert _add(s, "every", 60, "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9" * 32) == 1  # exactly 512 bytes
    assert _add(s, "every", "1800", b"bytes", "agent") == 2
    assert _show(s) == "1 every 60 deliver 1 2026-11-24 07:01; 2 every 1800 agent 1 2026-11-24 07:30"
    # agent mode runs the model each time: at most once every 30 minutes
    for kind, spec in (("every", 60), ("every", "1799"), ("cron", "*/5 * * * *"), ("cron", "0,1 8 * * *")):
        assert "at most once every 30 minutes" in _err(_add, s, kind, spec, "x", "agent"), spec
    assert _add(s, "cron", "0,30 * * * *", "x", "agent") == 3  # exactly 30 minutes apart
    assert _add(s, "every", 60, "x", "deliver") == 4  # deliver mode: no model call


def test_an_agent_job_from_an_old_file_is_held_to_the_minimum_pace():
    s = _new()
    with open(WS + "/cron/jobs", "wb") as f:
        f.write(b"1\tevery\t60\tagent\t7\t%d\tcheck the sensor\n" % (NOW + 60))
    s = schedule.Schedule(WS)
    assert len(s.due(NOW + 60)) == 1
    assert s.next_due() == NOW + 60 + 1800  # not NOW + 120


def test_persistence_round_trip():
    s = _new()
    text = "two\nlines\r\nand a \\ backslash, a literal \\n, a\ttab"
    s.add("cron", " 0  8 * * * ", "Drink water", "deliver", 123456789, NOW)
    s.add("every", 3600, text, "agent", -1001234567890, NOW)
    s.add("at", "2026-12-24 18:00", "\u4e2d\u6587 \U0001F600", "deliver", 5, NOW)
    assert _file().split(b"\n", 1)[1] == (  # after the "#" header line
        b"1\tcron\t0 8 * * *\tdeliver\t123456789\t1795507200\tDrink water\n2\tevery\t3600\tagent\t"
        b"-1001234567890\t1795507200\ttwo\\nlines\\r\\nand a \\\\ backslash, a literal \\\\n, a\ttab\n"
        b"3\tat\t1798135200\tdeliver\t5\t1798135200\t\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\n")
    assert len(list(os.ilistdir(JOBS[:-5]))) == 1  # no temp file left
    r = schedule.Schedule(WS)
    assert r.damaged == 0 and r.jobs(99) == s.jobs(99) and r.next_due() == 1795507200
    assert _col(r, 6) == "Drink water|" + text + "|\u4e2d\u6587 \U0001F600"
    assert r.remove(2) and not r.remove(2) and not r.remove(99)
    s = schedule.Schedule(WS)
    assert _col(s, 6) == "Drink water|\u4e2d\u6587 \U0001F600"
    assert _add(s, "every", 60) == 4  # ids grow from the highest


def test_atomic_rewrite():
    s = _new()
    _add(s, "every", 600, "keep me")
    _add(s, "at", NOW + 60)
    data = _file()
    os.mkdir(JOBS + ".tmp")  # the temp file cannot be made: like a full or failing flash
    try:
        for n in range(3):
            try:
                _add(s, "every", 600) if n == 0 else s.remove(1) if n == 1 else s.due(NOW + 600)
                raise AssertionError("no OSError")
            except OSError:
                pass
            # the jobs are as they were: none lost, both still due
            assert _show(s) == "1 every 600 deliver 1 2026-11-24 07:10; 2 at 1795503660 deliver 1 2026-11-24 07:01"
        assert s.due(NOW + 59) == []  # nothing due: no file is touched
    finally:
        os.rmdir(JOBS + ".tmp")
    assert _file() == data
    with open(JOBS + ".tmp", "wb") as f:  # a crash mid-write left a partial temp file...
        f.write(b"1\tevery\t600\tdel")
    s = schedule.Schedule(WS)
    assert s.damaged == 0 and _add(s, "every", 60, "one more") == 3  # ...ignored, overwritten
    os.rename(JOBS, JOBS + ".tmp")  # FAT's remove-then-rename cut in between: the temp is used
    assert _col(schedule.Schedule(WS), 6) == "keep me|x|one more"


def test_damaged_lines_are_skipped():
    _new()
    _file(b"# comment\n\r\n1\tevery\t600\tdeliver\t7\n"  # a blank CRLF line; line 3: 5 fields
          b"2\tevery\t600\tdeliver\t7\t1795504200\tgood line\n3\tweekly\t600\tdeliver\t7\t1\tx\n"
          b"x\tevery\t600\tdeliver\t7\t1\tx\n4\tcron\t0 0 32 * *\tagent\t7\t1\tx\n"
          b"5\tevery\t600\tdeliver\t7\t1\t\xff\xfe\n"  # not UTF-8
          b"6\tevery\t600\tdeliver\t7\t1\t", *((b"y" * 100,) * 20 + (  # over the line cap, in pieces
          b"\n2\tat\t1\tdeliver\t7\t1\tsame id\n7\tevery\t30\tdeliver\t7\t1\tx\n"
          b"8\tcron\t*/5 * * * *\tagent\t7\t1795503900\tcron \\\\ and CRLF\r\n"
          b"9\tevery\t600\tdeliver\t7\t1\tno newline: cut short",)))
    s, r = _loaded()
    assert s.damaged == 9 and len(r) == 9, r
    r = "/".join(r)
    for text in ("line 3 skipped: 5 fields/line 5 skipped: unknown kind/line 6 skipped: /line 7 skipped:"
                 " cron day-of-month/line 8 skipped: /line 9 skipped: over 1200 bytes/line 10 skipped: id 2"
                 " used twice/line 11 skipped: bad interval/line 13 skipped: over 1200 bytes or cut short"
                 ).split("/"):
        assert text in r, (text, r)
    assert r.count(JOBS) == 9 and _col(s, 6) == "good line|cron \\ and CRLF"
    _add(s, "every", 60, "later")  # the rewrite keeps the good lines only
    s = schedule.Schedule(WS)
    assert s.damaged == 0 and _col(s, 6) == "good line|cron \\ and CRLF|later"


def test_job_cap():
    s = _new()
    for n in range(16):
        _add(s, "every", 60 + n)
    assert "too many" in _err(_add, s, "every", 60)
    assert s.remove(5) and _add(s, "every", 60) == 17
    with open(JOBS, "wb") as f:  # edited by hand
        for n in range(1, 19):
            f.write(b"%d\tevery\t60\tdeliver\t1\t1\tt\n" % n)
    s, r = _loaded()
    assert len(s.jobs()) == 16 and s.damaged == 2 and "16-job cap" in r[0] and "line 17" in r[0]


# due(time), the store reloaded from its file before each; the jobs fired: "id chat_id mode
# when text; ..."; next_due()
DUE = (
    ("2026-11-24 07:29:59", "", "2026-11-24 07:30"),
    ("2026-11-24 07:30", "3 1 deliver 2026-11-24 07:30 call mum", "2026-11-24 08:00"),
    ("2026-11-24 07:31", "", "2026-11-24 08:00"),
    ("2026-11-24 08:00:05", "1 1 deliver 2026-11-24 08:00 morning; 2 1 agent 2026-11-24 08:00 stretch",
     "2026-11-24 09:00"),
    # the board was off for three days: each job fires once, then keeps its rhythm
    ("2026-11-27 13:20", "1 1 deliver 2026-11-25 08:00 morning; 2 1 agent 2026-11-24 09:00 stretch",
     "2026-11-27 14:00"),
    ("2026-11-27 13:20", "", "2026-11-27 14:00"),
    ("2026-11-28 08:00", "1 1 deliver 2026-11-28 08:00 morning; 2 1 agent 2026-11-27 14:00 stretch",
     "2026-11-28 09:00"),
)


def test_due_fires_once_and_advances():
    s = _new()
    _add(s, "cron", "0 8 * * *", "morning")
    _add(s, "every", 3600, "stretch", "agent")  # 08:00, 09:00, ...
    _add(s, "at", "2026-11-24 07:30", "call mum")
    assert s.due(NOW) == [] and _iso(s.next_due()) == "2026-11-24 07:30"
    for t, text, r in DUE:
        line = _due(s, schedule.parse_at(t))
        assert line == text and _iso(s.next_due()) == r, (t, line)
        s = schedule.Schedule(WS)
    # at most four fire per call (their texts are in RAM together); the rest on the next
    s = _new()
    for n in range(6):
        s.add("at", NOW + 60 + n, "job %d" % n, "agent" if n else "deliver", 100 + n, NOW)
    t = NOW + 3600
    r = _due(s, t)
    assert r.count("; ") == 3 and r.startswith("1 100 deliver 2026-11-24 07:01 job 0; 2 101 agent ")
    assert r.endswith("; 4 103 agent 2026-11-24 07:01 job 3"), r
    assert s.next_due() == NOW + 64 < t  # still due: the agent's tick comes back at once
    assert _due(s, t).endswith("job 4; 6 105 agent 2026-11-24 07:01 job 5")
    assert s.due(t) == [] and s.next_due() is None


# -- the tool -----------------------------------------------------------------------------
class _Ctx:
    chat_id = 42
    t = NOW

    def now(self):
        return self.t


def _tool(t, data=b'{"action":"list"}'):
    # one call, with the result written by the registry's Result, as the agent runs it
    r = tools.Result(WS + "/out", 4096)
    # a 16-byte source buffer: strings arrive in pieces, as from a socket
    cron.run("cron", JsonReader(StreamSource(io.BytesIO(data), bytearray(16)), bytearray(64)), t, r)
    r.close()
    with open(WS + "/out", "rb") as f:
        return str(f.read(), "utf-8")


CALLS = (  # request, the answer's beginning
    (b'{"action":"add","cron":"0 8 * * *","text":"Drink water"}',
     "added job 1: every day at 08:00 UTC, next 2026-11-24 08:00 UTC"),
    (b'{"action": "add", "every": 7200, "text": "Stretch", "mode": "agent", "at": null, "cron": "", "in": 0,'
     b' "x": {"a": [1]}}', "added job 2: every 2 hours, next 2026-11-24 09:00 UTC"),
    (b'{"action":"add","at":"2026-12-24 18:00","text":"Merry \\u00e9\\n!"}', "added job 3: once at 2026-12-24 18:00 UTC"),
    (b'{"action":"add","in":600,"text":"tea"}', "added job 4: once at 2026-11-24 07:10 UTC"),
    (b'{"action":"add","every":"86400","text":"long long long long long long long long long long long long long"}',
     "added job 5: every day, next 2026-11-25 07:00 UTC"),
    (b'{"action":"add","cron":"30 6 * * 1","text":"week"}',
     "added job 6: every Mon at 06:30 UTC, next 2026-11-30 06:30 UTC"),
    (b'{"action":"add","cron":"*/15 9-17 * * 1-5","text":"q"}',
     'added job 7: cron "*/15 9-17 * * 1-5" (UTC), next 2026-11-24 09:00 UTC'),
    (b'{"action":"add","cron":"5 * * * *","text":"h","mode":"deliver"}',
     "added job 8: every hour at minute 5, next 2026-11-24 07:05 UTC"),
    (b'{"action":"remove","id":4}', "removed job 4"),
    (b'{"action":"remove","id":"4"}', "error: no job 4 (action=list shows the ids)"),
    (b'{"action":"remove"}', "error: id is required"),
    (b'{"action":"remove","id":"two"}', "error: id must be a whole number"),
    (b'{"action":"add","text":"x"}', "error: give exactly one of at, in, every or cron"),
    (b'{"action":"add","text":"x","every":60,"cron":"* * * * *"}', "error: give exactly one"),
    (b'{"action":"add","every":60}', "error: text is required"),
    (b'{"action":"add","every":60,"text":""}', "error: text is required"),
    (b'{"action":"add","every":30,"text":"x"}', "error: every must be a whole number of seconds from 60"),
    (b'{"action":"add","every":"often","text":"x"}', "error: every must be a whole number"),
    (b'{"action":"add","every":90.5,"text":"x"}', "error: every must be a whole number"),
    (b'{"action":"add","cron":"61 * * * *","text":"x"}', 'error: cron minute field "61"'),
    (b'{"action":"add","cron":"0 0 30 2 *","text":"x"}', 'error: cron "0 0 30 2 *" never matches'),
    (b'{"action":"add","at":"2026-11-24 06:59","text":"x"}', "error: 2026-11-24 06:59 UTC is in the past"),
    (b'{"action":"add","at":"soon","text":"x"}', 'error: at must be "YYYY-MM-DD HH:MM"'),
    (b'{"action":"add","at":[1],"text":"x"}', "error: JSON expected a scalar"),
    (b'{"action":"add","in":-5,"text":"x"}', "error: in must be a number of seconds"),
    (b'{"action":"add","every":60,"text":"x","mode":"loud"}', "error: mode must be"),
    (b'{"action":"explode"}', 'error: action must be "add", "list" or "remove"'),
    (b"{}", "error: action must be"),
    (b'{"action":', "error: JSON"),
    (b"[1]", "error: JSON expected object"),
)
# then action=list answers, one line per job
LISTED = (
    "job 1: every day at 08:00 UTC, next 2026-11-24 08:00 UTC; deliver: Drink water\n"
    "job 2: every 2 hours, next 2026-11-24 09:00 UTC; agent: Stretch\n"
    "job 3: once at 2026-12-24 18:00 UTC; deliver: Merry \u00e9 !\n"
    "job 5: every day, next 2026-11-25 07:00 UTC; deliver: long long long long long long long long long long"
    " long lo...\n"
    "job 6: every Mon at 06:30 UTC, next 2026-11-30 06:30 UTC; deliver: week\n"
    'job 7: cron "*/15 9-17 * * 1-5" (UTC), next 2026-11-24 09:00 UTC; deliver: q\n'
    "job 8: every hour at minute 5, next 2026-11-24 07:05 UTC; deliver: h\n"
)


def test_tool():
    t = _Ctx()
    t.cron = _new()
    for data, text in CALLS:
        r = _tool(t, data)
        assert r.startswith(text), (data, r)
    r = _tool(t, b'{"action":"add","every":60,"text":"' + b"x" * 513 + b'"}')
    assert "over 512" in r and t.cron.jobs()[0][4] == 42  # refused; the first job has the turn's chat
    assert _tool(t) == LISTED
    for n in (1, 2, 3, 5, 6, 7, 8):
        assert t.cron.remove(n)
    assert _tool(t) == "no jobs"
    t.t = 1000  # a board without network time: 1970
    assert "the clock" in _tool(t, b'{"action":"add","every":60,"text":"x"}')  # is not set
    t.cron = None  # no store (the registry does not offer the tool then)
    assert "available" in _tool(t)  # scheduling is not available on this device
