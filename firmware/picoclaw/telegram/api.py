# Telegram Bot API client: long-poll getUpdates into the inbox on flash, send messages.
#
# A getUpdates body (up to `limit` updates of up to 4096 characters each) is never held in
# RAM: it is parsed as it arrives and each update becomes a record of the inbox
# (telegram/inbox.py). Replies stream the text back from that file through the connection
# buffer.
from micropython import const

from picoclaw.json.stream import ARR, END_ARR, OBJ, JsonError, JsonReader
from picoclaw.telegram.inbox import BLANK_HEADER, Update

_TEXT_CAP = const(12288)  # bytes: 4096 UTF-16 units of BMP text is at most 12288 UTF-8 bytes,
#                          so no valid Telegram text is cut; anything longer is, and flagged
_MAX_UNITS = const(4096)  # Telegram's limit for a message, in UTF-16 code units
_NAME_CAP = const(32)  # Telegram usernames are at most 32 characters
_DESC_CAP = const(200)  # error descriptions kept for the log
_POLL_MARGIN_MS = const(10000)  # read timeout beyond the long-poll time: then the poll is stalled

_TRIES = const(5)  # a request meets 429 (and waits retry_after) this often before giving up
_FLOOD_WAIT_MAX = const(60)  # seconds: a longer retry_after is not waited out inside a send

_TRUNCATED = const(1)  # telegram/inbox.py's record flags
_HAS_TEXT = const(2)
_FROM_BOT = const(4)
_MEDIA = const(16)

KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
         "my_chat_member", "chat_member", "other")

class APIError(Exception):
    """Telegram answered ok=false (or not JSON). code: error_code or HTTP status; negative
    (minus the HTTP status): what answered is not the Bot API at all (an HTML page, another
    service's JSON), so channels.telegram.base_url is wrong, not the token."""

    def __init__(self, method, code, description, retry_after=-1):
        super().__init__("%s failed: %d %s" % (method, code, description))
        self.code = code
        self.description = description
        self.retry_after = retry_after


def refused(e):
    """Is Telegram's error `e` final for the message it was about? Any 4xx but 429: the user
    blocked the bot (403), it was removed from the group (403), the chat or the message is
    gone (400). Retrying cannot change the answer."""
    return 400 <= e.code < 500 and e.code != 429


