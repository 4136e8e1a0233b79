# The agent's start-up, before the runtime modules load (app.build, console.py): which
# provider and where (config's providers.* and agents.defaults), and the tool schemas file
# every request streams (tools.offer). Loaded once and dropped: its work is done by then.

# default api_base per provider name; any other name needs providers.<name>.api_base
_BASES = ("openai https://api.openai.com/v1 "
          "anthropic https://api.anthropic.com/v1 "
          "openrouter https://openrouter.ai/api/v1 "
          "groq https://api.groq.com/openai/v1 "
          "deepseek https://api.deepseek.com/v1 "
          "ollama http://localhost:11434/v1")
_SIMULATED = "http://simulated.model/v1"  # SIMULATE=1: simulate.Model, in-process


def default_base(name):
    i = _BASES.find(name + " ")
    if i < 0 or (i and _BASES[i - 1] != " "):
        return ""
    j = _BASES.find(" ", i + len(name) + 1)
    return _BASES[i + len(name) + 1:j if j > 0 else len(_BASES)]


def resolve(cfg, sim=None):
    """The model's api_base; sets cfg.provider_kind ("openai" or "anthropic": the wire
    protocol) and cfg.api_key, and writes the tool schemas file (cfg.pins: what board.json
    lets the gpio tools touch). sim: SIMULATE=1's scripted model (Chat Completions over
    plain HTTP) stands in for the provider. Raises ValueError naming the missing key."""
    name = cfg.provider or sorted(cfg.providers)[0]
    p = cfg.providers.get(name, {})
    base = (p.get("api_base") or default_base(name)).rstrip("/")
    if not base:
        raise ValueError("config: providers.%s.api_base is not set (no default for that name)" % name)
    cfg.provider_kind = "anthropic" if name == "anthropic" or "anthropic.com" in base else "openai"
    cfg.api_key = p.get("api_key", "")
    if not cfg.model:
        raise ValueError("config: agents.defaults.model is not set")
    if sim:
        base = _SIMULATED
        cfg.provider_kind = "openai"
    from .tools import offer

    cfg.pins = offer(cfg)  # first: the schema tables need room in one piece
    return base
