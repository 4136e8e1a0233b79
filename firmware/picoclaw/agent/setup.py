# The agent's start-up, before the runtime modules load (app.build, console.py): which
# provider and where (config's providers.* and agents.defaults), the tools offered
# (tools/offer.py writes their schemas), and the Agent with its settings (agent()). Loaded
# once and dropped: its work is done by then.

# default api_base per provider name; any other name needs providers.<name>.api_base
_BASES = ("openai https://api.openai.com/v1 "
          "anthropic https://api.anthropic.com/v1 "
          "anthropic-messages https://api.anthropic.com/v1 "
          "openrouter https://openrouter.ai/api/v1 "
          "groq https://api.groq.com/openai/v1 "
          "deepseek https://api.deepseek.com/v1 "
          "gemini https://generativelanguage.googleapis.com/v1beta/openai "
          "ollama http://localhost:11434/v1")
_SIMULATED = "http://simulated.model/v1"  # SIMULATE=1: simulate.Model, in-process


def default_base(name):
    i = _BASES.find(name + " ")
    if i < 0 or (i and _BASES[i - 1] != " "):
        return ""
    j = _BASES.find(" ", i + len(name) + 1)
    return _BASES[i + len(name) + 1:j if j > 0 else len(_BASES)]


def _names(d):
    return ", ".join(sorted(d)) or "(none)"


def pick(cfg, sim=False):
    """Which model, where, with which key: sets cfg.provider_kind ("openai" or "anthropic":
    the wire protocol), cfg.api_base, cfg.api_key and cfg.model (the id sent to the API), and
    returns the api_base. Both of PicoClaw's formats: version 3's model_list (the entry
    agents.defaults.model_name names; "protocol/model" says where it is) or the original
    providers.<name> with agents.defaults.provider and model. More than one candidate and
    none named is an error, never a guess. Also checks agents.defaults.timezone. sim:
    SIMULATE=1 (no API key needed). Raises ValueError, one line naming the key and the fix."""
    tz = getattr(cfg, "timezone_spec", "")
    if tz:
        from picoclaw import load, unload

        try:
            load("picoclaw.zone").parse(tz)
        except ValueError as e:
            raise ValueError("config: agents.defaults.timezone: %s" % e)
        finally:
            unload("picoclaw.zone")
    ps = cfg.providers
    v3 = [n for n in ps if "model" in ps[n]]  # model_list entries
    want = getattr(cfg, "model_entry", "")  # agents.defaults.model_name
    if want or v3 and not cfg.provider:
        if not want and cfg.model in v3:  # PicoClaw's older agents.defaults.model names it too
            want = cfg.model
        if not want:
            if len(v3) > 1:
                raise ValueError("config: model_list has %d models (%s) and agents.defaults.model_name "
                                 "names none: set it to one of them" % (len(v3), _names(v3)))
            want = v3[0]
        m = ps.get(want)
        if m is None or "model" not in m:
            raise ValueError('config: agents.defaults.model_name "%s" is not in model_list (its '
                             'model_name entries: %s)' % (want, _names(v3)))
        cfg.model_entry = want  # a second pick (resolve, after status's check) finds it again
        where = "model_list entry %s" % want
        keyname = "its api_keys"
        model = m["model"]
        proto = m.get("provider", "")
        if not proto:
            i = model.find("/")
            proto, model = ("openai", model) if i < 0 else (model[:i], model[i + 1:])
        fix = "set its api_base to the provider's OpenAI-compatible URL"
    else:
        legacy = [n for n in ps if n not in v3]
        proto = cfg.provider
        if not proto:
            if len(legacy) > 1:
                raise ValueError("config: %d providers are configured (%s) and agents.defaults.provider "
                                 "names none: set it to one of them" % (len(legacy), _names(legacy)))
            proto = legacy[0]
        m = ps.get(proto, {})
        where = "providers." + proto
        keyname = where + ".api_key"
        model = cfg.model
        if not model:
            raise ValueError("config: agents.defaults.model is not set: the model's id at %s, "
                             "e.g. gpt-4o-mini" % proto)
        fix = "fix the name, or set providers.%s.api_base to its OpenAI-compatible URL" % proto
    base = (m.get("api_base") or default_base(proto)).rstrip("/")
    if not base:
        raise ValueError('config: %s: unknown provider "%s" (known: %s); %s' % (
            where, proto, ", ".join(_BASES.split()[::2]), fix))
    if not base.startswith(("https://", "http://")):
        raise ValueError("config: %s: api_base must start with https:// or http://, not %s" % (where, base))
    kind = "anthropic" if proto.startswith("anthropic") or "anthropic.com" in base else "openai"
    if kind == "anthropic" and base.endswith("anthropic.com"):
        base += "/v1"  # PicoClaw's anthropic-messages example has no /v1
    key = m.get("api_key", "")
    if not key and not sim and base == default_base(proto) and base.startswith("https://"):
        raise ValueError("config: %s has no API key: set %s to the key from your %s account"
                         % (where, keyname, proto))
    cfg.provider_kind = kind
    cfg.api_base = base
    cfg.api_key = key
    cfg.model = model
    return base


