# Pairing: a fresh board with an empty allow_from admits nobody; its console shows a one-time
# code, and the first Telegram user who sends "/pair <code>" becomes the owner. The owner's
# id is saved in <workspace>/state/owner and admitted at every start from then on.
#
# Only someone who can read the board's console (USB cable, or whoever deployed it) sees the
# code. A wrong code gets the same short refusal whatever was wrong, and after _MAX_TRIES
# wrong codes in all (from anyone) pairing is off until the bot restarts: a guesser gets
# _MAX_TRIES tries at a 6-digit code per start of the board (odds 1 in 200,000), however
# many accounts they use. Once the owner is paired the code is void.
import os

from micropython import const

from picoclaw import log
from picoclaw.state import read_int, write_atomic

_DIGITS = const(6)  # typed by hand from the console; with _MAX_TRIES, 1 in 200,000 per start
_MAX_TRIES = const(5)  # wrong codes in all before pairing is off until a restart
_HEAD = const(40)  # bytes of a message read to find "/pair@botname 123456"
_HAS_TEXT = const(2)  # telegram/inbox.py's record flag


def attach(gw):
    """Admit the saved owner, or, when nobody is admitted at all, start pairing (the code is
    printed on the console) and hook it into the gateway. Safe to call more than once."""
    path = gw.state.dir + "/owner"
    owner = read_int(path, 0)
    if owner:
        if owner in gw.allow_ids:
            return gw.pairing  # attached already (or listed in allow_from too)
        gw.allow_ids.add(owner)
        log.info("owner: Telegram user id=%d (paired; delete %s to pair again)" % (owner, path))
    elif gw.pairing is None and not gw.allow_ids and not gw.allow_names:
        gw.pairing = Pairing(path)
    return gw.pairing


class Pairing:
    """The pairing state: the current code and the count of wrong tries."""

    def __init__(self, path):
        self.path = path
        self.code = None
        self.tries = 0
        self.new_code()

    def new_code(self):
        r = os.urandom(4)
        n = ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) % 1000000  # bias: 2^32 % 10^6, negligible
        self.code = b"%06d" % n
        self.tries = 0
        log.info("PAIRING: no owner yet. From your own Telegram account, send your bot:  /pair %s"
                 % self.code.decode())

    def offer(self, gw, u, f):
        """Called by the gateway for a message from a user who is not admitted. Returns True
        when it was a /pair attempt (answered here), False to let the gateway deny it."""
        if self.code is None or not u.flags & _HAS_TEXT:
            return False
        f.seek(u.text_offset)
        head = f.read(min(u.text_len, _HEAD))
        if not head.startswith(b"/pair"):
            return False
        if u.chat_type != "private":
            log.info("pairing: /pair in a %s chat ignored (send it in a private chat)" % u.chat_type)
            return False
        parts = head.split()
        got = parts[1] if len(parts) == 2 and parts[0].split(b"@")[0] == b"/pair" else b""
        if _same(got, self.code):
            write_atomic(self.path, b"%d" % u.from_id)
            gw.allow_ids.add(u.from_id)
            a = getattr(gw, "agent", None)
            if a is not None and not a.owner:
                a.owner = u.from_id  # the heartbeat's chat from now on
            self.code = None
            gw.pairing = None
            log.info("PAIRING: done, user id=%d @%s is the owner (saved in %s)"
                     % (u.from_id, u.username or "-", self.path))
            gw._send(u, "Paired: you are the owner of this PicoClaw. Send me a message.")
            return True
        self.tries += 1
        log.warn("pairing: wrong code from user id=%d @%s (%d of %d)"
                 % (u.from_id, u.username or "-", self.tries, _MAX_TRIES))
        gw._send(u, "Pairing refused.")
        if self.tries >= _MAX_TRIES:
            self.code = None  # every /pair from now on is denied like any stranger's message
            log.warn("pairing: %d wrong codes: pairing is off until the bot restarts (reset the "
                     "board; a new code is shown then)" % _MAX_TRIES)
        return True


def _same(a, b):
    # compares every byte whatever differs first: the reply time tells nothing
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0
