# A photo's line in the chat's session: {"u": ["media/<name>", "caption"]}, the reference to
# the file on flash (agent/media.py put it there), never its bytes; llm/image.py puts the
# image into each request that carries the line. The path comes first, so the request
# writer sees the file before the caption goes out (OpenAI wants the text first, Anthropic
# the image). A photo without a caption has "" (its request gets no text part).
#
# Loaded by agent/media.py for the line and dropped after it, not a method of the resident
# agent/session.Session: a method's name and code would stay in the heap with every session
# (~300 B from .mpy, on the path whose two-tool burst is held at 100 KB; docs/memory.md).
from picoclaw.json.files import FileOut


def append_image(s, f, n, buf, path, update_id=0):
    """Begin a turn of session s with a photo: the file at `path` (relative to the
    workspace) and its caption, n bytes of open file f from its position (0: none), with
    buf (128 bytes) as the escaper's buffer, answering update `update_id`.

        load("picoclaw.agent.photo").append_image(s, f, caption_len, a.buf, "media/x.jpg", u.update_id)
    """
    pos = f.tell()
    s._begin_turn(buf, update_id)  # the session's own start of a turn (cut back, noted)
    f.seek(pos)
    with s._append() as out:
        w = FileOut(out, buf)
        w.write(b'{"u":[')
        w.json_str(path)
        w.write(b",")
        w.json_begin()
        w.json_copy(f, n)
        w.json_end()
        w.write(b"]}\n")
        w._flush()