def resolve(cfg, sim=None):
    """The model's api_base (pick(): which model, where), and writes the tool schemas file
    (cfg.pins: what board.json lets the gpio tools touch). sim: SIMULATE=1's scripted model
    (Chat Completions over plain HTTP) stands in for the provider. Raises ValueError naming
    the missing key."""
    base = pick(cfg, sim)
    cfg.web = web(cfg)
    cfg.media = media(cfg)
    if sim:
        base = _SIMULATED
        cfg.provider_kind = "openai"
    from picoclaw import load, unload

    try:
        cfg.pins = load("picoclaw.tools.offer").offer(cfg)
    finally:
        unload("picoclaw.tools.offer", "picoclaw.tools")
    return base


def web(cfg):
    """The web tools' settings (Agent.web): None when tools.web.enabled is false, else
    (fetch_limit_bytes or 0, private_host_whitelist, search) with search the backend
    web_search uses, (name, api_key, base_url, max_results), or None when none is ready:
    tools.web.provider when it is ready, else the first ready one in the order "auto" tries
    them (PicoClaw's, for the backends this firmware speaks), each with the key it needs."""
    d = cfg.__dict__
    if not d.get("web_tools_enabled", True):
        return None
    backends = d.get("web_backends", {})
    want = d.get("web_search_provider", "").strip().lower()  # "auto" picks none by name
    order = "brave api_key searxng base_url tavily api_key duckduckgo enabled".split()
    search = None
    for i in range(0, len(order), 2):
        b = backends.get(order[i], {})
        if b.get(order[-1]) and b.get(order[i + 1]):  # order[-1]: "enabled" (no short literal)
            r = (order[i], b.get("api_key", ""), b.get("base_url", "").rstrip("/"),
                 max(1, min(10, b.get("max_results", 5))))
            if r[0] == want or search is None:
                search = r
    return (max(0, d.get("web_fetch_limit", 0)), d.get("web_private_hosts", ()), search)


def media(cfg):
    """The media settings (Agent.media): (max_media_size bytes, media_quota_kb, voice,
    echo_transcription) with voice the transcription endpoint, (api_base, api_key, model),
    or None: voice.model_name's model_list entry, else (the original format) a
    providers.groq entry, with Groq's whisper-large-v3-turbo."""
    d = cfg.__dict__
    voice = None
    name = d.get("voice_model_entry", "")
    if name:
        m = cfg.providers.get(name)
        if m is None or "model" not in m:
            raise ValueError('config: voice.model_name "%s" is not in model_list (its model_name '
                             'entries: %s)' % (name, _names([n for n in cfg.providers if "model" in cfg.providers[n]])))
        model = m["model"]
        i = model.find("/")
        proto, model = ("openai", model) if i < 0 else (model[:i], model[i + 1:])
        base = (m.get("api_base") or default_base(m.get("provider") or proto)).rstrip("/")
        if not base:
            raise ValueError('config: model_list entry %s (voice.model_name): unknown provider "%s": '
                             "set its api_base to the provider's OpenAI-compatible URL" % (name, proto))
        voice = (base, m.get("api_key", ""), model)
    else:
        name = "providers.groq"[10:]  # (a long literal: docs/memory.md)
        g = cfg.providers.get(name)
        if g and g.get("api_key") and "model" not in g:
            voice = ((g.get("api_base") or default_base(name)).rstrip("/"), g["api_key"],
                     "whisper-large-v3-turbo")
    return (max(1024, d.get("max_media_size", 655360)), max(64, d.get("media_quota_kb", 1024)),
            voice, d.get("voice_echo_transcript", False))


def start(cfg, sim=None, runtime=()):
    """(the Agent, the model's api_base) for the gateway (app.build). The `runtime` modules
    (the gateway's, named by app.build) load first, so that the Agent, a long-lived object,
    and its buffers come after them while the heap is still in one piece."""
    from picoclaw import load

    for name in ("picoclaw.agent.loop",) + runtime:
        load(name)
    base = resolve(cfg, sim)
    # the largest photo size Telegram's parser picks (telegram/files.py), from the first update
    # on: a class attribute set here costs the echo path nothing
    load("picoclaw.telegram.api").Telegram.cap = cfg.media[0]
    return agent(cfg), base


