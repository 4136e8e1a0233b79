# The command line (run by __main__): arguments, config, and the commands' set-up.
#   MICROPYPATH=firmware:.frozen micropython -X heapsize=64k -m picoclaw <command> --config FILE
# Commands: status, onboard, gateway, agent, setup (portal/server.py). SIMULATE=1 runs the gateway (or the agent)
# against a scripted Telegram (or model), with no network at all. For `gateway`, prepare()
# returns the settings; __main__ drops this module from the heap before building the
# gateway, so only the loop's own code stays resident.
from picoclaw import log


def prepare(argv):
    """Run what needs no gateway and return its exit code; for `gateway` return
    (settings, cycles): __main__ builds and runs it once this module has left the heap."""
    # a local, not a module global (docs/memory.md)
    usage = """usage: picoclaw <command> --config FILE [--cycles N]
commands:
  status    version, config summary (secrets masked), heap figures, saved offset
  onboard   write a starter config.json (if missing) and workspace files
  gateway   run the Telegram long-poll loop (SIMULATE=1: against a scripted Telegram)
  agent     the assistant in this console: -m TEXT for one turn, or a conversation
  setup     the setup page: --listen HOST:PORT [--dns PORT] (portal/server.py)
picoclaw <command> --help: that command's usage; -v: debug logging"""
    # each command's usage, for `picoclaw <command> --help`, in one long literal (docs/memory.md)
    helps = """status --config FILE
  the settings (secrets masked) and the gateway's config check (exit 2 if it would refuse)|onboard --config FILE
  write a starter config.json (mode 0600, never overwritten) and the workspace files|gateway --config FILE [--cycles N]
  the Telegram bot (N poll cycles, default for ever; SIMULATE=1: scripted, no network)|agent [-m MESSAGE] --config FILE
  one turn, or a conversation in this console (SIMULATE=1: a scripted model)"""
    try:
        cmd = None
        opts = {"config": "config.json", "cycles": -1}
        extra = []  # the agent command's (console.py reads them) or setup's own arguments
        setup = False  # (found by its usage line: no short literal, no interned name)
        i = 0
        while i < len(argv):
            a = argv[i]
            if a.startswith("--") and a[2:] in opts and i + 1 < len(argv):
                opts[a[2:]] = argv[i + 1]
                i += 2
                continue
            if a in ("-h", "--help"):
                for line in helps.split("|"):
                    if cmd and line.startswith(cmd + " "):
                        print("usage: picoclaw " + line)
                        return 0
                print(usage)
                return 0
            if a in ("-v", "--verbose"):
                log.level = log.DEBUG
            elif cmd is None and not a.startswith("-"):
                cmd = a
                setup = ("  %s     the setup page" % a) in usage
            elif cmd == "agent" or setup:
                extra.append(a)
            else:
                raise ValueError("unknown argument %s\n%s" % (a, usage))
            i += 1
        if setup:  # run by __main__ once this module has left the heap (portal/server.main)
            return opts["config"], extra, "picoclaw.portal.server"
        if cmd == "onboard":
            from picoclaw import load

            return load("picoclaw.cmd.onboard").main(opts["config"])
        if cmd not in ("status", "gateway", "agent"):
            if cmd is not None:
                print("unknown command %s" % cmd)
            print(usage)
            return 0 if cmd is None else 2
        from picoclaw import config

        cfg = config.load(opts["config"])
        if cmd == "gateway":
            import os

            env = getattr(os, "getenv", None)  # (a board's os has none)
            if env and env("SIMULATE") == "1":  # a first run: onboard's config as it is (no
                from picoclaw import load, unload  # token, nobody admitted): cmd/firstrun.py

                load("picoclaw.cmd.firstrun").main(cfg)
                unload("picoclaw.cmd.firstrun")
        err = None
        want = None
        if cmd != "status":  # (agent mode, SIMULATE=1): the heap check too
            import os

            env = getattr(os, "getenv", None)
            want = (cmd == "agent" or bool(cfg.provider or cfg.providers), bool(env) and env("SIMULATE") == "1")
        try:  # the gateway's checks (status runs them too), or the agent command's
            config.check(cfg, cmd != "agent", want)
        except ValueError as e:
            if cmd != "status":
                raise
            err = e
        config = None
        from picoclaw import unload

        unload("picoclaw.config")  # its code is not needed after this
        if cmd == "status":
            from picoclaw import load

            return load("picoclaw.cmd.status").status(cfg, err)  # 2 (the error said last) when the gateway would refuse
        if cmd == "gateway":
            # the gateway's resident modules now, into the room config.py left: app.py's code
            # (run once, then dropped) loads after them, so its going leaves room in one piece,
            # not holes between them (at 64 KB the first TLS socket needs 520 bytes in one)
            from picoclaw import load

            for name in ("picoclaw.net.http", "picoclaw.telegram.api", "picoclaw.gateway.loop",
                         "picoclaw.state"):
                load(name)
        if cmd == "agent":  # (the module's name here, not in __main__, which stays loaded)
            return cfg, extra, "picoclaw.cmd.console"
        return cfg, int(opts["cycles"])
    except ValueError as e:  # ConfigError, bad arguments
        print("error: %s" % log.scrub(str(e)))
        return 2

