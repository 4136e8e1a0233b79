# Group chats. The bot answers in a group only when all three hold:
#   - the owner listed the group in channels.telegram.allow_from (a group's chat id is
#     negative, e.g. -1001234567890; the gateway logs it for a skipped group message);
#   - the sender is admitted by allow_from like in a private chat (the bot's tools act on
#     the owner's board and files, so a stranger in an allowed group still gets nothing
#     and costs no model call);
#   - the message mentions the bot: "@<bot username>" in its text ("/help@<bot>" too).
# Loaded only when allow_from lists a group (app.build); the bot's username comes from
# getMe on the first group message, so start-up needs no extra request.
from micropython import const

from picoclaw.json.stream import OBJ

_CHUNK = const(256)  # the text is searched in pieces from the inbox file, never whole


def attach(gw):
    gw.group = Mentions(gw.tg).check


class Mentions:
    def __init__(self, tg):
        self.tg = tg
        self.at = None  # b"@botname", lower case, once getMe answered

    def check(self, u, f):
        """Does the text of update u (in the inbox file f) mention the bot?"""
        if self.at is None:
            # a failure raises: the gateway retries the update in the next cycle
            self.at = b"@" + self.tg._call(b"getMe", None, _username).lower().encode()
        return mentions(f, u.text_offset, u.text_len, self.at)


def _username(p):
    name = ""
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"username"):
            name = p.read_str(64) or ""
        else:
            p.skip()
    return name


def _word(c):  # a byte that can continue a username: [A-Za-z0-9_]
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95


def _command(s, i):  # does the text start with a command glued to s[i] ("/help@name")?
    i -= 1
    while i > 0 and _word(s[i]):
        i -= 1
    return i == 0 and s[0] == 47  # "/"


def mentions(f, offset, length, at):
    """Is `at` (b"@name", lower case) in the length bytes at offset of file f, as a whole
    word (b"@name_2" is someone else)? Read in _CHUNK pieces, any case."""
    f.seek(offset)
    k = len(at)
    left = length
    s = b""
    while True:
        chunk = f.read(min(left, _CHUNK))
        left = left - len(chunk) if chunk else 0  # a short file ends the text
        carried = i = 1 if s else 0  # s[0] of a carried tail: only the neighbour of a name at s[1]
        s += chunk.lower()
        i = s.find(at, i)
        while i >= 0:
            if i > 0 and _word(s[i - 1]) and (carried or not _command(s, i)):
                pass  # "me@name": not a mention
            elif i + k < len(s):
                if not _word(s[i + k]):
                    return True
            elif left <= 0:
                return True  # the text ends with the name
            else:
                break  # what follows the name is in the next piece
            i = s.find(at, i + 1)
        if left <= 0:
            return False
        s = s[-k - 1:]  # a name cut by the piece boundary is found again, after its neighbour
