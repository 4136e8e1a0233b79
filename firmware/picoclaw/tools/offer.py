# The tools this device offers, decided once at start (agent/setup.resolve): the pins
# board.json lets the gpio tools touch, and the schemas of the offered tools written to
# <workspace>/state/tools in the provider's shape, which every request then streams.
# Loaded for that and dropped.


class _Device:
    # what _on() asks of a ctx when the schema file is written (the agent offers message
    # and cron; gpio depends on the pins)
    send = cron = True

    def __init__(self, pins, cfg):
        self.pins = pins
        self.web = getattr(cfg, "web", None)  # agent/setup.web


def offer(cfg):
    """Write the schemas of the tools this device offers, in the provider's shape, to
    <workspace>/state/tools, which every request then streams (loading the schema tables
    for each request would cost two module loads per model call, and their big constants
    need contiguous heap that a turn's heap may not have; so this runs first, while the
    heap is in one piece). Returns the pins board.json (beside config.json) lets the gpio
    tools touch, or {}."""
    from picoclaw.state import makedirs

    pins = _pins(cfg)
    makedirs(cfg.workspace + "/state")
    with open(cfg.workspace + "/state/tools", "wb") as f:
        write_schemas(f, _Device(pins, cfg), cfg.provider_kind == "anthropic")
    return pins


def _pins(cfg):
    """"pins" of board.json beside config.json, or {}."""
    import json

    i = cfg.path.rfind("/")
    path = (cfg.path[:i + 1] if i >= 0 else "") + "board.json"
    try:
        with open(path) as f:
            pins = json.load(f).get("pins") or {}
    except (OSError, ValueError):
        return {}
    return {k: [int(n) for n in v if isinstance(n, int)] for k, v in pins.items() if isinstance(v, list)}


def write_schemas(w, ctx, anthropic=False):
    """Write the JSON array elements (comma-separated, no brackets) describing every enabled
    tool to `w` (w.write(bytes)), in the OpenAI "tools" shape or, with anthropic=True, the
    Anthropic one. The built-in tools are described by tools/schemas.py; a module whose
    tools it does not describe (cron) is loaded for its own SCHEMAS. One module is loaded
    at a time and dropped before the next; a module missing from the firmware is left out."""
    from picoclaw import load, unload
    from picoclaw.tools import NAMES, _on, module_of

    first = True
    done = " "  # modules whose tools are described
    for pair in ("-:schemas " + NAMES).split():
        mod = pair[pair.find(":") + 1:]
        if done.find(" %s " % mod) >= 0:
            continue
        done += mod + " "
        try:
            t = getattr(load("picoclaw.tools." + mod), "SCHEMAS", ())
        except ImportError:
            continue  # not in this firmware
        finally:
            unload("picoclaw.tools." + mod)  # the tuple stays alive while we write it; the code goes now
        for s in t:
            name = s[0].decode()
            tm = module_of(name)
            if tm is None:
                continue  # described but not registered: not offered
            if done.find(" %s " % tm) < 0:
                done += tm + " "
            if not _on(name, tm, ctx):
                continue
            if not first:
                w.write(b",")
            first = False
            w.write(b'{"name":"' if anthropic else b'{"type":"function","function":{"name":"')
            w.write(s[0])
            w.write(b'","description":"')
            w.write(s[1])
            w.write(b'","input_schema":' if anthropic else b'","parameters":')
            w.write(s[2])
            w.write(b"}" if anthropic else b"}}")
        t = None
