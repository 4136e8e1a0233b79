"""The gateway on the MicroPython unix port (from .mpy) against the fake Telegram over TLS.

Every test drives the real CLI (`micropython -m picoclaw gateway --config ...`) over real
sockets to a server that speaks the Bot API and checks every request against the spec.
"""
import re

import pytest

import gatewayrun
from fakes.telegram_server import FakeTelegram

ALICE = 111


@pytest.fixture
def tg():
    with FakeTelegram() as fake:
        yield fake


def _texts(fake):
    return [s["params"]["text"] for s in fake.sent]


def test_echo_conversation_over_tls(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    eve = tg.user(666, "Eve", "eve")
    long_text = ("0123456789" * 410)[:4096]
    tg.send_text(alice, "/start")
    tg.send_text(alice, "hello")
    tg.send_text(eve, "let me in")
    tg.send_text(alice, "Good morning \u2600\ufe0f \U0001F600 \u4e2d\u6587 \"q\" \\ \n\t")
    tg.send_text(alice, long_text)
    tg.send_photo(alice)
    tg.send_sticker(alice)
    last = tg.send_text(alice, "bye")
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=3)
    assert r.returncode == 0, r.stdout + r.stderr
    texts = _texts(tg)
    assert texts[0].startswith("Hi! I am PicoClaw")
    assert texts[1:] == ["hello", "Good morning \u2600\ufe0f \U0001F600 \u4e2d\u6587 \"q\" \\ \n\t", long_text, "bye"]
    assert all(s["params"]["chat_id"] == ALICE for s in tg.sent)  # nothing went to Eve
    assert "unauthorized user id=666" in r.stdout and "add 666 to channels.telegram.allow_from" in r.stdout
    assert gatewayrun.saved_offset(cfg) == last + 1  # non-text updates did not stall the offset
    assert tg.connections == 1  # one TLS handshake for the whole conversation
    assert tg.token not in r.stdout + r.stderr


def test_allow_by_username_and_empty_list_admits_nobody(tg):
    bob = tg.user(222, "Bob", "Bob_B")
    tg.send_text(bob, "hi")
    cfg = gatewayrun.write_config(tg, allow=("@bob_b",))
    gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["hi"]
    tg.send_text(bob, "again")
    cfg = gatewayrun.write_config(tg, allow=())
    r = gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["hi"]
    assert "allow_from is empty" in r.stdout


def _figures(out):
    m = re.search(r"FIGURES baseline=(\d+) end=(\d+) handshakes=(\d+)", out)
    assert m, out[-2000:]
    return [int(g) for g in m.groups()]


@pytest.mark.parametrize("size", [10, 4096])
def test_burst_of_100_in_a_64k_heap_on_one_connection(tg, size):
    # the foundation's figure: a board-sized heap, modules from .mpy, 100 messages of 10 or
    # of 4096 characters; heap after the burst independent of the message length
    alice = tg.user(ALICE, "Alice", "alice")
    texts = [("%d " % i + "0123456789abcdef" * 256)[:size] for i in range(100)]
    for t in texts:
        tg.send_text(alice, t)
    cfg = gatewayrun.write_config(tg, poll_limit=10)
    r = gatewayrun.run(cfg, cycles=12, heap="64k")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert _texts(tg) == texts
    assert tg.connections <= 2  # at most 2 TLS handshakes per 100 messages
    base, end, handshakes = _figures(r.stdout)
    assert handshakes == tg.connections
    assert end - base <= 2048, (base, end)  # only the open connection's objects remain


def test_restart_neither_loses_nor_repeats(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    for i in range(7):
        tg.send_text(alice, "m%d" % i)
    cfg = gatewayrun.write_config(tg, poll_limit=3)
    gatewayrun.run(cfg, cycles=1)  # handles 3, then "crashes" (exits)
    assert _texts(tg) == ["m0", "m1", "m2"]
    gatewayrun.run(cfg, cycles=4)  # restart: continues from the saved offset
    assert _texts(tg) == ["m%d" % i for i in range(7)]


@pytest.mark.parametrize("fault", [
    ("status", 429, "Too Many Requests: retry after 1", {"retry_after": 1}),
    ("status", 500, "Internal Server Error", None),
    ("status", 502, "Bad Gateway", None),
    ("status", 409, "Conflict: terminated by other getUpdates request", None),
    ("body", b'{"ok":true,"result":[{"update_id":'),
    ("body", b'<html>502 Bad Gateway</html>'),
    ("truncate", 40),
    ("chunked_truncate", 30),
    ("chunked",),
    ("close",),
])
def test_poll_faults_lose_nothing(tg, fault):
    alice = tg.user(ALICE, "Alice", "alice")
    tg.send_text(alice, "before")
    tg.send_text(alice, "after \U0001F600")
    tg.inject("getUpdates", *fault)
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=4)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _texts(tg) == ["before", "after \U0001F600"], r.stdout
    if fault[0] == "status" and fault[1] == 429:
        assert "waiting 1 s" in r.stdout


