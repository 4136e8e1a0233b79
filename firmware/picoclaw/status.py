# `picoclaw status`: version, config summary with secrets masked, heap figures, saved offset.
import gc
import sys

from . import VERSION


def heap():
    gc.collect()
    return gc.mem_alloc(), gc.mem_free()


def mask(secret):
    return "set (%d chars)" % len(secret) if secret else "not set"


def status(cfg):
    from .state import State

    used, free = heap()
    print("picoclaw %s (%s)" % (VERSION, sys.implementation.name))
    print("config: %s" % cfg.path)
    print("  telegram: token %s, base_url %s" % (mask(cfg.token), cfg.base_url))
    print("  allow_from: %s" % (", ".join(cfg.allow_from) or "(empty: nobody admitted)"))
    print("  poll: timeout %d s, limit %d" % (cfg.poll_timeout, cfg.poll_limit))
    print("  workspace: %s" % cfg.workspace)
    print("  tls: verify %s, ca_file %s" % (cfg.tls_verify, cfg.ca_file or "(built-in roots only)"))
    for name in sorted(cfg.providers):
        p = cfg.providers[name]
        print("  provider %s: api_key %s, api_base %s" % (name, mask(p.get("api_key", "")), p.get("api_base") or "(default)"))
    if cfg.wifi_ssid:
        print("  wifi: %s, password %s" % (cfg.wifi_ssid, mask(cfg.wifi_password)))
    print("heap: %d used, %d free" % (used, free))
    print("saved offset: %d" % State(cfg.workspace).offset)
