# Clock and device tools: get_time (ctx.now() in the owner's zone, ctx.tz: config
# agents.defaults.timezone, see zone.py; UTC without one) and system_status (ctx.status()).
#
# The date is computed here from seconds since 1970 rather than with time.gmtime: board
# ports count from 2000, the unix port from 1970, and ctx.now() is always 1970-based.
from picoclaw.clock import civil_from_days


def _span(s):
    # 93784 -> "1d 2h 3m 4s": easier for the model than a bare count of seconds
    d, s = divmod(int(s), 86400)
    return ("%dd " % d if d else "") + "%dh %dm %ds" % (s // 3600, s // 60 % 60, s % 60)


def _status(ctx):
    f = getattr(ctx, "status", None)
    if f is None:  # no board facts (the unix port): the heap and the uptime
        import gc
        import time

        gc.collect()
        return {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(),
                "uptime_s": time.ticks_ms() // 1000}
    return f() or {}


def _safe(k):
    # ctx.status() promises safe values; this is the second lock on the door
    k = k.lower()
    for w in ("pass", "token", "key", "secret", "auth", "psk"):
        if w in k:
            return False
    return True


def run(name, args, ctx, out):
    args.skip()  # neither tool takes arguments
    if name == "get_time":
        t = int(ctx.now())
        tz = getattr(ctx, "tz", "")
        o = dst = 0  # the offset at t (seconds east), and whether it is daylight saving time
        if tz:
            from picoclaw import load, unload

            zm = load("picoclaw.zone")
            try:
                z = zm.parse(tz)
                o = zm.offset(z, t)
                dst = len(z) > 1 and o == z[1]
                zn = zm.label(o)
            finally:
                unload("picoclaw.zone")
        days, s = divmod(t + o, 86400)
        y, m, d = civil_from_days(days)
        wd = (days + 3) % 7 * 3  # 1970-01-01 was a Thursday
        out.write("%04d-%02d-%02dT%02d:%02d:%02d%s (%s, %s; unix time %d)" % (
            y, m, d, s // 3600, s // 60 % 60, s % 60,
            "%s%02d:%02d" % ("-" if o < 0 else "+", abs(o) // 3600, abs(o) // 60 % 60) if tz else "Z",
            "MonTueWedThuFriSatSun"[wd:wd + 3],
            ("local time, " + zn + (" daylight saving" if dst else "")) if tz else "UTC", t))
        if y < 2021:  # an RTC that was never set starts at 2000 (or 1970)
            out.write("; the clock looks unset (no network time yet?)")
        up = _status(ctx).get("uptime_s")
        if up is not None:
            out.write("; up %s" % _span(up))
        return
    st = _status(ctx)
    lines = 0
    for k in sorted(st):
        v = st[k]
        if not _safe(k):
            continue
        if isinstance(v, dict):  # one level, e.g. wifi: {"ssid": .., "rssi": ..}
            v = ", ".join("%s %s" % (i, str(v[i])[:64]) for i in sorted(v) if _safe(i)
                          and not isinstance(v[i], (dict, list, tuple)))
        elif isinstance(v, (list, tuple)):
            continue
        elif k == "uptime_s":
            v = "%s (%d s)" % (_span(v), v)
        out.write("%s: %s\n" % (k, str(v)[:80]))
        lines += 1
    if not lines:
        out.write("no status available")
