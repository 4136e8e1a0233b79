"""config.json in both of PicoClaw's formats, the model pick, one-line config errors in every
command, --help, onboard, and the time zone math against CPython's zone database.

The loader and the pick run on CPython (fast, many cases); every error a user can meet is
also run through the unix-port CLI exactly as a user types it (`micropython -m picoclaw
<command> --config FILE`), where it must be one line, no traceback, exit status 2.
"""
import json
import os
import stat

import pytest

import gatewayrun
import unixport
from picoclaw import config, zone
from picoclaw.cmd import onboard
from picoclaw.agent import setup as providers

TG = {"token": "123:abc", "allow_from": ["111"]}


def _write(tmp_path, cfg, name="config.json"):
    p = tmp_path / name
    p.write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)
    return str(p)


def _load(tmp_path, cfg):
    return config.load(_write(tmp_path, cfg))


def _err(f, *args):
    with pytest.raises(ValueError) as e:
        f(*args)
    return str(e.value)


def _pick(tmp_path, cfg):
    c = _load(tmp_path, cfg)
    base = providers.pick(c)
    return c, base


# -- the two formats --------------------------------------------------------------------------
ORIGINAL = {
    "channels": {"telegram": {"token": "123:abc", "allow_from": ["111", "@bob"],
                              "base_url": "https://tg.example"}},
    "providers": {"openai": {"api_key": "sk-1", "api_base": "https://llm.example/v1"}},
    "agents": {"defaults": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 99}},
}
VERSION3 = {
    "version": 3,
    "channel_list": {"telegram": {"enabled": True, "type": "telegram", "allow_from": ["111", "@bob"],
                                  "settings": {"token": "123:abc", "base_url": "https://tg.example",
                                               "proxy": "", "streaming": {"enabled": True}}}},
    "model_list": [
        {"model_name": "mini", "model": "openai/gpt-4o-mini", "api_keys": ["sk-1", "sk-2"],
         "api_base": "https://llm.example/v1", "thinking_level": "high", "extra_body": {"a": [1]}},
        {"model_name": "claude", "model": "anthropic/claude-x", "api_keys": ["sk-ant"]},
    ],
    "agents": {"defaults": {"model_name": "mini", "max_tokens": 99, "context_window": 131072}},
}


def test_both_formats_give_the_same_settings(tmp_path):
    got = []
    for cfg in (ORIGINAL, VERSION3):
        c, base = _pick(tmp_path, cfg)
        got.append((c.token, sorted(c.allow_ids), sorted(c.allow_names), c.base_url, c.max_tokens,
                    c.provider_kind, base, c.api_key, c.model, getattr(c, "telegram_on", True)))
    assert got[0] == got[1] == ("123:abc", [111], ["bob"], "https://tg.example", 99, "openai",
                                "https://llm.example/v1", "sk-1", "gpt-4o-mini", True)


def test_version3_model_entries(tmp_path):
    def pick(entries, **defaults):
        c, base = _pick(tmp_path, {"model_list": entries, "agents": {"defaults": defaults}})
        return c.provider_kind, base, c.api_key, c.model

    # "protocol/model": the protocol's default api_base; the rest is the model's id
    assert pick([{"model_name": "d", "model": "deepseek/deepseek-chat", "api_key": "k"}]) == \
        ("openai", "https://api.deepseek.com/v1", "k", "deepseek-chat")
    assert pick([{"model_name": "n", "model": "openrouter/z-ai/glm-4.6", "api_keys": ["k"]}]) == \
        ("openai", "https://openrouter.ai/api/v1", "k", "z-ai/glm-4.6")
    # PicoClaw's anthropic-messages example has no /v1 in its api_base
    assert pick([{"model_name": "o", "model": "anthropic-messages/claude-opus-4-6", "api_keys": ["k"],
                  "api_base": "https://api.anthropic.com"}]) == \
        ("anthropic", "https://api.anthropic.com/v1", "k", "claude-opus-4-6")
    # an explicit provider: the model id is kept whole; no prefix: openai
    assert pick([{"model_name": "p", "provider": "groq", "model": "openai/gpt-oss-20b", "api_keys": ["k"]}]) == \
        ("openai", "https://api.groq.com/openai/v1", "k", "openai/gpt-oss-20b")
    assert pick([{"model_name": "q", "model": "gpt-4o", "api_keys": ["k"]}])[1:] == \
        ("https://api.openai.com/v1", "k", "gpt-4o")
    # PicoClaw's older agents.defaults.model names the entry too; a repeated name: the first
    two = [{"model_name": "a", "model": "openai/x", "api_keys": ["k1"]},
           {"model_name": "b", "model": "openai/y", "api_keys": ["k2"]},
           {"model_name": "b", "model": "openai/z", "api_keys": ["k3"]}]
    assert pick(two, model="b")[2:] == ("k2", "y")
    assert pick(two, model_name="a")[2:] == ("k1", "x")
    # a local model needs no key
    assert pick([{"model_name": "l", "model": "ollama/llama3"}])[1:] == ("http://localhost:11434/v1", "", "llama3")


