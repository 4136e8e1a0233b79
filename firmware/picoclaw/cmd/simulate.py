# SIMULATE=1: a scripted Telegram inside the process, speaking real HTTP/1.1 bytes to the
# real client code (net/http, json/, telegram/api, gateway/), with no network at all;
# with a provider configured, a scripted model (OpenAI Chat Completions) as well, so the
# agent's whole loop (request from flash, tool calls, answer) runs offline.
#
# It stands in for the socket (an `opener` for net/http.Connection): requests written to
# it are parsed, answers are produced piece by piece, so even the 4096-character message
# of the script never sits in RAM whole. Only the first bytes of each reply are kept, to
# print the conversation.
#
# SIMULATE=1 is a first run (firstrun.py): it works with the config.json `onboard` writes,
# keeps its state in a scratch folder, and prints the conversation both ways at the end.
from micropython import const

_KEEP = const(120)  # bytes of each request body kept for the transcript
_USER = const(1001)  # the simulated user's id (admitted when allow_from is empty: firstrun.py)

_EMOJI = "Good morning \\u2600\\ufe0f \\ud83d\\ude00 \\u4e2d\\u6587"  # JSON-escaped, as Telegram sends
_EMOJI_TEXT = "Good morning \u2600\ufe0f \U0001F600 \u4e2d\u6587"  # the same text, as the user typed it


class Telegram:
    def __init__(self, cfg):
        owner = _USER
        for i in cfg.allow_ids:
            if i > 0:
                owner = i
                break
        self.owner = owner
        self.workspace = cfg.workspace
        self.stranger = 6666
        self.update_id = 700000
        self.message_id = 0
        # (from id, username, text or None for a photo, repeat count)
        self.script = [
            (owner, "owner", "/start", 1),
            (owner, "owner", "Hello from the board!", 1),
            (self.stranger, "eve", "let me in", 1),
            (owner, "owner", _EMOJI, 1),  # the model is told _EMOJI_TEXT
            (owner, "owner", "0123456789abcdef", 256),  # 4096 characters
            (owner, "owner", "What time is it?", 1),  # with a model: a get_time tool call
            (owner, "owner", "Please remember: the plants need water on Fridays", 1),  # append_file
            (owner, "owner", None, 1),
        ]
        # the conversation in order: (user name, script text (JSON-escaped) or None, repeat, -)
        # or (chat id, the first _KEEP bytes of the reply as JSON, body length, an edit?)
        self.sent = []
        self.polls = 0
        self.model = Model()  # the agent's model, when a provider is configured (app.build)
        self.model.log = self.sent  # its tool calls go into the transcript

    def sleep_ms(self, ms):
        pass  # simulated time: retries and back-offs do not wait

    def finished(self):
        return not self.script and self.polls > 0

    def open(self, host, port, ctx, timeout_ms):
        return _Stream(self)

    # -- the server side --------------------------------------------------------------
    def respond(self, method, body_head, body_len, out):
        """Queue the response pieces for one request on `out` (a list)."""
        if method == b"getUpdates":
            self.polls += 1
            if not self.script:
                return _json(out, b'{"ok":true,"result":[]}')
            uid, user, text, rep = self.script.pop(0)
            self.model.text = _EMOJI_TEXT if text is _EMOJI else text or ""
            self.sent.append((user, text, rep, False))  # the script's own text: no copy
            self.update_id += 1
            self.message_id += 1
            head = b'{"ok":true,"result":[{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"%s","username":"%s"},"chat":{"id":%d,"type":"private"},"date":1763900000,' % (
                self.update_id, self.message_id, uid, user.encode(), user.encode(), uid)
            if text is None:
                tail = b'"photo":[{"file_id":"AgAC","file_unique_id":"AQAD","width":90,"height":90}]}}]}'
                return _json(out, head + tail)
            t = text.encode()
            parts = [head + b'"text":"', (t, rep), b'"}}]}']
            return _json_parts(out, parts, len(head) + 8 + len(t) * rep + 5)
        if method in (b"sendMessage", b"editMessageText"):
            self.message_id += 1
            i = body_head.find(b'"chat_id":')
            chat = int(body_head[i + 10:body_head.find(b",", i)]) if i >= 0 else 0
            j = body_head.find(b'"text":"')
            self.sent.append((chat, bytes(body_head[j + 8:]) if j >= 0 else b"", body_len,
                              method == b"editMessageText"))
            return _json(out, b'{"ok":true,"result":{"message_id":%d,"chat":{"id":%d,"type":"private"},"date":1763900001,"text":"..."}}' % (self.message_id, chat))
        if method == b"sendChatAction":
            return _json(out, b'{"ok":true,"result":true}')
        return _json(out, b'{"ok":false,"error_code":404,"description":"Not Found"}', 404)

    def report(self):
        """Print the conversation both ways (firstrun.py, loaded now: the run is over) and
        remove the scratch workspace."""
        try:
            from picoclaw.cmd.firstrun import transcript
        except MemoryError:  # its code finds no room in a fragmented heap: say so, in one line
            print("(no room left in the heap to print the conversation: run with a bigger -X heapsize)")
            return
        transcript(self)


