"""Voice notes end to end (issue 16 item 1): the real gateway on the MicroPython unix port
(from .mpy) against the fake Telegram (getFile and its file server), the fake transcription
endpoint and the fake LLM, all on loopback over TLS.

A voice note is fetched, uploaded byte for byte as multipart/form-data, and its transcript
is the model's user turn; what cannot be done (no transcription configured, over the cap,
getFile 400, a transcription that fails) is one line to the user, and the next update is
answered. Both PicoClaw config shapes: providers.groq (the original format) and
voice.model_name naming a model_list entry (version 3). The official openai SDK is checked
against the fake endpoint.
"""
import json
import os

import pytest

import gatewayrun
from fakes.llm_server import FakeLLM
from fakes.telegram_server import FakeTelegram
from fakes.transcribe_server import FakeTranscriber

ALICE = 111
HEAP = "128k"


@pytest.fixture
def tg():
    with FakeTelegram() as t:
        yield t


@pytest.fixture
def stt():
    with FakeTranscriber() as s:
        yield s


def _ogg(n, seed=1):
    """n bytes that look like an OGG/Opus voice note (the header, then noise)."""
    r = bytearray(b"OggS\x00\x02" + bytes(22) + b"\x01\x13OpusHead\x01\x01")
    x = seed
    while len(r) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        r.append(x >> 16 & 0xFF)
    return bytes(r[:n])


def _config(tg, llm, stt=None, shape="groq", echo=False, agent=None):
    """config.json for the fakes: the LLM as providers.<kind>, and the transcription endpoint
    as providers.groq ("groq"), or the whole file in version 3's shape with voice.model_name
    ("model_list"), or none (shape None)."""
    path = gatewayrun.write_config(tg, llm=llm, agent=dict({"stream": False}, **(agent or {})))
    with open(path) as f:
        cfg = json.load(f)
    if shape == "groq":
        cfg["providers"]["groq"] = {"api_key": stt.api_key, "api_base": stt.base_url}
        cfg["voice"] = {"echo_transcription": echo}
    elif shape == "model_list":
        tgc = cfg["channels"].pop("telegram")
        defaults = cfg["agents"]["defaults"]
        for k in ("provider", "model"):
            defaults.pop(k)
        defaults["model_name"] = "chat"
        cfg = {"version": 3, "agents": cfg["agents"], "tls": cfg["tls"],
               "channel_list": {"telegram": {"enabled": True, "type": "telegram",
                                             "allow_from": tgc.pop("allow_from"), "settings": tgc}},
               "model_list": [{"model_name": "chat", "model": "openai/test-model", "api_base": llm.base_url,
                               "api_keys": [llm.api_key]},
                              {"model_name": "whisper", "model": "groq/whisper-large-v3-turbo",
                               "api_base": stt.base_url, "api_keys": [stt.api_key]}],
               "voice": {"model_name": "whisper", "echo_transcription": echo}}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def _run(path, cycles=3):
    r = gatewayrun.run(path, cycles=cycles, heap=HEAP)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-2000:]
    return r


def _texts(tg):
    """Each bot message's last text, in order (edits applied)."""
    last = {}
    for s in tg.sent:
        if s["method"] in ("sendMessage", "editMessageText"):
            last[s["message_id"]] = s["result"]["text"]
    return [last[k] for k in sorted(last)]


def _user_turns(llm):
    return [json.dumps(m["content"], ensure_ascii=False) for m in llm.requests[-1]["body"]["messages"]
            if m["role"] == "user"]


@pytest.mark.parametrize("shape,echo", [("groq", True), ("model_list", False)])
def test_a_voice_note_becomes_the_turn(tg, stt, shape, echo):
    note = _ogg(20 * 1024)
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_voice(alice, note)
        stt.reply_text("What is the weather like on Mars?")
        llm.reply_text("Cold and dusty, about minus 60 degrees.")
        tg.send_text(alice, "and on Venus?")
        llm.reply_text("Hot enough to melt lead.")
        path = _config(tg, llm, stt, shape, echo)
        _run(path)
        assert not llm.errors and not stt.errors, (llm.errors, stt.errors)
        first = llm.requests[0]["body"]["messages"]
        assert first[-1]["role"] == "user"
        assert "[voice] What is the weather like on Mars?" in json.dumps(first[-1])
        assert "[voice] What is the weather like on Mars?" in json.dumps(llm.requests[1]["body"]["messages"])
    (up,) = stt.uploads
    assert up["data"] == note  # bytes in equal bytes out
    assert up["model"] == "whisper-large-v3-turbo" and up["response_format"] == "json"
    assert up["filename"].endswith(".ogg") and up["content_type"] == "audio/ogg"
    assert int(up["headers"]["content-length"]) == up["length"]
    (dl,) = tg.downloads
    assert dl["status"] == 200 and dl["bytes"] == len(note) and dl["path"].startswith("voice/")
    texts = _texts(tg)
    heard = [t for t in texts if t.startswith("I heard: ")]
    assert heard == (["I heard: What is the weather like on Mars?"] if echo else [])
    assert texts[-2:] == ["Cold and dusty, about minus 60 degrees.", "Hot enough to melt lead."]
    ws = os.path.join(os.path.dirname(path), "ws", "media")
    (name,) = os.listdir(ws)
    with open(os.path.join(ws, name), "rb") as f:
        assert f.read() == note  # on flash, for the record (the media quota drops it in time)
    assert not tg.pending_updates()  # every update confirmed