def agent(cfg, tg=None, conn=None, cron=True):
    """The Agent (agent/loop.py) for loaded settings, after resolve(): its settings and buffers
    set here, at start, so the code that sets them leaves the heap with this module. tg:
    the Telegram client (or the console's stand-in); conn: the net/http.Connection to the
    model (both may be set on it later). On a board the gpio tools get its machine module
    (cfg.machine, set by board/start.py) and the pins board.json allows (cfg.pins)."""
    import os
    import time

    from picoclaw import clock
    from picoclaw.agent.loop import Agent

    a = Agent()
    a.tg = tg
    a.conn = conn  # net/http.Connection to the provider's api_base
    a.workspace = cfg.workspace
    a.chat_id = 0  # the turn's chat
    a.pins = getattr(cfg, "pins", None) or {}  # what board.json lets the gpio tools touch
    a.machine = getattr(cfg, "machine", None)  # a board's machine module (board/start.py)
    # cron: True when the cron tool is offered (tools/cron.py loads the job store then);
    # cron_next: the earliest next fire time (epoch s), None without jobs, -1 not known
    # yet (the store is read at the next tick: timers.due)
    a.cron = cron
    a.tz = getattr(cfg, "timezone_spec", "")  # agents.defaults.timezone: cron, get_time (zone.py)
    try:
        os.stat(cfg.workspace + "/cron/jobs")
        a.cron_next = -1
    except OSError:
        a.cron_next = None  # no jobs file: nothing to read until the cron tool runs
    a.read_cap = 4096
    a.now = clock.now
    a.status = getattr(cfg, "status", None)  # a board's (main.py): Wi-Fi too; None:
    #                                         tools/system.py reports the heap and uptime
    a.state_dir = cfg.workspace + "/state"
    a.schemas = a.state_dir + "/tools"  # the tool schemas requests carry (tools/offer.py)
    a.kind = cfg.provider_kind  # "openai" or "anthropic": llm.provider_module
    a.api_key = cfg.api_key
    a.model = cfg.model
    a.max_tokens = cfg.max_tokens
    a.temperature = cfg.temperature
    a.max_iter = max(1, cfg.max_tool_iterations)
    a.stream = cfg.stream
    a.placeholder = cfg.placeholder
    a.html = True  # answers as Telegram HTML first (the console prints plain text)
    a.typing = cfg.typing
    a.budget = cfg.history_bytes
    # the heartbeat's chat: the first user id allow_from lists, else the paired owner
    a.owner = 0
    for i in cfg.allow_ids:
        if i > 0:
            a.owner = i
            break
    if not a.owner:
        from picoclaw.state import read_int

        a.owner = read_int(a.state_dir + "/owner", 0)
    a.heartbeat_s = cfg.heartbeat_interval * 60 if cfg.heartbeat_enabled else 0
    a._next_beat = clock.now()  # the first beat right after start, then every interval
    a.small = bytearray(128)  # parser values: ids, names, short fields
    a.buf = bytearray(128)  # escape buffer for session writes
    a.linebuf = bytearray(256)  # reading session lines and workspace files
    a.sleep_ms = time.sleep_ms
    a.alive = None  # called before each model call and tool run (a board's watchdog)
    a.session = None
    a._last_calls = ()  # the last answer's tool calls [(id, name, args path)]
    a.extra = None  # a final user message for the request (summaries)
    a._hist = (0, -1)  # session byte range the request carries
    a.calls = 0  # model calls since start (the benchmarks count them)
    a.limit = (cfg.max_calls_per_hour, cfg.max_calls_per_day)
    a.timeout_s = max(10, cfg.timeout_s)  # one model call, retries included
    a.workspace_quota_kb = cfg.workspace_quota_kb  # what the file tools may fill
    a.placeholder_id = 0  # the "Thinking..." message of the turn (edited into the answer), or 0
    a.live_edits = True  # a streamed answer edits the placeholder as it comes (not with one TLS connection at a time)
    # live drafts (sendMessageDraft) in private chats, else placeholder edits (deliver.py)
    a.drafts = cfg.__dict__.get("draft_streaming", True)
    a.web = getattr(cfg, "web", None)  # web(): the web tools' settings, None: not offered
    a.media = getattr(cfg, "media", None) or (655360, 1024, None, False)  # media(): caps, voice
    a._edited = 0
    a._edit_len = 0
    return a
