# config.json written from the setup page: the old file streamed into a temp file with the page's
# values put in, every other key kept as it was, then renamed over the old one.
#
# No dict tree in RAM: the old file is read by the streaming parser (json/stream) and written
# back event by event through json/files.FileOut, each through a fixed buffer, so a file of
# any size costs the same heap; strings of any length are copied in pieces. The page's keys
# are replaced where they are and added where they are missing (inside their parent object,
# created if need be); everything else (base_url, tls.ca_file, the workspace, PicoClaw keys
# this firmware does not read, nested objects, arrays, numbers as written) is copied
# unchanged. The file keeps its format: version 3 (channel_list, model_list) or the original
# one (channels, providers). Without an old file the onboard template (cmd/onboard.py) is
# filled in. An old file the firmware cannot use either (not JSON, nested too deep, a key or a
# number too long, or one that config.load refuses, e.g. for a value of a wrong type: the server found that out at its start, as config.load refused it, and says
# so with fresh=True) is most likely why setup mode started: it is kept beside as config.json.bad
# for its owner and a whole new config is written from the template, so the page can always
# end setup mode. Anything else failing (a full flash) leaves the old file as it was and
# raises SaveError: one line saying what to do.
#
#     save.write("/config.json", {"ssid": "home", "wifi_password": "...", "token": "123:AB..",
#                "provider": "openai", "api_base": "", "api_key": "sk-..", "model": "gpt-4o-mini",
#                "owner": "12345"})
import os
import sys

from micropython import const

from picoclaw import load, unload

_IN = const(256)  # the read window over the old file
_OUT = const(256)  # the parser's value buffer: the longest key or number copied (strings
#                    stream through it in pieces of this size, whatever their length)
_WBUF = const(128)  # the writer's buffer: escaped text waits here for one file write
_DEPTH = const(16)  # nesting copied: a PicoClaw config nests 4 deep; each level is a Python
#                     call (stack on a board), so a deeper file is refused, not copied
# the parser's events (json/scan.py), as private constants: the modules that name them are
# loaded by write() and dropped after it
_OBJ = const(1)
_ARR = const(3)
_END_ARR = const(4)
_STR = const(6)
_NUM = const(7)
# parser internals (json/scan.py's slots and events; json/stream keeps them private too)
_VMODE = const(19)  # st slot: how string values are read; 1 streams them in pieces (_PART)
_OLEN = const(4)  # st slot: bytes of the current piece in out; 0 once a piece is taken
_PART = const(11)  # a piece of a string value, more follows
_TRUE = const(8)
_FALSE = const(9)
_NULL = const(10)
_SP = b"\n                                        "  # a newline and the indent of up to _DEPTH + 2 levels
_ENOSPC = const(28)


class SaveError(ValueError):
    """config.json could not be written: one line saying why and what to do."""


class _Unusable(SaveError):
    """The old file is one the firmware cannot use either (write() then starts anew)."""


def write(cfg_path, values, fresh=False, opener=open):
    """Write config.json at cfg_path from the page's values (the form's field names -> str:
    ssid, wifi_password, token, provider, api_base, api_key, model, owner), atomically.
    Raises SaveError (one line) and leaves the old file as it was when anything fails.
    fresh: the old file is one config.load refused (portal/server found that out): it is kept
    as <cfg_path>.bad and a new config written, as for one that is not JSON. opener: open,
    or a stand-in for the tests (a flash that fills up). What it loads (the parser, the
    writer) is dropped before it returns."""
    before = [k for k in sys.modules if k.startswith("picoclaw.")]
    try:
        try:
            if fresh and _exists(cfg_path):
                raise _Unusable("%s is one the firmware cannot read" % cfg_path)
            _write(cfg_path, values, opener)
        except _Unusable as e:
            from picoclaw import log

            bad = cfg_path + ".bad"
            log.warn("setup: %s; it is kept as %s, and a new one is written" % (e, bad))
            try:
                os.remove(bad)
            except OSError:
                pass
            os.rename(cfg_path, bad)
            _write(cfg_path, values, opener)  # no old file now: the onboard template
    finally:
        unload(*[k for k in list(sys.modules) if k.startswith("picoclaw.") and k not in before])


