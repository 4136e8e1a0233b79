# Sending the agent's answer once tgformat has written it to <workspace>/state/out as
# Telegram texts of at most 4096 characters each (agent/loop.Agent._deliver): each piece sent
# from that file, the first one edited into the "Thinking..." placeholder when there is one.
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
# holds one of the two at a time.
from picoclaw import log
from picoclaw.telegram.api import APIError


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
