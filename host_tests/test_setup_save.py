"""portal/save.py: config.json written from the setup page's values, in both of PicoClaw's
formats, every key the page does not set kept with its value as the file had it (numbers as
written, long strings, unknown keys, nested objects and arrays), the result loading with
config.load and passing config.check; the old file untouched when anything fails (a full
flash, an old file that is not JSON, a key too long to copy). Run on CPython, and the same
saves from .mpy on the unix port, which must write the same bytes."""
import copy
import json
import os
import stat

import pytest

import unixport
from picoclaw import config
from picoclaw.agent import setup as agent_setup
from picoclaw.portal import save
from test_config import ORIGINAL, VERSION3

VALUES = {"ssid": "home net", "wifi_password": 'pa"ss\\wörd', "token": "123456:NEW-token_x",
          "provider": "openai", "api_base": "", "api_key": "sk-new-key", "model": "gpt-4o", "owner": "777"}

# a PicoClaw config with keys this firmware never reads, deep nesting, every JSON type and
# numbers whose text a re-encoding would change
PICOCLAW = {
    "version": 3,
    "channel_list": {"telegram": {"enabled": True, "type": "telegram", "allow_from": ["1"],
                                  "settings": {"token": "1:old", "base_url": "https://tg.example/x",
                                               "proxy": "", "allow_from": ["2"]}},
                     "discord": {"enabled": False, "settings": {"token": "d", "intents": "@NUMBERS@"}}},
    "model_list": [{"model_name": "old", "model": "openai/gpt-3.5", "api_keys": ["sk-old"],
                    "rpm": 3, "extra_body": {"a": [None, True, False, {"b": []}]}}],
    "agents": {"defaults": {"model_name": "old", "workspace": "ws", "temperature": "@ONE@",
                            "max_tokens": 1000, "context_window": 131072, "unknown": {}}},
    "tls": {"ca_file": "ca.pem"},
    "gateway": {"host": "0.0.0.0", "port": 18790},
    "tools": {"web": {"brave": {"enabled": False, "api_key": "", "max_results": 5}}},
    "heartbeat": {"enabled": False, "interval": 30},
    "prompt": "é\u00e9\u2603 \U0001F600 \" \\ \n\t\u0001" + "long " * 400,  # > the 256-byte buffer
}


def _write(tmp_path, cfg, raw=None):
    p = str(tmp_path / "config.json")
    with open(p, "w", encoding="utf-8") as f:
        # numbers as json.dumps never writes them (2.50, -3e2, 1E+3, 1.0): kept as written
        f.write(raw if raw is not None else json.dumps(cfg, indent=1).replace(
            '"@NUMBERS@"', "[1, 2.50, -3e2, 1E+3, 0.0, -0]").replace('"@ONE@"', "1.0"))
    return p


def _text_numbers(s):
    # numbers kept as the file wrote them: 1.0 and 1e3 stay themselves
    return json.loads(s, parse_float=lambda t: ("num", t), parse_int=lambda t: ("num", t))


