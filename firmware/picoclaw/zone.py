# The owner's time zone (config agents.defaults.timezone) for cron and get_time: a fixed
# offset from UTC, or a POSIX TZ rule with daylight saving time.
#
#   ""  "UTC"  "Z"                      UTC
#   "+02:00"  "-0530"  "UTC+2"  "GMT-3"  a fixed offset, signed as people write it (+ is east)
#   "CET-1CEST,M3.5.0,M10.5.0/3"        POSIX: standard name and offset, daylight name
#   "EST5EDT,M3.2.0,M11.1.0"            [offset], then the start and end rules
#   "JST-9"  "<+0530>-5:30"             POSIX without daylight saving time
#
# POSIX offsets count hours *west* of Greenwich (CET-1 is UTC+1), the opposite of how
# offsets are usually written; only the UTC/GMT-prefixed forms above use the usual sign.
# Rules are Mm.w.d[/time]: month m, week w (1-4, 5 = the last), weekday d (0 = Sunday), at
# local time (default 02:00, may be negative or past 24 h), as every TZ string in the tz
# database uses. There is no zone database on a board, so "Europe/Berlin" is refused with
# the rule to use instead.
#
# A zone is a tuple: (offset,) or (standard, daylight, start rule, end rule), offsets in
# seconds east of UTC, rules (month, week, weekday, seconds). Loaded only to parse a zone
# (config check) and by the Schedule and get_time, which keep the functions they need and
# unload the module; an offset costs two rule dates (a few integer operations), computed
# only when a job's next time is worked out or a time is shown, never per poll.
from picoclaw.clock import civil_from_days, days_from_civil

_FIX = ('a zone is "+02:00", "UTC-5" or a POSIX rule such as "CET-1CEST,M3.5.0,M10.5.0/3" '
        '(there is no zone database for names like Europe/Berlin)')


def parse(spec):
    """The zone tuple for a config string. Raises ValueError naming the problem.
        parse("+05:30") == (19800,)
        parse("CET-1CEST,M3.5.0,M10.5.0/3") == (3600, 7200, (3, 5, 0, 7200), (10, 5, 0, 10800))"""
    s = spec.strip()
    u = s.upper()
    if u in ("", "UTC", "GMT", "Z"):
        return (0,)
    if "/" in s and "," not in s:
        raise ValueError('"%s": zone names need a zone database, which a board has not: give the '
                         'offset ("+01:00") or the POSIX rule (Central Europe: "CET-1CEST,M3.5.0,'
                         'M10.5.0/3"; the last line of the zone\'s file in /usr/share/zoneinfo)' % spec)
    if u[:3] in ("UTC", "GMT") and u[3:4] in ("+", "-") or s[0] in "+-":
        o, i = _hms(s, 3 if s[0] not in "+-" else 0, 1)
        if i == len(s) and o is not None:
            return (_range(o, spec),)
        if s[0] in "+-":
            raise ValueError('"%s" is not an offset like +02:00; %s' % (spec, _FIX))
        # else a POSIX rule that starts UTC+n or GMT+n (west, as POSIX counts)
    i = _name(s, 0, spec)
    o, i = _hms(s, i, -1)  # POSIX: hours west
    if o is None:
        raise ValueError('"%s" has no offset after its name; %s' % (spec, _FIX))
    if i == len(s):
        return (_range(o, spec),)
    i = _name(s, i, spec)
    dst = o + 3600
    if i < len(s) and s[i] != ",":
        dst, i = _hms(s, i, -1)
        if dst is None:
            raise ValueError('"%s": bad daylight offset; %s' % (spec, _FIX))
    rules = s[i + 1:].split(",") if i < len(s) else ()
    if len(rules) != 2:
        raise ValueError('"%s" needs two rules after the daylight name, like ",M3.5.0,M10.5.0/3"; %s'
                         % (spec, _FIX))
    return (_range(o, spec), _range(dst, spec), _rule(rules[0], spec), _rule(rules[1], spec))


