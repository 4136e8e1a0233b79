"""File messages on CPython against the fake Telegram: how telegram/api.py and
telegram/files.py record voice notes, audio, photos and documents in the inbox (the caption,
then the descriptor, whatever the key order), and agent/media.py's photo intake (the largest
size under the cap, fetched byte for byte to flash once, a retry not fetching it again,
written by agent/photo.append_image) and media quota. The voice path end to end is in
test_voice.py."""
import json
import os
import types

from fakes.telegram_server import FakeTelegram
from picoclaw import app
from picoclaw.agent import media
from picoclaw.agent.session import Session
from picoclaw.net import trust
from picoclaw.net.http import Connection
from picoclaw.telegram.api import Telegram
from picoclaw.telegram.inbox import read_inbox

ALICE = 111
_MEDIA = 16
_HAS_TEXT = 2


def _client(fake):
    conn = Connection(app.split_url(fake.base_url), bytearray(512), trust.context(fake.ca_pem_path))
    return Telegram(conn, fake.token)


def _records(client, tmp_path):
    """[(Update, its text bytes, its descriptor or None)] of one getUpdates."""
    path = str(tmp_path / "inbox")
    client.get_updates(0, 0, 100, path)
    out = []
    with open(path, "rb") as f:
        for u in read_inbox(f):
            pos = f.tell()
            f.seek(u.text_offset)
            text = f.read(u.text_len)
            d = None
            if u.flags & _MEDIA:  # the last 256 bytes: kind file_id file_size mime_type file_unique_id
                f.seek(u.text_offset + u.text_len - 256)
                k, fid, size, mime, uid = f.read(256).decode().split()
                d = (k, fid, int(size), mime, uid, u.text_len - 256)
            f.seek(pos)
            out.append((u, text, d))
    return out


def test_file_messages_become_records_with_a_descriptor_after_the_caption(tmp_path):
    with FakeTelegram() as fake:
        alice = fake.user(ALICE, "Alice", "alice")
        fake.send_voice(alice, b"OggS" + bytes(5000), caption="listen")
        fake.send_audio(alice, bytes(7000))
        small, mid, large = os.urandom(1000), os.urandom(30000), os.urandom(90000)
        fake.send_photo(alice, caption="my cat \U0001F431", sizes=[small, mid, large])
        fake.send_document(alice, b"\x89PNG" + bytes(300), caption="a chart")
        fake.send_document(alice, b"%PDF-1.7", file_name="a.pdf", mime_type="application/pdf", caption="pdf")
        # the caption before the file, and a video's caption: keys in any order, no file to take
        fid, uid = fake.add_file(os.urandom(2000), "photos", "jpg")
        fake.send_raw_update('{"update_id":{update_id},"message":{"message_id":9,"caption":"first",'
                             '"from":{"id":111,"is_bot":false,"first_name":"A"},"chat":{"id":111,"type":"private"},'
                             '"date":1,"photo":[{"file_id":"%s","file_unique_id":"%s","file_size":2000,'
                             '"width":90,"height":90}]}}' % (fid, uid))
        fake.send_raw_update('{"update_id":{update_id},"message":{"message_id":10,"caption":"a video",'
                             '"from":{"id":111,"is_bot":false,"first_name":"A"},"chat":{"id":111,"type":"private"},'
                             '"date":1,"video":{"file_id":"BAAC","file_unique_id":"AgAD","width":1,"height":1,'
                             '"duration":1}}}')
        fake.send_text(alice, "plain text after them")
        client = _client(fake)
        client.cap = 64 * 1024  # the photo size picked: the largest under it (30000 bytes)
        recs = _records(client, tmp_path)
    kinds = [d[0] if d else None for _, _, d in recs]
    assert kinds == ["voice", "audio", "photo", "document", None, "photo", None, None]
    voice, audio, photo, doc, pdf, first, video, text = recs
    assert voice[2][2:4] == (5004, "audio/ogg") and voice[1][:voice[2][5]] == b"listen"
    assert audio[2][3] == "audio/mpeg" and audio[2][5] == 0
    assert photo[2][2] == 30000 and photo[1][:photo[2][5]] == "my cat \U0001F431".encode()
    assert doc[2][3] == "image/png" and doc[1][:doc[2][5]] == b"a chart"
    assert first[2][1:3] == (fid, 2000) and first[1][:first[2][5]] == b"first"
    for u, t, _ in (pdf, video):  # recorded, but neither text nor a file: the gateway skips them
        assert not u.flags & (_MEDIA | _HAS_TEXT)
    assert text[0].flags & _HAS_TEXT and text[1] == b"plain text after them"
    for u, _, d in recs[:4]:
        assert u.flags & _MEDIA and not u.flags & _HAS_TEXT and d[4]


def test_a_photo_over_every_cap_gets_the_smallest_size(tmp_path):
    with FakeTelegram() as fake:
        alice = fake.user(ALICE, "Alice", "alice")
        fake.send_photo(alice, sizes=[os.urandom(5000), os.urandom(9000)])
        client = _client(fake)
        client.cap = 4000
        ((u, _, d),) = _records(client, tmp_path)
    assert d[2] == 5000  # the agent says it is too big


