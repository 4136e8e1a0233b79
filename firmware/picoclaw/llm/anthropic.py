# Anthropic Messages API (`x-api-key`, `anthropic-version`), plain or streamed (SSE).
#
# Differences from Chat Completions that shape this module: the system prompt is a top-level
# field; tool results travel in a *user* message (consecutive results grouped in one), tool
# inputs are JSON objects (not strings), text blocks must not be empty, and a streamed
# tool input arrives as pieces of JSON text (input_json_delta).
from micropython import const

from picoclaw import load, unload
from picoclaw.json.stream import ARR, END_ARR, END_OBJ, KEY, NUM, OBJ, STR
from picoclaw.llm.call import copy_string, write_head, write_tail

PATH = b"/messages"
_BIG = const(1 << 20)  # no cap here: our files were capped when written, and llm/answer.Answer caps what is kept
# json/scan's private events and JsonReader state slots that _copy_value works with
_TRUE = const(8)
_FALSE = const(9)
_NULL = const(10)
_PART = const(11)  # a piece of a long string; more follows
_OLEN = const(4)  # bytes of the current string in p.out (0: the piece was taken)
_VMODE = const(19)  # 1: string values arrive in pieces; 2: cut at their cap


def headers(key):
    return (b"x-api-key: " + key.encode(), b"anthropic-version: 2023-06-01")


def body(w, a, stream, tools):
    write_head(w, a, stream)
    w.write(b',"system":')
    w.json_begin()
    a.write_system(w)
    w.json_end()
    w.write(b',"messages":[')
    sep = b""
    group = False  # inside a user message of tool results
    raw = lambda b, n: w.write(memoryview(b)[:n])  # noqa: E731 - a stored tool input, as is
    img = None  # llm/image.py, once a photo line needs it
    for p in a.history():
        p.expect(OBJ)
        if not p.next_key():
            continue
        if p.key_is(b"id"):
            w.write(b',{"type":"tool_result","tool_use_id":' if group
                    else sep + b'{"role":"user","content":[{"type":"tool_result","tool_use_id":')
            group = True
            copy_string(p, w)
            p.next_key()  # "t"
            w.write(b',"content":')
            copy_string(p, w)
            w.write(b"}")
            sep = b","
            continue
        if group:
            w.write(b"]}")
            group = False
        if p.key_is(b"u"):
            w.write(sep + b'{"role":"user","content":')
            # the value in pieces: the text, or for a photo an array (llm/image.py, loaded
            # only then): its first event tells which
            st = p.st
            st[_VMODE] = 1
            ev = p.next()
            if ev == ARR:
                st[_VMODE] = 2
                img = load("picoclaw.llm.image")
                img.write(a, p, w)
            else:
                w.json_begin()
                if ev != _NULL:
                    w.json_part(p.out, p.n)
                if ev == _PART:
                    st[_OLEN] = 0  # the piece was taken
                    p.copy_str(w.json_part, _BIG)  # the rest of the text
                st[_VMODE] = 2
                w.json_end()
            w.write(b"}")
        elif p.key_is(b"n"):
            n = p.read_int()
            p.next_key()  # "a"
            w.write(sep + b'{"role":"assistant","content":[')
            if n:
                w.write(b'{"type":"text","text":')
                copy_string(p, w)
                w.write(b"}")
            else:
                p.skip()
            calls = p.next_key()  # "c"
            if calls:
                p.expect(ARR)
                first = not n
                while p.next() == ARR:
                    w.write(b'{"type":"tool_use","id":' if first else b',{"type":"tool_use","id":')
                    first = False
                    copy_string(p, w)
                    w.write(b',"name":')
                    copy_string(p, w)
                    w.write(b',"input":')
                    p.copy_str(raw, _BIG)
                    w.write(b"}")
                    p.expect(END_ARR)
            if not n and not calls:
                w.write(b'{"type":"text","text":"(no answer)"}')
            w.write(b"]}")
        else:
            continue  # "s": the summary is in the system prompt
        sep = b","
    if img:  # the image code, not needed for the answer: dropped (each pass loads it)
        img, name = None, img.__name__
        unload(name)
    if group:
        w.write(b"]}")
    write_tail(w, a, sep, tools)


