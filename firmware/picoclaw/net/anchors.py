# The trust anchors' slow path: a refused certificate tries the other shipped root groups, and
# `picoclaw status` says which roots each host uses. Loaded only then (trust.py is the start).
#
# A host's group is remembered in <workspace>/state/anchors ("host group" lines) whenever the
# one that verified is not the one trust.resolve would start with, so trust.resolve names
# the group a connection uses now; a provider that changes CA verifies again through the others.
from micropython import const

from picoclaw.net import trust

_MAX_REMEMBERED = const(8)  # hosts in state/anchors (a board talks to two; old entries drop)


def order(host, workspace=None):
    """The group names a connection to host tries, in turn: the one it starts with
    (trust.resolve), then the others in the table's order."""
    names = [g[0].decode() for g in trust.roots("table").ALL]
    f = trust.resolve(host, workspace) or names[0]
    return [f] + [n for n in names if n != f]


def mapped(host):
    """The group roots.ALL maps host to, or None (a host of its own: a custom api_base)."""
    h = host.encode()
    for g in trust.roots("table").ALL:
        if h in g[2].split():
            return g[0].decode()
    return None


def _entries(workspace):
    """[(host, group)] in <workspace>/state/anchors, oldest first."""
    out = []
    try:
        with open(workspace + "/state/anchors") as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    out.append((p[0], p[1]))
    except (OSError, TypeError):
        pass
    return out


def remembered(host, workspace):
    for h, g in _entries(workspace):
        if h == host:
            return g
    return None


def remember(host, group, workspace):
    """Note that group verified host (a failure to write costs only retries at the next start)."""
    from picoclaw.state import makedirs, write_atomic

    keep = [e for e in _entries(workspace) if e[0] != host][1 - _MAX_REMEMBERED:] + [(host, group)]
    try:
        makedirs(workspace + "/state")
        write_atomic(workspace + "/state/anchors", "".join("%s %s\n" % e for e in keep).encode())
    except OSError:
        pass


def refused(e):
    """True if a NetError is a certificate whose root we lack: not a lack of memory, and not
    a certificate for another host name (no root makes that one verify: CPython says
    "Hostname mismatch", mbedTLS "Common Name (CN) does not match with the expected CN")."""
    s = str(e).upper()
    if "MEMORY" in s or "MISMATCH" in s or "EXPECTED CN" in s:
        return False
    return "TRUST" in s or "VERIF" in s or "CERTIFICATE" in s or "CHAIN" in s


def handle(conn, err, timeout_ms):
    """httpclient.Connection._connect after its handshake failed with err (a netio.NetError):
    when the certificate was refused, try the other shipped groups in turn on fresh
    connections; the one that verifies becomes conn's context (conn.ctx stays as it was until
    then: never None, which would mean plain TCP) and is remembered for conn.host. Sets
    conn.stream, or raises err, or a NetError of one line saying how to add the missing root."""
    from picoclaw.net.stream import NetError

    if not refused(err):
        raise err
    ca_file, workspace = conn.trust  # the class attribute app set
    names = order(conn.host, workspace)
    try:
        for name in names[1:]:  # names[0] is the one that just failed
            ctx = trust.context(ca_file, True, (name,))  # a group name: just that group
            try:
                conn.stream = conn.opener(conn.host, conn.port, ctx, timeout_ms)
            except NetError as e:
                if not refused(e):
                    raise
                continue
            conn.ctx = ctx
            remember(conn.host, name, workspace)
            return
        raise NetError("TLS with %s:%d failed: certificate not trusted by the shipped roots (%s) nor "
                       "tls.ca_file: put the server's root CA in tls.ca_file (python tools/flash.py "
                       "ca %s --chain chain.pem), and check the board's clock"
                       % (conn.host, conn.port, " ".join(names), conn.host))
    finally:
        trust.unload()
        from picoclaw import unload

        unload("picoclaw.net.anchors", "picoclaw.net.trust")  # they came in for this failure only


def describe(host, ca_file, verify, workspace):
    """One line for `picoclaw status`: which roots a connection to host uses."""
    if not verify:
        return "%s: certificates NOT checked (tls.verify false)" % host
    names = order(host, workspace)
    extra = " + tls.ca_file" if ca_file else ""
    if remembered(host, workspace) == names[0]:
        why = "remembered: it verified this host before"
    elif mapped(host):
        why = "the built-in map"
    else:
        why = None
    labels = [g[1].decode() for g in trust.roots("table").ALL if g[0].decode() == names[0]]
    trust.unload()
    if why is None and ca_file:
        return "%s: not in the built-in map: tls.ca_file's roots; if refused, the groups %s in " \
               "turn, and remembers the one that verifies" % (host, ", ".join(names))
    if why is None:
        return "%s: not in the built-in map: tries the groups %s in turn, remembers the one " \
               "that verifies" % (host, ", ".join(names))
    return "%s: roots %s (%s)%s, from %s; if refused, the other groups in turn" % (
        host, names[0], labels[0], extra, why)
