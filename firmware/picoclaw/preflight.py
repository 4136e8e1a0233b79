# The start-up heap check, before the gateway or the console agent is built (app.build,
# console.py): the heap this runtime has against what the configured mode needs. A shortfall
# is one line saying what to do (a ValueError: the callers print "error: ..." and exit 2)
# instead of a MemoryError traceback half-way through the start. Loaded for the check and
# dropped before the start-up's peak (the TLS context), so its code costs that peak nothing.
import gc

from micropython import const

# Heap the modes need on the 64-bit unix port, measured (README "Figures", docs/figures.md):
# a 100-message echo burst completes in 62 KB, a tool-calling agent burst in 98 KB; SIMULATE=1
# keeps simulate.py's code and script loaded besides. The advice rounds up to the heap the
# README's commands give, which leaves room.
_ECHO_KB = const(62)
_AGENT_KB = const(98)
_SIM_KB = const(8)
_RUN_ECHO = const(72)  # -X heapsize=<this>k advised: 64k is the echo burst's edge, with TLS past it
_RUN_AGENT = const(128)
_RUN_SIM_ECHO = const(96)  # SIMULATE=1, with room
_RUN_SIM_AGENT = const(160)
_WORD32 = const(70)  # percent: a 32-bit board's figures against the 64-bit port's (DESIGN.md)


def check(cfg, agent, sim):
    """The start-up heap check (the gateway's, and the console agent's): raise ValueError,
    one line saying what to do, when this heap cannot run the mode, instead of a MemoryError
    half-way through the start. On a board, board.json's gc_heap is what it has (an ESP32's
    heap grows on demand from 64 KB at boot to about that); its TLS buffers count when
    mbedTLS allocates them in the GC heap. (No short literals here: they would be interned
    at every start, in the qstr pool the echo figure counts.)"""
    import sys

    gc.collect()
    have = gc.mem_free() + gc.mem_alloc()
    i = cfg.path.rfind("/")
    info = {}
    try:
        with open("%sboard.json" % cfg.path[:i + 1]) as f:
            import json

            info = json.load(f)
    except (OSError, ValueError):
        pass
    keys = "gc_heap tls_heap tls_in_gc_heap".split()  # one long literal, split at run time
    board = info.get(keys[0]) if isinstance(info, dict) else None
    tls = 0
    if isinstance(board, int) and board > 0:
        have = board
        t = info.get(keys[1])
        if info.get(keys[2]) and isinstance(t, int) and not sim:
            tls = (t // 1024) * ((1 if cfg.base_url.startswith("https://") else 0) + (1 if agent else 0))
    else:
        board = None
    need = (_AGENT_KB if agent else _ECHO_KB) + (_SIM_KB if sim else 0)
    if sys.maxsize < 1 << 32:  # a 32-bit board
        need = need * _WORD32 // 100
    need += tls
    if have >= need * 1024:
        return
    what = ("SIMULATE=1 in " if sim else "") + ("agent mode needs about" if agent else "echo mode needs about")
    if board:
        raise ValueError("%s %d KB of heap on this board (board.json gc_heap: %d KB): %s" % (
            what, need, have // 1024, "remove the model from config.json for echo mode, or use a "
            "board with more RAM" if agent else "use a board with more RAM"))
    run = _RUN_AGENT if agent else _RUN_ECHO
    if sim:  # simulate.py's code and script stay loaded: measured clean at 144k (agent) and 80k
        run = _RUN_SIM_AGENT if agent else _RUN_SIM_ECHO
    # the port's -X heapsize counts the GC's own table too (1/64 of it): the size as given
    raise ValueError("%s %d KB of heap on this port (this one has %d KB): run with -X heapsize=%dk%s" % (
        what, need, have * 64 // 63 // 1024, run,
        ", or remove the model from config.json for echo mode" if agent else ""))