def _range(o, spec):
    # the world's offsets run from -12:00 to +14:00
    if not -43200 <= o <= 50400:
        raise ValueError('"%s": an offset of %d hours is not on Earth (-12 to +14); %s' % (spec, o // 3600, _FIX))
    return o


def _name(s, i, spec):
    # a zone abbreviation: 3 or more letters, or <...> (e.g. <+0530>); returns where it ends
    if s[i:i + 1] == "<":
        j = s.find(">", i)
        if j < 0:
            raise ValueError('"%s": unterminated <name>; %s' % (spec, _FIX))
        return j + 1
    j = i
    while j < len(s) and s[j].isalpha():
        j += 1
    if j - i < 3:
        raise ValueError('"%s" is not a zone this board knows; %s' % (spec, _FIX))
    return j


def _hms(s, i, sign):
    # [+-]h[h][:mm[:ss]] or [+-]hhmm at s[i:] -> (seconds * sign, end), (None, i) if none
    neg = s[i:i + 1] == "-"
    if s[i:i + 1] in ("+", "-"):
        i += 1
    v = [0, 0, 0]
    k = 0
    j = i
    while j < len(s) and (s[j].isdigit() or s[j] == ":"):
        j += 1
    part = s[i:j]
    if not part:
        return None, i
    if ":" not in part and len(part) == 4:  # +0530
        part = part[:2] + ":" + part[2:]
    for p in part.split(":"):
        if not p.isdigit() or k > 2 or len(p) > 3:
            return None, i
        v[k] = int(p)
        k += 1
    if v[0] > 167 or v[1] > 59 or v[2] > 59:
        return None, i
    t = v[0] * 3600 + v[1] * 60 + v[2]
    return (-t if neg else t) * sign, j


def _rule(r, spec):
    # Mm.w.d[/time] -> (m, w, d, seconds)
    t = 7200
    k = r.find("/")
    if k >= 0:
        t, e = _hms(r, k + 1, 1)
        if t is None or e != len(r):
            raise ValueError('"%s": bad time in rule %s; %s' % (spec, r, _FIX))
        r = r[:k]
    p = r[1:].split(".")
    if r[:1] != "M" or len(p) != 3 or not all(x.isdigit() for x in p):
        raise ValueError('"%s": rule %s is not Mmonth.week.weekday (like M3.5.0); %s' % (spec, r, _FIX))
    m, w, d = int(p[0]), int(p[1]), int(p[2])
    if not (1 <= m <= 12 and 1 <= w <= 5 and d <= 6):
        raise ValueError('"%s": rule %s out of range (month 1-12, week 1-5, weekday 0-6)' % (spec, r))
    return (m, w, d, t)


def _when(y, r):
    # local seconds (since 1970, in the offset before the change) of rule r in year y
    m, w, d, t = r
    first = days_from_civil(y, m, 1)
    days = days_from_civil(y + m // 12, m % 12 + 1, 1) - first
    day = (d - (first + 4)) % 7 + (w - 1) * 7  # 1970-01-01 was a Thursday (4)
    while day >= days:  # week 5: the last such weekday
        day -= 7
    return (first + day) * 86400 + t


def offset(z, t):
    """Seconds east of UTC in zone z at the UTC instant t."""
    if len(z) == 1:
        return z[0]
    std, dst = z[0], z[1]
    y = civil_from_days((t + std) // 86400)[0]
    on = _when(y, z[2]) - std  # daylight time starts (UTC); the rule is in standard time
    off = _when(y, z[3]) - dst  # and ends; that rule is in daylight time
    if on < off:  # northern hemisphere: summer inside the year
        return dst if on <= t < off else std
    return std if off <= t < on else dst  # southern: summer across the new year


def utc(z, local):
    """The UTC instant of the local wall time `local` (seconds since 1970 as if UTC). Of a
    time that occurs twice (the hour repeated in autumn) the first; a time skipped in spring
    is read in standard time (02:30 becomes 03:30 daylight time)."""
    if len(z) > 1:
        u = local - z[1]
        if offset(z, u) == z[1]:
            return u
    return local - z[0]


def label(o):
    """ "UTC", or "UTC+02:00" / "UTC-05:30" for an offset o in seconds east."""
    if not o:
        return "UTC"
    a = abs(o) // 60
    return "UTC%s%02d:%02d" % ("+" if o > 0 else "-", a // 60, a % 60)