def parse(p, conn, answer, stream):
    if not stream:
        p.expect(OBJ)
        while p.next_key():
            if p.key_is(b"content"):
                p.expect(ARR)
                while p.next() == OBJ:
                    _block(p, answer)
            elif p.key_is(b"stop_reason"):
                answer.stop = p.read_str(32) or ""
            elif p.key_is(b"error"):
                from picoclaw.llm.errors import stream_error  # errors are rare: loaded for one

                stream_error(p)
            else:
                p.skip()
        p.finish()
        return
    from picoclaw.net.sse import SseSource

    src = SseSource(conn)
    while src.next_event():
        p.reset(src)
        p.expect(OBJ)
        while p.next_key():
            if p.key_is(b"content_block"):
                p.expect(OBJ)
                _block(p, answer, True)
            elif p.key_is(b"delta"):
                p.expect(OBJ)
                while p.next_key():
                    if p.key_is(b"text"):
                        p.copy_str(answer.text, _BIG)
                    elif p.key_is(b"partial_json"):
                        p.copy_str(answer.args, _BIG)
                    elif p.key_is(b"stop_reason"):
                        answer.stop = p.read_str(32) or answer.stop
                    else:
                        p.skip()
            elif p.key_is(b"error"):
                from picoclaw.llm.errors import stream_error  # errors are rare: loaded for one

                stream_error(p)
            else:
                p.skip()
    while conn.fill():
        pass


def _block(p, answer, streaming=False):
    """One content block (its `{` already read): text, or a tool_use with id/name/input."""
    started = False
    while p.next_key():
        if p.key_is(b"text"):
            p.copy_str(answer.text, _BIG)
        elif p.key_is(b"id") or p.key_is(b"name") or p.key_is(b"input"):
            if not started:
                started = answer.call(None, None)
            if p.key_is(b"input"):
                if streaming:
                    p.skip()  # "{}": the input follows as input_json_delta pieces
                else:
                    _copy_value(p, answer)
            elif p.key_is(b"id"):
                answer.set_call(cid=p.read_str(64))
            else:
                answer.set_call(name=p.read_str(64))
        else:
            p.skip()


def _copy_value(p, answer):
    """Re-serialise the next JSON value into the current call's arguments file, strings
    in pieces (a tool input can hold a whole file's content)."""
    from picoclaw.json.files import FileOut

    out = FileOut(answer.args_file, bytearray(128))
    st = p.st
    st[_VMODE] = 1
    try:
        depth = 0
        first = True
        while True:
            ev = p.next()
            if ev == KEY:
                if not first:
                    out.write(b",")
                out.json_begin()
                out.json_part(p.out, p.n)
                out.json_end()
                out.write(b":")
                first = True
                continue
            if not first and ev != END_OBJ and ev != END_ARR:  # a value after a value: separator
                out.write(b",")
            first = False
            if ev == OBJ or ev == ARR:
                out.write(b"{" if ev == OBJ else b"[")
                depth += 1
                first = True
            elif ev == END_OBJ or ev == END_ARR:
                out.write(b"}" if ev == END_OBJ else b"]")
                depth -= 1
            elif ev == STR or ev == _PART:
                out.json_begin()
                while True:
                    out.json_part(p.out, p.n)
                    if ev == STR:
                        break
                    st[_OLEN] = 0  # the piece was taken
                    ev = p.next()
                out.json_end()
            elif ev == NUM:
                out.write(memoryview(p.out)[:p.n])
            else:
                out.write(b"true" if ev == _TRUE else b"false" if ev == _FALSE else b"null")
            if depth == 0:
                break
        out._flush()
        answer.args_len += out.size
    finally:
        st[_VMODE] = 2