def test_what_cannot_be_done_is_said_and_the_next_update_is_answered(tg, stt):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_voice(alice, _ogg(40 * 1024))  # over the 32 KB cap: not fetched at all
        tg.send_voice(alice, _ogg(1000), file_size=False)  # Telegram's 20 MB limit (below)
        big = list(tg.files)[-1]
        tg.files[big].update(data=None, size=25 * 1024 * 1024)
        tg.send_voice(alice, _ogg(2000, 2))
        stt.reply_error(500, "Internal server error", "server_error")
        tg.send_voice(alice, _ogg(2000, 3))
        stt.reply_raw(200, b"<html><body>Bad gateway</body></html>", "text/html")
        tg.send_voice(alice, _ogg(2000, 4))
        stt.reply_error(400, "file must be one of the following types: [flac mp3 mp4 ogg wav webm]")
        tg.send_voice(alice, _ogg(2000, 5))
        stt.reply_text("")
        tg.send_text(alice, "hello")
        llm.reply_text("Hi Alice.")
        path = _config(tg, llm, stt, agent={"max_media_size": 32 * 1024})
        _run(path, cycles=3)
        assert len(llm.requests) == 1  # only the text reached the model
    texts = _texts(tg)
    assert texts[0] == "Sorry, this voice note is 40 KB, and I take files of up to 32 KB " \
                       "(agents.defaults.max_media_size)."
    assert texts[1] == "Sorry, Telegram lets bots download files of up to 20 MB only, and this voice note is bigger."
    assert texts[2].startswith("Sorry, I could not transcribe your voice note: the transcription service "
                               "answered HTTP 500: Internal server error")
    assert texts[3].startswith("Sorry, I could not transcribe your voice note: the transcription service "
                               "answered HTTP 200 with something that is not a transcript")
    assert texts[4].startswith("Sorry, I could not transcribe your voice note: the transcription service "
                               "answered HTTP 400: file must be one of")
    assert texts[5] == "I could not make out any words in your voice note."
    assert texts[6] == "Hi Alice."
    assert len(stt.uploads) == 4 and not stt.pending_replies()
    assert not tg.pending_updates()  # the offset moved past every one of them


def test_no_transcription_configured_and_a_dead_endpoint(tg, stt):
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_voice(alice, _ogg(3000))
        tg.send_text(alice, "ping")
        llm.reply_text("pong")
        path = _config(tg, llm, shape=None)
        _run(path, cycles=2)
        assert _texts(tg) == ["Sorry, I cannot listen to voice notes: no transcription model is configured "
                              "(voice.model_name naming a model_list entry, or providers.groq).", "pong"]
        assert not tg.downloads  # nothing fetched for it
        # an endpoint that is not there (the fake stopped): one line, the offset moves on
        tg.sent.clear()
        tg.send_voice(alice, _ogg(3000, 7))
        tg.send_text(alice, "ping again")
        llm.reply_text("pong again")
        path = _config(tg, llm, stt)
        stt.stop()
        _run(path, cycles=2)
    texts = _texts(tg)
    assert texts[0].startswith("Sorry, I could not transcribe your voice note: I could not reach the "
                               "transcription service at localhost")
    assert texts[1] == "pong again"


def test_a_transcription_service_that_never_answers_is_given_up_on(tg, stt):
    # the upload arrives whole, then nothing: after agents.defaults.request_timeout (10 s
    # here; the service's own limit is 120 s) the user is told, and the next update answered
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_voice(alice, _ogg(2000, 8))
        stt.reply_stall(60)
        tg.send_text(alice, "still there?")
        llm.reply_text("Yes.")
        _run(_config(tg, llm, stt, agent={"request_timeout": 10}), cycles=2)
        assert len(llm.requests) == 1 and len(stt.uploads) == 1
    texts = _texts(tg)
    assert texts[0].startswith("Sorry, I could not transcribe your voice note: I could not reach the "
                               "transcription service at localhost") and "timed out" in texts[0], texts
    assert texts[1] == "Yes."
    assert not tg.pending_updates()


