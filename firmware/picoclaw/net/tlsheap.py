# TLS connections planned for the heap, on a board whose mbedTLS allocates where the GC heap
# does (a Pico W: inside it; an ESP32: from the IDF heap the GC heap grows into).
#
# board.json's "tls" gives what one connection costs there: "held" bytes for as long as it
# is open (a receive record buffer of "rx" bytes that must be one block, a send buffer of
# "tx"), and "handshake" bytes above what was in use while it is made. At start (app.build)
# the plan decides whether two kept-alive connections (Telegram's long poll and the model's)
# fit beside the working heap; where they do not, the idle one is closed before the other
# is opened. Right before any handshake, if the receive buffer's block is not there after a
# collection, whatever idle connection there is gets closed too. Where TLS is inside the GC heap a reserve of "held" bytes (the blocks a
# connection keeps, its receive buffer in one piece) is held for exactly that moment:
# released just before mbedTLS allocates and taken again after the handshake (with one
# connection at a time, when none is open), so a reconnect after hours of messages finds the
# room the first one found.
#
# On the unix port (its mbedTLS allocates outside the GC heap) PICOCLAW_TLS_STAND_IN=1 makes
# each connection hold GC blocks of those sizes and each handshake allocate its peak, failing
# as mbedTLS fails there (ENOMEM for the record buffer, "not correctly signed" for the rest),
# so every test and figure sees the board's memory.
import gc

from micropython import const

from picoclaw import log

_ENOMEM = const(12)
_PIECE = const(1024)  # the handshake's own allocations (the chain parsed, the key exchange) come in pieces
_CERT_ERROR = "The certificate is not correctly signed by the trusted CA"  # what mbedTLS says then

plan = None  # the Plan of this run (app.build), or None: nothing to plan


class Plan:
    def __init__(self, tls, in_gc_heap, stand_in, conns, working):
        # a board.json without the sizes gets the Pico W's measured ones (mbedTLS's 16 KB in
        # and 4 KB out records, with their headers)
        self.rx = tls.get("rx", 16736)
        self.tx = tls.get("tx", 4448)
        self.held = max(tls.get("held", 0), self.rx + self.tx)
        self.handshake = max(tls.get("handshake", 0), self.held)
        self.conns = conns  # the net/http Connections that use TLS
        self.stand_in = stand_in
        self._holds = {}  # stand-in: Connection -> the blocks it holds while open
        self.reserve = None
        self.reserved = in_gc_heap  # a reserve is held (TLS inside the GC heap)
        self.busy = False  # a handshake is under way
        gc.collect()
        free = gc.mem_free()
        # both connections open, the reserve (a handshake's room) and the turn's working heap
        self.single = len(conns) > 1 and free < 2 * self.held + self.handshake + working
        self._take()
        log.info("TLS in the heap: %d KB per connection, %d KB a handshake; %s" % (
            self.held // 1024, self.handshake // 1024,
            "one connection at a time" if self.single else "connections kept alive side by side"))

    # -- around one handshake (net/http.Connection: _connect and close) ----------------
    def open(self, conn, ctx):
        """The context conn's handshake is made with: ctx, with room made for it at the last
        moment, after the TCP connect (_Handshake)."""
        return _Handshake(self, conn, ctx)

    def done(self, conn):
        """The handshake is over (made or failed): the reserve taken again for the next one,
        unless with one connection at a time that one holds the room now."""
        self.busy = False
        if not self.single or not self._any_open():
            self._take()

    def close(self, conn):
        """conn's connection is closed: what it held is free; with one connection at a time
        and none open now, its room becomes the reserve again at once."""
        self._holds.pop(conn, None)
        if self.single and not self.busy and not self._any_open():
            self._take()

    def close_idle(self, conn):
        """Close the connections other than conn that are not reading an answer."""
        for c in self.conns:
            if c is not conn and c.stream is not None and not c._open:
                c.close()

    def _any_open(self):
        for c in self.conns:
            if c.stream is not None:
                return True
        return False

    def _take(self):
        # the reserve: the blocks one connection holds (its receive buffer must be one block);
        # the handshake's other allocations come in small pieces, found anywhere
        if not self.reserved or self.reserve is not None:
            return
        gc.collect()
        try:
            self.reserve = bytearray(self.held)
        except MemoryError:
            log.warn("no room for the %d KB TLS reserve: a reconnect may run out of memory"
                     % (self.held // 1024))


class _Handshake:
    def __init__(self, plan_, conn, ctx):
        self.plan = plan_
        self.conn = conn
        self.ctx = ctx

    def wrap_socket(self, sock, server_hostname=None):
        p = self.plan
        p.busy = True
        if p.single:  # the other connection, if idle, makes way (never one mid-answer)
            p.close_idle(self.conn)
        p.reserve = None  # the room, released just before mbedTLS allocates
        gc.collect()
        try:  # the receive buffer's block exists? (a heap aged by hours of messages)
            bytearray(p.rx)
        except MemoryError:
            p.close_idle(self.conn)  # then whatever can be closed is
            gc.collect()
        if p.stand_in:
            held = _stand_in(p)
        s = self.ctx.wrap_socket(sock, server_hostname=server_hostname)
        if p.stand_in:
            p._holds[self.conn] = held
        return s


def _stand_in(p):
    # the unix port standing in for the board's mbedTLS: what a handshake allocates there,
    # failing as it fails there; returns what the connection keeps
    try:
        held = [bytearray(p.rx)]  # mbedtls_ssl_setup: the receive record buffer, one block
    except MemoryError:
        raise OSError(_ENOMEM)
    try:
        held.append(bytearray(p.tx))
        if p.held > p.rx + p.tx:
            held.append(bytearray(p.held - p.rx - p.tx))
        transient = [bytearray(_PIECE) for _ in range((p.handshake - p.held) // _PIECE)]
    except MemoryError:
        held = None
        raise ValueError(_CERT_ERROR)  # mbedTLS loses the allocation error in the chain's check
    transient = None
    return held


def start(tls, in_gc_heap, stand_in, conns, working, agent=None):
    """The plan for these connections (app.build), kept in `plan`. With one connection at a
    time the agent's streamed answers do not edit the placeholder as they come (that needs
    the model's connection and Telegram's at once)."""
    global plan
    plan = Plan(tls, in_gc_heap, stand_in, conns, working)
    if agent is not None and plan.single:
        agent.live_edits = False
    return plan

