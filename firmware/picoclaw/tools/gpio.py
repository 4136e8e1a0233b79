# GPIO tools: gpio_read, gpio_write, adc_read, on the pins the board file allows and no other.
#
# The board's boards/<BOARD>/board.json lists the pins (ctx.pins); the pins that drive
# flash, PSRAM or the radio are simply never listed. The hardware comes in as ctx.machine
# (the `machine` module on a board, a fake in tests, None on the unix port).
from picoclaw.json.stream import OBJ


def _int(v, what):
    # models send 5, "5", 5.0 or true for the same thing (bool is no int on MicroPython)
    if v is True or v is False or isinstance(v, str) and v.strip().isdigit():
        return int(v)
    if isinstance(v, float) and v == int(v):
        return int(v)
    if v is None or isinstance(v, int):
        return v
    raise ValueError("%s must be a whole number" % what)


def run(name, args, ctx, out):
    pin = val = None
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"pin"):
            pin = _int(args.value(args.next()), "pin")
        elif args.key_is(b"value"):
            val = _int(args.value(args.next()), "value")
        else:
            args.skip()
    m = getattr(ctx, "machine", None)
    if m is None:
        raise ValueError("no GPIO on this board")
    if pin is None:
        raise ValueError("pin is required")
    p = getattr(ctx, "pins", None) or {}
    outs = p.get("gpio_out") or ()
    if name == "gpio_write":
        ok = outs
    elif name == "adc_read":
        ok = p.get("adc") or ()
    else:
        ok = sorted(set(p.get("gpio_in") or ()) | set(outs))  # board files list most pins in both
    if pin not in ok:
        raise ValueError("pin %d is not allowed (allowed: %s)" % (
            pin, ", ".join(str(i) for i in ok) or "none"))
    if name == "gpio_write":
        if val not in (0, 1):
            raise ValueError("value must be 0 or 1")
        val = int(val)
        m.Pin(pin, m.Pin.OUT).value(val)
        out.write("pin %d set to %d" % (pin, val))
    elif name == "adc_read":
        v = m.ADC(m.Pin(pin)).read_u16()
        out.write("adc pin %d: %d of 65535 (%d%%)" % (pin, v, v * 100 // 65535))
    else:
        # an output pin is read as it is: Pin(n, IN) would stop it driving its load, while
        # Pin(n) without a mode leaves the pin's setup alone (esp32, rp2) and reads its level
        v = m.Pin(pin).value() if pin in outs else m.Pin(pin, m.Pin.IN).value()
        out.write("pin %d: %d" % (pin, v))