def test_the_openai_sdk_transcribes_through_the_fake(stt, tmp_path):
    openai = pytest.importorskip("openai")
    import ssl

    import httpx

    note = _ogg(5000)
    p = tmp_path / "note.ogg"
    p.write_bytes(note)
    stt.reply_text("hello from the SDK")
    trust = ssl.create_default_context(cafile=stt.ca_pem_path)
    client = openai.OpenAI(api_key=stt.api_key, base_url=stt.base_url, http_client=httpx.Client(verify=trust))
    with open(p, "rb") as f:
        t = client.audio.transcriptions.create(model="whisper-large-v3-turbo", file=f)
    assert t.text == "hello from the SDK"
    (up,) = stt.uploads
    assert up["data"] == note and up["filename"] == "note.ogg" and not stt.errors
    bad = openai.OpenAI(api_key="wrong", base_url=stt.base_url, http_client=httpx.Client(verify=trust),
                        max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.audio.transcriptions.create(model="whisper-large-v3-turbo", file=("n.ogg", note, "audio/ogg"))


def test_an_audio_file_goes_with_its_own_type(tg, stt):
    song = b"ID3\x04" + _ogg(9000)[4:]
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.send_audio(alice, song, file_name="memo.mp3", mime_type="audio/mpeg")
        stt.reply_text("remind me to call mum")
        llm.reply_text("I will.")
        _run(_config(tg, llm, stt), cycles=2)
        assert "[voice] remind me to call mum" in json.dumps(llm.requests[0]["body"]["messages"][-1])
    (up,) = stt.uploads
    assert up["data"] == song and up["filename"].endswith(".mp3") and up["content_type"] == "audio/mpeg"


def test_the_fake_endpoint_refuses_a_body_that_is_not_exact(stt):
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=stt.ca_pem_path)
    good = (b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ogg\"\r\n"
            b"Content-Type: audio/ogg\r\n\r\nOggS\r\n--XyZ--\r\n")
    cases = [(good, 200), (good[:-2], 400), (good.replace(b"--XyZ--", b"--XyZ"), 400),
             (good.replace(b'; filename="a.ogg"', b""), 400), (good.replace(b'"model"', b'"modle"'), 400)]
    for body, want in cases:
        if want == 200:
            stt.reply_text("ok")
        c = http.client.HTTPSConnection("localhost", stt.port, context=ctx)
        c.request("POST", "/openai/v1/audio/transcriptions", body=body,
                  headers={"Authorization": "Bearer " + stt.api_key,
                           "Content-Type": "multipart/form-data; boundary=XyZ"})
        r = c.getresponse()
        assert r.status == want, (body, r.read())
        r.read()
        c.close()
    assert stt.uploads[0]["data"] == b"OggS" and len(stt.uploads) == 1


@pytest.mark.parametrize("heap_kb,single", [(160, True), (220, False)])
def test_voice_notes_with_the_pico_w_memory(tg, stt, heap_kb, single):
    """TLS standing in the heap with the Pico W's sizes (net/tlsheap.py): one connection at a
    time (160k) or side by side (220k), the transcription's connection is one of the plan's:
    no handshake runs out of memory and the reserve is taken back."""
    import shutil

    import unixport

    notes = [_ogg(100 * 1024, 10 + i) for i in range(2)]
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        for i, n in enumerate(notes):
            tg.send_voice(alice, n)
            stt.reply_text("note %d" % i)
            llm.reply_text("answer %d" % i)
        path = _config(tg, llm, stt)
        shutil.copy(os.path.join(unixport.ROOT, "boards", "RPI_PICO_W", "board.json"), os.path.dirname(path))
        r = unixport.run(["-m", "picoclaw", "gateway", "--config", path, "--cycles", "3"], heap="%dk" % heap_kb,
                         timeout=120, path=unixport.build() + ":.frozen", PICOCLAW_TLS_STAND_IN="1")
        out = r.stdout + r.stderr
        assert r.returncode == 0 and ("one connection at a time" in out) == single, out[-3000:]
        assert "no room for" not in out and "out of memory" not in out and "Traceback" not in out, out[-3000:]
    assert [u["data"] for u in stt.uploads] == notes
    assert _texts(tg)[-2:] == ["answer 0", "answer 1"]


def test_telegram_failing_mid_intake_is_retried_and_nothing_is_done_twice(tg, stt):
    """getFile's 500 and the file server's 502 are Telegram failing, not the file: the
    gateway retries the update, and the note is fetched whole and transcribed once."""
    notes = [_ogg(6000, 20), _ogg(7000, 21)]
    with FakeLLM("openai") as llm:
        alice = tg.user(ALICE, "Alice", "alice")
        tg.inject("getFile", "status", 500, "Internal Server Error")  # the first try
        tg.file_faults.append(502)  # the second try's download
        tg.send_voice(alice, notes[0])
        stt.reply_text("first")
        llm.reply_text("answer first")
        tg.send_voice(alice, notes[1])
        stt.reply_text("second")
        llm.reply_text("answer second")
        _run(_config(tg, llm, stt), cycles=6)
        assert not llm.errors
    assert [u["data"] for u in stt.uploads] == notes  # each transcribed once, byte for byte
    assert [d["status"] for d in tg.downloads] == [502, 200, 200]
    assert len([r for r in tg.requests if r["method"] == "getFile"]) == 4  # 500, then 2 tries, then note 2
    assert _texts(tg)[-2:] == ["answer first", "answer second"]
    assert not tg.pending_updates()
