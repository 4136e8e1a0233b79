"""Tests of the fake Telegram Bot API server itself (host_tests/support/fakes/telegram_server.py).

CPython only. The clients here are plain http.client / ssl / socket, never firmware code, and
python-telegram-bot's models check that what the fake emits is what a real client accepts.
"""
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse

import pytest
import telegram

from fakes.telegram_server import FakeTelegram, CONFLICT_POLL, check_object, utf16_len

GROUP = -1001234567890


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def tg():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()
    assert fake.errors == []


@pytest.fixture
def plain():
    fake = FakeTelegram(tls=False).start()
    yield fake
    fake.stop()
    assert fake.errors == []


def ssl_ctx(fake):
    with open(fake.ca_der_path, "rb") as f:
        return ssl.create_default_context(cadata=f.read())  # check_hostname + CERT_REQUIRED


def connect(fake, timeout=5.0):
    if fake.tls:
        return http.client.HTTPSConnection("localhost", fake.port, context=ssl_ctx(fake), timeout=timeout)
    return http.client.HTTPConnection("localhost", fake.port, timeout=timeout)


def _form_value(v):
    if isinstance(v, str):
        return v
    return json.dumps(v)  # ints, true/false, arrays and objects: JSON-serialized like real clients


def call(conn, fake, method, params=None, how="json", token=None, headers=None):
    """One request on `conn`; returns (status, decoded JSON, raw body, response)."""
    path = "/bot%s/%s" % (token or fake.token, method)
    hdrs = dict(headers or {})
    params = params or {}
    body = None
    verb = "POST"
    if how == "json":
        body = json.dumps(params).encode()
        hdrs["Content-Type"] = "application/json"
    elif how == "form":
        body = urllib.parse.urlencode({k: _form_value(v) for k, v in params.items()}).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif how == "query":
        verb = "GET"
        if params:
            path += "?" + urllib.parse.urlencode({k: _form_value(v) for k, v in params.items()})
    else:
        raise ValueError(how)
    conn.request(verb, path, body=body, headers=hdrs)
    r = conn.getresponse()
    raw = r.read()
    return r.status, json.loads(raw), raw, r


def api(fake, method, params=None, how="json", timeout=5.0, **kw):
    conn = connect(fake, timeout)
    try:
        status, data, _, _ = call(conn, fake, method, params, how, **kw)
        return status, data
    finally:
        conn.close()


def ok(fake, method, params=None, **kw):
    status, data = api(fake, method, params, **kw)
    assert status == 200 and data["ok"] is True, data
    return data["result"]


def raw_exchange(fake, request, timeout=4.0):
    """Send raw bytes, read until the server closes; return everything received."""
    s = socket.create_connection(("127.0.0.1", fake.port), timeout=timeout)
    if fake.tls:
        s = ssl_ctx(fake).wrap_socket(s, server_hostname="localhost")
    try:
        s.sendall(request)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ssl.SSLError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def http_req(fake, method, params, close=True, extra=b""):
    body = json.dumps(params).encode()
    return (b"POST /bot%s/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s%s\r\n" % (fake.token.encode(), method.encode(), len(body),
                                                 b"Connection: close\r\n" if close else b"", extra)) + body


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def dechunk(body):
    """Decode a chunked body; returns (data, chunk sizes, complete?)."""
    data, sizes = b"", []
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return data, sizes, False
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return data, sizes, rest == b"\r\n"
        chunk = rest[:size]
        data += chunk
        if len(chunk) < size or rest[size:size + 2] != b"\r\n":
            return data, sizes, False
        sizes.append(size)
        body = rest[size + 2:]


def no_unknown_fields(obj, path="obj"):
    """python-telegram-bot puts fields it does not know into api_kwargs: there must be none."""
    if isinstance(obj, telegram.TelegramObject):
        assert obj.api_kwargs == {}, (path, obj.api_kwargs)
        for k, v in obj._get_attrs(include_private=False, recursive=False).items():
            no_unknown_fields(v, path + "." + k)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            no_unknown_fields(v, "%s[%d]" % (path, i))


