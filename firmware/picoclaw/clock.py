# UTC calendar math from seconds since 1970, on every port: boards count time.time() from
# 2000, the unix port from 1970, and time.gmtime follows the port, so dates are computed
# here (Howard Hinnant's days/civil algorithms, eras of 400 years) instead.
import time

from micropython import const

_EPOCH_2000 = const(946684800)  # 2000-01-01 in seconds since 1970


def now():
    """Seconds since 1970-01-01 UTC as an int (time.time() is a float on the unix port)."""
    t = int(time.time())
    return t + _EPOCH_2000 if time.gmtime(0)[0] == 2000 else t


def days_from_civil(y, m, d):
    """Days from 1970-01-01 to the proleptic Gregorian date y-m-d."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(z):
    """(year, month, day) of day number `z` counted from 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + (1 if m <= 2 else 0), m, d)


def iso(t):
    """'2026-11-23 21:37' (UTC) for seconds since 1970."""
    days, s = divmod(int(t), 86400)
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02d %02d:%02d" % (y, m, d, s // 3600, s // 60 % 60)
