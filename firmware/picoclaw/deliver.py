# Sending the agent's answer once tgformat has written it to <workspace>/state/out as
# Telegram texts of at most 4096 characters each (agent.Agent._deliver): each piece sent
# from that file, the first one edited into the "Thinking..." placeholder when there is
# one. Telegram's 400 for the HTML is reported back, so the agent renders plain text.
#
# Loaded for the sending and dropped after it; tgformat is unloaded by then, so the heap
# holds one of the two at a time.
from . import log
from .telegram import APIError


def send(a, chat_id, out, p, html, reply_to):
    """Send the pieces `p` [(offset, length)] of file `out` to `chat_id` for agent `a`.
    Returns False if Telegram refused the HTML (400: send it again as plain text), else
    True. (Parameter names are interned for good: `p` is one already in use.)"""
    if not p:
        with open(out, "wb") as f:
            f.write(b"(no answer)")
        p = [(0, 11)]
    try:
        with open(out, "rb") as f:
            for i in range(len(p)):
                off, n = p[i]
                f.seek(off)
                edit = a._ph if i == 0 else 0
                try:
                    # units_cap=0: tgformat already cut each piece to Telegram's 4096 visible
                    # units; a cap here would count markup and could cut inside a tag
                    a.tg.send_message(chat_id, None, 0 if edit else reply_to, text_file=f,
                                      text_len=n, units_cap=0, html=html, edit=edit)
                except APIError as e:
                    if not (edit and "not modified" in e.description):
                        raise
        return True
    except APIError as e:
        if not html or e.code != 400:
            raise
        log.warn("Telegram refused the HTML (%s): sending plain text" % e.description)
        return False


def clear_placeholder(a, chat_id):
    """A silent turn (heartbeat) had shown "Thinking...": leave a check mark instead."""
    try:
        a.tg.send_message(chat_id, "\u2705", edit=a._ph)
    except APIError:
        pass
