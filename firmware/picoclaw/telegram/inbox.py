# The inbox on flash: the record format getUpdates' updates are written in (telegram/api.py)
# and the gateway reads them back from (gateway/loop.py). One record per update, a header
# line of fixed width plus the message text as raw UTF-8:
#
#     <update_id> <kind> <chat_id> <chat_type> <from_id> <message_id> <text_len> <flags> <username>\n
#     <text_len bytes of text>\n
#
# The header is written last, over a blank one of the same width, because the keys of an
# update come in any order and its text may stream to flash before its ids are known.
from micropython import const

_ID_MAX = const(0x7FFFFFFF)  # update_id and message_id are 32-bit in the Bot API

# record flags (telegram/api.py, gateway/loop.py and gateway/pairing.py have copies: const()
# folds only within a module)
_TRUNCATED = const(1)  # the text was longer than telegram/api's cap and was cut
_HAS_TEXT = const(2)
_FROM_BOT = const(4)
_BAD_ID = const(8)  # an id outside the Bot API's range: the update is skipped, never confirmed
_MEDIA = const(16)  # a voice note, audio, a photo or an image document (agent/media.py fetches it)

_HEADER = const(160)  # fixed record header width: the longest header is ~125 bytes
BLANK_HEADER = b" " * (_HEADER - 1) + b"\n"  # written first, overwritten by Update.header()


class Update:
    """One inbox record (text stays on flash: see `text_offset`, `text_len`)."""

    def __init__(self):
        self.update_id = 0
        self.kind = "other"
        self.chat_id = 0
        self.chat_type = ""
        self.from_id = 0
        self.username = ""
        self.message_id = 0
        self.text_len = 0
        self.flags = 0
        self.text_offset = 0

    def header(self):
        """The record header's fields, space-separated (the caller pads to _HEADER)."""
        # ids out of range are flagged and zeroed: a 26-digit id would push the fields past
        # the fixed header width, and an offset taken from it would skip every later update
        # (chat and user ids "have at most 52 significant bits")
        if not (0 <= self.update_id <= _ID_MAX and 0 <= self.message_id <= _ID_MAX
                and -(1 << 53) < self.chat_id < 1 << 53 and 0 <= self.from_id < 1 << 53):
            self.flags |= _BAD_ID
            self.update_id = self.message_id = self.chat_id = self.from_id = 0
        # each field must stay one token: the names picked from the update (chat type,
        # username) are checked by _name() (the private chat type, the common case, needs no
        # check), and the ids are numbers
        t = self.chat_type
        return ("%d %s %d %s %d %d %d %d %s" % (
            self.update_id, self.kind, self.chat_id, t if t == "private" else _name(t),
            self.from_id, self.message_id, self.text_len, self.flags, _name(self.username))).encode()


def _name(s):
    """s as one header field: "-" when empty; every character but a letter, a digit or "_"
    (a space, a control character, anything split() breaks at) made "_". Telegram's
    usernames and chat types never have one, so most names come back as they are."""
    if not s:
        return "-"
    if s.isalpha():
        return s  # letters only (ASCII: MicroPython's test knows no other): nothing to check
    b = None
    for i in range(len(s)):
        c = ord(s[i])
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95):
            if b is None:
                b = list(s)
            b[i] = "_"
    return s if b is None else "".join(b)


def read_inbox(f):
    """Yield the Update records of an inbox file opened in binary mode. The caller may
    move the file position between records (to stream a text): each record is found by
    its absolute position."""
    nxt = 0
    while True:
        f.seek(nxt)
        line = f.readline()
        if not line:
            return
        parts = line.split()
        if len(parts) != 9:  # every field is one token (_token), so this is a damaged file
            raise ValueError("damaged inbox record")
        u = Update()
        u.update_id = int(parts[0])
        u.kind = parts[1].decode()
        u.chat_id = int(parts[2])
        u.chat_type = parts[3].decode()
        u.from_id = int(parts[4])
        u.message_id = int(parts[5])
        u.text_len = int(parts[6])
        u.flags = int(parts[7])
        u.username = "" if parts[8] == b"-" else parts[8].decode()
        u.text_offset = f.tell()
        nxt = u.text_offset + u.text_len + 1  # the text and its newline
        yield u
