# TLS trust at start: the SSLContext that verifies certificates and host names.
#
# Trust anchors = groups of the roots shipped in roots_<group>.py (tools/gen_roots.py) + the
# PEM or DER file named by config `tls.ca_file`. A board parses every CA it loads into its heap
# (a Pico W's mbedTLS into the GC heap), so only the group each configured host starts with is
# loaded: the one remembered for it in <workspace>/state/anchors, else the one roots.ALL maps
# it to (best knowledge), else the table's first. A refused certificate tries the other groups
# (anchors.py, loaded then only). The context is built once and reused for every reconnect;
# this module and the roots leave the heap after. What only a failure or `status` needs lives
# in anchors.py, and the names here are ones the echo start uses anyway (docs/memory.md).
import ssl
from binascii import a2b_base64

from micropython import const

_MAX_CERT = const(4096)  # bytes of DER per certificate (real roots are 0.5-2 KB); one cert is in
#                   RAM at a time, so a bundle of any length costs only its biggest member


def load_ca_file(path):
    """Yield the DER certificates of a PEM or DER file, one at a time: the file is read
    line by line so a big bundle never sits in RAM whole."""
    with open(path, "rb") as f:
        first = f.read(1)
        if first == b"\x30":  # DER: an ASN.1 SEQUENCE
            der = first + f.read(_MAX_CERT)
            if len(der) > _MAX_CERT:
                raise ValueError("certificate over %d bytes" % _MAX_CERT)
            yield der
            return
        f.seek(0)
        start = -1  # file offset of the base64 of the certificate being read, -1 outside one
        found = 0
        while True:
            at = f.tell()
            line = f.readline()
            if not line:
                break
            line = line.strip()
            if line == b"-----BEGIN CERTIFICATE-----":
                start = f.tell()
            elif line == b"-----END CERTIFICATE-----" and start >= 0:
                # the base64 read back in one piece and decoded in one (line breaks are
                # skipped): a buffer grown line by line would leave holes at start-up
                if at - start > _MAX_CERT * 3 // 2:  # base64 is 4/3 of it, plus the line breaks
                    raise ValueError("certificate over %d bytes" % _MAX_CERT)
                f.seek(start)
                b64 = f.read(at - start)
                f.readline()  # the END line again
                found += 1
                der = a2b_base64(b64)
                b64 = None
                yield der
                der = None
                start = -1
        if start >= 0:
            raise ValueError("unterminated certificate in PEM")
        if not found:
            raise ValueError("no certificate found (want PEM or DER)")


def context(ca_file=None, verify=True, want=(), workspace=None):
    """An SSLContext for clients with the roots of the group each of `want` resolves to (a
    host: the group it starts with; a group's name: that group), and tls.ca_file's.
    verify=False (config tls.verify) disables all checks. One context for Telegram and the model: a context costs
    3.2 KB of heap besides its roots (unix port), and a root of the other host's group in it
    is still one we trust.

        ctx = trust.context(None, True, ("api.telegram.org",), "/workspace")  # Go Daddy's roots
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    names = []
    for w in want:
        # a host outside the map, with tls.ca_file set: that file's roots alone (its likely
        # reason: the user's own server); the shipped groups come in turn if it is refused
        g = resolve(w, workspace) or (None if ca_file else roots("table").ALL[0][0].decode())
        if g and g not in names:
            names.append(g)
    for g in names:
        # mbedTLS (and OpenSSL) copy what they parse: the module's bytes can go right after
        for der in roots(g).ALL:
            ctx.load_verify_locations(cadata=der)
        unload()
    if ca_file:
        try:
            for der in load_ca_file(ca_file):
                ctx.load_verify_locations(cadata=der)
        except (OSError, ValueError) as e:
            raise ValueError("tls.ca_file %s: %s" % (ca_file, e))
    return ctx


def resolve(host, workspace=None):
    """The group a connection to host starts with: the one remembered for it in
    <workspace>/state/anchors, else the one roots.ALL maps it to, else None (a host of its
    own: context() starts it with tls.ca_file, or the table's first group without one). A
    group's own name resolves to itself."""
    table = roots("table").ALL
    h = host.encode()
    name = h
    try:
        with open(workspace + "/state/anchors") as f:  # "host group" lines (anchors.py)
            for line in f:
                p = line.split()
                if len(p) == 2 and p[0] == host:
                    name = p[1].encode()
    except (OSError, TypeError):  # none yet, or no workspace (TypeError: None)
        pass
    for g in table:
        if g[0] == name:
            return g[0].decode()
    for g in table:
        if h in g[2].split():
            return g[0].decode()
    return None


def roots(name):
    """The module picoclaw.net.roots.<name>: "table" (the groups) or a group's roots. One
    already in sys.modules is used as it is (tests point the table at their own CAs)."""
    import sys

    name = "picoclaw.net.roots." + name
    if name not in sys.modules:
        __import__(name)
    return sys.modules[name]


def unload():
    """Drop the roots modules (real modules only: a test's stand-ins stay): their bytes leave
    RAM, and are imported again if needed."""
    import sys

    from picoclaw import unload as drop

    drop(*[k for k in list(sys.modules) if k.startswith("picoclaw.net.roots")  # and the package
           and type(sys.modules[k]) is type(sys)])