class Telegram:
    """Bot API client over one kept-alive Connection (httpclient)."""

    def __init__(self, conn, token, out=None, sleep_ms=None):
        self.conn = conn
        self._path = b"/bot" + token.encode() + b"/"  # the token lives only here
        self.out = out or bytearray(128)  # parser value buffer: keys, ids, names
        self.stream = None  # the inbox file while a getUpdates body is parsed (for sink)
        self._p = JsonReader(conn, self.out)
        if sleep_ms is None:
            import time

            sleep_ms = time.sleep_ms
        self.sleep_ms = sleep_ms  # flood waits (429) inside a send

    # -- envelope ---------------------------------------------------------------------
    def _call(self, method, body, on_result, timeout_ms=30000):
        """POST a JSON body; parse {"ok", "result", "error_code", "description",
        "parameters"}; on_result(p) reads the result value. Raises APIError. A 429 is
        waited out (retry_after, up to _FLOOD_WAIT_MAX s) and the request made again, up to
        _TRIES times in all, so no caller has to."""
        conn = self.conn
        p = self._p
        tries = _TRIES
        while True:
            conn.request(b"POST", (self._path, method), body=body, timeout_ms=timeout_ms)
            status = conn.status
            p.reset(conn)
            ok = False
            code = 0
            desc = ""
            retry_after = conn.retry_after
            result = None
            api = False  # an "ok" key seen: the Bot API's envelope
            try:
                p.expect(OBJ)
                while p.next_key():
                    if p.key_is(b"ok"):
                        ok = p.read_bool()
                        api = True
                    elif p.key_is(b"result"):
                        result = on_result(p) if on_result else p.skip()
                    elif p.key_is(b"error_code"):
                        code = p.read_int()
                    elif p.key_is(b"description"):
                        desc = p.read_str(_DESC_CAP) or ""
                    elif p.key_is(b"parameters"):
                        p.expect(OBJ)
                        while p.next_key():
                            if p.key_is(b"retry_after"):
                                retry_after = p.read_int()
                            else:
                                p.skip()
                    else:
                        p.skip()
                p.finish()
            except JsonError as e:
                conn.close()
                if status >= 500:  # a proxy's error page: the server side failing, retried
                    raise APIError(method.decode(), status, "HTTP %d with a body that is not JSON" % status,
                                   retry_after)
                if api:
                    raise JsonError("%s: %s" % (method.decode(), e))
            finally:
                conn.done()
            if ok:
                return result
            if not api:  # not the Bot API at all: a wrong URL, a captive portal's page
                from picoclaw.net.stream import failure

                raise APIError(method.decode(), -status, failure(3, conn, status, 0, 0))
            code = code or status
            tries -= 1
            if code != 429 or tries <= 0 or retry_after > _FLOOD_WAIT_MAX:
                raise APIError(method.decode(), code, desc, retry_after)
            from picoclaw import log

            log.warn("%s: too many requests, waiting %d s" % (method.decode(), max(retry_after, 1)))
            self.sleep_ms(max(retry_after, 1) * 1000)

    # -- getUpdates -------------------------------------------------------------------
    def get_updates(self, offset, timeout_s, limit, inbox_path):
        """Long-poll; write the updates to inbox_path. Returns how many were written.
        Only messages are asked for (allowed_updates); other kinds, should Telegram send
        them, are recorded as skipped."""

        def body(w):
            w.write(b'{"offset":%d,"limit":%d,"timeout":%d,"allowed_updates":["message"]}'
                    % (offset, limit, timeout_s))

        f = open(inbox_path, "wb")
        try:
            # the whole exchange, not only each read, ends by the poll time plus the margin:
            # a peer that drips a byte every few seconds or never ends its body is cut off
            n = self._call(b"getUpdates", body, lambda p: self._parse_updates(p, f),
                           timeout_ms=timeout_s * 1000 + _POLL_MARGIN_MS)
        finally:
            f.close()
        return n or 0

    def _parse_updates(self, p, f):
        # Key order inside an update is not fixed, so the text may stream to the file
        # before the ids are known: each record starts with a fixed-width placeholder
        # that is overwritten with the real header once the update has been read.
        p.expect(ARR)
        count = 0
        u = Update()
        while True:
            ev = p.next()
            if ev == END_ARR:
                return count
            if ev != OBJ:
                raise JsonError("getUpdates: an update is not an object")
            count += 1
            u.__init__()
            start = f.tell()
            f.write(BLANK_HEADER)
            while p.next_key():
                if p.key_is(b"update_id"):
                    u.update_id = p.read_int()
                    continue
                # the payload's key as a str, one per update, looked up in KINDS: a table of
                # the keys as bytes would hold ~0.5 KB of heap for good (docs/memory.md)
                kind = p.text()
                if u.kind != "other" or kind not in KINDS:
                    p.skip()  # an unknown key, or a second payload: the first one counts
                    continue
                u.kind = kind
                if KINDS.index(kind) < 3:  # message, edited_message, channel_post: read what we need
                    self._parse_message(p, f, u)
                else:
                    p.skip()
            f.write(b"\n")
            end = f.tell()
            # the placeholder's spaces stay as padding: only the fields are written over it
            f.seek(start)
            f.write(u.header())
            f.seek(end)

    def sink(self, buf, n):
        # copy_str's sink: a message text, piece by piece, straight to the inbox file
        # (named like attributes the echo start has already: docs/memory.md)
        self.stream.write(memoryview(buf)[:n])

    def _parse_message(self, p, f, u):
        # the parser's methods as locals: this runs for every key of every message. Each key's
        # length is compared first (p.n), so most keys cost no key_is() call at all.
        next_key = p.next_key
        key_is = p.key_is
        skip = p.skip
        media = None  # a file's descriptor line (telegram/files.py)
        p.expect(OBJ)
        while next_key():
            n = p.n
            if n == 10 and key_is(b"message_id"):
                u.message_id = p.read_int()
            elif n == 5 or n == 7 or n == 8 and p.out[0] == 100:
                # voice, audio, photo, caption, document (d): the file message's parts, by
                # telegram/files.py, loaded only for them (other keys of those lengths it skips)
                from picoclaw import load, unload

                name = "picoclaw.telegram.files"
                try:
                    media = load(name).read(p, self, u, f, media)
                finally:
                    unload(name)
            elif n != 4:
                skip()
            elif key_is(b"text"):
                if u.flags & _HAS_TEXT or u.text_len:
                    skip()  # a second text (or a caption): the first one is the message's
                    continue
                self.stream = f
                u.text_len, cut = p.copy_str(self.sink, _TEXT_CAP)
                u.flags |= _HAS_TEXT | (_TRUNCATED if cut else 0)
            elif key_is(b"from"):
                p.expect(OBJ)
                while next_key():
                    n = p.n
                    if n == 2 and key_is(b"id"):
                        u.from_id = p.read_int()
                    elif n == 8 and key_is(b"username"):
                        u.username = p.read_str(_NAME_CAP) or ""
                    elif n == 6 and key_is(b"is_bot"):
                        if p.read_bool():
                            u.flags |= _FROM_BOT
                    else:
                        skip()
            elif key_is(b"chat"):
                p.expect(OBJ)
                while next_key():
                    n = p.n
                    if n == 2 and key_is(b"id"):
                        u.chat_id = p.read_int()
                    elif n == 4 and key_is(b"type"):
                        u.chat_type = p.read_str(16) or ""
                    else:
                        skip()
            else:
                skip()
        if media:  # after the caption, whichever key came first
            f.write(media)
            u.text_len += len(media)
            u.flags |= _MEDIA

    # -- sending ----------------------------------------------------------------------
    def send_message(self, chat_id, text, reply_to=0, text_file=None, text_len=0, units_cap=_MAX_UNITS,
                     html=False, edit=0):
        """sendMessage (editMessageText when `edit` is a message_id). The text is `text`
        (str/bytes) or, when text_file is given, the next text_len bytes of that open file
        from its current position, streamed. Capped at units_cap UTF-16 units; html=True
        sends parse_mode HTML. Returns the message_id."""
        pos = text_file.tell() if text_file else 0
        chunk = self.conn._line if text_file else None  # reused; free while we write

        def body(w):
            w.write(b'{"chat_id":%d,"text":' % chat_id)
            w.json_begin(units_cap)
            if text_file is None:
                w.json_part(text)
            else:
                text_file.seek(pos)
                left = text_len
                while left > 0:
                    n = text_file.readinto(chunk)
                    if not n:
                        break
                    n = min(n, left)
                    left -= n
                    if not w.json_part(chunk, n):
                        break
            w.json_end()
            if html:
                w.write(b',"parse_mode":"HTML"')
            if edit:
                w.write(b',"message_id":%d' % edit)
            elif reply_to:
                w.write(b',"reply_parameters":{"message_id":%d,"allow_sending_without_reply":true}' % reply_to)
            w.write(b"}")

        return self._call(b"editMessageText" if edit else b"sendMessage", body, self._message_id)

    def send_action(self, chat_id, action=b"typing"):
        """sendChatAction: "typing..." shows in the chat for ~5 s or until a message."""
        self._call(b"sendChatAction", b'{"chat_id":%d,"action":"' % chat_id + action + b'"}', None)

    def _message_id(self, p):
        mid = 0
        p.expect(OBJ)
        while p.next_key():
            if p.key_is(b"message_id"):
                mid = p.read_int()
            else:
                p.skip()
        return mid