class Model:
    """A scripted model behind an OpenAI-compatible /chat/completions. It is told the
    user's text (`text`) by whoever plays the user; the first answer to a text asking
    for the time, the files or to remember something is a tool call (get_time, list_dir,
    append_file to memory/MEMORY.md), the next one a text; any other text is answered
    at once. Requests are consumed, not parsed: the tool loop is the agent's own."""

    def __init__(self):
        self.text = ""
        self.seen = None  # the text the last answer was for
        self.log = None  # a list to note each tool call in (simulate.Telegram's transcript)
        self.requests = 0

    def open(self, host, port, ctx, timeout_ms):
        return _Stream(self)

    def respond(self, method, body_head, body_len, out):
        self.requests += 1
        t = self.text
        low = t.lower()
        call = None
        if t != self.seen:  # a new question: the first answer may be a tool call
            self.seen = t
            if "time" in low:
                call = (b"get_time", b"{}")
            elif "file" in low:
                call = (b"list_dir", b'{\\"path\\": \\".\\"}')
            elif "remember" in low:
                note = t[low.find("remember") + 8:].strip(" :,.").replace("\\", "/").replace('"', "'").replace("\n", " ")[:80]
                call = (b"append_file", b'{\\"path\\": \\"memory/MEMORY.md\\", \\"content\\": \\"- %s\\\\n\\"}'
                        % note.encode())
        if call:
            if self.log is not None:
                self.log.append((None, call[0], 0, False))
            msg = (b'"content":null,"tool_calls":[{"index":0,"id":"call_%d","type":"function",'
                   b'"function":{"name":"%s","arguments":"%s"}}]' % (self.requests, call[0], call[1]))
            reason = b"tool_calls"
        else:
            words = t.replace("\\", "/").replace('"', "'").replace("\n", " ")[:60]
            msg = b'"content":"(simulated model) **Done.** You said: %s"' % words.encode()
            reason = b"stop"
        if b'"stream":true' in body_head:  # Server-Sent Events, as the agent asked
            body = (b'data: {"choices":[{"index":0,"delta":{"role":"assistant",%s}}]}\n\n'
                    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"%s"}]}\n\n'
                    b'data: [DONE]\n\n' % (msg, reason))
            out.append(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
                       % len(body))
            out.append(body)
            return
        _json(out, b'{"id":"chatcmpl-sim","object":"chat.completion","created":1763900000,"model":"sim",'
              b'"choices":[{"index":0,"message":{"role":"assistant",%s},"finish_reason":"%s"}],'
              b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}' % (msg, reason))


def _json(out, body, status=200):
    out.append(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, len(body)))
    out.append(body)


def _json_parts(out, parts, length):
    out.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length)
    out.extend(parts)


class _Stream:
    """The socket stand-in: parses requests as they are written, serves the responses."""

    def __init__(self, server):
        self.server = server
        self.head = bytearray()
        self.body_left = -1
        self.body_len = 0
        self.keep = bytearray()
        self.method = b""
        self.out = []  # response pieces: bytes, or (bytes, repeat)
        self.rep = 0
        self.off = 0

    def send(self, buf, n, timeout_ms):
        mv = memoryview(buf)[:n]
        i = 0
        while i < n:
            if self.body_left < 0:  # in the head: look for its end
                self.head.extend(mv[i:i + 1])
                i += 1
                if self.head.endswith(b"\r\n\r\n"):
                    self._start_body()
            else:
                k = min(n - i, self.body_left)
                room = _KEEP - len(self.keep)
                if room > 0:
                    self.keep.extend(mv[i:i + min(k, room)])
                self.body_left -= k
                i += k
            if self.body_left == 0:
                self.server.respond(self.method, self.keep, self.body_len, self.out)
                self.head = bytearray()
                self.keep = bytearray()
                self.body_left = -1

    def _start_body(self):
        h = bytes(self.head)
        first = h[:h.find(b"\r\n")]
        path = first.split(b" ")[1]
        self.method = path[path.rfind(b"/") + 1:]
        i = h.find(b"Content-Length: ")
        self.body_len = int(h[i + 16:h.find(b"\r\n", i)]) if i >= 0 else 0
        self.body_left = self.body_len

    def recv(self, buf, n, timeout_ms):
        while self.out:
            piece = self.out[0]
            data, times = piece if isinstance(piece, tuple) else (piece, 1)
            if self.off < len(data):
                k = min(n, len(data) - self.off)
                buf[0:k] = data[self.off:self.off + k]
                self.off += k
                return k
            self.off = 0
            self.rep += 1
            if self.rep >= times:
                self.rep = 0
                self.out.pop(0)
        raise OSError(110)  # nothing to say: as a stalled server would

    def close(self):
        pass
