# config.json in PicoClaw's shape, read with the streaming parser (no dict tree in RAM).
#
# Known keys are picked out by path and type-checked; unknown keys are skipped, so a
# PicoClaw config file works as it is. A wrong type is an error naming the key.
from micropython import const

from . import Settings
from .jsonstream import ARR, END_ARR, NUM, OBJ, STR, JsonError, JsonReader, StreamSource

_MAX_LIST = const(64)  # allow_from entries; a longer list is a mistake, not a use case

# kinds of value (small ints, not one-letter strings: short strings are interned for good)
_S = const(0)  # a string
_I = const(1)  # an integer
_F = const(2)  # a number
_B = const(3)  # true or false
_L = const(4)  # a list of user ids or @usernames
_AGENT = const(8)  # added to a kind: only the agent reads it, so echo mode never sets its default
#                    (each attribute set is a name interned for good, and echo mode sits just
#                    under a step of the interned-name pool)

# path -> (attribute, kind, default)
_KEYS = {
    "channels.telegram.token": ("token", _S, ""),
    "channels.telegram.allow_from": ("allow_from", _L, ()),
    "channels.telegram.base_url": ("base_url", _S, "https://api.telegram.org"),
    "channels.telegram.poll_timeout": ("poll_timeout", _I, 30),
    "channels.telegram.poll_limit": ("poll_limit", _I, 10),
    "channels.telegram.placeholder": ("placeholder", _B | _AGENT, True),  # "Thinking..." edited into the answer
    "channels.telegram.typing": ("typing", _B | _AGENT, True),  # the "typing..." action while thinking
    "agents.defaults.workspace": ("workspace", _S, ""),
    "agents.defaults.provider": ("provider", _S, ""),
    "agents.defaults.model": ("model", _S | _AGENT, ""),
    "agents.defaults.max_tokens": ("max_tokens", _I | _AGENT, 1024),
    "agents.defaults.temperature": ("temperature", _F | _AGENT, 0.7),
    "agents.defaults.max_tool_iterations": ("max_tool_iterations", _I | _AGENT, 5),
    "agents.defaults.stream": ("stream", _B | _AGENT, True),  # SSE answers (the placeholder follows the text)
    "agents.defaults.history_bytes": ("history_bytes", _I | _AGENT, 6144),  # session bytes per request
    "agents.defaults.max_calls_per_hour": ("max_calls_per_hour", _I | _AGENT, 60),  # model calls (0: no limit)
    "agents.defaults.max_calls_per_day": ("max_calls_per_day", _I | _AGENT, 500),
    # seconds one model call may take, retries included (PicoClaw's model_list has the same key)
    "agents.defaults.request_timeout": ("timeout_s", _I | _AGENT, 180),
    # KB the tools may fill in the workspace (sessions count, state/ does not); 512 leaves a
    # 2 MB board file system room for the firmware's files, sessions and the flash reserve
    "agents.defaults.workspace_quota_kb": ("workspace_quota_kb", _I | _AGENT, 512),
    "heartbeat.enabled": ("heartbeat_enabled", _B | _AGENT, False),
    "heartbeat.interval": ("heartbeat_interval", _I | _AGENT, 30),
    "tls.ca_file": ("ca_file", _S, ""),
    "tls.verify": ("tls_verify", _B, True),
    "wifi.ssid": ("wifi_ssid", _S, ""),
    "wifi.password": ("wifi_password", _S, ""),
    "providers.*.api_key": (None, _S, ""),
    "providers.*.api_base": (None, _S, ""),
}
# Names for error messages, as one string each: short strings and module-level names are
# interned for good when a module loads (this one is unloaded after start, they are not).
_KIND_NAMES = "|0:a string|1:an integer|2:a number|3:true or false|4:a list of user ids or @usernames|"
_EVENT_NAMES = "|1:an object|3:a list|6:a string|7:a number|8:a boolean|9:a boolean|10:null|"


def _lookup(table, key):
    i = table.find("|%d:" % key)
    return table[i + len(str(key)) + 2:table.find("|", i + 1)] if i >= 0 else "?"


class ConfigError(ValueError):
    pass


def secrets(cfg):
    """Every secret value set, for the log scrubber."""
    out = [s for s in (cfg.token, cfg.wifi_password) if s]
    for p in cfg.providers.values():
        if p.get("api_key"):
            out.append(p["api_key"])
    return out


def check(cfg):
    """Errors a gateway cannot start with."""
    if not cfg.token:
        raise ConfigError("config: channels.telegram.token is not set (ask @BotFather for one)")
    if ":" not in cfg.token:
        raise ConfigError("config: channels.telegram.token does not look like a bot token")
    if not cfg.base_url.startswith(("https://", "http://")):
        raise ConfigError("config: channels.telegram.base_url must start with https:// or http://")
    if not 0 <= cfg.poll_timeout <= 50:
        raise ConfigError("config: channels.telegram.poll_timeout must be 0-50 (seconds)")
    if not 1 <= cfg.poll_limit <= 100:
        raise ConfigError("config: channels.telegram.poll_limit must be 1-100")
    # warnings at every start (here: this module leaves the heap before the gateway is built)
    from . import log

    if cfg.base_url.startswith("http://"):
        log.warn("channels.telegram.base_url is plain http://: the bot token and every message "
                 "cross the network unencrypted; use https://")
    for name in cfg.allow_names:
        log.warn("allow_from: @%s admits whoever holds that username, also after it changes "
                 "hands; prefer the numeric id (the log shows it at their first message)" % name)
    if not cfg.allow_ids and not cfg.allow_names:
        log.warn("allow_from is empty: only a paired owner is admitted (see PAIRING below). "
                 "Or send your bot a message, find 'from id=...' in this log, and add that "
                 "id to channels.telegram.allow_from")


