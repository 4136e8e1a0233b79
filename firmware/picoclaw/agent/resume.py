# Resuming a turn that the gateway hands over again: the same update, after the board reset,
# ran out of memory, or could not reach Telegram with the answer. What is on flash decides,
# so nothing that already happened happens twice:
#   - an answer exists (the last line of the turn has no tool calls): it is delivered again
#     from where delivery stopped, no model call;
#   - tool calls are waiting: the first one without a result may have run when the turn
#     stopped, so it gets a result saying so (it is not run again); the ones after it never
#     started, and run now;
#   - otherwise (only the user's line, or every call answered): the next model call.
# Loaded only for such a retry (agent.Agent.answer) and dropped after it.
from picoclaw import log
from picoclaw.json.stream import ARR, END_ARR, OBJ, JsonReader
from picoclaw.agent.session import truncate
from picoclaw.json.files import LineSource

_NOT_RUN_AGAIN = ("error: the device restarted or ran out of memory while this tool ran, so it "
                  "is not known whether it finished. It was not run again: check its effect "
                  "before repeating it.")


def resume(a, s, note):
    """Take up the unfinished turn of session `s` whose note (Session.note) is `note`, for
    agent `a`. Returns None when no turn starts at the noted offset; else what agent.turn
    resumes from: (model calls made in the turn, tool calls to run now [(id, name, args
    path)], answered (its text is now in <state>/reply), answer pieces delivered, the
    placeholder message)."""
    start = s.turn_start = note[0]
    s.update_id = note[1]
    _drop_torn_line(s.path, start, a.linebuf)
    reply = a.state_dir + "/reply"
    try:
        f = open(s.path, "rb")
    except OSError:
        return None
    steps = 0
    calls = []  # the last answer's calls without a result yet
    answered = False
    with f:
        f.seek(start)
        src = LineSource(f, a.linebuf)
        p = JsonReader(src, a.small)
        more = src.at_line()
        first = True
        while more:
            p.reset(src)
            p.expect(OBJ)
            if p.next_key():
                if first and not p.key_is(b"u"):
                    return None
                if p.key_is(b"n"):
                    steps += 1
                    n = p.read_int()
                    p.next_key()  # "a": kept in the reply file, in case it is the answer
                    with open(reply, "wb") as out:
                        if n:
                            p.copy_str(lambda b, k: out.write(memoryview(b)[:k]), 1 << 20)
                        else:
                            p.skip()
                    calls = []
                    answered = not p.next_key()  # no "c": a final answer
                    if not answered:
                        _read_calls(p, a.state_dir, calls)
                elif p.key_is(b"id"):
                    cid = p.read_str(64)
                    for i in range(len(calls)):
                        if calls[i][0] == cid:
                            calls.pop(i)
                            break
            first = False
            more = src.next_line()
    if first:
        return None  # nothing at `start`: the session was cleared
    log.info("update %d: resuming its turn (%d model calls made%s)"
             % (note[1], steps, ", answer ready" if answered else ""))
    if calls and not answered:
        cid = calls.pop(0)[0]
        path = a.state_dir + "/result"
        with open(path, "wb") as out:
            out.write(_NOT_RUN_AGAIN)
        s.append_tool(cid, path, a.buf)
    return steps, () if answered else calls, answered, note[3], note[2]


def _read_calls(p, state_dir, calls):
    # "c": [[id, name, "args JSON"], ...]: the args back into call<i> files, as llm/answer.Answer writes them
    p.expect(ARR)
    while p.next() == ARR:
        cid = p.read_str(64)
        name = p.read_str(64)
        path = "%s/call%d" % (state_dir, len(calls))
        with open(path, "wb") as out:
            p.copy_str(lambda b, k: out.write(memoryview(b)[:k]), 1 << 20)
        calls.append((cid, name, path))
        p.expect(END_ARR)


def _drop_torn_line(path, start, buf):
    """A reset while a line was being appended leaves it without its newline: cut it off."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        end = f.seek(0, 2)
        keep = end
        while keep > start:
            k = min(len(buf), keep - start)
            f.seek(keep - k)
            f.readinto(memoryview(buf)[:k])
            i = bytes(buf[:k]).rfind(b"\n")
            if i >= 0:
                keep = keep - k + i + 1
                break
            keep -= k
        if keep == end:
            return
    truncate(path, max(keep, start), buf)
