# Wiring: build the gateway from a config file. The only place that knows every piece.
import os

from micropython import const

from picoclaw import load, log, unload

_IO_BUF = const(512)  # connection buffer: one TLS read or one request piece at a time (~1/3 of a
#               TCP segment; bigger buys little since mbedTLS decrypts whole records anyway)
# the heap a poll cycle works in above the start-up heap (64-bit port, tools/bench.py: min heap
# less start-up), which TLS in the heap must leave free
_WORKING_ECHO = const(12 * 1024)
_WORKING_AGENT = const(27 * 1024)
_WORKING_WEB = const(7 * 1024)  # with the web tools offered: the sixth qstr pool a turn that
#                                 uses one leaves taken (docs/memory.md), beside their code


def build(cfg):
    """(gateway, simulation) for loaded settings; simulation is None unless SIMULATE=1,
    which puts a scripted Telegram in place of the network."""
    log.set_secrets(cfg.secrets)
    buf = bytearray(_IO_BUF)  # first, while the heap still has room in one piece
    opener = sleep_ms = sim = None
    if os.getenv("SIMULATE") == "1":
        sim = load("picoclaw.cmd.simulate").Telegram(cfg)
        opener, sleep_ms = sim.open, sim.sleep_ms
        cfg.base_url = "http://simulated.telegram"
        log.info("SIMULATE=1: scripted Telegram in-process, no network")
    log.info("polling Telegram at %s" % cfg.base_url)
    llm_base = ""
    if cfg.provider or cfg.providers:  # the agent: its provider, settings and tool schemas
        # with what the gateway keeps loaded besides the agent (cli.prepare loads it before this
        # module), in place: a module-level name would be interned for good
        a, llm_base = load("picoclaw.agent.setup").start(
            cfg, sim, ("picoclaw.gateway.loop", "picoclaw.net.http", "picoclaw.telegram.api"))
        unload("picoclaw.agent.setup", "picoclaw.tools")
    # one SSLContext for Telegram and the model, with the root group each host needs (a board
    # parses each root into its heap), built before the runtime modules are imported, and
    # trust/roots unloaded after, so the startup peak stays low
    url = split_url(cfg.base_url)
    ctx = None
    if cfg.base_url.startswith("https://") or llm_base.startswith("https://"):
        from picoclaw.net import http, trust

        if not cfg.tls_verify:
            log.warn("tls.verify is false: certificates are NOT checked (anyone on the network "
                     "can read your token); remove it from config.json")
        else:  # what a refused certificate's fallback to the other groups needs (anchors.py)
            http.Connection.trust = (cfg.ca_file or None, cfg.workspace)
        hosts = [u[1] for u in (url, llm_base and split_url(llm_base)) if u and u[0] == "https"]
        ctx = trust.context(cfg.ca_file or None, cfg.tls_verify, hosts, cfg.workspace)
        unload("picoclaw.net.trust")
    from picoclaw.net.http import Connection
    from picoclaw.telegram.api import Telegram
    from picoclaw.gateway.loop import Gateway
    from picoclaw.state import State

    conn = Connection(url, buf, ctx, opener=opener)
    tg = Telegram(conn, cfg.token, sleep_ms=sleep_ms)
    gw = Gateway(cfg, tg, State(cfg.workspace), sleep_ms=sleep_ms)
    if not gw.allow_ids and not gw.allow_names:  # nobody admitted: the paired owner, or pairing
        load("picoclaw.gateway.pairing").attach(gw)
    if any(i < 0 for i in gw.allow_ids):  # a group listed: answered when mentioned (group.py)
        load("picoclaw.gateway.group").attach(gw)
    if llm_base:  # the gateway answers with the agent
        a.tg = tg
        a.conn = Connection(split_url(llm_base), bytearray(_IO_BUF), ctx, opener=sim and sim.model.open)
        gw.answer = a.answer
        gw.tick = a.tick
        gw.agent = a
        a.alive = gw.busy  # a long turn keeps the board's watchdog fed (Gateway.on_update)
        log.info("agent: %s, model %s at %s" % (cfg.provider_kind, cfg.model, llm_base))
    else:
        log.info("no model configured (providers.*): echo mode")
    tls = cfg.__dict__.get("tls_profile")  # board.json's "tls": what a connection costs there
    if tls and ctx is not None:
        conns = [c for c in (conn, llm_base and a.conn) if c and c.ctx is not None]
        import sys

        working = _WORKING_AGENT if llm_base else _WORKING_ECHO
        if llm_base and cfg.__dict__.get("web_tools_enabled", True):  # (no new name: docs/memory.md)
            working += _WORKING_WEB
        if sys.maxsize < 1 << 32:
            working = working * 7 // 10  # a 32-bit board's objects: 0.7x the 64-bit port's
        getenv = getattr(os, "getenv", None)  # a board has none: its own mbedTLS is the real one
        stand_in = bool(getenv) and getenv("PICOCLAW_TLS_STAND_IN") == "1"
        Connection.tls_plan = load("picoclaw.net.tlsheap").start(tls[0], tls[1], stand_in, conns, working,
                                                                 a if llm_base else None)
    if sim is None:  # the command menu Telegram shows, if it changed (a scripted Telegram has none)
        load("picoclaw.gateway.start").run(gw)
    unload("picoclaw.app")
    return gw, sim


def split_url(url):
    """('https', 'api.telegram.org', 443, '/prefix') from a base URL."""
    if url.startswith("https://"):
        scheme, rest, port = "https", url[8:], 443
    elif url.startswith("http://"):
        scheme, rest, port = "http", url[7:], 80
    else:
        raise ValueError("URL must start with https:// or http://: %s" % url)
    i = rest.find("/")
    host, prefix = (rest, "") if i < 0 else (rest[:i], rest[i:].rstrip("/"))
    j = host.rfind(":")
    if j > 0 and host[j + 1:].isdigit():
        host, port = host[:j], int(host[j + 1:])
    if not host:
        raise ValueError("URL has no host: %s" % url)
    return scheme, host, port, prefix