def _num(v):
    return ("num", str(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _expected(old, values):
    """The old config (numbers as their text) with the page's values put in, as save.write
    must write it."""
    e = copy.deepcopy(old) if old is not None else None
    v = values
    owner = [v["owner"]] if v["owner"] else []
    base = v["api_base"].rstrip("/") or agent_setup.default_base(v["provider"])
    e.setdefault("wifi", {}).update(ssid=v["ssid"], password=v["wifi_password"])
    if "channels" in e and "channel_list" not in e:  # the original format
        tg = e["channels"].setdefault("telegram", {})
        tg.update(enabled=True, token=v["token"], allow_from=owner)
        d = e.setdefault("agents", {}).setdefault("defaults", {})
        d.pop("model_name", None)
        if v["provider"] == "none":
            e.pop("providers", None)
            d.pop("provider", None)
            d.pop("model", None)
        else:
            e.setdefault("providers", {}).setdefault(v["provider"], {}).update(api_key=v["api_key"], api_base=base)
            d.update(provider=v["provider"], model=v["model"])
    else:
        tg = e.setdefault("channel_list", {}).setdefault("telegram", {})
        tg["enabled"] = True
        tg["allow_from"] = owner
        tg.setdefault("settings", {})["token"] = v["token"]
        tg["settings"].pop("allow_from", None)
        d = e.setdefault("agents", {}).setdefault("defaults", {})
        if v["provider"] == "none":
            e["model_list"] = []
            d.pop("model_name", None)
            e.pop("providers", None)
        else:
            proto = "openai" if v["provider"] == "custom" else v["provider"]
            e["model_list"] = [{"model_name": v["model"], "model": "%s/%s" % (proto, v["model"]),
                                "api_keys": [v["api_key"]] if v["api_key"] else [], "api_base": base}]
            d["model_name"] = v["model"]
    return _numbers_as_text(e)


def _numbers_as_text(o):
    if isinstance(o, dict):
        return {k: _numbers_as_text(x) for k, x in o.items()}
    if isinstance(o, list):
        return [_numbers_as_text(x) for x in o]
    return _num(o)


def _old_as_text(p):
    # the old file as the expected result starts from: its numbers as their text
    with open(p, encoding="utf-8") as f:
        return _text_numbers(f.read())


CASES = [
    ("original", ORIGINAL, VALUES),
    ("version3", VERSION3, VALUES),
    ("picoclaw", PICOCLAW, VALUES),
    ("original-echo", ORIGINAL, dict(VALUES, provider="none", api_key="", model="", owner="")),
    ("version3-echo", VERSION3, dict(VALUES, provider="none", api_key="", model="", owner="")),
    ("anthropic", VERSION3, dict(VALUES, provider="anthropic", api_key="sk-ant", model="claude-x")),
    ("custom", ORIGINAL, dict(VALUES, provider="custom", api_base="http://192.168.1.5:8080/v1/",
                              api_key="", model="local")),
    ("custom-v3", PICOCLAW, dict(VALUES, provider="custom", api_base="http://192.168.1.5:8080/v1",
                                 api_key="", model="org/local")),
    ("wifi-only", {"wifi": None, "agents": {"defaults": {"workspace": "w"}}}, VALUES),
]


@pytest.mark.parametrize("name,old,values", CASES, ids=[c[0] for c in CASES])
def test_save_puts_the_values_in_and_keeps_every_other_key(tmp_path, name, old, values):
    (tmp_path / "ca.pem").write_bytes(_ca())  # PICOCLAW's tls.ca_file: config.check reads it
    p = _write(tmp_path, old)
    before = _old_as_text(p)
    save.write(p, values)
    with open(p, encoding="utf-8") as f:
        text = f.read()
    got = _text_numbers(text)
    if name == "wifi-only":
        before["wifi"] = {}
    assert got == _expected(before, values)
    assert not os.path.exists(p + ".tmp")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600  # it holds the token and the keys
    c = config.load(p)
    config.check(c)
    assert (c.token, c.wifi_ssid, c.wifi_password) == (values["token"], values["ssid"], values["wifi_password"])
    assert list(c.allow_from) == ([values["owner"]] if values["owner"] else [])
    if values["provider"] == "none":
        assert not c.provider and not c.providers  # an echo bot
    else:
        base = agent_setup.pick(c)
        assert (c.api_key, c.model) == (values["api_key"], values["model"])  # "org/local" whole
        assert base == (values["api_base"].rstrip("/") or agent_setup.default_base(values["provider"]))
    if old and "base_url" in json.dumps(old):
        assert c.base_url == "https://tg.example" + ("/x" if name in ("picoclaw", "custom-v3") else "")


_CAS = []


def _ca():
    if not _CAS:
        import trustme

        _CAS.append(trustme.CA().cert_pem.bytes())
    return _CAS[0]


def test_no_old_file_writes_the_onboard_template_filled_in(tmp_path):
    p = str(tmp_path / "config.json")
    save.write(p, VALUES)
    with open(p) as f:
        raw = json.load(f)
    assert raw["version"] == 3 and raw["agents"]["defaults"]["workspace"] == "workspace"
    assert raw["channel_list"]["telegram"]["settings"] == {"token": VALUES["token"], "poll_timeout": 30,
                                                           "base_url": "https://api.telegram.org"}
    assert raw["model_list"] == [{"model_name": "gpt-4o", "model": "openai/gpt-4o", "api_keys": ["sk-new-key"],
                                  "api_base": "https://api.openai.com/v1"}]
    c = config.load(p)
    config.check(c)
    assert agent_setup.pick(c) == "https://api.openai.com/v1" and c.workspace == str(tmp_path / "workspace")


def test_a_voice_entry_that_goes_with_the_old_model_list_is_not_left_dangling(tmp_path):
    old = dict(VERSION3, voice={"model_name": "claude", "echo_transcription": True})
    p = _write(tmp_path, old)
    save.write(p, VALUES)
    with open(p) as f:
        raw = json.load(f)
    assert raw["voice"] == {"echo_transcription": True}
    c = config.load(p)
    agent_setup.media(c)  # would raise: voice.model_name "claude" is not in model_list
    # the same name as the new model: kept
    p = _write(tmp_path, dict(VERSION3, voice={"model_name": "gpt-4o"}))
    save.write(p, VALUES)
    with open(p) as f:
        assert json.load(f)["voice"] == {"model_name": "gpt-4o"}


class _FullFlash:
    """open() of a flash that fills up: writes to the temp file fail with ENOSPC after
    `room` bytes."""

    def __init__(self, room):
        self.room = room

    def __call__(self, path, mode="r"):
        f = open(path, mode)
        if "w" not in mode:
            return f
        real = f.write
        opener = self

        def write(data):
            if opener.room < len(data):
                raise OSError(28, "No space left on device")
            opener.room -= len(data)
            return real(data)

        f.write = write
        return f


@pytest.mark.parametrize("room", [0, 50, 400])
def test_a_full_flash_leaves_the_old_file_as_it_was(tmp_path, room):
    p = _write(tmp_path, PICOCLAW)
    with open(p, "rb") as f:
        before = f.read()
    with pytest.raises(save.SaveError) as e:
        save.write(p, VALUES, opener=_FullFlash(room))
    line = str(e.value)
    assert "\n" not in line and "the flash is full" in line
    with open(p, "rb") as f:
        assert f.read() == before
    assert not os.path.exists(p + ".tmp")


@pytest.mark.parametrize("raw,says", [
    ('{"wifi": {"ssid": "x"}', "is not valid JSON"),
    ('{"a": 1} trailing', "is not valid JSON"),
    ('{"%s": 1}' % ("k" * 300), "config.json has a key over 256 bytes"),
    ('{"n": %s}' % ("1" * 300), "config.json has a number over 256 bytes"),
    ('[1, 2]', "is not valid JSON"),
    ('{"a": %s1%s}' % ("[" * 20, "]" * 20), "nests deeper than 16 levels"),
    # valid JSON that config.load refuses (a wrong type): the server tells the save (fresh)
    ('{"channels": {"telegram": {"poll_timeout": "30"}}}', "is one the firmware cannot read"),
])
def test_an_old_file_the_firmware_cannot_use_is_kept_aside_and_a_new_one_written(tmp_path, raw, says):
    # most likely why setup mode started: the page must still be able to end it
    p = _write(tmp_path, None, raw)
    fresh = "cannot read" in says
    if fresh:
        with pytest.raises(config.ConfigError):
            config.load(p)
    from picoclaw import log

    lines = []
    old, log.file = log.file, lines.append
    try:
        save.write(p, VALUES, fresh)
    finally:
        log.file = old
    with open(p + ".bad") as f:
        assert f.read() == raw  # kept for its owner, byte for byte
    assert any(says in line and ".bad" in line for line in lines), lines
    c = config.load(p)  # the new one: the template with the page's values
    config.check(c)
    assert c.token == VALUES["token"] and c.wifi_ssid == VALUES["ssid"] and c.poll_timeout == 30
    assert not os.path.exists(p + ".tmp")


def test_the_unix_port_writes_the_same_bytes_from_mpy(tmp_path):
    """The same saves from .mpy on the unix port in a 64k heap: the same file as CPython's."""
    unixport.build()
    for name, old, values in CASES:
        d = tmp_path / name
        d.mkdir()
        (d / "ca.pem").write_bytes(_ca())
        p = _write(d, old)
        mine = str(d / "mine.json")
        with open(p) as f, open(mine, "w") as g:
            g.write(f.read())
        save.write(mine, values)
        vals = str(d / "values.json")
        with open(vals, "w") as f:
            json.dump(values, f)
        r = unixport.run([os.path.join(unixport.HERE, "mp_setup_steps.py"), "save", p, vals], heap="64k")
        assert r.returncode == 0 and "saved" in r.stdout, (name, r.stdout + r.stderr)
        assert "left loaded: []" in r.stdout, r.stdout
        with open(p, "rb") as f, open(mine, "rb") as g:
            assert f.read() == g.read(), name
