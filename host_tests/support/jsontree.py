# Test helper (both runtimes): build a Python value from JsonReader events, and a trace of
# the events themselves, so tests can compare parses of the same bytes split differently.
from picoclaw.json.stream import ARR, END_ARR, END_OBJ, KEY, OBJ, STR


def _string(p):
    acc = bytearray()

    def sink(buf, n):
        acc.extend(memoryview(buf)[:n])

    p.copy_str(sink, 1 << 20)
    return str(acc, "utf-8")


def build(p):
    """The whole document as Python values (for tests only: it builds the tree we avoid)."""
    v = _value(p, p.st[2])
    p.finish()
    return v


def _value(p, _state):
    # peek the first event by scanning in stream mode so long strings come out whole
    p.st[19] = 1  # _VMODE stream: a long string arrives as PART events
    p.st[4] = 0
    ev = p.next()
    return _from(p, ev)


def _from(p, ev):
    if ev == OBJ:
        d = {}
        while True:
            ev = p.next()
            if ev == END_OBJ:
                return d
            assert ev == KEY
            k = p.text()
            d[k] = _value(p, 0)
    if ev == ARR:
        a = []
        while True:
            p.st[19] = 1
            p.st[4] = 0
            ev = p.next()
            if ev == END_ARR:
                return a
            a.append(_from(p, ev))
    if ev == 11 or ev == STR:  # PART or STR
        acc = bytearray()
        while True:
            acc.extend(memoryview(p.out)[: p.n])
            if ev == STR:
                break
            p.st[4] = 0
            ev = p.next()
        p.st[19] = 2
        return str(acc, "utf-8")
    p.st[19] = 2
    return p.value(ev)


def trace(p):
    """A digest of every event and value: (count, 32-bit FNV-1a hash). Parses of the same
    bytes split differently must give the same digest; a digest keeps a board heap free."""
    h = 0x811C9DC5
    count = 0
    out = p.out
    while True:
        ev = p.next()
        if ev == 12:  # EOF
            return count, h
        count += 1
        h = ((h ^ ev) * 0x01000193) & 0xFFFFFFFF
        if ev in (5, 6, 7):
            h = ((h ^ (p.truncated + 2)) * 0x01000193) & 0xFFFFFFFF
            for i in range(p.n):
                h = ((h ^ out[i]) * 0x01000193) & 0xFFFFFFFF
