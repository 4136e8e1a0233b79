# config.json in PicoClaw's shape, read with the streaming parser (no dict tree in RAM).
#
# Known keys are picked out by path and type-checked; unknown keys are skipped, so a
# PicoClaw config file works as it is. A wrong type is an error naming the key. Both of
# PicoClaw's formats are read: the original one (channels.telegram, providers.<name>,
# agents.defaults.provider/model) and version 3 (channel_list.telegram with its token in
# settings, model_list entries picked by agents.defaults.model_name). Relative paths
# (tls.ca_file, agents.defaults.workspace) are taken from the config file's folder, as on
# a board, where the file sits at the root.
import gc

from micropython import const

from picoclaw import Settings
from picoclaw.json.stream import ARR, END_ARR, NUM, OBJ, STR, JsonError, JsonReader, StreamSource

# parser events with no public name (json/scan.py: _E_TRUE, _E_FALSE, _E_NULL)
_TRUE = const(8)
_FALSE = const(9)
_NULL = const(10)

_MAX_LIST = const(64)  # allow_from entries; a longer list is a mistake, not a use case

# kinds of value (small ints, not strings: docs/memory.md)
_STRING = const(0)  # a string
_INT = const(1)  # an integer
_NUMBER = const(2)  # a number
_BOOL = const(3)  # true or false
_USERS = const(4)  # a list of user ids or @usernames
_STRINGS = const(5)  # a list of strings
_KIND = const(7)  # the bits above: the kind without the flags below
_AGENT = const(8)  # added to a kind: only the agent reads it, so echo mode never sets its default
#                    (docs/memory.md)
_OFF = const(16)  # added to a kind: no default (readers look in cfg.__dict__ with the default
#                   given here); set only when the file gives another value (each attribute
#                   is a slot in the settings' dict and an interned name)
# (The attribute names only some configs set are long on purpose: docs/memory.md.)
# what a model_list entry's field is (the third item of its _KEYS entry)
_M_NAME = const(1)  # model_name: the name agents.defaults.model_name picks the entry by
_M_MODEL = const(2)  # model: "protocol/model"
_M_KEYS = const(3)  # api_keys: the first one is the api_key

