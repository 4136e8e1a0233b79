# The setup form parser's tests (portal/form.py), run on both runtimes: under pytest
# (host_tests/test_setup_server.py imports them) and on the MicroPython unix port from .mpy
# (test_setup_server.py compiles this file and runs it with mp_runner). Pure logic.
from picoclaw.portal import form as formmod
from picoclaw.portal.form import Form

FULL = (b"ssid=Home+Net%C3%A9&wifi_password=p%40ss+w%2Brd&token=123456%3AABC-def_ghi"
        b"&provider=openai&api_base=&api_key=sk-1234&model=gpt-4o-mini&owner=42&csrf=abcdef"
        b"&unknown=zzz&ssid=second")
WANT = {"ssid": "Home Net\u00e9", "wifi_password": "p@ss w+rd", "token": "123456:ABC-def_ghi",
        "provider": "openai", "api_base": "", "api_key": "sk-1234", "model": "gpt-4o-mini",
        "owner": "42", "csrf": "abcdef", "code": ""}


def parse(body, step=None, buf=None, f=None):
    """body (bytes) through a Form in windows of `step` bytes (None: one window, or the
    split points a list gives) of one fixed buffer."""
    f = f or Form()
    f.reset()
    buf = buf or bytearray(512)
    i = 0
    while i < len(body):
        n = min(step or len(body), len(body) - i, len(buf))
        buf[0:n] = body[i:i + n]
        f.feed(buf, 0, n)
        i += n
    f.end()
    return f


def test_full_form():
    f = parse(FULL)
    assert f.errors() == [], f.errors()
    assert f.values() == WANT, f.values()
    assert f.given("ssid") and not f.given("code")


def test_every_split_position():
    # two windows split at every byte, and every window size up to 9: the same values
    f = Form()
    buf = bytearray(512)
    for cut in range(len(FULL) + 1):
        f.reset()
        for a, b in ((0, cut), (cut, len(FULL))):
            buf[0:b - a] = FULL[a:b]
            f.feed(buf, 0, b - a)
        f.end()
        assert f.values() == WANT and f.errors() == [], (cut, f.values())
    for step in range(1, 10):
        assert parse(FULL, step, buf, f).values() == WANT, step


def test_windows_at_an_offset():
    f = Form()
    buf = bytearray(64)
    body = b"model=a%2Bb"
    buf[10:10 + len(body)] = body
    f.reset()
    f.feed(buf, 10, 13)
    f.feed(buf, 13, 10 + len(body))
    f.end()
    assert f.get("model") == "a+b"


def test_caps():
    f = parse(b"token=" + b"1" * 64 + b"&ssid=" + b"s" * 32)
    assert f.errors() == [] and len(f.get("token")) == 64 and len(f.get("ssid")) == 32
    f = parse(b"token=" + b"1" * 65 + b"&ssid=ok")
    assert f.errors() == ["Bot token is longer than 64 characters"], f.errors()
    assert f.get("ssid") == "ok" and f.get("token") == ""  # (not shown back cut short)
    # a cap counts decoded bytes: 32 escaped bytes (96 on the wire) fit in the SSID
    f = parse(b"ssid=" + b"%41" * 32)
    assert f.errors() == [] and f.get("ssid") == "A" * 32
    f = parse(b"ssid=" + b"%41" * 33 + b"&api_key=" + b"k" * 201)
    assert f.errors() == ["Wi-Fi network name is longer than 32 characters",
                          "API key is longer than 200 characters"], f.errors()


def test_body_cap():
    body = b"model=m&api_key=" + b"k" * 3000
    f = parse(body, 100)
    assert f.errors()[0] == "The form is larger than 2048 bytes", f.errors()
    assert f.total == len(body)
    # exactly at the cap: no body error
    body = b"x=" + b"y" * (formmod.BODY - 2)
    assert parse(body, 512).errors() == []


def test_unknown_and_repeated_fields():
    f = parse(b"a=1&verylongfieldnamethatisnotknown=2&owner=7&owner=8&=x&&provider")
    assert f.errors() == [] and f.get("owner") == "7" and f.get("provider") == ""
    assert f.given("provider") and not f.given("ssid")
    # a name with "=" inside the value keeps it
    assert parse(b"api_base=http://x/?a=b").get("api_base") == "http://x/?a=b"


def test_percent_edge_cases():
    assert parse(b"model=100%").get("model") == "100%"
    assert parse(b"model=100%4").get("model") == "100%4"
    assert parse(b"model=a%zzb").get("model") == "a%zzb"
    assert parse(b"model=a%4zb").get("model") == "a%4zb"
    assert parse(b"model=%7e%7E%26%3d").get("model") == "~~&="
    assert parse(b"model=a%&owner=1").get("model") == "a%"
    assert parse(b"m%6fdel=x").get("model") == "x"  # a name may be escaped too


def test_invalid_utf8():
    f = parse(b"ssid=%ff%fe&model=ok")
    assert f.errors() == ["Wi-Fi network name is not valid UTF-8 text"], f.errors()
    assert f.get("ssid") == "" and f.get("model") == "ok"
    # a multi-byte character cut by the cap is not text either: the cap's error says why
    f = parse(b"ssid=" + b"a" * 31 + b"%C3%A9")
    assert f.errors() == ["Wi-Fi network name is longer than 32 characters"], f.errors()


def test_reset_forgets():
    f = parse(FULL)
    f = parse(b"owner=9", f=f)
    assert f.get("token") == "" and f.get("owner") == "9" and not f.given("token")


def test_index_and_labels():
    assert formmod.index("ssid") == 0 and formmod.index("code") == 9
    assert formmod.index("sid") == -1 and formmod.index("csr") == -1
    assert formmod.label(2) == "Bot token"


def test_feed_allocates_nothing():
    try:
        import micropython

        micropython.heap_lock
    except (ImportError, AttributeError):
        return  # CPython: nothing to prove
    f = Form()
    buf = bytearray(512)
    body = FULL + b"&api_key=" + b"%41" * 100
    buf[0:len(body)] = body
    f.reset()
    f.feed(buf, 0, 1)  # first-call caches outside the lock
    f.reset()
    micropython.heap_lock()
    try:
        for i in range(0, len(body), 7):
            f.feed(buf, i, min(i + 7, len(body)))
    finally:
        micropython.heap_unlock()
    f.end()
    assert f.get("owner") == "42" and f.errors() == []
