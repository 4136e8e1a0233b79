"""Pairing end to end: a board folder booted with main.py on the unix port (fake Wi-Fi, fake
Telegram over TLS). allow_from is empty, the console shows a one-time code, a wrong code is
refused, the right one makes the sender the owner, the owner is answered, a restart keeps
the owner and shows no code.
"""
import os
import re

import pytest

import vboard
from fakes.telegram_server import FakeTelegram

ALICE, EVE = 111, 666


@pytest.fixture
def tg():
    with FakeTelegram() as fake:
        yield fake


def _to(fake, chat):
    return [s["params"]["text"] for s in fake.sent if s["params"]["chat_id"] == chat]


def test_pairing_end_to_end(tg, tmp_path):
    folder = vboard.make_board(str(tmp_path), tg, allow=())
    alice = tg.user(ALICE, "Alice", "alice")
    eve = tg.user(EVE, "Eve", "eve")
    board = vboard.boot(folder)
    try:
        out = board.wait_for("/pair ")
        code = re.search(r"/pair (\d{6})", out).group(1)
        wrong = "%06d" % ((int(code) + 1) % 1000000)
        tg.send_text(eve, "/pair " + wrong)
        tg.send_text(eve, "/pair")
        tg.send_text(eve, "/pair %s extra" % code)  # the right digits in a malformed command
        tg.wait_sent(3)
        assert _to(tg, EVE) == ["Pairing refused."] * 3
        tg.send_text(alice, "hello before pairing")  # not a /pair: denied as usual, no answer
        tg.send_text(alice, "/pair " + code)
        tg.wait_sent(4)
        assert _to(tg, ALICE) == ["Paired: you are the owner of this PicoClaw. Send me a message."]
        tg.send_text(alice, "hello")
        tg.send_text(eve, "/pair " + code)  # the code is void now: a plain denial, no answer
        tg.wait_sent(5)
        board.wait_for("unauthorized user id=666", timeout=10)
    finally:
        _, out = board.stop()
    assert len(_to(tg, ALICE)) == 2 and len(_to(tg, EVE)) == 3, tg.sent
    with open(os.path.join(folder, "workspace", "state", "owner")) as f:
        assert f.read() == str(ALICE)
    assert "wrong code from user id=666" in out
    assert "unauthorized user id=111" in out  # the message before pairing
    assert "PAIRING: done, user id=111 @alice is the owner" in out
    assert code not in out[out.index("PAIRING: done"):]  # the void code is never shown again

    board = vboard.boot(folder)  # a restart keeps the owner
    try:
        board.wait_for("owner: Telegram user id=111")
        tg.send_text(alice, "still me")
        tg.wait_sent(6)
    finally:
        _, out = board.stop()
    assert "PAIRING:" not in out
    assert len(_to(tg, ALICE)) == 3


def test_five_wrong_codes_switch_pairing_off_until_a_restart(tg, tmp_path):
    """Guessing over Telegram: 5 wrong codes in all, from any number of accounts, and pairing
    is off (even the right code is then denied like any stranger's message) until the board
    restarts, which shows a new code. At Telegram's rate a guesser gets 5 tries per restart."""
    folder = vboard.make_board(str(tmp_path), tg, allow=())
    attackers = [tg.user(EVE + i, "Eve%d" % i, "eve%d" % i) for i in range(4)]
    alice = tg.user(ALICE, "Alice", "alice")
    board = vboard.boot(folder)
    try:
        first = re.search(r"/pair (\d{6})", board.wait_for("/pair ")).group(1)
        for i in range(12):
            tg.send_text(attackers[i % 4], "/pair %06d" % ((int(first) + 1 + i) % 1000000))
        tg.send_text(alice, "/pair " + first)  # the right code, too late
        tg.send_text(tg.user(777, "Zed"), "hello")  # handled once Alice's offset is saved
        board.wait_for("unauthorized user id=777", timeout=10)
    finally:
        _, out = board.stop()
    assert [s["params"]["text"] for s in tg.sent] == ["Pairing refused."] * 5
    assert "pairing is off until the bot restarts" in out and "unauthorized user id=111" in out
    assert not os.path.exists(os.path.join(folder, "workspace", "state", "owner"))
    print("FAULT pairing brute force injected=13 model_calls=0 messages=5 lost=0 repeated=0")

    board = vboard.boot(folder)  # a restart: a new code, and pairing works again
    try:
        second = re.search(r"/pair (\d{6})", board.wait_for("/pair ")).group(1)
        tg.send_text(alice, "/pair " + second)
        board.wait_for("PAIRING: done")
        tg.wait_sent(6)  # the 5 refusals, and this answer (sent after the log line)
    finally:
        board.stop()
    assert _to(tg, ALICE) == ["Paired: you are the owner of this PicoClaw. Send me a message."]


def test_allow_from_set_means_no_pairing(tg, tmp_path):
    folder = vboard.make_board(str(tmp_path), tg, allow=("111",))
    board = vboard.boot(folder)
    try:
        board.wait_for("gateway up")
        tg.send_text(tg.user(EVE, "Eve"), "/pair 123456")
        board.wait_for("unauthorized user id=666")
    finally:
        _, out = board.stop()
    assert "PAIRING" not in out and tg.sent == []


def test_same_compares_whole_codes():
    from picoclaw.gateway.pairing import _same

    assert _same(b"123456", b"123456")
    assert not _same(b"123456", b"123457")
    assert not _same(b"12345", b"123456")
    assert not _same(b"", b"123456")