# path -> (attribute, kind, default)
_KEYS = {
    "channels.telegram.token": ("token", _STRING, ""),
    "channels.telegram.allow_from": ("allow_from", _USERS, ()),
    "channels.telegram.base_url": ("base_url", _STRING, ""),  # "": https://api.telegram.org
    "channels.telegram.poll_timeout": ("poll_timeout", _INT, 30),
    "channels.telegram.poll_limit": ("poll_limit", _INT, 10),
    "channels.telegram.placeholder": ("placeholder", _BOOL | _AGENT, True),  # "Thinking..." edited into the answer
    "channels.telegram.typing": ("typing", _BOOL | _AGENT, True),  # the "typing..." action while thinking
    "channels.telegram.enabled": ("telegram_on", _BOOL | _OFF, True),  # false: the gateway refuses to start
    "version": ("version", _INT | _OFF, 0),  # PicoClaw's format: 3 names channel_list's keys in errors
    # version 3: channel_list.telegram.{enabled, allow_from, typing, placeholder, settings}
    "channel_list.telegram.enabled": ("telegram_on", _BOOL | _OFF, True),
    "channel_list.telegram.allow_from": ("allow_from", _USERS, ()),
    "channel_list.telegram.typing.enabled": ("typing", _BOOL | _AGENT, True),
    "channel_list.telegram.placeholder.enabled": ("placeholder", _BOOL | _AGENT, True),
    "channel_list.telegram.settings.token": ("token", _STRING, ""),
    "channel_list.telegram.settings.base_url": ("base_url", _STRING, ""),
    "channel_list.telegram.settings.allow_from": ("allow_from", _USERS, ()),
    "channel_list.telegram.settings.poll_timeout": ("poll_timeout", _INT, 30),
    "channel_list.telegram.settings.poll_limit": ("poll_limit", _INT, 10),
    "agents.defaults.workspace": ("workspace", _STRING, ""),
    "agents.defaults.provider": ("provider", _STRING, ""),
    "agents.defaults.model": ("model", _STRING | _AGENT, ""),
    "agents.defaults.model_name": ("model_entry", _STRING | _AGENT, ""),  # version 3: a model_list entry
    # the owner's time zone for cron and get_time: "+02:00", "UTC-5", or a POSIX rule with
    # daylight saving time, "CET-1CEST,M3.5.0,M10.5.0/3" (zone.py); "" is UTC
    "agents.defaults.timezone": ("timezone_spec", _STRING | _AGENT, ""),
    "agents.defaults.max_tokens": ("max_tokens", _INT | _AGENT, 1024),
    "agents.defaults.temperature": ("temperature", _NUMBER | _AGENT, 0.7),
    "agents.defaults.max_tool_iterations": ("max_tool_iterations", _INT | _AGENT, 5),
    "agents.defaults.stream": ("stream", _BOOL | _AGENT, True),  # SSE answers (the placeholder follows the text)
    "agents.defaults.history_bytes": ("history_bytes", _INT | _AGENT, 6144),  # session bytes per request
    "agents.defaults.max_calls_per_hour": ("max_calls_per_hour", _INT | _AGENT, 60),  # model calls (0: no limit)
    "agents.defaults.max_calls_per_day": ("max_calls_per_day", _INT | _AGENT, 500),
    # seconds one model call may take, retries included (PicoClaw's model_list has the same key)
    "agents.defaults.request_timeout": ("timeout_s", _INT | _AGENT, 180),
    # KB the tools may fill in the workspace (sessions count, state/ does not); 512 leaves a
    # 2 MB board file system room for the firmware's files, sessions and the flash reserve
    "agents.defaults.workspace_quota_kb": ("workspace_quota_kb", _INT | _AGENT, 512),
    "heartbeat.enabled": ("heartbeat_enabled", _BOOL | _AGENT, False),
    "heartbeat.interval": ("heartbeat_interval", _INT | _AGENT, 30),
    "tls.ca_file": ("ca_file", _STRING, ""),
    "tls.verify": ("tls_verify", _BOOL, True),
    "wifi.ssid": ("wifi_ssid", _STRING, ""),
    "wifi.password": ("wifi_password", _STRING, ""),
    # voice notes (agent/media.py): voice.model_name names a model_list entry (or, in the
    # original format, providers.groq) whose /audio/transcriptions endpoint transcribes them
    "voice.model_name": ("voice_model_entry", _STRING | _OFF, ""),
    "voice.echo_transcription": ("voice_echo_transcript", _BOOL | _OFF, False),  # "I heard: ..." first
    # media from Telegram (voice notes, photos): bytes one file may have (past it the user is
    # told), and KB all of them may keep on flash (the oldest dropped first)
    "agents.defaults.max_media_size": ("max_media_size", _INT | _OFF, 655360),
    "agents.defaults.media_quota_kb": ("media_quota_kb", _INT | _OFF, 1024),
    # live drafts (sendMessageDraft) in private chats; false: the placeholder is edited instead
    "channels.telegram.streaming.enabled": ("draft_streaming", _BOOL | _OFF, True),
    "channel_list.telegram.settings.streaming.enabled": ("draft_streaming", _BOOL | _OFF, True),
    # the web tools (tools/fetch.py, tools/search.py), in PicoClaw's tools.web shape
    "tools.web.enabled": ("web_tools_enabled", _BOOL | _OFF, True),
    "tools.web.provider": ("web_search_provider", _STRING | _OFF, "auto"),  # "auto": the first enabled backend
    "tools.web.fetch_limit_bytes": ("web_fetch_limit", _INT | _OFF, 0),  # bytes web_fetch reads (0: tools/fetch's own)
    "tools.web.private_host_whitelist": ("web_private_hosts", _STRINGS | _OFF, ()),  # hosts/IPs the SSRF guard lets through
    # tools.web.<backend>.* (brave, tavily, searxng, duckduckgo, ...): cfg.web_backends[name]
    "tools.web.*.enabled": ("web_backends", _BOOL | _OFF, False),
    "tools.web.*.api_key": ("web_backends", _STRING | _OFF, ""),
    "tools.web.*.api_keys": ("web_backends", _STRINGS | _OFF, ()),  # the first one is the api_key
    "tools.web.*.base_url": ("web_backends", _STRING | _OFF, ""),
    "tools.web.*.max_results": ("web_backends", _INT | _OFF, 5),
    "providers.*.api_key": (None, _STRING, ""),
    "providers.*.api_base": (None, _STRING, ""),
    # version 3: model_list, one object per model (read in _walk); the third field says what
    # the value is (_M_NAME, _M_MODEL, _M_KEYS; 0: a field kept as it is)
    "model_list.*.model_name": (None, _STRING, _M_NAME),
    "model_list.*.model": (None, _STRING, _M_MODEL),  # "protocol/model", e.g. "openai/gpt-4o-mini"
    "model_list.*.provider": (None, _STRING, 0),  # the protocol, when model has no prefix
    "model_list.*.api_base": (None, _STRING, 0),
    "model_list.*.api_key": (None, _STRING, 0),
    "model_list.*.api_keys": (None, _STRINGS, _M_KEYS),  # PicoClaw rotates them; we use the first
}
# names for error messages, by kind and by parser event (json/scan.py), as one string each
# (docs/memory.md)
_KIND_NAMES = const("|0:a string|1:an integer|2:a number|3:true or false|4:a list of user ids or @usernames|5:a list of strings|")
_EVENT_NAMES = "|1:an object|3:a list|6:a string|7:a number|8:a boolean|9:a boolean|10:null|"