def test_a_second_pick_finds_the_same_model(tmp_path):
    # the start-up check picks, then resolve() picks again in app.build
    c = _load(tmp_path, {"model_list": VERSION3["model_list"], "agents": {"defaults": {"model": "claude"}}})
    assert providers.pick(c) == providers.pick(c) == "https://api.anthropic.com/v1"
    assert c.model == "claude-x"


@pytest.mark.parametrize("cfg, says", [
    # several candidates and none named: an error naming them, never the alphabetical first
    ({"providers": {"openai": {"api_key": "k"}, "anthropic": {"api_key": ""}},
      "agents": {"defaults": {"model": "glm-4"}}},
     "2 providers are configured (anthropic, openai) and agents.defaults.provider names none: set it to one of them"),
    ({"model_list": VERSION3["model_list"]},
     "model_list has 2 models (claude, mini) and agents.defaults.model_name names none: set it to one of them"),
    ({"model_list": VERSION3["model_list"], "agents": {"defaults": {"model_name": "gpt"}}},
     'agents.defaults.model_name "gpt" is not in model_list (its model_name entries: claude, mini)'),
    ({"providers": {"opneai": {"api_key": "k"}}, "agents": {"defaults": {"model": "m"}}},
     'providers.opneai: unknown provider "opneai" (known: openai, anthropic, anthropic-messages, '
     "openrouter, groq, deepseek, gemini, ollama); fix the name, or set providers.opneai.api_base"),
    ({"model_list": [{"model_name": "glm", "model": "zhipu/glm-4", "api_keys": ["k"]}]},
     'model_list entry glm: unknown provider "zhipu" (known: openai,'),
    ({"providers": {"openai": {"api_key": "k"}}}, "agents.defaults.model is not set"),
    ({"providers": {"openai": {"api_key": ""}}, "agents": {"defaults": {"model": "m"}}},
     "providers.openai has no API key: set providers.openai.api_key"),
    ({"model_list": [{"model_name": "m", "model": "openai/x", "api_keys": [""]}]},
     "model_list entry m has no API key: set its api_keys"),
    ({"providers": {"x": {"api_key": "k", "api_base": "llm.example"}}, "agents": {"defaults": {"model": "m"}}},
     "providers.x: api_base must start with https:// or http://"),
])
def test_model_errors_name_the_key_and_the_fix(tmp_path, cfg, says):
    assert says in _err(_pick, tmp_path, cfg)


@pytest.mark.parametrize("cfg, says", [
    ({"model_list": {"a": 1}}, "model_list must be a list of models, got an object"),
    ({"model_list": [3]}, "model_list[0] must be an object, got a number"),
    ({"model_list": [{"model": "openai/x"}]}, "model_list[0] has no model_name"),
    ({"model_list": [{"model_name": "a"}]}, 'model_list[0] (a) has no model: set it to "protocol/model"'),
    ({"model_list": [{"model_name": "a", "model": "x", "api_keys": "k"}]},
     "model_list[0].api_keys must be a list of strings, got a string"),
    ({"model_list": [{"model_name": "a", "model": "x", "api_keys": [1]}]},
     "model_list[0].api_keys must be a list of strings"),
    ({"channel_list": {"telegram": {"settings": {"token": 5}}}},
     "channel_list.telegram.settings.token must be a string, got a number"),
    ({"channel_list": {"telegram": {"allow_from": "111"}}}, "channel_list.telegram.allow_from must be a list"),
    ({"channel_list": {"telegram": {"enabled": "no"}}}, "channel_list.telegram.enabled must be true or false"),
])
def test_version3_wrong_types_name_the_key(tmp_path, cfg, says):
    assert says in _err(_load, tmp_path, cfg)


