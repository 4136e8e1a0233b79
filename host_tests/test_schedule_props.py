# Scheduled jobs against references (CPython only: datetime, random): civil_from_days,
# days_from_civil and parse_at against datetime; next_fire against a separate, simple
# brute-force reading of random cron expressions; the cron tool's schema is JSON.
# test_schedule.py holds the case tables, which run on both runtimes.
import datetime as dt
import json
import random

from picoclaw.agent import schedule
from picoclaw.tools import cron

EPOCH = dt.datetime(1970, 1, 1)


def test_schema_is_json():
    name, desc, params = cron.SCHEMAS[0]
    assert name == b"cron" and len(cron.SCHEMAS) == 1 and json.loads(params)["required"] == ["action"]
    assert b'"' not in desc and b"\\" not in desc  # written inside a JSON string as is


def test_civil_days_against_datetime():
    assert [schedule.days_from_civil(*d) for d in ((1970, 1, 1), (2000, 3, 1), (2026, 11, 24))] == [0, 11017, 20781]
    e = EPOCH.date()
    for z in range(-30000, 60000, 7):
        d = e + dt.timedelta(days=z)
        assert schedule.civil_from_days(z) == (d.year, d.month, d.day)
        assert schedule.days_from_civil(d.year, d.month, d.day) == z


def _ref(expr, t):
    # the next fire after t: the matching set of each field, by a separate and simple reading
    # of the syntax
    sets = []
    p = expr.split()
    for i, (lo, hi) in enumerate(((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))):
        vals = set()
        for item in p[i].split(","):
            rng, _, st = item.partition("/")
            a, b = (lo, hi) if rng == "*" else [int(x) for x in rng.split("-")] if "-" in rng else (
                int(rng), hi if st else int(rng))
            vals.update(range(a, b + 1, int(st or 1)))
        sets.append(set(v % 7 for v in vals) if i == 4 else vals)
    star = p[2][0] == "*" or p[4][0] == "*"
    # step day by day, then minute by minute within a matching day
    start = EPOCH + dt.timedelta(seconds=(t // 60 + 1) * 60)
    day = start.date()
    while day.year <= start.year + 8:
        a = day.day in sets[2]
        b = day.isoweekday() % 7 in sets[4]
        if day.month in sets[3] and ((a and b) if star else (a or b)):
            for h in sorted(sets[1]):
                for m in sorted(sets[0]):
                    ts = dt.datetime(day.year, day.month, day.day, h, m)
                    if ts >= start:
                        return int((ts - EPOCH).total_seconds())
        day += dt.timedelta(days=1)
    return None


def _field(r, lo, hi, bias):
    # one random cron field over lo..hi: *, */n, a, a-b, a-b/n, a/n or a list; values drawn
    # from `bias` (the edges) 40% of the time
    def v():
        return r.choice(bias) if r.random() < 0.4 else r.randint(lo, hi)

    k = r.random()
    a = v()
    b = r.randint(a, hi)
    return ("*" if k < 0.3 else "*/%d" % r.randint(1, hi - lo + 1) if k < 0.4 else str(a) if k < 0.6
            else "%d-%d" % (a, b) if k < 0.7 else "%d-%d/%d" % (a, b, r.randint(1, 7)) if k < 0.8
            else "%d/%d" % (a, r.randint(1, 20)) if k < 0.85 else ",".join(str(v()) for _ in range(3)))


def test_next_fire_against_brute_force():
    r = random.Random(20261124)
    starts = [schedule.parse_at(s) for s in ("2026-02-28 23:59", "2024-02-29 12:00", "2026-12-31 23:59",
                                             "2099-12-31 23:00", "2096-03-01 00:00", "1970-01-01 00:00")]
    none = 0
    for i in range(400):
        expr = " ".join((_field(r, 0, 59, (0, 59)), _field(r, 0, 23, (0, 23)), _field(r, 1, 31, (1, 28, 29, 30, 31)),
                         _field(r, 1, 12, (2, 12)), _field(r, 0, 7, (0, 7))))
        f = schedule.parse_cron(expr)
        for t in (r.randint(0, 4102444800), r.choice(starts) + r.randint(-90, 90)):
            want = _ref(expr, t)
            assert schedule.next_fire(f, t) == want, (expr, t, want)
            none += want is None
    assert none < 100  # most random expressions fire; a few impossible ones end the search


def test_parse_at_against_datetime():
    # random valid times, as "YYYY-MM-DD HH:MM[:SS]" and with "T"
    r = random.Random(20261125)
    for i in range(2000):
        ts = r.randint(0, 253402300799)
        d = EPOCH + dt.timedelta(seconds=ts)
        s = d.strftime("%Y-%m-%d" + r.choice((" ", "T")) + "%H:%M:%S")
        assert schedule.parse_at(s) == ts and schedule.parse_at(s[:16]) == ts - d.second, s
