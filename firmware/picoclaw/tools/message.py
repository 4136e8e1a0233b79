# The message tool: send a text to the owner's Telegram chat now, through ctx.send.
#
# ctx.send takes a str, so the text is held in RAM once: it is capped at 4096 characters
# (Telegram's limit for one message; at most 16 KB of UTF-8) and cut at a character
# boundary past that, and the result says so.
from micropython import const

from picoclaw.json.stream import OBJ

_CAP = const(4096)  # characters


def run(name, args, ctx, out):
    send = getattr(ctx, "send", None)
    text = None
    st = [0, False]  # characters taken, cut
    args.expect(OBJ)
    while args.next_key():
        if args.key_is(b"text"):
            text = bytearray()
            st[0] = 0
            st[1] = False

            def sink(b, n):
                if st[1]:
                    return
                c = st[0]
                i = 0
                while i < n:
                    if b[i] & 0xC0 != 0x80:  # a character starts here
                        if c == _CAP:
                            st[1] = True
                            break
                        c += 1
                    i += 1
                st[0] = c
                text.extend(memoryview(b)[:i])

            if args.copy_str(sink, _CAP * 4)[1]:
                st[1] = True
        else:
            args.skip()
    if send is None:
        raise ValueError("messaging is not available")
    if not text:
        raise ValueError("text is required and may not be empty")
    s = str(text, "utf-8")
    text = None  # one copy at a time
    send(s)
    out.write("sent (cut to %d characters)" % _CAP if st[1] else "sent")