def _write(cfg_path, values, opener):
    # the provider's default api_base first, while the heap holds least (agent/setup's table,
    # loaded and dropped): then the parser and the writer
    base = values.get("api_base", "").strip().rstrip("/")
    provider = values.get("provider", "") or "none"
    if provider != "none" and not base:  # the default the check used
        base = load("picoclaw.agent.setup").default_base(provider)
        unload("picoclaw.agent.setup")
    from picoclaw.json.files import FileOut
    from picoclaw.json.stream import JsonError, JsonReader, StreamSource

    try:
        f = opener(cfg_path, "rb")
    except OSError:
        f = None  # no config yet: the onboard template
    tmp = cfg_path + ".tmp"
    out = None
    try:
        if f:
            src = StreamSource(f, bytearray(_IN))
        else:  # the template, held while it is copied (1 KB); its module is dropped first
            src = _Text((load("picoclaw.cmd.onboard")._CONFIG % "workspace").encode())
            unload("picoclaw.cmd.onboard")
        p = JsonReader(src, bytearray(_OUT), _DEPTH)
        v3, voice = _survey(p)
        targets = _targets(values, base, v3, voice)
        if f:
            f.seek(0)
        else:
            src.n = len(src.buf)
        p.reset(src)
        p.st[_VMODE] = 1
        out = opener(tmp, "wb")
        _private(tmp)
        c = _Copy(p, FileOut(out, bytearray(_WBUF)), targets)
        p.expect(_OBJ)
        c.w.write(b"{")
        c.obj("", 0)
        p.finish()
        c.w.write(b"\n")
        c.w._flush()
        out.close()
        out = None
    except BaseException as e:
        if out is not None:
            try:
                out.close()
            except OSError:
                pass
            out = None
        if _exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
        if isinstance(e, JsonError) and "nesting" in str(e):
            raise _Unusable("%s nests deeper than %d levels" % (cfg_path, _DEPTH))
        if isinstance(e, JsonError):
            raise _Unusable("%s is not valid JSON (%s)" % (cfg_path, e))
        if isinstance(e, OSError):
            if e.args and e.args[0] == _ENOSPC:
                raise SaveError("%s was not written: the flash is full; delete old files (the "
                                "workspace's sessions) and save again" % cfg_path)
            raise SaveError("%s was not written (%s): the old one is unchanged" % (cfg_path, e))
        raise
    finally:
        if f:
            f.close()
    from picoclaw.state import replace

    try:
        replace(tmp, cfg_path)
    except OSError as e:
        raise SaveError("%s was not replaced (%s): the new one is in %s" % (cfg_path, e, tmp))


def _private(path):
    # mode 0600: it holds the token and the keys. CPython has os.chmod, the unix port only
    # os.system (a board has neither, and no file modes), as cmd/onboard.py does it
    if hasattr(os, "chmod"):
        os.chmod(path, 0o600)
    elif hasattr(os, "system"):
        os.system("chmod 600 '%s'" % path.replace("'", "'\\''"))


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class _Text:
    """A parser source over bytes in RAM (the template)."""

    def __init__(self, data):
        self.buf = data
        self.start = 0
        self.n = len(data)

    def fill(self):
        n = self.n
        self.n = 0
        return n


def _survey(p):
    """A first pass over the file: (is it version 3's format?, voice.model_name or None).
    channel_list says 3, channels the original one; neither (a file with only wifi, say): 3,
    onboard's format."""
    v3 = voice = None
    p.expect(_OBJ)
    while p.next_key():
        if p.key_is(b"channel_list"):
            v3 = True
        elif p.key_is(b"channels") and v3 is None:
            v3 = False
        elif p.key_is(b"voice"):
            ev = p.next()
            if ev == _OBJ:
                while p.next_key():
                    if p.key_is(b"model_name"):
                        ev = p.next()
                        voice = p.text() if ev == _STR and not p.truncated else ""
                        p.skip_value(ev)
                    else:
                        p.skip()
            else:
                p.skip_value(ev)
            continue
        p.skip()
    p.finish()
    return v3 is not False, voice