def test_the_telegram_channel_disabled_stops_the_gateway_not_the_agent(tmp_path):
    for cfg, key in (({"channels": {"telegram": dict(TG, enabled=False)}}, "channels.telegram.enabled"),
                     ({"version": 3, "channel_list": {"telegram": {"enabled": False, "settings": {"token": "1:x"}}}},
                      "channel_list.telegram.enabled")):
        c = _load(tmp_path, cfg)
        assert c.telegram_on is False
        assert "config: %s is false, and Telegram is this bot's only channel" % key in _err(config.check, c)
        config.check(c, False)  # the agent command has no channel
    c = _load(tmp_path, {"channels": {"telegram": dict(TG, enabled=True)}})
    assert not hasattr(c, "telegram_on")  # set only when false: no name interned for good
    config.check(c)


def test_version3_errors_name_version3_keys(tmp_path):
    c = _load(tmp_path, {"version": 3, "channel_list": {"telegram": {"settings": {"token": ""}}}})
    assert "channel_list.telegram.settings.token is not set" in _err(config.check, c)
    c = _load(tmp_path, {"channels": {"telegram": {"token": "x"}}})
    assert "channels.telegram.token does not look like a bot token" in _err(config.check, c)
    # PicoClaw writes "base_url": "" for the default
    assert _load(tmp_path, VERSION3 | {"channel_list": {"telegram": {"settings": {"base_url": ""}}}}).base_url \
        == "https://api.telegram.org"


