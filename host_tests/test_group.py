# group.mentions: is "@botname" in a message text read from the inbox file in 256-byte
# pieces? Checked against a plain whole-string reference for names placed at every offset
# around the piece boundaries, with every kind of neighbour. Runs on CPython and on the
# unix port (test_unix_port.py).
from picoclaw.gateway.group import mentions

PATH = "/tmp/picoclaw-group-test"
AT = b"@pico_bot"


def _word(c):
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95


def _reference(text, at):
    # every occurrence, whole string at once: a mention unless a username character is
    # glued to either side (a command, "/help@name", may be glued before)
    s = text.lower()
    i = s.find(at)
    while i >= 0:
        j = i + len(at)
        before_ok = i == 0 or not _word(s[i - 1])
        if not before_ok:
            k = i - 1
            while k > 0 and _word(s[k]):
                k -= 1
            before_ok = k == 0 and s[0] == 47  # the text starts with the command
        if before_ok and (j == len(s) or not _word(s[j])):
            return True
        i = s.find(at, i + 1)
    return False


def _check(text, at=AT, pad=b"#"):
    # the text sits after some other bytes in the file, as in the inbox
    with open(PATH, "wb") as f:
        f.write(pad)
        f.write(text)
        f.write(b"\n")
    with open(PATH, "rb") as f:
        got = mentions(f, len(pad), len(text), at)
    want = _reference(text, at)
    assert got == want, (text, got, want)
    return got


def test_names_at_every_offset_around_the_piece_boundaries():
    hits = 0
    for before, after in ((b" ", b" "), (b"x", b" "), (b" ", b"x"), (b" ", b"_"), (b"/cmd", b""),
                          (b"\xc3\xa9", b"!"), (b"", b"")):
        for n in range(230, 275):
            for name in (b"@pico_bot", b"@PICO_Bot", b"@pico_bo", b"@pico_bott"):
                t = b"a" * n + before + name + after
                hits += _check(t)
                hits += _check(t + b" tail" * 60)  # the name then more pieces
    assert hits > 300  # and as many misses


def test_edges():
    assert not _check(b"")
    assert _check(b"@pico_bot")
    assert _check(b"/help@pico_bot")
    assert not _check(b"me@pico_bot")
    assert _check(b"me@pico_bot and @pico_bot")
    assert not _check(b"@pico_botty @pico_bo")
    assert _check(b"@pico_bot" * 100)  # glued repeats: the last one ends the text
    with open(PATH, "wb") as f:  # a file shorter than the record says: no endless loop
        f.write(b"#hello")
    with open(PATH, "rb") as f:
        assert not mentions(f, 1, 5000, AT)