def _lookup(table, key):
    i = table.find("|%d:" % key)
    return table[i + len(str(key)) + 2:table.find("|", i + 1)] if i >= 0 else "?"


# Heap the modes need on the 64-bit unix port, measured (tools/bench.py, docs/figures.md):
# a 100-message echo burst completes in 64 KB, a tool-calling agent burst in 100 KB; SIMULATE=1
# keeps cmd/simulate.py's code and script loaded besides. The advice rounds up to the heap the
# README's commands give, which leaves room.
_ECHO_KB = const(62)  # below the 64k the burst needs: -X heapsize=64k gives the GC 63 KB (its
#                        table takes 1/64), and must pass
_AGENT_KB = const(98)  # below the 100k the burst needs, as for echo (100k gives the GC 98.4 KB)
_SIM_KB = const(8)  # SIMULATE=1: simulate.py's code and script, loaded besides
_RUN_ECHO = const(72)  # -X heapsize=<this>k advised: 64k is the echo burst's edge, with TLS past it
_RUN_AGENT = const(128)  # the same for agent mode: its burst's edge is 100k
_RUN_SIM_ECHO = const(96)  # SIMULATE=1, with room
_RUN_SIM_AGENT = const(160)  # SIMULATE=1 in agent mode, with room
_WORD32 = const(70)  # percent: a 32-bit board's figures against the 64-bit port's (DESIGN.md)


class ConfigError(ValueError):
    pass


def secrets(cfg):
    """Every secret value set, for the log scrubber."""
    out = [s for s in (cfg.token, cfg.wifi_password) if s]
    for p in cfg.providers.values():
        if p.get("api_key"):
            out.append(p["api_key"])
    for p in cfg.__dict__.get("web_backends", {}).values():
        if p.get("api_key"):
            out.append(p["api_key"])
    return out