def _targets(values, base, v3, voice):
    """((path, value), ...): what the page sets. A value is a str, True, a list (a JSON
    array of its items), a tuple of (key, value) pairs (an object), or None: the key is
    removed where it is and never added."""
    get = values.get
    provider = get("provider", "") or "none"
    model = get("model", "")
    key = get("api_key", "")
    owner = get("owner", "").strip()
    allow = [owner] if owner else []  # empty: the owner pairs with /pair (gateway/pairing.py)
    t = [("wifi.ssid", get("ssid", "")), ("wifi.password", get("wifi_password", ""))]
    if v3:
        t += [("channel_list.telegram.enabled", True),
              ("channel_list.telegram.settings.token", get("token", "")),
              ("channel_list.telegram.allow_from", allow),
              ("channel_list.telegram.settings.allow_from", None)]  # one list: the one above
        if provider == "none":  # an echo bot (the original format's providers would make an agent)
            t += [("model_list", []), ("agents.defaults.model_name", None), ("providers", None)]
        else:
            proto = "openai" if provider == "custom" else provider  # custom: OpenAI-compatible
            t += [("model_list", [(("model_name", model), ("model", "%s/%s" % (proto, model)),
                                   ("api_keys", [key] if key else []), ("api_base", base))]),
                  ("agents.defaults.model_name", model)]
            if voice is not None and voice != model:
                # the entry it named is gone with the old model_list: without this key the
                # bot starts (voice notes unanswered) instead of stopping at its start-up
                t.append(("voice.model_name", None))
    else:
        t += [("channels.telegram.enabled", True),
              ("channels.telegram.token", get("token", "")),
              ("channels.telegram.allow_from", allow),
              ("agents.defaults.model_name", None)]  # version 3's: it would be looked for in model_list
        if provider == "none":
            t += [("providers", None), ("agents.defaults.provider", None), ("agents.defaults.model", None)]
        else:
            t += [("providers.%s.api_key" % provider, key), ("providers.%s.api_base" % provider, base),
                  ("agents.defaults.provider", provider), ("agents.defaults.model", model)]
    return t


