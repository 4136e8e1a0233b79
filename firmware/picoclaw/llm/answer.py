# What one model call produced, on flash: the answer's text in `<dir>/reply` (capped), each
# tool call's id and name, and its arguments in `<dir>/call<i>` (raw JSON, capped).
#
# Loaded by llm.call once the request is written and the answer is coming (the request is
# the model call's heap peak), and unloaded with the rest of the model side.
from micropython import const

import time

from picoclaw import log
from picoclaw.json.stream import OBJ, JsonError, JsonReader, StreamSource
from picoclaw.llm.call import Enough
from picoclaw.telegram.api import refused

_MAX_CALLS = const(8)  # tool calls kept from one answer; more are refused to the model
_ARGS_CAP = const(16384)  # bytes of arguments per tool call (a write_file of a 16 KB note)
_EDIT_MS = const(2000)  # streaming: at most one placeholder edit per 2 s (Telegram's edit limits)
_TEXT_CAP = const(32768)  # bytes of answer text kept; the rest is cut (and said so)


class Answer:
    """What one model call produced, on flash. calls: [(id, name, args_path)]."""

    def __init__(self, state_dir, a=None):
        self.dir = state_dir
        self.reply_path = state_dir + "/reply"
        self._reply = open(self.reply_path, "wb")
        self.text_len = 0
        self.text_cut = False
        self.calls = []
        self.args_file = None  # open file of the call being written (anthropic writes into it too)
        self.args_len = 0
        self.stop = ""
        self.on_text = a  # streaming: the agent whose placeholder follows the text (_edit)

    def text(self, buf, n):
        cut = self.text_len + n > _TEXT_CAP
        if cut:
            n = _TEXT_CAP - self.text_len
            self.text_cut = True
        if n > 0:
            self._reply.write(memoryview(buf)[:n])
            self.text_len += n
            if self.on_text:
                self._reply.flush()
                self._edit()
        if cut:
            raise Enough()  # stop reading: the rest would be dropped anyway

    def _edit(self):
        # streaming: edit the agent's placeholder with the text so far, throttled
        a = self.on_text
        t = time.ticks_ms()
        if time.ticks_diff(t, a._edited) < _EDIT_MS or self.text_len - a._edit_len < 16:
            return
        a._edited = t
        a._edit_len = self.text_len
        try:
            with open(self.reply_path, "rb") as f:
                a.tg.send_message(a.chat_id, None, text_file=f, text_len=self.text_len, edit=a.placeholder_id)
        except Exception as e:  # noqa: BLE001 - Telegram's or the network's: the answer still comes
            log.debug("progress edit: %s" % e)
            if getattr(e, "code", 0) and refused(e) and "not modified" not in e.description:
                self.on_text = None  # gone or not editable: the answer comes as a new message
                a.placeholder_id = 0

    def call(self, cid, name):
        """Start a new tool call. Returns False once _MAX_CALLS were started."""
        self._close_args()
        if len(self.calls) >= _MAX_CALLS:
            return False
        path = "%s/call%d" % (self.dir, len(self.calls))
        self.calls.append([cid or "call_%d" % len(self.calls), name or "", path])
        self.args_file = open(path, "wb")
        self.args_len = 0
        return True

    def set_call(self, cid=None, name=None):
        if self.calls:
            c = self.calls[-1]
            if cid:
                c[0] = cid
            if name:
                c[1] = name

    def args(self, buf, n):
        if self.args_file is None:
            return
        if self.args_len + n > _ARGS_CAP:
            raise Enough()  # cut arguments are not valid JSON: the call is refused as such
        self.args_file.write(memoryview(buf)[:n])
        self.args_len += n

    def write_args(self, data):
        if self.args_file is not None:
            self.args_file.write(data)
            self.args_len += len(data)

    def _close_args(self):
        if self.args_file is not None:
            if not self.args_len:
                self.args_file.write(b"{}")  # a call without arguments
            self.args_file.close()
            self.args_file = None

    def close(self):
        self._close_args()
        if self._reply is not None:
            self._reply.close()
            self._reply = None


def valid_object(path):
    """Is the file one JSON object? (tool arguments as the model wrote them)"""
    try:
        with open(path, "rb") as f:
            p = JsonReader(StreamSource(f, bytearray(64)), bytearray(32))
            p.expect(OBJ)
            p.skip_value(OBJ)
            p.finish()
        return True
    except (JsonError, OSError):
        return False
