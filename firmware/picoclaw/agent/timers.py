# The turns nobody typed: the heartbeat (every heartbeat.interval minutes the agent reads
# HEARTBEAT.md and acts; an answer of HEARTBEAT_OK stays silent) and cron jobs that are due
# (their text delivered as is, or run as a turn in their chat).
#
# Loaded when one is due (agent.Agent.tick) to prepare the turn's session, and dropped
# before the turn runs; the job store (schedule.py, ~9 KB of heap as code) is loaded here
# only to take the due jobs and the next fire time, which is all the agent keeps.
import os

from picoclaw import log
from picoclaw.agent.session import Session


def heartbeat(a):
    """The heartbeat's session for agent `a` (its own, so the owner's chat stays clean) with
    HEARTBEAT.md as the user line; None when HEARTBEAT.md is missing or empty."""
    path = a.workspace + "/HEARTBEAT.md"
    try:
        if not os.stat(path)[6]:
            return None
    except OSError:
        return None
    s = Session(a.workspace, 0, a.budget)
    s.clear()
    with open(path, "rb") as f:  # its first 4 KB: a checklist, not a document (like MEMORY.md's cap)
        s.append_user(f, 4096, a.buf, "[heartbeat] Read HEARTBEAT.md below and act on it. If "
                      "nothing needs the owner's attention, answer exactly HEARTBEAT_OK.\n\n")
    log.info("heartbeat")
    return s


def job(a, j):
    """A due cron job: its text delivered now (None returned), or (session, chat) for the
    turn it asks for, in its chat or the owner's."""
    chat = j.chat_id or a.owner
    if not chat:
        return None
    if j.mode == "deliver":
        a.tg.send_message(chat, j.text)
        return None
    s = Session(a.workspace, chat, a.budget)
    s.append_user_text("[scheduled job %d] %s" % (j.id, j.text), a.buf)
    return s, chat


def due(a, t):
    """The cron jobs due at `t` (taken from the store: one-shot jobs removed, repeating ones
    moved on); sets a.cron_next to the next fire time (None: no jobs)."""
    if a.cron_next == -1:
        try:
            os.stat(a.workspace + "/cron/jobs")
        except OSError:
            a.cron_next = None  # no jobs file: nothing to read until the cron tool runs
            return ()
    from picoclaw.agent.schedule import Schedule

    s = Schedule(a.workspace, a.tz)  # cron fields are the owner's local time
    jobs = s.due(t)
    a.cron_next = s.next_due()
    return jobs