def _agent(client, tmp_path, cap=1 << 20, quota_kb=1024):
    ws = tmp_path / "ws"
    (ws / "state").mkdir(parents=True, exist_ok=True)
    return types.SimpleNamespace(tg=client, media=(cap, quota_kb, None, False), workspace=str(ws),
                                 state_dir=str(ws / "state"), buf=bytearray(128), linebuf=bytearray(256),
                                 small=bytearray(128))


def _intake(a, s, tmp_path):
    path = str(tmp_path / "inbox")
    a.tg.get_updates(0, 0, 100, path)
    got = []
    with open(path, "rb") as f:
        for u in list(read_inbox(f)):
            got.append(media.intake(a, s, u, f))
    return got


def test_a_photo_is_fetched_once_byte_for_byte_and_handed_to_the_session(tmp_path):
    with FakeTelegram() as fake:
        alice = fake.user(ALICE, "Alice", "alice")
        sizes = [os.urandom(1500), os.urandom(40000), os.urandom(120000), os.urandom(700000)]
        fake.send_photo(alice, caption="what is this?", sizes=sizes)
        client = _client(fake)
        client.cap = 200 * 1024
        a = _agent(client, tmp_path, cap=200 * 1024)
        s = Session(a.workspace, ALICE, 20000)
        assert _intake(a, s, tmp_path) == [True]
        s.end_turn()
        assert _intake(a, s, tmp_path) == [True]  # the update again (a retry): not fetched again
        assert len(fake.downloads) == 1 and len([r for r in fake.requests if r["method"] == "getFile"]) == 1
    with open(s.path) as f:
        first, again = [json.loads(line)["u"] for line in f]
    rel, caption = first
    assert caption == "what is this?" and again == first  # the session keeps the reference only
    assert rel.startswith("media/") and rel.endswith(".jpg")
    with open(os.path.join(a.workspace, rel), "rb") as f:
        assert f.read() == sizes[2]  # the largest size under the cap, whole
    assert not os.path.exists(os.path.join(a.workspace, rel + ".part"))


def test_what_telegram_will_not_give_is_said_in_one_line(tmp_path):
    with FakeTelegram() as fake:
        alice = fake.user(ALICE, "Alice", "alice")
        fake.send_photo(alice, sizes=[os.urandom(3000)])
        fid = list(fake.files)[-1]
        fake.files.pop(fid)  # getFile: 400 invalid file_id
        fake.send_document(alice, os.urandom(300000), caption="big")  # over the cap in the message
        fake.send_photo(alice, sizes=[os.urandom(3000)])
        fake.file_faults.append(403)  # the file server refuses
        client = _client(fake)
        a = _agent(client, tmp_path, cap=200 * 1024)
        assert _intake(a, Session(a.workspace, ALICE, 20000), tmp_path) == [False, False, False]
        texts = [x["params"]["text"] for x in fake.sent]
    assert texts == ["Sorry, Telegram would not give me this image (Bad Request: invalid file_id).",
                     "Sorry, this image is 293 KB, and I take files of up to 200 KB (agents.defaults.max_media_size).",
                     "Sorry, Telegram's file server would not send this image (HTTP 403)."]


def test_the_media_quota_drops_the_oldest_files_first(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    for i, name in enumerate(["c.jpg", "a.ogg", "b.jpg"]):
        p = folder / name
        p.write_bytes(bytes(400))
        os.utime(p, (1000 + i, 1000 + i))
    media.make_room(str(folder), 500, 1000)  # 1200 used: c (oldest) and a go, b stays
    assert sorted(os.listdir(folder)) == ["b.jpg"]
    media.make_room(str(tmp_path / "new"), 10, 1000)  # no folder yet: made
    assert os.path.isdir(tmp_path / "new")


def test_a_photo_reaches_the_model_end_to_end_on_the_unix_port():
    """The real gateway from .mpy: the photo's largest size under the cap fetched, and the
    model gets it byte for byte with its caption; an image document too; the next text is
    answered."""
    import gatewayrun
    from fakes.llm_server import FakeLLM

    with FakeTelegram() as fake, FakeLLM("openai") as llm:
        alice = fake.user(ALICE, "Alice", "alice")
        jpeg = [b"\xff\xd8\xff\xe0" + os.urandom(n) for n in (1200, 20000, 90000, 700000)]
        fake.send_photo(alice, caption="what is in this photo?", sizes=jpeg)
        llm.reply_text("A cat on a sofa.")
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
        fake.send_document(alice, png, caption="and this chart?")
        llm.reply_text("Sales going up.")
        fake.send_text(alice, "thanks")
        llm.reply_text("You're welcome.")
        cfg = gatewayrun.write_config(fake, llm=llm, agent={"stream": False})  # the cap: 640 KB
        r = gatewayrun.run(cfg, cycles=3, heap="128k")
        assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-2000:]
        assert not llm.errors, llm.errors
        (img,) = llm.requests[0]["images"]
        assert img["data"] == jpeg[2] and img["media_type"] == "image/jpeg"  # the largest under 640 KB
        assert "what is in this photo?" in json.dumps(llm.requests[0]["body"]["messages"][-1])
        assert llm.requests[1]["images"][-1]["data"] == png
        assert [d["bytes"] for d in fake.downloads] == [len(jpeg[2]), len(png)]
        texts = [s["result"]["text"] for s in fake.sent if s["method"] in ("sendMessage", "editMessageText")]
    assert texts[-1] == "You're welcome." and "A cat on a sofa." in texts and "Sales going up." in texts