def check(cfg, telegram=True, want=None):
    """Errors a command cannot start with, each one line naming the key and the fix: the
    gateway's (telegram=True: the channel and tls.ca_file) or the agent command's
    (tls.ca_file). The model side (which model, where, the time zone) is checked by
    agent/setup.pick, at the agent's start-up and by `status`.

    want: (agent mode, SIMULATE=1) for the gateway and the agent command (not `status`): the
    start-up heap check too, while the heap is still in one piece. This heap (on a board,
    board.json's gc_heap: an ESP32's heap grows on demand from 64 KB at boot to about that;
    its TLS buffers count where mbedTLS allocates them in the GC heap) against what the mode
    needs: a shortfall is one line saying what to do, instead of a MemoryError half-way
    through the start. (Here, not in a module of its own: docs/memory.md.)"""
    # the keys as this file's format names them
    v3 = cfg.__dict__.get("version", 0) >= 3
    tg = "channel_list.telegram.settings." if v3 else "channels.telegram."
    ch = tg[:22] if v3 else tg  # channel_list.telegram.
    if telegram:
        # (the instance dict, not getattr: docs/memory.md)
        if not cfg.__dict__.get("telegram_on", True):
            raise ConfigError("config: %senabled is false, and Telegram is this bot's only channel: "
                              "set it to true (or remove it)" % ch)
        if not cfg.token:
            raise ConfigError("config: %stoken is not set (ask @BotFather for one)" % tg)
        if ":" not in cfg.token:
            raise ConfigError("config: %stoken does not look like a bot token (123456:ABC...)" % tg)
        if not cfg.base_url.startswith(("https://", "http://")):
            raise ConfigError("config: %sbase_url must start with https:// or http://" % tg)
        if not 0 <= cfg.poll_timeout <= 50:
            raise ConfigError("config: %spoll_timeout must be 0-50 (seconds)" % tg)
        if not 1 <= cfg.poll_limit <= 100:
            raise ConfigError("config: %spoll_limit must be 1-100" % tg)
    if cfg.ca_file and cfg.tls_verify:
        # readable, and every certificate in it one that TLS accepts (each is loaded into a
        # throwaway context, so garbage is refused here and not at the first connection)
        import ssl

        from picoclaw import unload
        from picoclaw.net.trust import load_ca_file

        fix = "it must be a file of CA certificates, PEM (-----BEGIN CERTIFICATE-----) or DER, " \
              "named relative to the config file's folder or by its full path"
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            for der in load_ca_file(cfg.ca_file):
                ctx.load_verify_locations(cadata=der)
        except OSError as e:
            if e.args and e.args[0] == 2:  # ENOENT
                raise ConfigError("config: tls.ca_file %s does not exist: %s" % (cfg.ca_file, fix))
            raise ConfigError("config: tls.ca_file %s cannot be used (%s): %s" % (cfg.ca_file, e, fix))
        except ValueError as e:
            raise ConfigError("config: tls.ca_file %s: %s; %s" % (cfg.ca_file, e, fix))
        finally:
            ctx = None
            unload("picoclaw.net.trust")
    if want:
        agent, sim = want
        import sys

        gc.collect()
        have = gc.mem_free() + gc.mem_alloc()
        i = cfg.path.rfind("/")
        info = {}
        try:
            with open("%sboard.json" % cfg.path[:i + 1]) as f:
                import json

                info = json.load(f)
        except (OSError, ValueError):
            pass
        keys = "gc_heap tls_heap tls_in_gc_heap tls".split()  # one long literal, split at run time
        board = info.get(keys[0]) if isinstance(info, dict) else None
        tls = 0
        plan = info.get(keys[3]) if isinstance(info, dict) else None
        if isinstance(plan, dict) and not sim:  # what TLS costs this board (net/tlsheap.py plans it)
            setattr(cfg, "tls_profile", (plan, bool(info.get(keys[2]))))  # for app.build
        if isinstance(board, int) and board > 0:
            have = board
            t = info.get(keys[1])
            if info.get(keys[2]) and isinstance(plan, dict) and not sim:
                # one connection open and the room for the next handshake (at worst one at a time)
                tls = (plan.get("held", 0) + plan.get("handshake", 0)) // 1024
            elif info.get(keys[2]) and isinstance(t, int) and not sim:
                tls = (t // 1024) * ((1 if cfg.base_url.startswith("https://") else 0) + (1 if agent else 0))
        else:
            board = None
        need = (_AGENT_KB if agent else _ECHO_KB) + (_SIM_KB if sim else 0)
        if sys.maxsize < 1 << 32:  # a 32-bit board
            need = need * _WORD32 // 100
        need += tls
        if have < need * 1024:
            what = ("SIMULATE=1 in " if sim else "") + ("agent mode needs about" if agent else "echo mode needs about")
            if board:
                raise ValueError("%s %d KB of heap on this board (board.json gc_heap: %d KB): %s" % (
                    what, need, have // 1024, "remove the model from config.json for echo mode, or use a "
                    "board with more RAM" if agent else "use a board with more RAM"))
            run = _RUN_AGENT if agent else _RUN_ECHO
            if sim:  # simulate.py's code and script stay loaded: measured clean at 144k (agent) and 80k
                run = _RUN_SIM_AGENT if agent else _RUN_SIM_ECHO
            # the port's -X heapsize counts the GC's own table too (1/64 of it): the size as given
            raise ValueError("%s %d KB of heap on this port (this one has %d KB): run with -X heapsize=%dk%s" % (
                what, need, have * 64 // 63 // 1024, run,
                ", or remove the model from config.json for echo mode" if agent else ""))
    if not telegram:
        return
    # warnings at every start (here: this module leaves the heap before the gateway is built)
    from picoclaw import log

    if cfg.base_url.startswith("http://"):
        log.warn("channels.telegram.base_url is plain http://: the bot token and every message "
                 "cross the network unencrypted; use https://")
    for name in cfg.allow_names:
        log.warn("allow_from: @%s admits whoever holds that username, also after it changes "
                 "hands; prefer the numeric id (the log shows it at their first message)" % name)
    if not cfg.allow_ids and not cfg.allow_names:
        log.warn("allow_from is empty: only a paired owner is admitted (see PAIRING below). "
                 "Or send your bot a message, find 'from id=...' in this log, and add that "
                 "id to %sallow_from" % ch)


def load(path):
    """Read config.json at `path` into Settings. Raises ConfigError naming the bad key.
    cfg.secrets lists the secret values (for the log scrubber)."""
    cfg = Settings()
    for attr, kind, default in _KEYS.values():
        if attr and not kind & (_AGENT | _OFF):
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
    if not cfg.base_url:  # absent, or "" as PicoClaw writes it
        cfg.base_url = "https://api.telegram.org"
    # relative paths are the config file's folder's (as on a board, and as deploy reads them)
    here = path[:path.rfind("/") + 1]  # "" (the working directory), "/" or "folder/"
    if not cfg.workspace:
        i = path.rfind("/")  # beside config.json
        cfg.workspace = "%s/workspace" % ("." if i < 0 else (path[:i] or ""))
    elif cfg.workspace.startswith("~"):
        import os

        cfg.workspace = (os.getenv("HOME") or "") + cfg.workspace[1:]
    elif not cfg.workspace.startswith("/"):
        cfg.workspace = here + cfg.workspace
    if cfg.ca_file and not cfg.ca_file.startswith("/"):
        cfg.ca_file = here + cfg.ca_file
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
        elif path.count(".") == 3 and path.startswith("tools.web.*."[:10]):  # (a long literal: docs/memory.md)
            norm = path[:10] + "*." + key
        spec = _KEYS.get(norm)
        if spec:
            value = _read(p, spec[1], path)
            if not spec[0]:
                name = path.split(".")[1]
                cfg.providers.setdefault(name, {})[key] = value
            elif norm != path:  # tools.web.<backend>.<key>: {"enabled": .., "api_key": ..}
                if not hasattr(cfg, spec[0]):
                    setattr(cfg, spec[0], {})
                b = getattr(cfg, spec[0]).setdefault(path.split(".")[2], {})
                if key == "api_keys":
                    key, value = "api_key", value[0] if value else ""
                    if b.get(key):
                        continue
                b[key] = value
            elif not (spec[1] & _OFF and value == spec[2]):
                setattr(cfg, spec[0], value)
            continue
        pre = path + ".*.model_name"  # (a long literal: docs/memory.md)
        if pre in _KEYS:  # version 3's model_list
            pre = pre[:-10]  # "model_list.*."
            # [{"model_name": .., "model": "protocol/id", "api_keys": [..], "api_base": ..}, ..]:
            # each entry goes into cfg.providers under its model_name, with its "model" (which
            # the original format's providers.<name> never has); the first entry of a name is
            # kept (PicoClaw balances the load over repeated names)
            ev = p.next()
            if ev != ARR and ev != _NULL:  # null: absent
                raise ConfigError("config: %s must be a list of models, got %s" % (path, _lookup(_EVENT_NAMES, ev)))
            n = 0
            while ev != _NULL:  # until END_ARR (the array's elements), or none (null)
                ev = p.next()
                if ev == END_ARR:
                    break
                if ev != OBJ:
                    raise ConfigError("config: %s[%d] must be an object, got %s" % (path, n, _lookup(_EVENT_NAMES, ev)))
                if n >= _MAX_LIST:
                    raise ConfigError("config: %s has more than %d entries" % (path, _MAX_LIST))
                m = {}
                name = model = None
                while p.next_key():
                    key = p.text()
                    spec = _KEYS.get(pre + key)
                    if not spec:
                        p.skip()  # thinking_level, rpm, extra_body, ...: not for this bot
                        continue
                    value = _read(p, spec[1], "model_list[%d].%s" % (n, key))
                    if spec[2] == _M_KEYS:  # the first one is the api_key
                        key, value = "api_key", value[0] if value else ""
                        if m.get(key):
                            continue
                    m[key] = value
                    if spec[2] == _M_NAME:
                        name = value
                    elif spec[2] == _M_MODEL:
                        model = value
                if not name:
                    raise ConfigError("config: %s[%d] has no model_name (the name "
                                      "agents.defaults.model_name picks it by)" % (path, n))
                if not model:
                    raise ConfigError('config: %s[%d] (%s) has no model: set it to "protocol/model", '
                                      'e.g. "openai/gpt-4o-mini"' % (path, n, name))
                cfg.providers.setdefault(name, m)
                n += 1
            continue
        if path == "channel_list":
            cfg.version = 3  # error messages name its keys
        if path.startswith("providers.") and path.count(".") == 1:
            known = True
            cfg.providers.setdefault(key, {})  # "ollama": {} names a provider too
        elif path.count(".") == 2 and path.startswith("tools.web.*."[:10]):
            known = True  # a search backend's object
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
            elif ev != _NULL:  # null: treat as absent
                raise ConfigError("config: %s must be an object, got %s" % (path, _lookup(_EVENT_NAMES, ev)))
        else:
            p.skip()  # unknown key (PicoClaw has many we do not use): ignored


def _read(p, kind, path):
    kind &= _KIND  # without _AGENT, _OFF
    ev = p.next()
    if kind == _STRINGS or kind == _USERS:  # a list: of strings, or of user ids (numbers or strings)
        if ev != ARR:
            _wrong(path, kind, ev)
        items = []
        while True:
            ev = p.next()
            if ev == END_ARR:
                return tuple(items)
            if ev == STR and not p.truncated:
                items.append(p.text())
            elif ev == NUM and kind == _USERS:
                v = p.value(ev)
                if isinstance(v, float):
                    _wrong(path, kind, ev)
                items.append(str(v))
            elif kind == _STRINGS:
                raise ConfigError("config: %s must be a list of strings" % path)
            else:
                raise ConfigError("config: %s entries must be user ids or @usernames" % path)
            if len(items) > _MAX_LIST:
                raise ConfigError("config: %s has more than %d entries" % (path, _MAX_LIST))
    if ev == STR and kind == _STRING:
        if p.truncated:
            raise ConfigError("config: %s is too long" % path)
        return p.text()
    if ev == NUM and (kind == _INT or kind == _NUMBER):
        v = p.value(ev)
        if kind == _INT and not isinstance(v, int):
            _wrong(path, kind, ev)
        return v
    if (ev == _TRUE or ev == _FALSE) and kind == _BOOL:
        return ev == _TRUE
    _wrong(path, kind, ev)


def _wrong(path, kind, ev):
    raise ConfigError("config: %s must be %s, got %s" % (path, _lookup(_KIND_NAMES, kind), _lookup(_EVENT_NAMES, ev)))