def test_relative_paths_are_the_config_folders_wherever_the_command_runs(tmp_path, monkeypatch):
    d = tmp_path / "conf"
    d.mkdir()
    ca = d / "ca.pem"
    trustme = pytest.importorskip("trustme")
    trustme.CA().cert_pem.write_to_path(str(ca))
    p = _write(d, {"channels": {"telegram": TG}, "tls": {"ca_file": "ca.pem"},
                   "agents": {"defaults": {"workspace": "ws"}}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = config.load(p)
    assert c.ca_file == str(ca) and c.workspace == str(d / "ws")
    config.check(c)  # the file is found and holds certificates
    monkeypatch.chdir(d)
    c = config.load("config.json")  # a relative config path: relative to here, as before
    assert c.ca_file == "ca.pem" and c.workspace == "ws"


@pytest.mark.parametrize("content, says", [
    (None, "does not exist: it must be a file of CA certificates, PEM (-----BEGIN CERTIFICATE-----) or DER"),
    (b"garbage\n", "no certificate found (want PEM or DER); it must be a file of CA certificates"),
    (b"\x30" + bytes(range(200)), "it must be a file of CA certificates"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "unterminated certificate in PEM"),
])
def test_a_bad_ca_file_is_one_line_naming_the_file(tmp_path, content, says):
    if content is not None:
        (tmp_path / "ca.pem").write_bytes(content)
    c = _load(tmp_path, {"channels": {"telegram": TG}, "tls": {"ca_file": "ca.pem"}})
    e = _err(config.check, c)
    assert e.startswith("config: tls.ca_file %s" % (tmp_path / "ca.pem")) and says in e and "\n" not in e


def test_a_bad_timezone_is_a_config_error(tmp_path):
    c = _load(tmp_path, {"channels": {"telegram": TG}, "providers": {"ollama": {}},
                         "agents": {"defaults": {"model": "m", "timezone": "Europe/Berlin"}}})
    config.check(c)  # the agent's side: providers.pick, at its start-up and in status
    e = _err(providers.pick, c)
    assert e.startswith("config: agents.defaults.timezone: \"Europe/Berlin\": zone names need a zone "
                        "database") and "CET-1CEST,M3.5.0,M10.5.0/3" in e


# -- onboard ------------------------------------------------------------------------------
def test_onboard_writes_version3_private_and_loadable(tmp_path):
    p = str(tmp_path / "sub" / "config.json")
    onboard.onboard(p, str(tmp_path / "sub" / "workspace"))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    with open(p) as f:
        raw = json.load(f)
    assert raw["version"] == 3 and "channel_list" in raw and "model_list" in raw
    assert raw["agents"]["defaults"]["workspace"] == "workspace"  # the config's folder's
    c = config.load(p)
    assert c.workspace == str(tmp_path / "sub" / "workspace")
    assert providers.pick(c, True) == "https://api.openai.com/v1" and c.model == "gpt-4o-mini"
    assert "model_list entry gpt-4o-mini has no API key" in _err(providers.pick, c)


# -- time zones against CPython's database -----------------------------------------------
# the POSIX rule at the end of each zone's tzdata file
ZONES = {"Europe/Berlin": "CET-1CEST,M3.5.0,M10.5.0/3", "America/New_York": "EST5EDT,M3.2.0,M11.1.0",
         "Australia/Sydney": "AEST-10AEDT,M10.1.0,M4.1.0/3", "Europe/London": "GMT0BST,M3.5.0/1,M10.5.0",
         "America/Santiago": "<-04>4<-03>,M9.1.6/24,M4.1.6/24", "Asia/Kolkata": "IST-5:30",
         "Pacific/Chatham": "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45"}


@pytest.mark.parametrize("name", sorted(ZONES))
def test_zone_offsets_match_the_zone_database(name):
    zoneinfo = pytest.importorskip("zoneinfo")
    from datetime import datetime, timezone

    try:
        tz = zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tzdata for " + name)
    z = zone.parse(ZONES[name])
    # every 7 hours 13 minutes over 2025-2027: both sides of every change, at many hours
    for t in range(1735689600, 1830297600, 7 * 3600 + 13 * 60):
        want = int(datetime.fromtimestamp(t, timezone.utc).astimezone(tz).utcoffset().total_seconds())
        assert zone.offset(z, t) == want, (name, t)
        assert zone.utc(z, t + want) == t or zone.offset(z, t - 3600) != want, (name, t)  # round trip
    for t in range(1735689600, 1830297600, 86400):  # around each change, to the second
        o0, o1 = zone.offset(z, t), zone.offset(z, t + 86400)
        if o0 != o1:
            lo, hi = t, t + 86400
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if zone.offset(z, mid) == o0 else (lo, mid)
            for u in (hi - 1, hi):
                want = int(datetime.fromtimestamp(u, timezone.utc).astimezone(tz).utcoffset().total_seconds())
                assert zone.offset(z, u) == want, (name, u)


@pytest.mark.parametrize("spec, want", [
    ("", (0,)), ("UTC", (0,)), ("z", (0,)), ("+02:00", (7200,)), ("-0530", (-19800,)), ("UTC+2", (7200,)),
    ("GMT-3", (-10800,)), ("UTC+05:45", (20700,)), ("JST-9", (32400,)), ("EST5", (-18000,)),
    ("CET-1CEST,M3.5.0,M10.5.0/3", (3600, 7200, (3, 5, 0, 7200), (10, 5, 0, 10800))),
    ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", (-10800, -7200, (3, 5, 0, -7200), (10, 5, 0, -3600))),
])
def test_zone_strings(spec, want):
    assert zone.parse(spec) == want


@pytest.mark.parametrize("spec, says", [
    ("Europe/Berlin", "zone names need a zone database"), ("+25", "not on Earth"), ("CET", "has no offset"),
    ("CET-1CEST", "needs two rules"), ("CET-1CEST,J60,M10.5.0", "is not Mmonth.week.weekday"),
    ("CET-1CEST,M13.5.0,M10.5.0", "out of range"), ("+2x", "is not an offset like +02:00"), ("ab", "not a zone"),
])
def test_bad_zone_strings(spec, says):
    assert says in _err(zone.parse, spec)


# -- the CLI on the unix port, as a user runs it --------------------------------------------
def _cli(*args, heap="128k", **env):
    r = unixport.run(["-m", "picoclaw"] + list(args), heap=heap, timeout=120,
                     path=unixport.build() + ":.frozen", **env)
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


def _errors(r):
    return [x for x in r.stdout.splitlines() if x.startswith("error:")]


BAD = [  # (config, the one line says)
    ({"channels": {"telegram": TG}, "providers": {"opneai": {"api_key": "k"}},
      "agents": {"defaults": {"model": "gpt-4o-mini"}}}, 'unknown provider "opneai" (known: openai, anthropic'),
    ({"channels": {"telegram": TG}, "providers": {"openai": {"api_key": "k"}}}, "agents.defaults.model is not set"),
    ({"channels": {"telegram": TG}, "providers": {"openai": {"api_key": "k"}, "anthropic": {"api_key": ""}},
      "agents": {"defaults": {"model": "glm-4"}}}, "2 providers are configured (anthropic, openai)"),
    ({"channels": {"telegram": TG}, "tls": {"ca_file": "missing.pem"}}, "missing.pem does not exist"),
    ({"channels": {"telegram": TG}, "tls": {"ca_file": "garbage.pem"}}, "garbage.pem: no certificate found"),
    ({"version": 3, "channel_list": {"telegram": {"enabled": False, "settings": {"token": "1:x"}}}},
     "channel_list.telegram.enabled is false"),
    ({"version": 3, "channel_list": {"telegram": {"settings": {"token": "1:x"}}},
      "model_list": VERSION3["model_list"]}, "model_list has 2 models (claude, mini)"),
    ({"channels": {"telegram": TG}, "providers": {"ollama": {}},
      "agents": {"defaults": {"model": "m", "timezone": "UTC+2h"}}}, "agents.defaults.timezone"),
]


@pytest.mark.parametrize("n", range(len(BAD)))
def test_config_errors_are_one_line_in_every_command(tmp_path, n):
    cfg, says = BAD[n]
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    p = _write(tmp_path, cfg)
    cmds = [("gateway", "--cycles", "1"), ("status",)]
    if "channel_list" not in json.dumps(cfg) and "providers" in cfg:
        cmds.append(("agent", "-m", "hi"))
    for cmd in cmds:
        r = _cli(*cmd, "--config", p)
        assert r.returncode == 2, (cmd, r.stdout)
        e = _errors(r)
        assert len(e) == 1 and says in e[0], (cmd, r.stdout)
        assert e[0].startswith("error: config: "), e
        if cmd[0] == "status":  # the summary first, the error last
            assert "\npicoclaw 0.1.0 (micropython)\n" in "\n" + r.stdout and r.stdout.splitlines()[-1] == e[0], r.stdout


def test_status_exits_0_on_a_config_the_gateway_accepts(tmp_path):
    p = _write(tmp_path, {"version": 3, "channel_list": {"telegram": {"allow_from": ["111"],
                                                                     "settings": {"token": "1:x"}}},
                          "model_list": VERSION3["model_list"],
                          "agents": {"defaults": {"model_name": "claude", "timezone": "CET-1CEST,M3.5.0,M10.5.0/3"}}})
    r = _cli("status", "--config", p)
    assert r.returncode == 0 and not _errors(r), r.stdout
    assert "  model: claude-x at https://api.anthropic.com/v1 (anthropic protocol)" in r.stdout
    assert "  timezone: CET-1CEST,M3.5.0,M10.5.0/3" in r.stdout
    assert "model_list mini: model openai/gpt-4o-mini, api_key set (4 chars)" in r.stdout


def test_help_and_unknown_commands():
    for args in (("--help",), ("-h",), ("status", "--help"), ("gateway", "-h"), ("agent", "--help"),
                 ("onboard", "-h"), ("gateway", "--config", "nowhere.json", "--help")):
        r = _cli(*args)
        assert r.returncode == 0 and r.stdout.startswith("usage: picoclaw "), (args, r.stdout)
        if len(args) > 1:
            assert r.stdout.startswith("usage: picoclaw %s " % args[0]), r.stdout
    r = _cli("gatway", "--config", "x.json")
    assert r.returncode == 2 and r.stdout.startswith("unknown command gatway\nusage: picoclaw"), r.stdout


def test_onboard_through_the_cli_then_status_names_the_first_key_to_fill(tmp_path):
    p = str(tmp_path / "config.json")
    r = _cli("onboard", "--config", p)
    assert r.returncode == 0, r.stdout
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    r = _cli("status", "--config", p)
    assert r.returncode == 2 and _errors(r) == [
        "error: config: channel_list.telegram.settings.token is not set (ask @BotFather for one)"], r.stdout
    with open(p) as f:
        cfg = json.load(f)
    cfg["channel_list"]["telegram"]["settings"]["token"] = "1:x"
    with open(p, "w") as f:
        json.dump(cfg, f)
    r = _cli("status", "--config", p)
    assert r.returncode == 2 and _errors(r) == [
        "error: config: model_list entry gpt-4o-mini has no API key: set its api_keys to the key from "
        "your openai account"], r.stdout


def test_a_relative_ca_file_works_from_any_working_directory():
    # the gateway runs with the repository as its working directory; the CA bundle beside
    # the config is named relatively, and the TLS connection to the fake Telegram verifies
    from fakes.telegram_server import FakeTelegram

    with FakeTelegram() as tg:
        tg.send_text(tg.user(111, "Alice"), "relative")
        p = gatewayrun.write_config(tg)
        with open(p) as f:
            cfg = json.load(f)
        assert os.path.isabs(cfg["tls"]["ca_file"])
        cfg["tls"]["ca_file"] = os.path.basename(cfg["tls"]["ca_file"])
        with open(p, "w") as f:
            json.dump(cfg, f)
        r = gatewayrun.run(p, cycles=2)
        assert r.returncode == 0, r.stdout + r.stderr
        assert [s["params"]["text"] for s in tg.sent] == ["relative"]