class _Copy:
    """The copy of one document: parser p's events written by w, the targets put in."""

    def __init__(self, p, w, targets):
        self.p = p
        self.w = w
        self.t = targets
        self.done = bytearray(len(targets))

    def _key(self, first, depth):
        # the separator and the indent before a key; the key itself comes next
        w = self.w
        if not first:
            w.write(b",")
        w.write(_SP, 1 + 2 * depth)

    def _name(self, name, depth, first, n=-1):
        self._key(first, depth + 1)
        w = self.w
        w.json_begin()
        w.json_part(name, n)
        w.json_end()
        w.write(b": ")

    def obj(self, prefix, depth):
        """Copy an object whose { was read and written, up to its }, the targets under
        prefix put in."""
        p = self.p
        first = True
        while p.next_key():
            key = self._text(prefix)
            path = prefix + "." + key if prefix else key
            i = self._find(path)
            if i >= 0:  # a key the page sets: its new value (or none: removed)
                p.skip()
                self.done[i] = 1
                v = self.t[i][1]
                if v is not None:
                    self._name(key, depth, first)
                    self._emit(v, depth + 1)
                    first = False
                continue
            self._name(key, depth, first)
            first = False
            ev = p.next()
            if self._under(path):
                if ev == _OBJ:
                    self.w.write(b"{")
                    self.obj(path, depth + 1)
                    continue
                self._drain(ev)  # null (or a wrong type) where the page's keys go: an object of them
                self.w.write(b"{")
                self._close(self._missing(path, True, depth + 1), b"}", depth + 1)
                continue
            self.copy(ev, depth + 1)
        self._close(self._missing(prefix, first, depth), b"}", depth)

    def copy(self, ev, depth):
        """Copy the value whose first event is ev, as it is."""
        p = self.p
        w = self.w
        if ev == _OBJ:
            w.write(b"{")
            first = True
            while p.next_key():
                self._text(None)
                self._name(p.out, depth, first, p.n)
                first = False
                self.copy(p.next(), depth + 1)
            self._close(first, b"}", depth)
        elif ev == _ARR:
            w.write(b"[")
            first = True
            nested = False
            while True:
                ev = p.next()
                if ev == _END_ARR:
                    break
                if not first:
                    w.write(b",")
                if ev == _OBJ or ev == _ARR:  # containers one per line, scalars on one line
                    nested = True
                    w.write(_SP, 3 + 2 * depth)
                elif not first:
                    w.write(b" ")
                first = False
                self.copy(ev, depth + 1)
            self._close(not nested, b"]", depth)
        elif ev == _STR or ev == _PART:
            w.json_begin()
            st = p.st
            while True:
                w.json_part(p.out, p.n)
                if ev == _STR:
                    break
                st[_OLEN] = 0  # the piece was taken
                ev = p.next()
            w.json_end()
        elif ev == _NUM:
            if p.truncated:
                self._long("a number")
            w.write(p.out, p.n)  # as the file wrote it (1.0 stays 1.0)
        elif ev == _TRUE:
            w.write(b"true")
        elif ev == _FALSE:
            w.write(b"false")
        else:
            w.write(b"null")

    def _drain(self, ev):
        # skip the rest of a value whose first event was read
        p = self.p
        while ev == _PART:
            p.st[_OLEN] = 0
            ev = p.next()
        if ev == _OBJ or ev == _ARR:
            p.skip_value(ev)

    def _close(self, empty, bracket, depth):
        if not empty:
            self.w.write(_SP, 1 + 2 * depth)
        self.w.write(bracket)

    def _text(self, prefix):
        p = self.p
        if p.truncated:
            self._long("a key")
        return p.text() if prefix is not None else None

    def _long(self, what):
        raise _Unusable("config.json has %s over %d bytes" % (what, _OUT))

    def _find(self, path):
        for i in range(len(self.t)):
            if self.t[i][0] == path:
                return i
        return -1

    def _under(self, path):
        """Does a target lie inside path?"""
        for k, v in self.t:
            if k.startswith(path) and len(k) > len(path) and k[len(path)] == ".":
                return True
        return False

    def _missing(self, prefix, first, depth):
        """Write the targets under prefix that the file did not have (objects created for
        their parents); returns whether the object is still empty."""
        n = len(prefix) + 1 if prefix else 0
        for i in range(len(self.t)):
            k, v = self.t[i]
            if self.done[i] or v is None or n and not (k.startswith(prefix) and k[n - 1:n] == "."):
                continue
            rest = k[n:]
            j = rest.find(".")
            if j < 0:
                self.done[i] = 1
                self._name(rest, depth, first)
                self._emit(v, depth + 1)
            else:
                self._name(rest[:j], depth, first)
                self.w.write(b"{")
                self._close(self._missing(k[:n + j], True, depth + 1), b"}", depth + 1)
            first = False
        return first

    def _emit(self, v, depth):
        """Write a target's value (see _targets)."""
        w = self.w
        if v is True:
            w.write(b"true")
        elif isinstance(v, str):
            w.json_begin()
            w.json_part(v)
            w.json_end()
        elif isinstance(v, list):
            w.write(b"[")
            nested = False
            for i in range(len(v)):
                if i:
                    w.write(b",")
                if isinstance(v[i], tuple):  # objects one per line, as copy() writes them
                    nested = True
                    w.write(_SP, 3 + 2 * depth)
                elif i:
                    w.write(b" ")
                self._emit(v[i], depth + 1)
            self._close(not nested, b"]", depth)
        else:  # a tuple of (key, value): an object
            w.write(b"{")
            for i in range(len(v)):
                self._name(v[i][0], depth, i == 0)
                self._emit(v[i][1], depth + 1)
            self._close(not v, b"}", depth)
