# The setup page's checks before it saves: does the Wi-Fi take the password, does Telegram know
# the bot token, does the model take the API key. Each answers None or ONE line saying what to fix.
#
# The setup server (portal/server.py) calls them one after another in its own small heap, so
# each loads what it needs (net/http, the TLS roots, the wording of failures) and drops it
# before it returns: one TLS connection at a time, closed before the next. No secret (the
# Wi-Fi password, the token, the key) ever appears in a line they return.
#
#     line = check.wifi("home", "hunter22")                 # None: joined (and left joined)
#     name, line = check.telegram("123:ABC", old)           # ("my_bot", None)
#     line = check.model("openai", "", "sk-...", "gpt-4o-mini", old)
#
# `old` is the existing config's Settings (picoclaw.config.load), or one with the defaults:
# its base_url, tls.ca_file, tls.verify and workspace say where Telegram is and whom to trust,
# as they will for the bot.
import sys
import time

from micropython import const

from picoclaw import load, unload

_BUF = const(512)  # the connection buffer, as app's: one TLS read or one request piece at a time
_BODY = const(512)  # getMe's answer read whole: ~300 bytes, its fields first
_MSG = const(200)  # a provider's error message: the first 200 bytes say what it is (llm/errors)
_POLL_MS = const(250)  # Wi-Fi status polls while joining: a join takes 2-10 s
_TG_MS = const(20000)  # getMe, handshake included: Telegram answers in well under a second
_MODEL_MS = const(60000)  # one token from a model: a local server may first load the model
_TELEGRAM = "https://api.telegram.org"


