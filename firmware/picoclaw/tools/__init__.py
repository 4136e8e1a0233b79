# Agent tool registry: tool names, their JSON schemas for the LLM request, and running one.
#
# Each group of tools is a module (files, writes, system, message, gpio, cron, fetch, search) imported only while
# one of its tools runs or while its schemas are written, then dropped from sys.modules and
# from this package, so its code and constants leave the heap.
#
#     out = Result(path, 4096)
#     run("read_file", args, ctx, out)   # args: a JsonReader before the arguments object
#     out.close()
from picoclaw import load, unload

from micropython import const

_RESULT_CAP = const(4096)  # bytes of one tool result the model reads (bigger ones are cut, said so)

# tool:module pairs, grouped by module (tools/offer.write_schemas loads each module once, in
# this order). One string, not a dict: a dict would keep a key object per tool on the heap.
NAMES = ("read_file:files write_file:writes append_file:writes edit_file:writes list_dir:files "
         "get_time:system system_status:system message:message "
         "gpio_read:gpio gpio_write:gpio adc_read:gpio web_fetch:fetch web_search:search cron:cron")


def module_of(name):
    """Short name of the module holding tool `name` ("files"), or None if no such tool."""
    if not name or " " in name or ":" in name:
        return None
    i = NAMES.find(name + ":")
    while i > 0 and NAMES[i - 1] != " ":  # "e_file:" inside "read_file:" is not a tool
        i = NAMES.find(name + ":", i + 1)
    if i < 0:
        return None
    i += len(name) + 1
    j = NAMES.find(" ", i)
    return NAMES[i:] if j < 0 else NAMES[i:j]


def _on(name, mod, ctx):
    # a tool the device cannot serve is not offered to the model, and refused if called
    if mod == "message":
        return getattr(ctx, "send", None) is not None
    if mod == "cron":
        return getattr(ctx, "cron", None) is not None
    if "web_fetch web_search".find(name) >= 0:  # (a long literal: docs/memory.md)
        # ctx.web: None when tools.web.enabled is false, else (fetch limit, private hosts,
        # search backend or None: agent/setup.web)
        w = getattr(ctx, "web", None)
        return w is not None and (len(name) == 9 or w[2] is not None)  # 9: web_fetch
    if mod == "gpio":
        p = getattr(ctx, "pins", None) or {}
        if name == "gpio_write":
            return bool(p.get("gpio_out"))
        if name == "adc_read":
            return bool(p.get("adc"))
        return bool(p.get("gpio_in") or p.get("gpio_out"))
    return True




def run(name, args, ctx, out):
    """Run tool `name` with `args` (a JsonReader before the arguments object), writing its
    result text to `out`. Never raises except MemoryError: an unknown tool, bad arguments or
    a failure become one line "error: ..." in `out`."""
    mod = module_of(name)
    if mod is None:
        out.write("error: unknown tool %s" % (name or "")[:64])
        return
    if not _on(name, mod, ctx):
        out.write("error: tool %s is not available on this device" % name)
        return
    try:
        load("picoclaw.tools." + mod).run(name, args, ctx, out)
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - the model gets a line, the loop goes on
        # tools raise ValueError with a message written for the model; anything else is
        # named by its type (never a traceback: it would only cost tokens)
        m = str(e) if isinstance(e, ValueError) else "%s failed: %s %s" % (name, type(e).__name__, e)
        if m.startswith("JSON"):  # the parser's own words: say they are about the arguments
            m = "bad arguments for %s: %s" % (name, m)
        i = m.find("\n")
        out.write("%serror: %s" % ("\n" if out.n else "", m[:200] if i < 0 else m[:min(i, 200)]))
    finally:
        unload("picoclaw.tools." + mod)


def call(a, s, c):
    """Run tool call c = (id, name, args path) of agent `a`'s turn and append its result to
    session s (the agent loads this module for it and drops it after)."""
    from picoclaw.json.stream import JsonReader, StreamSource
    from picoclaw import log

    cid, name, args_path = c
    if a.alive:
        a.alive()
    out = Result(a.state_dir + "/result", _RESULT_CAP)
    try:
        if name.startswith("invalid_arguments:"):
            out.write("error: the arguments of %s were not a JSON object" % name[18:])
        else:
            with open(args_path, "rb") as f:
                run(name, JsonReader(StreamSource(f, bytearray(128)), bytearray(128)), a, out)
    finally:
        out.close()
    if name == "cron":
        a.cron_next = -1  # its jobs may have changed: the next tick reads them again
    log.info("tool %s: %d bytes of result" % (name, out.n))
    s.append_tool(cid, a.state_dir + "/result", a.buf)


class Result:
    """A tool's result text, written to the file at `path` as it is produced, at most `cap`
    bytes (cut at a character boundary; later writes are dropped and `cut` is set). close()
    appends "\\n[cut: result over N bytes]" when it was cut. `n`: result bytes written,
    not counting that note."""

    def __init__(self, path, cap=4096):
        self.f = open(path, "wb")
        self.cap = cap
        self.n = 0
        self.cut = False

    def write(self, data):
        """Append str, bytes, bytearray or memoryview (UTF-8)."""
        if isinstance(data, str):
            data = data.encode()
        k = len(data)
        if k > self.cap - self.n:
            from picoclaw.json.stream import utf8_boundary

            k = utf8_boundary(data, self.cap - self.n)
            self.cut = True
            data = memoryview(data)[:k]
        if k > 0:
            self.f.write(data)
            self.n += k

    def close(self):
        f = self.f
        if f:
            if self.cut:
                f.write(("\n[cut: result over %d bytes]" % self.cap).encode())
            f.close()
            self.f = None