def test_send_429_is_honoured_and_not_lost(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    tg.send_text(alice, "one")
    tg.inject("sendMessage", "status", 429, "Too Many Requests: retry after 1", {"retry_after": 1})
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["one"], r.stdout
    assert "waiting 1 s" in r.stdout


def test_bad_token_stops_with_a_clear_error(tg):
    tg.send_text(tg.user(ALICE, "Alice"), "x")
    cfg = gatewayrun.write_config(tg, token="999:wrong-token-abcdefghij")
    r = gatewayrun.run(cfg, cycles=50)
    assert r.returncode == 2
    assert "Telegram rejected the bot token (401" in r.stdout
    assert len(tg.requests) == 1  # no retry storm
    assert "wrong-token" not in r.stdout + r.stderr


@pytest.mark.parametrize("kind", ["wrong_host", "unknown_ca"])
def test_bad_certificates_are_refused(kind):
    args = {"cert_hosts": ("wronghost.example",)} if kind == "wrong_host" else {"unknown_ca": True}
    with FakeTelegram(**args) as fake:
        fake.send_text(fake.user(ALICE, "Alice"), "secret")
        cfg = gatewayrun.write_config(fake)
        r = gatewayrun.run(cfg, cycles=2)
        assert "TLS with localhost:%d failed" % fake.port in r.stdout, r.stdout  # names host:port
        assert not fake.requests and not fake.sent  # not one byte of HTTP went out


def test_status_masks_the_token(tg):
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=0, cmd="status")
    assert r.returncode == 0, r.stderr
    assert "token set (" in r.stdout and tg.token not in r.stdout
    assert "saved offset: 0" in r.stdout and "heap:" in r.stdout


def test_cli_from_source_exactly_as_documented(tg):
    # MICROPYPATH=firmware:.frozen micropython -m picoclaw ...: compiled on the fly, so the
    # compiler needs more heap than the .mpy run does
    tg.send_text(tg.user(ALICE, "Alice"), "from source")
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=2, source=True, heap="256k")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _texts(tg) == ["from source"]


def test_bad_config_names_the_key(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"channels": {"telegram": {"token": "1:x", "allow_from": "123"}}}')
    r = gatewayrun.run(str(p), cycles=1)
    assert r.returncode == 2
    assert "channels.telegram.allow_from must be a list" in r.stdout
    p.write_text('{"channels": {"telegram": {"token": 5}}}')
    r = gatewayrun.run(str(p), cycles=1)
    assert "channels.telegram.token must be a string, got a number" in r.stdout
    p.write_text('{"channels": ')
    r = gatewayrun.run(str(p), cycles=1)
    assert "not valid JSON" in r.stdout


def test_invalid_utf8_becomes_replacement_characters(tg):
    # Telegram never sends invalid UTF-8, but a broken proxy might: the update is answered
    # with U+FFFD in place of the bad bytes (valid text), and nothing stalls.
    tg.add_chat(ALICE)
    body = (b'{"ok":true,"result":[{"update_id":900,"message":{"message_id":5,"from":{"id":111,'
            b'"is_bot":false,"first_name":"A"},"chat":{"id":111,"type":"private"},"date":1,'
            b'"text":"bad \xff\xfe bytes \xe6\x97"}}]}')
    tg.inject("getUpdates", "body", body)
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["bad \ufffd\ufffd bytes \ufffd"], r.stdout
    assert gatewayrun.saved_offset(cfg) == 901


def test_message_over_the_cap_is_cut_to_telegram_limit(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    text = "x" * 5000  # more than Telegram allows: the echo is cut to 4096 UTF-16 units
    tg.send_text(alice, text)
    emoji = "\U0001F600" * 2100  # 4200 units: cut at a character boundary, never mid-pair
    tg.send_text(alice, emoji)
    cfg = gatewayrun.write_config(tg)
    r = gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["x" * 4096, "\U0001F600" * 2048], r.stdout


def test_unknown_update_kinds_are_acknowledged_and_skipped(tg):
    alice = tg.user(ALICE, "Alice", "alice")
    tg.send_text(alice, "first")
    tg.send_edit(alice, "edited")
    tg.send_join(alice, -100123)
    last = tg.send_text(alice, "last")
    cfg = gatewayrun.write_config(tg)
    gatewayrun.run(cfg, cycles=2)
    assert _texts(tg) == ["first", "last"]
    assert gatewayrun.saved_offset(cfg) == last + 1


GROUP = -1001234567890  # a supergroup's chat id


def test_groups_only_when_listed_and_mentioned(tg):
    """A group is answered only when allow_from lists it, the sender is admitted, and the
    text mentions the bot (@fake_test_bot, any case, as a whole word)."""
    alice = tg.user(ALICE, "Alice", "alice")
    eve = tg.user(666, "Eve", "eve")
    grp = tg.group_chat(GROUP)
    other = tg.group_chat(-1009999999999, "Other Group")
    tg.send_text(alice, "no mention here", chat=grp)
    tg.send_text(alice, "hey @Fake_Test_Bot what now?", chat=grp)
    tg.send_text(alice, "@fake_test_botty is someone else", chat=grp)
    tg.send_text(alice, "mail me@fake_test_bot please", chat=grp)
    tg.send_text(eve, "@fake_test_bot let me in", chat=grp)  # a stranger in an allowed group
    tg.send_text(alice, "@fake_test_bot in a group nobody allowed", chat=other)
    tg.send_text(alice, "/help@fake_test_bot", chat=grp)
    tg.send_text(alice, "ends with @fake_test_bot", chat=grp)
    tg.send_text(alice, "private still works")
    cfg = gatewayrun.write_config(tg, allow=(str(ALICE), str(GROUP)))
    r = gatewayrun.run(cfg, cycles=3)
    assert r.returncode == 0, r.stdout + r.stderr
    sent = [(s["params"]["chat_id"], s["params"]["text"]) for s in tg.sent]
    assert sent[0] == (GROUP, "hey @Fake_Test_Bot what now?")
    assert sent[1][0] == GROUP and sent[1][1].startswith("Hi! I am PicoClaw")
    assert sent[2:] == [(GROUP, "ends with @fake_test_bot"), (ALICE, "private still works")]
    assert "unauthorized user id=666" in r.stdout
    assert "chat -1009999999999 skipped" in r.stdout
    assert sum(1 for q in tg.requests if q["method"] == "getMe") == 1  # asked once, at the first group message