def load(path):
    """Read config.json at `path` into Settings. Raises ConfigError naming the bad key.
    cfg.secrets lists the secret values (for the log scrubber)."""
    cfg = Settings()
    for attr, kind, default in _KEYS.values():
        if attr and not kind & _AGENT:
            setattr(cfg, attr, default)
    cfg.providers = {}
    cfg.path = path
    try:
        f = open(path, "rb")
    except OSError:
        raise ConfigError("config: cannot open %s" % path)
    try:
        p = JsonReader(StreamSource(f, bytearray(256)), bytearray(256))
        try:
            p.expect(OBJ)
            _walk(p, cfg, "")
            p.finish()
        except JsonError as e:
            raise ConfigError("config: %s is not valid JSON: %s" % (path, e))
    finally:
        f.close()
    if cfg.provider or cfg.providers:  # the agent's keys the file did not set: their defaults
        for attr, kind, default in _KEYS.values():
            if kind & _AGENT and not hasattr(cfg, attr):
                setattr(cfg, attr, default)
    if not cfg.workspace:
        i = path.rfind("/")  # beside config.json
        cfg.workspace = "%s/workspace" % ("." if i < 0 else (path[:i] or ""))
    elif cfg.workspace.startswith("~"):
        import os

        cfg.workspace = (os.getenv("HOME") or "") + cfg.workspace[1:]
    # the file tools reach everything in the workspace: it must not hold the token and keys.
    # Both paths made absolute (from the working directory), "." and ".." resolved.
    w = []
    for p in (cfg.workspace, path):
        if not p.startswith("/"):
            import os

            p = os.getcwd() + "/" + p
        parts = []
        for s in p.split("/"):
            if s == "..":
                if parts:
                    parts.pop()
            elif s and s != ".":
                parts.append(s)
        w.append("/" + "/".join(parts))
    if w[1].startswith(w[0].rstrip("/") + "/"):
        raise ConfigError("config: agents.defaults.workspace %s contains %s (the bot's tools could "
                          "read its secrets): choose a folder of its own, e.g. /workspace"
                          % (cfg.workspace, path))
    cfg.secrets = secrets(cfg)
    # allow_from entries (numeric ids, "@username", "username", "id|username") as a set of
    # ids and a set of lower-case names
    ids = cfg.allow_ids = set()
    names = cfg.allow_names = set()
    for e in cfg.allow_from:
        for part in str(e).split("|"):
            part = part.strip()
            if part.lstrip("-").isdigit():
                ids.add(int(part))
            elif part.lstrip("@"):
                names.add(part.lstrip("@").lower())
            else:  # "@" or "": would admit every sender without a username
                raise ConfigError("config: channels.telegram.allow_from has an empty entry (%r)" % str(e))
    return cfg


def _walk(p, cfg, prefix):
    while p.next_key():
        key = p.text()
        path = prefix + key if not prefix else prefix + "." + key
        norm = path
        if path.startswith("providers.") and path.count(".") == 2:
            norm = "providers.*." + key
        spec = _KEYS.get(norm)
        if spec:
            value = _read(p, spec[1], path)
            if spec[0]:
                setattr(cfg, spec[0], value)
            else:
                name = path.split(".")[1]
                cfg.providers.setdefault(name, {})[key] = value
            continue
        if path.startswith("providers.") and path.count(".") == 1:
            known = True
        else:
            dotted = path + "."  # a prefix of a known key: walk into it
            known = False
            for k in _KEYS:
                if k.startswith(dotted):
                    known = True
                    break
        if known:
            ev = p.next()
            if ev == OBJ:
                _walk(p, cfg, path)
            elif ev != 10:  # null: treat as absent
                raise ConfigError("config: %s must be an object, got %s" % (path, _lookup(_EVENT_NAMES, ev)))
        else:
            p.skip()  # unknown key (PicoClaw has many we do not use): ignored


def _read(p, kind, path):
    kind &= 7  # without _AGENT
    ev = p.next()
    if kind == _L:
        if ev != ARR:
            _wrong(path, kind, ev)
        items = []
        while True:
            ev = p.next()
            if ev == END_ARR:
                return tuple(items)
            if ev == STR or ev == NUM:
                v = p.value(ev)
                if isinstance(v, float):
                    _wrong(path, kind, ev)
                items.append(str(v))
                if len(items) > _MAX_LIST:
                    raise ConfigError("config: %s has more than %d entries" % (path, _MAX_LIST))
            else:
                raise ConfigError("config: %s entries must be user ids or @usernames" % path)
    if ev == STR and kind == _S:
        if p.truncated:
            raise ConfigError("config: %s is too long" % path)
        return p.text()
    if ev == NUM and (kind == _I or kind == _F):
        v = p.value(ev)
        if kind == _I and not isinstance(v, int):
            _wrong(path, kind, ev)
        return v
    if ev in (8, 9) and kind == _B:
        return ev == 8
    _wrong(path, kind, ev)


def _wrong(path, kind, ev):
    raise ConfigError("config: %s must be %s, got %s" % (path, _lookup(_KIND_NAMES, kind), _lookup(_EVENT_NAMES, ev)))
