# `picoclaw status`: version, config summary with secrets masked, heap figures, saved offset.
import gc
import sys

from picoclaw import VERSION


def heap():
    gc.collect()
    return gc.mem_alloc(), gc.mem_free()


def mask(secret):
    return "set (%d chars)" % len(secret) if secret else "not set"


def status(cfg, err=None):
    """Print the summary, then run the model side's check (agent/setup.pick) that the agent's
    start-up runs, unless config.check already found `err`; returns the exit code: 2, with
    the error as the last line, when the gateway would refuse to start."""
    from picoclaw.state import State

    used, free = heap()
    print("picoclaw %s (%s)" % (VERSION, sys.implementation.name))
    print("config: %s" % cfg.path)
    print("  telegram: token %s, base_url %s" % (mask(cfg.token), cfg.base_url))
    print("  allow_from: %s" % (", ".join(cfg.allow_from) or "(empty: nobody admitted)"))
    print("  poll: timeout %d s, limit %d" % (cfg.poll_timeout, cfg.poll_limit))
    print("  workspace: %s" % cfg.workspace)
    print("  tls: verify %s, ca_file %s" % (cfg.tls_verify, cfg.ca_file or "(built-in roots only)"))
    anchors(cfg)
    for name in sorted(cfg.providers):
        p = cfg.providers[name]
        print("  %s %s: %sapi_key %s, api_base %s" % (
            "model_list" if "model" in p else "provider", name,
            "model %s, " % p["model"] if "model" in p else "", mask(p.get("api_key", "")),
            p.get("api_base") or "(default)"))
    if not err and (cfg.provider or cfg.providers):
        import os

        from picoclaw.agent.setup import pick

        try:
            pick(cfg, os.getenv("SIMULATE") == "1")
            print("  model: %s at %s (%s protocol)" % (cfg.model, cfg.api_base, cfg.provider_kind))
        except ValueError as e:
            err = e
    if getattr(cfg, "timezone_spec", ""):
        print("  timezone: %s" % cfg.timezone_spec)
    if cfg.wifi_ssid:
        print("  wifi: %s, password %s" % (cfg.wifi_ssid, mask(cfg.wifi_password)))
    print("heap: %d used, %d free" % (used, free))
    print("saved offset: %d" % State(cfg.workspace).offset)
    # the board's log and last crash, beside config.json (main.py keeps them on a board)
    import os

    from picoclaw import crash

    i = cfg.path.rfind("/")
    folder = cfg.path[:i + 1] if i >= 0 else ""
    sizes = []
    for name in ("log.txt", "log.1.txt"):
        try:
            sizes.append("%s %d B" % (name, os.stat(folder + name)[6]))
        except OSError:
            pass
    print("log: %s" % (", ".join(sizes) or "none (kept on a board only)"))
    print("last crash: %s" % (crash.status(folder) or "none"))
    if err:  # what the gateway would refuse to start with: said last
        from picoclaw.log import scrub

        print("error: %s" % scrub(str(err)))
        return 2
    return 0


def anchors(cfg):
    """Per configured https host (Telegram's base_url, the model's api_base): the CA roots its
    connection will load (trust.py)."""
    from picoclaw.net import anchors as a
    from picoclaw.app import split_url
    from picoclaw.agent.setup import default_base

    urls = [cfg.base_url]
    if getattr(cfg, "api_base", ""):
        urls.append(cfg.api_base)
    else:
        for name in sorted(cfg.providers):
            urls.append(cfg.providers[name].get("api_base") or default_base(name))
    seen = []
    for u in urls:
        if u.startswith("https://") and split_url(u)[1] not in seen:
            seen.append(split_url(u)[1])
            print("  tls %s" % a.describe(seen[-1], cfg.ca_file, cfg.tls_verify, cfg.workspace))
