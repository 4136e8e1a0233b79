"""Host helper: run the gateway on the MicroPython unix port against a fake Telegram."""
import json
import os
import tempfile

import unixport

DEFAULT_HEAP = "128k"  # integration runs; the figures (tools/figures.py) bisect the minimum


# channels.telegram.streaming off: the turn shows the "Thinking..." placeholder edited into
# the answer, not live drafts (agent/draft.py); for the tests about the placeholder
NO_DRAFTS = {"streaming": {"enabled": False}}


def write_config(fake, allow=("111",), llm=None, agent=None, version3=False, **telegram):
    """config.json for the fake Telegram (and a fake LLM: providers.<kind>, with `agent`
    overriding agents.defaults); tls.ca_file bundles the fakes' roots, each once. `telegram`
    adds to channels.telegram (**NO_DRAFTS: the placeholder instead of live drafts), or with
    version3=True to PicoClaw's channel_list.telegram.settings."""
    d = tempfile.mkdtemp(prefix="picoclaw-")
    tg = {"token": fake.token, "base_url": fake.base_url, "allow_from": list(allow), "poll_timeout": 1}
    tg.update(telegram)
    defaults = {"workspace": d + "/ws"}
    cfg = {"channels": {"telegram": tg}, "agents": {"defaults": defaults}}
    if version3:
        cfg = {"version": 3, "channel_list": {"telegram": {"enabled": True, "type": "telegram",
                                                           "allow_from": tg.pop("allow_from"),
                                                           "settings": tg}},
               "agents": {"defaults": defaults}}
    cas = [fake.ca_pem_path] if fake.base_url.startswith("https") else []
    if llm is not None:
        cfg["providers"] = {llm.kind: {"api_key": llm.api_key, "api_base": llm.base_url}}
        defaults.update(provider=llm.kind, model="test-model", max_tokens=512)
        if llm.base_url.startswith("https"):
            cas.append(llm.ca_pem_path)
    defaults.update(agent or {})
    if cas:
        cfg["tls"] = {"ca_file": write_bundle(d + "/ca.pem", cas)}
    path = d + "/config.json"
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def write_bundle(path, cas):
    """Write the PEM files `cas` into one trust file at path, each CA once: the fakes of one
    key type share a root, and a real trust file does not list a root twice (the device would
    parse and keep it twice). Returns path."""
    seen = []
    with open(path, "wb") as out:
        for c in cas:
            with open(c, "rb") as f:
                pem = f.read()
            if pem.strip() not in seen:
                seen.append(pem.strip())
                out.write(pem)
    return path


def run(config, cycles, heap=DEFAULT_HEAP, timeout=120, cmd="gateway", source=False, extra=()):
    """The CLI exactly as a user runs it; from .mpy unless source=True."""
    root = unixport.ROOT
    path = (os.path.join(root, "firmware") if source else unixport.build()) + ":.frozen"
    return unixport.run(["-m", "picoclaw", cmd, "--config", config, "--cycles", str(cycles)] + list(extra),
                        heap=heap, timeout=timeout, path=path)


def saved_offset(config):
    ws = os.path.join(os.path.dirname(config), "ws", "state", "telegram_offset")
    with open(ws) as f:
        return int(f.read())
