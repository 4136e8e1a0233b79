# The command line (run by __main__): arguments, config, and the commands' set-up.
#   MICROPYPATH=firmware:.frozen micropython -X heapsize=64k -m picoclaw <command> --config FILE
# Commands: status, gateway. SIMULATE=1 runs the gateway against an in-process scripted
# Telegram (no network at all). For `gateway`, prepare() returns the settings; __main__
# drops this module from the heap before building the gateway, so only the loop's own code
# stays resident.
import gc
import sys

from . import VERSION, log

USAGE = """usage: picoclaw <command> --config FILE [--cycles N]
commands:
  status    version, config summary (secrets masked), heap figures, saved offset
  gateway   run the Telegram long-poll loop (SIMULATE=1: against a scripted Telegram)"""


def _args(argv):
    cmd = None
    opts = {"config": "config.json", "cycles": "-1"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and a[2:] in opts and i + 1 < len(argv):
            opts[a[2:]] = argv[i + 1]
            i += 2
            continue
        if a in ("-v", "--verbose"):
            log.level = log.DEBUG
        elif cmd is None and not a.startswith("-"):
            cmd = a
        else:
            raise ValueError("unknown argument %s\n%s" % (a, USAGE))
        i += 1
    return cmd, opts


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


def prepare(argv):
    """Run what needs no gateway and return its exit code; for `gateway` return
    (settings, cycles): __main__ builds and runs it once this module has left the heap."""
    try:
        cmd, opts = _args(argv)
        if cmd not in ("status", "gateway"):
            print(USAGE)
            return 0 if cmd is None else 2
        from . import config

        cfg = config.load(opts["config"])
        if cmd == "gateway":
            config.check(cfg)
        config = None
        from .app import unload

        unload("picoclaw.config")  # its code is not needed after this
        if cmd == "status":
            status(cfg)
            return 0
        return cfg, int(opts["cycles"])
    except ValueError as e:  # ConfigError, bad arguments
        print("error: %s" % log.scrub(str(e)))
        return 2
