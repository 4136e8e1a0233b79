# Wiring: build the gateway from a config file. The only place that knows every piece.
import gc

from . import log

IO_BUF = 512  # connection buffer: one TLS read or one request piece at a time (~1/3 of a
#               TCP segment; bigger buys little since mbedTLS decrypts whole records anyway)


def build(cfg, opener=None, sleep_ms=None):
    """(gateway, connection) for a loaded Config. opener replaces the network (simulation)."""
    from . import httpclient, telegram
    from .gateway import Gateway
    from .state import State

    cfg.check()
    log.set_secrets(cfg.secrets())
    ctx = None
    if cfg.base_url.startswith("https://"):
        from . import trust

        if not cfg.tls_verify:
            log.warn("tls.verify is false: certificates are NOT checked (anyone on the network "
                     "can read your token); remove it from config.json")
        ctx = trust.context(cfg.ca_file or None, cfg.tls_verify)
    conn = httpclient.Connection(cfg.base_url, bytearray(IO_BUF), ctx, opener=opener)
    tg = telegram.Telegram(conn, cfg.token)
    gw = Gateway(cfg, tg, State(cfg.workspace), sleep_ms=sleep_ms)
    unload("picoclaw.app", "picoclaw.trust", "picoclaw.roots", "picoclaw.config")
    return gw


def unload(*names):
    """Drop startup-only modules so their code leaves the heap (loaded .mpy bytecode lives
    in RAM on a stock firmware). They are imported again if ever needed."""
    import sys

    pkg = sys.modules.get("picoclaw")
    for name in names:
        sys.modules.pop(name, None)
        if pkg is not None:
            short = name[len("picoclaw."):]
            if short in pkg.__dict__:
                delattr(pkg, short)
    gc.collect()
