# Sending the agent's answer once tgformat has written it to <workspace>/state/out as
# Telegram texts of at most 4096 characters each (agent/loop.Agent._deliver): each piece sent
# from that file, the first one edited into the "Thinking..." placeholder when there is one.
# And, in a private chat, the live draft (edit) that shows the answer as it streams.
#
# The answer is final by now, so nothing that happens here runs the turn again:
#   - an edit of the placeholder that fails (the user deleted it, it is too old to edit)
#     sends the piece as a new message instead; "not modified" counts as done;
#   - Telegram's "can't parse entities" for the HTML is reported back (the rest of the
#     answer is then sent as plain text), and only that error;
#   - any other refusal (blocked, kicked, chat gone) is raised: the update is over;
#   - a network failure is raised with the session note saying how many pieces are out, so
#     the gateway's retry of the update delivers only the rest (resume.py).
#
# Loaded for the sending and dropped after it; tgformat is unloaded by then, so the heap
# holds one of the two at a time. Loaded for each draft too (no module of its own: a module's
# names, its dotted name and its path are interned for good, and the agent's turn sits just
# under the 620-name step: docs/memory.md).
import time

from picoclaw import log
from picoclaw.telegram.api import APIError, refused


def send(a, s, chat_id, out, pieces, html, reply_to, start):
    """Send the `pieces` [(offset, length)] of file `out` to `chat_id` for agent `a` and
    session `s`, from piece `start` on. Returns -1 when all are out, or the index of the
    piece whose HTML Telegram could not parse (send the rest as plain text from there)."""
    if not pieces:
        with open(out, "wb") as f:
            f.write(b"(no answer)")
        pieces = [(0, 11)]
    with open(out, "rb") as f:
        for i in range(start, len(pieces)):
            off, n = pieces[i]
            edit = a.placeholder_id if i == 0 else 0
            while True:
                f.seek(off)
                try:
                    # units_cap=0: tgformat already cut each piece to Telegram's 4096 visible
                    # units; a cap here would count markup and could cut inside a tag
                    a.tg.send_message(chat_id, None, 0 if edit else reply_to, text_file=f,
                                      text_len=n, units_cap=0, html=html, edit=edit)
                    break
                except APIError as e:
                    d = e.description
                    if e.code != 400:
                        raise
                    if html and "can't parse entities" in d:
                        log.warn("Telegram refused the HTML (%s): sending plain text" % d)
                        return i
                    if not edit:
                        raise
                    if "not modified" in d:
                        break
                    log.info("placeholder not editable (%s): the answer comes as a new message" % d)
                    edit = 0
            if s is not None:
                s.note(a.placeholder_id, i + 1)
    return -1


def edit(d, f, n):
    """The live draft of agent d.a's turn (sendMessageDraft, Bot API 10.1: a 30-second
    preview in a private chat, draft_id -a.placeholder_id) shows the next n bytes of open
    file f, sent through Bot API client d.tg (d: agent/loop.Telegram, which keeps the last
    draft's time and length); n=0: the empty first draft, which Telegram shows as
    "Thinking...". Throttled as PicoClaw's telegramStreamer (the first progress draft after
    200 characters, then 3 s and 200 more), except that both must hold, not either: each
    draft stops the reading of the model's stream for a Telegram round trip, so the drafts
    follow the answer's length and time, not its events.

    A draft Telegram refuses as such (400: an old server's "method not found", a chat it
    allows no drafts in; 404) turns drafts off until restart, in one log line, and
    a.placeholder_id to 0: that turn sends the placeholder if it had not started yet
    (Agent.turn), and its answer comes as a message all the same. A blocked bot (403) is
    raised, as for the placeholder, and so is a network failure (only that draft is lost).
    The body is sendMessage's (telegram/api.Telegram.send_message) with a draft_id and no
    reply; the text streams through the connection's line buffer, free while a request is
    written."""
    a = d.a
    tg = d.tg
    if n:
        t = time.ticks_ms()
        last = getattr(d, "_edited", None)  # the last progress draft of this model call
        if (a.placeholder_id >= 0 or n - getattr(d, "_edit_len", 0) < 200
                or last is not None and time.ticks_diff(t, last) < 3000):
            return  # drafts went off, or too soon
        d._edited = t
        d._edit_len = n
    pos = f.tell() if f else 0
    chunk = tg.conn._line
    draft = -a.placeholder_id

    def body(w):
        w.write(b'{"chat_id":%d,"draft_id":%d' % (a.chat_id, draft))
        if n:
            w.write(b',"text":')
            w.json_begin(4096)  # a draft's text, as a message's: 0-4096 characters
            f.seek(pos)
            left = n
            while left > 0:
                k = f.readinto(chunk)
                if not k:
                    break
                k = min(k, left)
                left -= k
                if not w.json_part(chunk, k):
                    break
            w.json_end()
        w.write(b"}")

    try:
        tg._call(b"sendMessageDraft", body, None)
    except APIError as e:
        if not refused(e) or e.code == 403:
            raise
        a.drafts = False
        a.placeholder_id = 0
        log.warn("Telegram refused a live draft (%s): drafts are off until restart, answers come "
                 "as messages (channels.telegram.streaming.enabled false skips the try)" % e)
