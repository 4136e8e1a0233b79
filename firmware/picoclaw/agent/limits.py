# The model-call limits (agents.defaults.max_calls_per_hour / max_calls_per_day): one
# count per call, on flash. Loaded just before each model call to count it and dropped
# again, so none of it is in the heap while the request is written (the turn's peak).
from picoclaw.state import write_atomic


def count_call(state_dir, at, limit):
    """Count one model call at `at` (seconds since 1970) against limit = (calls per hour,
    calls per day; 0 or less: none). Returns 0 when counted, or the window (3600 or
    86400) whose limit is reached, and then counts nothing. The windows are the clock's
    hours and UTC days (a burst may take up to twice a limit across a boundary); the
    count is the file state/model_calls ("hour n day n"), one atomic write per call."""
    path = state_dir + "/model_calls"
    v = [0, 0, 0, 0]
    for p in (path, path + ".tmp"):  # the temp file: see replace()
        try:
            with open(p) as f:
                w = [int(x) for x in f.read().split()]
            if len(w) == 4:
                v = w
                break
        except (OSError, ValueError):
            pass
    if v[0] != at // 3600:
        v[0], v[1] = at // 3600, 0
    if v[2] != at // 86400:
        v[2], v[3] = at // 86400, 0
    if 0 < limit[0] <= v[1]:
        return 3600
    if 0 < limit[1] <= v[3]:
        return 86400
    v[1] += 1
    v[3] += 1
    write_atomic(path, b"%d %d %d %d" % (v[0], v[1], v[2], v[3]))
    return 0