def wifi(ssid, password, timeout_ms=20000):
    """Join `ssid` as a station while the access point stays up (ESP32 and Pico W both run
    AP+STA). None once it has an address (the link is kept: the other checks go through
    it), else the line saying why. Without a `network` module (the unix port: the host is
    online already) None."""
    try:
        import network
    except ImportError:
        return None
    got = getattr(network, "STAT_GOT_IP", 3)
    wrong = getattr(network, "STAT_WRONG_PASSWORD", -3)
    absent = getattr(network, "STAT_NO_AP_FOUND", -2)
    refused = getattr(network, "STAT_CONNECT_FAIL", -1)
    w = network.WLAN(network.STA_IF)
    try:
        w.active(True)
        if w.isconnected():
            w.disconnect()  # joined elsewhere (a retry after a typo): join the one asked for
        if password:
            w.connect(ssid, password)
        else:
            w.connect(ssid)  # an open network
        t = time.ticks_ms()
        why = None
        while True:
            st = w.status()
            if st == got or w.isconnected():
                return None
            if st == wrong:
                why = "Wi-Fi: the password for %s is wrong" % ssid
            elif st == absent:
                why = ("Wi-Fi: no network named %s in range (names are case-sensitive; boards "
                       "see 2.4 GHz networks only)" % ssid)
            elif st == refused:
                why = "Wi-Fi: the access point of %s refused the board: check the password, then try again" % ssid
            elif time.ticks_diff(time.ticks_ms(), t) >= timeout_ms:
                why = ("Wi-Fi: %s did not answer in %d s: move the board closer to the router, "
                       "or check the name" % (ssid, timeout_ms // 1000))
            if why:
                break
            time.sleep_ms(_POLL_MS)
    except OSError as e:  # drivers report their internal errors this way
        why = "Wi-Fi: the radio could not join %s (%s): try again" % (ssid, e)
    try:
        w.disconnect()  # no retrying in the background: it would disturb the access point
    except OSError:
        pass
    return why


def telegram(token, old):
    """getMe with `token` at the old config's base_url, trusting what it trusts:
    (username, None), or (None, the line saying what to fix)."""
    before = _loaded()
    try:
        return _get_me(token, old)
    finally:
        _drop(before)


def model(provider, api_base, api_key, model, old):
    """One tiny request to the model (max_tokens 1): None when it answers, else the line
    saying what to fix. provider "none" or "": no model (an echo bot), None."""
    if not provider or provider == "none":
        return None
    before = _loaded()
    try:
        return _ping(provider, api_base, api_key, model, old)
    finally:
        _drop(before)


# -- the exchanges ---------------------------------------------------------------------------
def _get_me(token, old):
    from picoclaw.net.stream import NetError

    if not _clean(token, True):
        # only digits, letters, "_", "-" and ":" make a token; anything else would also end
        # up in the request line
        return None, _BAD_TOKEN
    base = getattr(old, "base_url", "") or _TELEGRAM
    conn = None
    try:
        conn = _open(base, old)
        conn.request(b"GET", (b"/bot", token.encode(), b"/getMe"), timeout_ms=_TG_MS)
        status = conn.status
        # getMe's answer is ~300 bytes: its first _BODY bytes are read into one buffer and
        # its three fields picked out there (the JSON parser's 6.6 KB of code would be the
        # check's peak); a longer answer is cut, its fields come first
        body = bytearray(_BODY)
        n = 0
        while n < _BODY:
            k = conn.fill()
            if not k:
                break
            k = min(k, _BODY - n)
            body[n:n + k] = memoryview(conn.buf)[conn.start:conn.start + k]
            n += k
        conn.done()
        ok = _field(body, n, b'"ok"')
        api = ok == b"true" or ok == b"false"  # the Bot API's envelope
        name = _field(body, n, b'"username"')
        if ok == b"true" and name:
            return str(name, "utf-8"), None
        if status == 401 or status == 404 and api:  # 404: Telegram's answer to a malformed token
            return None, _BAD_TOKEN
        if not api:  # not the Bot API at all: a wrong base_url, a captive portal's page
            from picoclaw.net.stream import failure

            return None, failure(3, conn, status, 0, 0)
        desc = _field(body, n, b'"description"')
        return None, _scrub("Telegram answered %d (%s): try again in a minute"
                            % (status, str(desc, "utf-8") if desc else "no reason given"), token)
    except NetError as e:
        return None, _scrub(_unreachable(conn, base, e), token)
    except MemoryError:
        return None, _short(conn, "Telegram")
    except ValueError as e:  # a bad base_url or tls.ca_file
        return None, _scrub("Telegram: %s" % e, token)
    except OSError as e:  # the exchange broke (net/httpfail's wording)
        return None, _scrub("cannot reach %s: %s" % (_host(conn, base), e), token)
    finally:
        if conn is not None:
            conn.close()


def _field(b, n, key):
    """The value of `key` in the JSON object text b[:n]: true/false/a number as its bytes, a
    string's bytes without its quotes (usernames and the descriptions Telegram sends need no
    escapes: a backslash ends it), None if absent. The key must be followed by a colon, so
    the same text inside a string value (its quotes escaped there) is no match."""
    i = 0
    while True:
        i = b.find(key, i, n)
        if i < 0:
            return None
        j = _space(b, i + len(key), n)
        if j < n and b[j] == 58:  # ":"
            break
        i = j
    j = _space(b, j + 1, n)
    if j < n and b[j] == 34:  # a string
        e = j + 1
        while e < n and b[e] != 34 and b[e] != 92:
            e += 1
        return bytes(b[j + 1:e])
    e = j
    while e < n and b[e] > 32 and b[e] != 44 and b[e] != 125:  # up to a space , or }
        e += 1
    return bytes(b[j:e])


def _space(b, j, n):
    while j < n and b[j] <= 32:
        j += 1
    return j


def _ping(provider, api_base, api_key, model, old):
    from picoclaw.net.stream import NetError

    base = api_base.strip().rstrip("/")
    if not base:
        if provider == "custom":
            return "a custom provider needs its api_base (its OpenAI-compatible URL, e.g. http://192.168.1.5:8080/v1)"
        base = load("picoclaw.agent.setup").default_base(provider)
        unload("picoclaw.agent.setup")
        if not base:
            return 'unknown provider "%s": choose one of the list, or "custom" with its api_base' % provider
    if not model:
        return "the model is not set: its id at %s, e.g. gpt-4o-mini" % provider
    if not _clean(api_key, False):
        return "the API key has a character no key has (a space or a line break?): paste it again"
    # the wire protocol as agent/setup.pick chooses it
    anthropic = provider.startswith("anthropic") or "anthropic.com" in base
    if anthropic and base.endswith("anthropic.com"):
        base += "/v1"
    conn = None
    try:
        conn = _open(base, old)
        key = api_key.encode()
        if anthropic:
            path = b"/messages"
            headers = (b"x-api-key: " + key, b"anthropic-version: 2023-06-01") if key else \
                (b"anthropic-version: 2023-06-01",)
        else:
            path = b"/chat/completions"
            headers = (b"Authorization: Bearer " + key,) if key else ()
        m = model.encode()

        def body(c):
            c.write(b'{"model":')
            c.json_begin()
            c.json_part(m)
            c.json_end()
            c.write(b',"messages":[{"role":"user","content":"ping"}],"max_tokens":1}')

        conn.request(b"POST", path, body=body, headers=headers, timeout_ms=_MODEL_MS)
        status = conn.status
        host = conn.host
        if status == 200:
            conn.done()  # the one token is not needed: done() closes over an unread body
            return None
        if status == 401 or status == 403:
            conn.done()
            return "the API key is refused by %s: copy it again from the provider's site" % host
        if status == 404:
            conn.done()
            return "%s knows no model %s (or api_base is wrong)" % (host, model)
        if 300 <= status < 400:  # nothing follows redirects here, and the bot would not either
            conn.done()
            return "%s answered %d (a redirect): check api_base (https://, the path)" % (host, status)
        msg = _message(conn)
        if status == 400:
            return _scrub("%s refused the request: %s" % (host, msg or "400 without a reason"), api_key)
        if status == 429:
            return _scrub("%s answered 429 (rate limit or no credit left): %s" % (host, msg or "try again later"),
                          api_key)
        return _scrub("%s answered %d (%s): try again later" % (host, status, msg or "no reason given"), api_key)
    except NetError as e:
        return _scrub(_unreachable(conn, base, e), api_key)
    except MemoryError:
        return _short(conn, "the model")
    except ValueError as e:  # a bad api_base or tls.ca_file
        return _scrub("the model: %s" % e, api_key)
    except OSError as e:
        return _scrub("cannot reach %s: %s" % (_host(conn, base), e), api_key)
    finally:
        if conn is not None:
            conn.close()


def _message(conn):
    """The provider's error message (llm/errors reads both providers' error bodies), on one
    line; None if the body says none."""
    from picoclaw.json.stream import JsonError, JsonReader

    try:
        msg = load("picoclaw.llm.errors").error_message(JsonReader(conn, bytearray(_MSG)))
    except (JsonError, OSError):
        msg = None
    conn.done()
    if msg:
        msg = " ".join(msg.split())  # one line: the page shows one line per problem
    return msg


# -- helpers ---------------------------------------------------------------------------------
_BAD_TOKEN = "the bot token is not valid: copy it again from @BotFather"


def _open(url, old):
    """A Connection to url, trusting what the bot will trust (app.build's way)."""
    u = _split(url)  # before net/http loads: the heap holds least now
    from picoclaw.net.http import Connection
    from picoclaw.net.stream import NetError, open_stream

    ctx = None
    if u[0] == "https":
        ca_file = getattr(old, "ca_file", "") or None
        verify = getattr(old, "tls_verify", True)
        workspace = getattr(old, "workspace", None)
        trust = load("picoclaw.net.trust")
        try:
            ctx = trust.context(ca_file, verify, (u[1],), workspace)
        finally:
            unload("picoclaw.net.trust")
    first = []  # the first handshake's failure, to name if the fallback below has no room

    def opener(host, port, ctx, timeout_ms):
        try:
            return open_stream(host, port, ctx, timeout_ms)
        except NetError as e:
            if not first:
                first.append(e)
            raise

    conn = Connection(u, bytearray(_BUF), ctx, opener)
    conn.first = first
    if ctx is not None and getattr(old, "tls_verify", True):
        # a refused certificate tries the other shipped roots, as the bot will (net/anchors)
        conn.trust = (getattr(old, "ca_file", "") or None, getattr(old, "workspace", None))
    return conn


def _short(conn, what):
    """The line for a MemoryError: a certificate refused by the roots tried first, when that is
    what set off the fallback to the others (net/anchors: 18 KB more than a handshake that
    works, on the unix port), else the heap."""
    if conn is not None and conn.first and str(conn.first[0]).startswith("TLS"):
        return "%s (the board had no room to try its other roots)" % conn.first[0]
    return "the board ran out of memory while asking %s: restart it and try again" % what


def _split(url):
    """(scheme, host, port, path prefix), as app.split_url gives it (app.py's 5 KB of code
    is not loaded for it); ValueError naming a URL that is no http(s) URL."""
    for c in url:  # the host goes into the Host header: no spaces, no line breaks
        if ord(c) <= 32:
            raise ValueError("the URL %r has a space or a control character" % url)
    https = url.startswith("https://")
    if not https and not url.startswith("http://"):
        raise ValueError("URL must start with https:// or http://: %s" % url)
    rest = url[8 if https else 7:]
    i = rest.find("/")
    host, prefix = (rest, "") if i < 0 else (rest[:i], rest[i:].rstrip("/"))
    port = 443 if https else 80
    j = host.rfind(":")
    if j > 0 and host[j + 1:].isdigit():
        host, port = host[:j], int(host[j + 1:])
    if not host:
        raise ValueError("URL has no host: %s" % url)
    return "https" if https else "http", host, port, prefix


def _unreachable(conn, url, e):
    """The line for a connection that could not be made (net/fail's wording): a TLS failure
    says it as it is (the root missing, tls.ca_file to fix it), the rest as 'cannot reach'."""
    line = str(e)
    if line.startswith("TLS"):
        return line
    return "cannot reach %s: %s" % (_host(conn, url), line)


def _host(conn, url):
    if conn is not None:
        return conn.host
    i = url.find("//")
    return url[i + 2:].split("/")[0] if i >= 0 else url


def _clean(s, token):
    """Does s hold only what a token (digits, letters, _ - :) or a key (printable ASCII) has?"""
    for c in s:
        o = ord(c)
        if token:
            if not (48 <= o <= 58 or 65 <= o <= 90 or 97 <= o <= 122 or o == 95 or o == 45):
                return False
        elif o <= 32 or o >= 127:
            return False
    return True


def _scrub(line, secret):
    """line without the secret in it (a provider's message may quote the key)."""
    if secret and len(secret) >= 4 and secret in line:
        line = line.replace(secret, "*" * 8)
    return line


def _loaded():
    return [k for k in sys.modules if k.startswith("picoclaw.")]


def _drop(before):
    """Unload what the check loaded (what the caller had stays)."""
    unload(*[k for k in list(sys.modules) if k.startswith("picoclaw.") and k not in before])
