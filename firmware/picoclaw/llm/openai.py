# OpenAI-compatible Chat Completions (OpenAI, OpenRouter, Groq, DeepSeek, Ollama, llama.cpp).
#
# body() writes the request while reading the session from flash; parse() reads a plain JSON
# answer or an SSE stream of chat.completion.chunk events into an llm/answer.Answer.
from micropython import const

from picoclaw import load, unload
from picoclaw.json.stream import ARR, END_ARR, OBJ
from picoclaw.llm.call import copy_string, write_head, write_tail

PATH = b"/chat/completions"
_BIG = const(1 << 20)  # no cap here: our files were capped when written, and llm/answer.Answer caps what is kept
# json/scan's private events and JsonReader state slots that a user line's value is read with
_NULL = const(10)
_PART = const(11)  # a piece of a long string; more follows
_OLEN = const(4)  # bytes of the current string in p.out (0: the piece was taken)
_VMODE = const(19)  # 1: string values arrive in pieces; 2: cut at their cap


def headers(key):
    return (b"Authorization: Bearer " + key.encode(),) if key else ()


def body(w, a, stream, tools):
    write_head(w, a, stream)
    w.write(b',"messages":[{"role":"system","content":')
    w.json_begin()
    a.write_system(w)
    w.json_end()
    w.write(b"}")
    img = None  # llm/image.py, once a photo line needs it
    for p in a.history():
        p.expect(OBJ)
        if not p.next_key():
            continue
        if p.key_is(b"u"):
            w.write(b',{"role":"user","content":')
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
        elif p.key_is(b"n"):
            n = p.read_int()
            p.next_key()  # "a"
            w.write(b',{"role":"assistant","content":')
            if n:
                copy_string(p, w)
            else:
                p.skip()
            calls = p.next_key()  # "c": [[id, name, args], ...]
            if not n:
                w.write(b"null" if calls else b'"(no answer)"')
            if calls:
                w.write(b',"tool_calls":[')
                p.expect(ARR)
                first = True
                while p.next() == ARR:
                    w.write(b'{"id":' if first else b',{"id":')
                    first = False
                    copy_string(p, w)
                    w.write(b',"type":"function","function":{"name":')
                    copy_string(p, w)
                    w.write(b',"arguments":')
                    copy_string(p, w)
                    w.write(b"}}")
                    p.expect(END_ARR)
                w.write(b"]")
        elif p.key_is(b"id"):
            w.write(b',{"role":"tool","tool_call_id":')
            copy_string(p, w)
            p.next_key()  # "t"
            w.write(b',"content":')
            copy_string(p, w)
        else:
            continue  # "s": the summary goes into the system prompt
        w.write(b"}")
    if img:  # the image code, not needed for the answer: dropped (each pass loads it)
        img, name = None, img.__name__
        unload(name)
    write_tail(w, a, b",", tools)


def parse(p, conn, answer, stream):
    if not stream:
        _choices_doc(p, answer, False)
        p.finish()
        return
    from picoclaw.net.sse import SseSource

    src = SseSource(conn)
    while src.next_event():
        p.reset(src)
        _choices_doc(p, answer, True)
    while conn.fill():  # read to the end of the body so the connection can be kept
        pass


def _choices_doc(p, answer, stream):
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"choices"):
            p.expect(ARR)
            while p.next() == OBJ:
                while p.next_key():
                    if p.key_is(b"message") or p.key_is(b"delta"):
                        _message(p, answer, stream)
                    elif p.key_is(b"finish_reason"):
                        answer.stop = p.read_str(32) or answer.stop
                    else:
                        p.skip()
        elif p.key_is(b"error"):
            from picoclaw.llm.errors import stream_error  # errors are rare: loaded for one

            stream_error(p)
        else:
            p.skip()


def _message(p, answer, stream):
    p.expect(OBJ)
    while p.next_key():
        if p.key_is(b"content"):
            p.copy_str(answer.text, _BIG)
        elif p.key_is(b"tool_calls"):
            if p.next() != ARR:
                continue  # null
            while p.next() == OBJ:
                cid = name = None
                index = -1
                started = not stream  # streaming: a call starts when its index is new
                if not stream:
                    answer.call(None, None)
                while p.next_key():
                    if p.key_is(b"index"):
                        index = p.read_int()
                        if stream and index >= len(answer.calls):
                            started = answer.call(None, None)
                    elif p.key_is(b"id"):
                        cid = p.read_str(64)
                    elif p.key_is(b"function"):
                        p.expect(OBJ)
                        while p.next_key():
                            if p.key_is(b"name"):
                                name = p.read_str(64)
                            elif p.key_is(b"arguments"):
                                if stream and index < 0 and not answer.calls:
                                    answer.call(None, None)
                                p.copy_str(answer.args, _BIG)
                            else:
                                p.skip()
                    else:
                        p.skip()
                if started or cid or name:
                    answer.set_call(cid, name)
        else:
            p.skip()