def poll_in_thread(fake, params, timeout=15.0):
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            box["status"], box["data"] = api(fake, "getUpdates", params, timeout=timeout)
        except Exception as e:  # noqa: BLE001
            box["error"] = e
        box["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


# ---------------------------------------------------------------------------------------------
# 1-2. what the fake emits is accepted by python-telegram-bot


def test_updates_accepted_by_ptb(tg):
    alice = tg.user(42, "Alice", username="alice")
    bob = tg.user(7, "Bob")
    long_ascii = "a" * 4000 + "\u00e9" * 96
    long_emoji = "\U0001F600" * 2048          # 4096 UTF-16 code units
    texts = ["hello \U0001F600 \U0001F44D\U0001F3FD \u2713 \u00e9", long_ascii, long_emoji, "/start arg"]
    ids = [tg.send_text(alice, t) for t in texts]
    ids.append(tg.send_photo(bob))
    ids.append(tg.send_sticker(alice))
    ids.append(tg.send_edit(alice, "edited \U0001F600"))
    ids.append(tg.send_join(bob, GROUP))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    conn = connect(tg)
    status, data, raw, _ = call(conn, tg, "getUpdates", {"timeout": 0})
    conn.close()
    assert status == 200 and data["ok"] is True
    assert b"\\ud83d\\ude00" in raw          # emoji escaped as a surrogate pair
    assert max(raw) < 0x80                   # ensure_ascii body
    updates = data["result"]
    assert [u["update_id"] for u in updates] == ids

    bot = telegram.Bot(tg.token)
    parsed = [telegram.Update.de_json(u, bot) for u in updates]
    for u in parsed:
        no_unknown_fields(u, "update")
        assert u.effective_user is not None and u.effective_chat is not None

    for u, text in zip(parsed[:4], texts):
        assert u.message.text == text
        assert u.message.from_user.id == 42 and u.message.from_user.username == "alice"
        assert u.message.chat.id == 42 and u.message.chat.type == "private"
    assert utf16_len(parsed[2].message.text) == 4096 and len(parsed[1].message.text) == 4096
    cmd = parsed[3].message
    assert cmd.entities[0].type == "bot_command" and cmd.parse_entity(cmd.entities[0]) == "/start"

    photo = parsed[4].message
    assert photo.from_user.id == 7 and photo.chat.id == 7 and len(photo.photo) == 3
    assert photo.photo[-1].width == 800 and photo.text is None

    sticker = parsed[5].message.sticker
    assert sticker.emoji == "\U0001F44D" and sticker.type == "regular"

    edit = parsed[6].edited_message
    assert parsed[6].message is None
    assert edit.text == "edited \U0001F600" and edit.message_id == parsed[5].message.message_id  # her last
    assert edit.edit_date is not None and edit.chat.id == 42

    join = parsed[7].message
    assert join.chat.id == GROUP and join.chat.type == "supergroup"
    assert [m.id for m in join.new_chat_members] == [7]


def test_send_update_rejects_objects_outside_spec(tg):
    alice = tg.user(42)
    with pytest.raises(ValueError):
        tg.send_update("message", {"message_id": 1, "chat": tg.private_chat(alice), "date": 1,
                                   "text": "x", "bogus": 1})
    with pytest.raises(ValueError):
        tg.send_update("message", {"message_id": 1, "date": 1, "text": "x"})  # no chat
    with pytest.raises(ValueError):
        tg.send_update("not_a_kind", {})
    # a valid callback_query through the generic path
    uid = tg.send_update("callback_query", {"id": "1", "from": alice, "chat_instance": "ci", "data": "d"})
    upd = telegram.Update.de_json(ok(tg, "getUpdates")[0], telegram.Bot(tg.token))
    assert upd.update_id == uid and upd.callback_query.data == "d"


def test_sent_messages_accepted_by_ptb(tg):
    bot = telegram.Bot(tg.token)
    tg.send_text(tg.user(42, "Alice"), "hi")
    html = "<b>\U0001F600x</b> y <i>\u00e9</i> <a href=\"https://e.x/?a=1&amp;b=2\">l</a> &lt;&amp;&gt;"
    results = [ok(tg, "sendMessage", {"chat_id": 42, "text": "plain \U0001F600"}),
               ok(tg, "sendMessage", {"chat_id": 42, "text": html, "parse_mode": "HTML"}),
               ok(tg, "sendMessage", {"chat_id": "42", "text": "x" * 4096,
                                      "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "c"}]]}},
                  how="form")]
    msgs = [telegram.Message.de_json(r, bot) for r in results]
    for r, m in zip(results, msgs):
        check_object("Message", r)
        no_unknown_fields(m, "message")
        assert m.from_user.id == 123456 and m.from_user.is_bot and m.chat.id == 42
    assert msgs[0].text == "plain \U0001F600" and not msgs[0].entities
    assert msgs[1].text == "\U0001F600x y \u00e9 l <&>"
    assert msgs[1].text_html == "<b>\U0001F600x</b> y <i>\u00e9</i> <a href=\"https://e.x/?a=1&b=2\">l</a> &lt;&amp;&gt;"
    assert msgs[2].reply_markup.inline_keyboard[0][0].callback_data == "c"
    ids = [m.message_id for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == 3

    sent = tg.wait_sent(3, timeout=1)
    assert [s["method"] for s in sent] == ["sendMessage"] * 3
    assert [s["message_id"] for s in sent] == ids
    assert sent[2]["params"]["chat_id"] == 42            # normalised to int even from a form
    assert sent[1]["params"]["text"] == html             # params as the client sent them

    edited = ok(tg, "editMessageText", {"chat_id": 42, "message_id": ids[0], "text": "new"})
    em = telegram.Message.de_json(edited, bot)
    no_unknown_fields(em)
    assert em.text == "new" and em.message_id == ids[0] and em.edit_date is not None
    assert ok(tg, "sendChatAction", {"chat_id": 42, "action": "typing"}) is True
    sent = tg.wait_sent(5, timeout=1)
    assert sent[3]["method"] == "editMessageText" and sent[3]["message_id"] == ids[0]
    assert sent[4] == {"method": "sendChatAction", "params": {"chat_id": 42, "action": "typing"},
                       "message_id": None, "result": True}
    me = telegram.User.de_json(ok(tg, "getMe"), bot)
    no_unknown_fields(me)
    assert me.id == 123456 and me.is_bot
    assert ok(tg, "deleteWebhook") is True


def test_wait_sent_reports_what_was_sent(tg):
    tg.send_text(tg.user(42), "hi")
    ok(tg, "sendMessage", {"chat_id": 42, "text": "only one"})
    with pytest.raises(AssertionError, match="only one"):
        tg.wait_sent(2, timeout=0.2)


# ---------------------------------------------------------------------------------------------
# 3. long polling


def test_long_poll_times_out_with_empty_result(tg):
    t0 = time.monotonic()
    assert ok(tg, "getUpdates", {"timeout": 2}) == []
    assert 1.8 <= time.monotonic() - t0 < 3.5


def test_long_poll_returns_when_update_arrives(tg):
    t, box = poll_in_thread(tg, {"timeout": 10})
    tg.wait_requests(1, "getUpdates", timeout=2)
    time.sleep(0.3)
    assert "status" not in box                      # still blocked
    uid = tg.send_text(tg.user(42), "wake up")
    t.join(5)
    assert box["status"] == 200, box
    assert [u["update_id"] for u in box["data"]["result"]] == [uid]
    assert box["elapsed"] < 2.0


def test_offset_confirms_and_limit(tg):
    alice = tg.user(42)
    ids = [tg.send_text(alice, "m%d" % i) for i in range(4)]
    assert [u["update_id"] for u in ok(tg, "getUpdates")] == ids          # nothing confirmed yet
    assert [u["update_id"] for u in ok(tg, "getUpdates")] == ids
    assert [u["update_id"] for u in ok(tg, "getUpdates", {"limit": 2})] == ids[:2]
    assert [u["update_id"] for u in ok(tg, "getUpdates", {"offset": ids[2]})] == ids[2:]
    assert [u["update_id"] for u in ok(tg, "getUpdates")] == ids[2:]       # ids[:2] were dropped
    assert [u["update_id"] for u in ok(tg, "getUpdates", {"offset": -1})] == ids[3:]
    assert ok(tg, "getUpdates", {"offset": ids[3] + 1}) == []
    assert tg.pending_updates() == []
    status, data = api(tg, "getUpdates", {"limit": 0})
    assert status == 400 and data["error_code"] == 400


def test_second_poller_gets_409(tg):
    t, box = poll_in_thread(tg, {"timeout": 5})
    tg.wait_requests(1, "getUpdates", timeout=2)
    time.sleep(0.2)
    status, data = api(tg, "getUpdates", {"timeout": 0})
    assert status == 409
    assert data == {"ok": False, "error_code": 409, "description": CONFLICT_POLL}
    assert data["description"] == ("Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")
    assert tg.poll_conflicts == 1
    uid = tg.send_text(tg.user(42), "x")
    t.join(5)
    assert box["status"] == 200 and box["data"]["result"][0]["update_id"] == uid
    assert api(tg, "getUpdates")[0] == 200                                # no poller now: fine


def test_abandoned_long_poll_does_not_block_next_poller(plain):
    s = socket.create_connection(("127.0.0.1", plain.port))
    s.sendall(http_req(plain, "getUpdates", {"timeout": 20}, close=False))
    plain.wait_requests(1, "getUpdates", timeout=2)
    time.sleep(0.2)
    s.close()                                   # client gives up on its long poll
    time.sleep(0.4)
    assert api(plain, "getUpdates")[0] == 200
    assert plain.poll_conflicts == 0
    assert plain.requests[0]["status"] == "abandoned"


def test_allowed_updates_filter_and_are_remembered(tg):
    alice = tg.user(42)
    ok(tg, "getUpdates", {"allowed_updates": ["message"]})
    tg.send_edit(alice, "edit")                         # edited_message: not allowed now
    uid = tg.send_text(alice, "text")
    assert [u["update_id"] for u in ok(tg, "getUpdates")] == [uid]   # setting remembered
    assert list(tg.filtered[0]) == ["update_id", "edited_message"]
    ok(tg, "getUpdates", {"offset": uid + 1, "allowed_updates": []})  # back to the default
    e = tg.send_edit(alice, "edit 2")
    tg.send_update("message_reaction", {"chat": tg.private_chat(alice), "message_id": 1, "date": 1,
                                        "user": alice, "old_reaction": [],
                                        "new_reaction": [{"type": "emoji", "emoji": "\U0001F44D"}]})
    assert [u["update_id"] for u in ok(tg, "getUpdates")] == [e]     # reaction needs explicit opt-in
    status, data = api(tg, "getUpdates", {"allowed_updates": ["messages"]})
    assert status == 400


def test_webhook_blocks_get_updates(tg):
    assert ok(tg, "setWebhook", {"url": "https://example.com/hook"}) is True
    status, data = api(tg, "getUpdates")
    assert status == 409 and data["description"].startswith("Conflict: can't use getUpdates method")
    assert ok(tg, "deleteWebhook", {"drop_pending_updates": True}) is True
    assert ok(tg, "getUpdates") == []


def test_stop_is_quick_with_live_connections():
    fake = FakeTelegram().start()
    t, box = poll_in_thread(fake, {"timeout": 30})
    idle = connect(fake)
    call(idle, fake, "getMe")                    # an idle keep-alive connection
    fake.wait_requests(2, timeout=2)
    time.sleep(0.2)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 1.5
    t.join(2)
    assert not t.is_alive() and "error" in box   # the poller's connection was closed
    idle.close()
    assert fake.errors == []


# ---------------------------------------------------------------------------------------------
# 4. keep-alive and TLS


def test_keepalive_many_requests_one_connection(tg):
    tg.send_text(tg.user(42), "hi")
    conn = connect(tg)
    for i in range(5):
        status, data, _, r = call(conn, tg, "sendMessage", {"chat_id": 42, "text": "m%d" % i})
        assert status == 200 and r.getheader("Connection") == "keep-alive"
        assert int(r.getheader("Content-Length")) > 0
    assert call(conn, tg, "getMe", how="query")[0] == 200
    conn.close()
    assert tg.connections == 1
    assert {r["conn"] for r in tg.requests} == {1}
    ok(tg, "getMe")
    assert tg.connections == 2 and tg.requests[-1]["conn"] == 2


def test_connection_close_is_honoured(tg):
    t0 = time.monotonic()
    data = raw_exchange(tg, http_req(tg, "getMe", {}, close=True))
    assert time.monotonic() - t0 < 2                 # the server closed: no idle wait
    status, headers, body = split_response(data)
    assert status == 200 and headers["connection"] == "close"
    assert len(body) == int(headers["content-length"]) and json.loads(body)["ok"] is True


def test_pipelined_requests(plain):
    data = raw_exchange(plain, http_req(plain, "getMe", {}, close=False) + http_req(plain, "getMe", {}))
    assert data.count(b"HTTP/1.1 200 OK") == 2 and plain.connections == 1


def test_tls_verifies_with_ca_der_and_localhost(tg):
    assert tg.base_url == "https://localhost:%d" % tg.port
    with open(tg.ca_pem_path) as f:
        assert ssl.PEM_cert_to_DER_cert(f.read()) == open(tg.ca_der_path, "rb").read()
    s = ssl_ctx(tg).wrap_socket(socket.create_connection(("127.0.0.1", tg.port)), server_hostname="localhost")
    assert s.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
    s.close()
    assert ok(tg, "getMe")["is_bot"] is True


def test_tls_wrong_host_fails_verification():
    with FakeTelegram(cert_hosts=("wronghost.example",)) as fake:
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            api(fake, "getMe")
        assert "mismatch" in str(e.value).lower()
        # the same certificate is fine for the name it was issued to
        s = ssl_ctx(fake).wrap_socket(socket.create_connection(("127.0.0.1", fake.port)),
                                      server_hostname="wronghost.example")
        s.close()
        deadline = time.monotonic() + 2
        while fake.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.connections == 1 and fake.requests == []


def test_tls_unknown_ca_fails_verification():
    with FakeTelegram(unknown_ca=True) as fake:
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            api(fake, "getMe")
        assert "issuer" in str(e.value)
        time.sleep(0.1)
        assert fake.connections == 0 and fake.handshake_errors


def _certs(ders_or_pem):
    from cryptography import x509
    if isinstance(ders_or_pem, bytes):
        return x509.load_pem_x509_certificates(ders_or_pem)
    return [x509.load_der_x509_certificate(d) for d in ders_or_pem]


def _is_ca(cert):
    from cryptography import x509
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_tls_presents_leaf_and_intermediate_and_ca_pem_holds_the_root_alone(key_type):
    # like api.telegram.org: leaf + intermediate, RSA-2048 (ECDSA P-256 when asked), and
    # the client's trust file holds the root alone
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from fakes.httpserve import presented_chain
    with FakeTelegram(key_type=key_type) as fake:
        chain = _certs(presented_chain(fake.port))
        with open(fake.ca_pem_path, "rb") as f:
            roots = _certs(f.read())
        with open(fake.ca_der_path, "rb") as f:
            der = f.read()
        assert ok(fake, "getMe")["is_bot"] is True   # and it verifies with ca.pem
    assert len(roots) == 1 and len(chain) == 2, (len(roots), len(chain))
    (root,), (leaf, inter) = roots, chain
    assert der == root.public_bytes(Encoding.DER)   # ca.der: the same root, alone
    assert not _is_ca(leaf) and _is_ca(inter) and _is_ca(root)
    leaf.verify_directly_issued_by(inter)   # raises if not: leaf first, then its issuer
    inter.verify_directly_issued_by(root)
    assert inter.subject != root.subject and leaf.issuer == inter.subject
    for c in (leaf, inter, root):
        k = c.public_key()
        if key_type == "rsa":
            assert isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048
        else:
            assert isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1"


def test_tls_unknown_ca_chain_is_real_shaped_under_a_root_nobody_trusts():
    from fakes.httpserve import presented_chain
    with FakeTelegram(unknown_ca=True) as fake:
        leaf, inter = _certs(presented_chain(fake.port))
        with open(fake.ca_pem_path, "rb") as f:
            (root,) = _certs(f.read())
    leaf.verify_directly_issued_by(inter)
    assert inter.issuer != root.subject


def test_plain_http_mode(plain):
    assert plain.base_url == "http://localhost:%d" % plain.port
    assert ok(plain, "getMe")["id"] == 123456


# ---------------------------------------------------------------------------------------------
# 5. strictness


def test_paths_tokens_and_methods(tg):
    assert api(tg, "getMe", token="123456:wrong") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    not_found = (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert api(tg, "getUpdatez") == not_found
    assert api(tg, "getme") == not_found                 # method names are case-sensitive here
    conn = connect(tg)
    for path in ("/", "/bot%s" % tg.token, "/bot%s/getMe/x" % tg.token, "/file/bot%s/x" % tg.token):
        conn.request("GET", path)
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())) == not_found
    conn.request("PUT", "/bot%s/getMe" % tg.token)
    r = conn.getresponse()
    assert r.status == 405 and json.loads(r.read())["ok"] is False
    conn.close()


def test_parameter_checks(tg):
    tg.send_text(tg.user(42), "hi")

    def err(params, method="sendMessage", how="json"):
        status, data = api(tg, method, params, how=how)
        assert status == 400 and data["ok"] is False and data["error_code"] == 400, data
        return data["description"]

    assert err({"chat_id": 42, "text": "x", "foo": 1}) == "Bad Request: unknown parameter foo"
    assert err({"chat_id": 42, "text": "x", "foo": "1"}, how="query") == "Bad Request: unknown parameter foo"
    assert err({"timeout": 1, "offest": 1}, "getUpdates") == "Bad Request: unknown parameter offest"
    assert err({"chat_id": 42}) == "Bad Request: message text is empty"
    assert err({"chat_id": 42, "text": ""}) == "Bad Request: message text is empty"
    assert err({"text": "x"}) == "Bad Request: chat_id is empty"
    assert err({"chat_id": 42, "text": "a" * 4097}) == "Bad Request: message is too long"
    assert err({"chat_id": 42, "text": "\U0001F600" * 2049}) == "Bad Request: message is too long"
    ok(tg, "sendMessage", {"chat_id": 42, "text": "a" * 4096})
    ok(tg, "sendMessage", {"chat_id": 42, "text": "<b>" + "a" * 4096 + "</b>", "parse_mode": "HTML"})
    assert err({"chat_id": 999, "text": "x"}) == "Bad Request: chat not found"
    assert err({"chat_id": "nobody", "text": "x"}) == "Bad Request: chat not found"
    assert err({"chat_id": [42], "text": "x"}).startswith("Bad Request: invalid parameter chat_id")
    assert err({"chat_id": 42, "text": 5}).startswith("Bad Request: invalid parameter text")
    assert err({"limit": "abc"}, "getUpdates", how="form").startswith("Bad Request: invalid parameter limit")
    assert err({"timeout": "1"}, "getUpdates").startswith("Bad Request: invalid parameter timeout")
    assert err({"chat_id": 42, "text": "x", "disable_notification": "True"}, how="form") \
        .startswith("Bad Request: invalid parameter disable_notification")
    assert "unknown field 'txt'" in err({"chat_id": 42, "text": "x", "reply_markup": {
        "inline_keyboard": [[{"txt": "b", "callback_data": "c"}]]}})
    assert err({"chat_id": 42, "text": "\ud83d"}) == "Bad Request: strings must be encoded in UTF-8"
    assert err({"chat_id": 42, "action": "dancing"}, "sendChatAction") == \
        "Bad Request: wrong parameter action in request"
    for bad_html in ("<b>x", "<foo>x</foo>", "<b>x</i>", "x</b>", "a & b", "a > b", "<b x"):
        assert err({"chat_id": 42, "text": bad_html, "parse_mode": "HTML"}) \
            .startswith("Bad Request: can't parse entities: "), bad_html
    assert err({"chat_id": 42, "text": "x", "parse_mode": "HTMl5"}) == "Bad Request: unsupported parse_mode"
    first = ok(tg, "sendMessage", {"chat_id": 42, "text": "same"})
    assert err({"chat_id": 42, "message_id": first["message_id"], "text": "same"}, "editMessageText") \
        .startswith("Bad Request: message is not modified")
    assert err({"chat_id": 42, "message_id": 1, "text": "t"}, "editMessageText") == \
        "Bad Request: message to edit not found"


def test_json_form_and_query_parameters_all_work(tg):
    tg.send_text(tg.user(42), "hi")
    params = {"chat_id": 42, "text": "caf\u00e9 \U0001F600 & +", "disable_notification": True}
    for how in ("json", "form", "query"):
        assert ok(tg, "sendMessage", params, how=how)["text"] == params["text"]
    for s in tg.wait_sent(3, timeout=1):
        assert s["params"] == params                      # typed: int chat_id, bool flag
    ok(tg, "getUpdates", {"offset": 1, "limit": 5, "timeout": 0, "allowed_updates": ["message"]}, how="query")
    ok(tg, "getUpdates", {"offset": 1, "allowed_updates": ["message"]}, how="form")


def test_chunked_request_body(plain):
    plain.send_text(plain.user(42), "hi")
    body = json.dumps({"chat_id": 42, "text": "chunked \U0001F600"}).encode()
    chunks = [body[:1], body[1:10], body[10:]]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    req = (b"POST /bot%s/sendMessage HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % plain.token.encode()) + framed
    status, headers, resp = split_response(raw_exchange(plain, req))
    assert status == 200 and json.loads(resp)["result"]["text"] == "chunked \U0001F600"
    # chunked over TLS through http.client (it chunks an iterable body itself)
    with FakeTelegram() as fake:
        fake.send_text(fake.user(42), "hi")
        conn = connect(fake)
        conn.request("POST", "/bot%s/sendMessage" % fake.token, body=iter(chunks),
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["result"]["text"] == "chunked \U0001F600"
        conn.close()


def test_malformed_http_is_rejected(plain):
    bad = [b"GET /bot%s/getMe HTTP/1.1\nHost: localhost\n\n" % plain.token.encode(),      # bare LF
           b"GET /bot%s/getMe HTTP/1.1\r\n\r\n" % plain.token.encode(),                  # no Host
           b"POST /bot%s/getMe HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % plain.token.encode()]
    for req in bad:
        status, headers, body = split_response(raw_exchange(plain, req))
        assert status == 400 and headers["connection"] == "close"
        assert json.loads(body)["description"].startswith("Bad Request: malformed HTTP request")


# ---------------------------------------------------------------------------------------------
# 6. injected faults


def test_inject_status(tg):
    tg.send_text(tg.user(42), "hi")
    tg.inject("sendMessage", "status", 429, "Too Many Requests: retry after 2", {"retry_after": 2})
    tg.inject("sendMessage", "status", 502, "Bad Gateway")
    tg.inject("getMe", "status", 401, "Unauthorized")
    conn = connect(tg)
    status, data, _, _ = call(conn, tg, "sendMessage", {"chat_id": 42, "text": "x"})
    assert status == 429 and data == {"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 2",
                                      "parameters": {"retry_after": 2}}
    assert call(conn, tg, "getMe")[:2] == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, data, _, _ = call(conn, tg, "sendMessage", {"chat_id": 42, "text": "x"})   # FIFO
    assert status == 502 and data["description"] == "Bad Gateway" and "parameters" not in data
    assert tg.sent == []                                   # faulted requests were not performed
    assert call(conn, tg, "sendMessage", {"chat_id": 42, "text": "x"})[0] == 200       # one-shot
    conn.close()
    assert tg.connections == 1                             # error responses keep the connection
    for code in (409, 500):
        tg.inject("getUpdates", "status", code, "boom %d" % code)
        assert api(tg, "getUpdates") == (code, {"ok": False, "error_code": code, "description": "boom %d" % code})


def test_inject_body(tg):
    tg.inject("getMe", "body", b'{"ok":true,"result":{"id":1')
    conn = connect(tg)
    conn.request("GET", "/bot%s/getMe" % tg.token)
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b'{"ok":true,"result":{"id":1'
    assert call(conn, tg, "getMe")[0] == 200 and tg.connections == 1
    conn.close()


def test_inject_truncate(plain, tg):
    plain.send_text(plain.user(42), "hi")
    plain.inject("sendMessage", "truncate", 10)
    status, headers, body = split_response(raw_exchange(plain, http_req(plain, "sendMessage",
                                                                        {"chat_id": 42, "text": "x"}, close=False)))
    assert status == 200 and int(headers["content-length"]) > 10
    assert body == b'{"ok":true'                           # first 10 bytes, then EOF
    assert len(plain.sent) == 1                            # the real response was computed
    # over TLS: http.client notices the short body
    tg.inject("getMe", "truncate", 5)
    conn = connect(tg)
    conn.request("GET", "/bot%s/getMe" % tg.token)
    r = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    conn.close()


def test_inject_chunked_truncate(plain):
    plain.inject("getMe", "chunked_truncate", 20)
    status, headers, body = split_response(raw_exchange(plain, http_req(plain, "getMe", {}, close=False)))
    assert status == 200 and headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    data, sizes, complete = dechunk(body)
    assert data == b'{"ok":true,"result":{"id":123456'[:20] and not complete
    assert not body.endswith(b"0\r\n\r\n")


def test_inject_chunked(plain, tg):
    plain.inject("getMe", "chunked")
    status, headers, body = split_response(raw_exchange(plain, http_req(plain, "getMe", {}, close=True)))
    data, sizes, complete = dechunk(body)
    assert complete and len(sizes) >= 5 and len(set(sizes)) >= 4
    assert json.loads(data)["result"]["id"] == 123456
    # a correct response: http.client over TLS decodes it and keeps the connection
    tg.send_text(tg.user(42), "hi")
    tg.inject("sendMessage", "chunked")
    conn = connect(tg)
    status, data, _, r = call(conn, tg, "sendMessage", {"chat_id": 42, "text": "\U0001F600" * 300})
    assert status == 200 and r.getheader("Transfer-Encoding") == "chunked"
    assert data["result"]["text"] == "\U0001F600" * 300
    assert call(conn, tg, "getMe")[0] == 200 and tg.connections == 1
    conn.close()


def test_inject_stall_and_close(tg):
    tg.inject("getMe", "stall", 1.0)
    tg.inject("getMe", "close")
    conn = connect(tg, timeout=5)
    t0 = time.monotonic()
    conn.request("GET", "/bot%s/getMe" % tg.token)
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    assert 0.9 <= time.monotonic() - t0 < 2.5
    conn.close()
    conn = connect(tg, timeout=5)
    t0 = time.monotonic()
    conn.request("GET", "/bot%s/getMe" % tg.token)
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    assert time.monotonic() - t0 < 0.5
    conn.close()
    assert [r["status"] for r in tg.requests] == ["stalled", "closed"]
    assert ok(tg, "getMe")["id"] == 123456                 # faults are one-shot


def test_inject_rejects_bad_arguments(tg):
    with pytest.raises(ValueError):
        tg.inject("sendMesage", "close")
    with pytest.raises(ValueError):
        tg.inject("getMe", "explode")
    with pytest.raises(ValueError):
        tg.inject("getMe", "truncate")
