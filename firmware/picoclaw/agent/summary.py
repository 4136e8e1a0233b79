# Keeping a session within its budget: when its file passes twice the byte budget, the
# model summarises the turns that no longer fit into a request, and one summary line
# replaces them (atomically), so the next requests carry the summary in the system prompt.
#
# Loaded only when a session is that long (agent.Agent._maybe_compact), with the model side.
from picoclaw import load, log, unload
from picoclaw.clock import now
from picoclaw.json.files import FileOut
from picoclaw.state import replace


def compact(a, s):
    """Summarise and cut session `s` for agent `a` (its budget: s.budget)."""
    s.turn_start = -1
    keep = s.history_start()
    first = s.summary_end()
    if keep <= first:
        return  # nothing to summarise
    try:
        over = load("picoclaw.agent.limits").count_call(a.state_dir, now(), a.limit)
    finally:
        unload("picoclaw.agent.limits")  # before the model side loads: the two never share the heap
    if over:
        return  # no model calls left: the history is kept till later
    from picoclaw.llm import call as llm

    a._hist = (first, keep)
    a.extra = ("Summarise the conversation above in a few short paragraphs for your own "
               "memory: facts about the owner, decisions, open tasks. Plain text.")
    try:
        t = llm.call(a.conn, llm.provider_module(a.kind), a, False, None)
    except llm.LLMError as e:
        log.warn("summary failed (%s): history kept" % e)
        return
    finally:
        a.extra = None
        a._hist = (0, -1)
    # everything before `keep` replaced by one summary line, atomically
    buf = a.buf
    tmp = s.path + ".new"
    with open(tmp, "wb") as out:
        w = FileOut(out, buf)
        w.write(b'{"s":')
        w.json_file(t.reply_path)
        w.write(b"}\n")
        w._flush()
        with open(s.path, "rb") as f:
            f.seek(keep)
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                out.write(memoryview(buf)[:k])
    replace(tmp, s.path)
    log.info("session %s compacted" % s.path)
