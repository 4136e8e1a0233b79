# `picoclaw agent`: the assistant in a terminal, no Telegram (the unix port; any port with
# a console works).
#
#   micropython -m picoclaw agent -m "What time is it?" --config config.json   one turn, printed
#   micropython -m picoclaw agent --config config.json     a conversation: an empty line or Ctrl-D ends it
#
# The same Agent as the gateway's (sessions, tools, memory, limits), with the console in
# place of the chat: answers are printed as plain text (no Telegram HTML), and there is no
# "typing" or placeholder. The console is chat id 1 (<workspace>/sessions/1.jsonl); /clear
# and /new start over. Timers (heartbeat, cron) run only in the gateway. SIMULATE=1 puts
# the scripted model of simulate.py in place of the provider: no network at all.
import os
import sys

from micropython import const

from picoclaw import log

_CHAT = const(1)
_PIECE = const(256)  # answers are printed from their file in pieces, never read whole
_USAGE = "usage: picoclaw agent [-m MESSAGE] --config FILE"


class Console:
    """Stands in for telegram.Telegram: what the agent sends is printed."""

    def __init__(self):
        self.n = 0  # message ids handed out

    def send_action(self, chat_id, action=None):
        pass

    def send_message(self, chat_id, text, reply_to=0, text_file=None, text_len=0, units_cap=0,
                     html=False, edit=0):
        out = sys.stdout.buffer
        if text_file is None:
            out.write(text.encode() if isinstance(text, str) else text)
        else:
            left = text_len
            while left > 0:
                piece = text_file.read(min(left, _PIECE))
                if not piece:
                    break
                out.write(piece)
                left -= len(piece)
        out.write(b"\n")
        self.n += 1
        return self.n


def main(cfg, argv):
    """Run the `agent` command with its own arguments argv; returns the exit code."""
    text = None
    if len(argv) == 2 and argv[0] == "-m":
        text = argv[1]
    elif argv:
        print(_USAGE)
        return 2
    try:
        a, model = _build(cfg)
    except (ValueError, OSError) as e:  # config errors, TLS set-up, the start-up checks
        print("error: %s" % log.scrub(str(e)))
        return 2
    except MemoryError:
        print("error: out of memory while starting: run with a bigger -X heapsize (128k)")
        return 2
    if text is not None:
        log.last_error = ""
        _one(a, model, cfg.workspace, text)
        # the model could not be reached (the log said why, in one line): not a success
        return 1 if log.last_error.startswith("model call failed") else 0
    print("PicoClaw agent: %s, model %s. An empty line or Ctrl-D ends; /clear starts over."
          % (cfg.provider_kind, cfg.model))
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            break
        if not line:
            break
        _one(a, model, cfg.workspace, line)
    return 0


def _build(cfg):
    """(Agent with a Console, simulated model or None) for loaded settings."""
    log.set_secrets(cfg.secrets)
    if not (cfg.provider or cfg.providers):
        raise ValueError("no model configured: set providers.<name> in %s" % cfg.path)
    model = None
    if os.getenv("SIMULATE") == "1":
        from picoclaw.cmd.simulate import Model

        model = Model()
        log.info("SIMULATE=1: scripted model in-process, no network")
    from picoclaw.agent.setup import resolve

    base = resolve(cfg, model)  # also writes the tool schemas file (cfg.pins)
    ctx = None
    from picoclaw.app import split_url
    from picoclaw.net.http import Connection

    if base.startswith("https://"):
        from picoclaw.net import trust

        if not cfg.tls_verify:
            log.warn("tls.verify is false: certificates are NOT checked; remove it from config.json")
        else:  # a refused certificate tries the other root groups (anchors.py)
            Connection.trust = (cfg.ca_file or None, cfg.workspace)
        ctx = trust.context(cfg.ca_file or None, cfg.tls_verify, (split_url(base)[1],), cfg.workspace)
    from picoclaw.agent.setup import agent

    cfg.placeholder = cfg.typing = False  # nothing to edit, nobody to show "typing" to
    # the model's connection buffer: the gateway's size (app._IO_BUF, one TLS read at a time)
    a = agent(cfg, Console(), Connection(split_url(base), bytearray(512), ctx, opener=model and model.open))
    a.html = False
    a.owner = _CHAT
    return a, model


def _one(a, model, workspace, text):
    from picoclaw.agent.session import Session

    if model is not None:
        model.text = text
    s = Session(workspace, _CHAT, a.budget)
    if text.startswith("/clear") or text.startswith("/new"):
        s.clear()
        print("Started a new conversation.")
        return
    s.append_user_text(text, a.buf)
    a.turn(s, _CHAT)
