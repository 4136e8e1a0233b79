# The SSRF guard of the web tools: a host the model names is resolved once, its address
# checked, and the connection made to that very address (no second lookup that a DNS
# answer with a short TTL could turn to another one).
#
#     addr = guard.check("example.org", 443, ctx.web[1])   # ValueError: refused, said why
#     stream = guard.connect("example.org", 443, ssl_ctx, 15000, ctx.web[1])
#
# Refused unless the host name or the address is listed in tools.web.private_host_whitelist
# (an entry is a host name, an address, or a CIDR range such as 192.168.1.0/24): loopback
# (127/8, ::1), "this network" (0/8, ::), private (10/8, 172.16/12, 192.168/16), shared
# (100.64/10), link-local (169.254/16, fe80::/10: the cloud metadata service lives there),
# unique-local (fc00::/7), multicast and reserved (224/3, ff00::/8), IPv4 inside IPv6
# (::ffff:a.b.c.d, 6to4) by its IPv4 rule; and names that mean this machine or the cloud's
# metadata service (localhost, *.localhost, metadata.google.internal) whatever they resolve to.
# Loaded only while a web tool runs; the rules are bytes compared, no tables in RAM.
import socket

from micropython import const

_AF_INET6 = const(10)  # Linux's number; lwIP returns tuples, where the text tells the family

# a rule's name, by number (one literal: the names are only ever in a message)
_RULES = ("a loopback address|a this-network address|a private address|a shared (carrier NAT) address|"
          "a link-local address|a unique-local address|a multicast or reserved address|"
          "the cloud metadata service|a name for this machine").split("|")


def parse(text):
    """The 4 or 16 bytes of an IPv4 or IPv6 address in text (str), or None if it is not one."""
    if text[:1] == "[" and text[-1:] == "]":
        text = text[1:-1]
    i = text.find("%")  # fe80::1%eth0: the zone says nothing about the address
    if i >= 0:
        text = text[:i]
    if ":" not in text:
        p = text.split(".")
        if len(p) != 4:
            return None
        out = bytearray(4)
        for k in range(4):
            if not p[k].isdigit() or len(p[k]) > 3 or int(p[k]) > 255:
                return None
            out[k] = int(p[k])
        return bytes(out)
    tail = b""
    if "." in text:  # ::ffff:1.2.3.4
        j = text.rfind(":")
        tail = parse(text[j + 1:])
        if tail is None:
            return None
        text = text[:j + 1] + "0:0"
    halves = text.split("::")
    if len(halves) > 2:
        return None
    groups = []
    for h in halves:
        g = []
        for part in (h.split(":") if h else ()):
            if not part or len(part) > 4:
                return None
            try:
                g.append(int(part, 16))
            except ValueError:
                return None
        groups.append(g)
    if len(halves) == 2:
        fill = 8 - len(groups[0]) - len(groups[1])
        if fill < 1:
            return None
        g = groups[0] + [0] * fill + groups[1]
    else:
        g = groups[0]
    if len(g) != 8:
        return None
    out = bytearray(16)
    for k in range(8):
        out[2 * k] = g[k] >> 8
        out[2 * k + 1] = g[k] & 255
    if tail:
        out[12:16] = tail
    return bytes(out)


def rule(a):
    """The number of the rule (_RULES) that refuses address a (4 or 16 bytes), or -1."""
    if len(a) == 16:
        if a[:10] == bytes(10) and (a[10:12] == b"\xff\xff" or a[10:12] == b"\x00\x00" and a[12:14] != b"\x00\x00"):
            return rule(a[12:])  # IPv4-mapped (and the old IPv4-compatible form)
        if a[:2] == b"\x20\x02":
            return rule(a[2:6])  # 6to4 carries an IPv4 address that the relay reaches
        if a == bytes(15) + b"\x01":
            return 0
        if a == bytes(16):
            return 1
        if a[0] == 0xFE and a[1] & 0xC0 == 0x80:
            return 4
        if a[0] & 0xFE == 0xFC:
            return 5
        if a[0] == 0xFF:
            return 6
        return -1
    b0, b1 = a[0], a[1]
    if b0 == 127:
        return 0
    if b0 == 0:
        return 1
    if b0 == 10 or b0 == 172 and 16 <= b1 < 32 or b0 == 192 and b1 == 168:
        return 2
    if b0 == 100 and 64 <= b1 < 128:
        return 3
    if b0 == 169 and b1 == 254:
        return 7 if a == b"\xa9\xfe\xa9\xfe" else 4  # 169.254.169.254: every cloud's metadata
    if b0 >= 224:
        return 6
    return -1


def _listed(host, a, allow):
    """host (lower case) or address a is in the whitelist `allow` (names, addresses, CIDRs)."""
    for e in allow:
        e = e.strip().lower()
        if e == host:
            return True
        bits = -1
        i = e.find("/")
        if i > 0:
            try:
                bits = int(e[i + 1:])
            except ValueError:
                continue
            e = e[:i]
        w = parse(e)
        if w is None or len(w) != len(a):
            continue
        if bits < 0:
            bits = len(a) * 8
        k = 0
        while k < bits and k < len(a) * 8:
            if (w[k >> 3] ^ a[k >> 3]) & (0x80 >> (k & 7)):
                break
            k += 1
        else:
            return True
    return False


def _address(ai):
    """The address bytes of a getaddrinfo entry: the unix port gives a raw sockaddr
    (family, port, then the address), CPython and lwIP a (text, port, ...) tuple."""
    sa = ai[-1]
    if isinstance(sa, tuple):
        return parse(sa[0])
    return bytes(sa[8:24]) if ai[0] == _AF_INET6 else bytes(sa[4:8])


def refusal(host, what, n):
    """The one-line refusal for host (what: its address, or "by its name") by rule n."""
    name = host
    if what != host:
        host = "%s (%s)" % (host, what)
    return ValueError("%s is %s: refused, the web tools reach only public hosts; to allow it "
                      "add \"%s\" to tools.web.private_host_whitelist" % (host, _RULES[n], name))


def check(host, port, allow=()):
    """The getaddrinfo entry to connect to for host:port, after the rules above; raises
    ValueError (one line naming the host, the rule and the whitelist) when refused or when
    the name does not resolve."""
    h = host.lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    named = -1
    if h == "localhost" or h.endswith(".localhost"):
        named = 8
    elif h == "metadata.google.internal" or h == "metadata":
        named = 7
    if named >= 0 and h not in [e.strip().lower() for e in allow]:
        raise refusal(host, "by its name", named)
    try:
        ai = socket.getaddrinfo(h, port, 0, socket.SOCK_STREAM)[0]
    except OSError:  # MicroPython: OSError(-2); CPython: socket.gaierror
        raise ValueError("cannot resolve %s (DNS): check the host name in the URL" % host)
    a = _address(ai)
    if a is None:
        raise ValueError("%s: an address the guard cannot read: refused" % host)
    n = rule(a)
    if n >= 0 and not _listed(h, a, allow):
        raise refusal(host, _text(a), n)
    return ai


def _text(a):
    if len(a) == 4:
        return "%d.%d.%d.%d" % (a[0], a[1], a[2], a[3])
    return ":".join("%x" % (a[k] << 8 | a[k + 1]) for k in range(0, 16, 2))


def connect(host, port, ctx, timeout_ms, allow=()):
    """A net/stream.Stream to host:port at the address check() let through (TLS with ctx,
    its certificate checked for host); the same errors as net/stream.open_stream, and
    check()'s ValueError."""
    from picoclaw.net.stream import Stream, failure

    ai = check(host, port, allow)
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.settimeout(timeout_ms / 1000)
        try:
            s.connect(ai[-1])
        except OSError as e:
            raise failure(1, e, host, port, timeout_ms)
        if ctx is not None:
            try:
                s = ctx.wrap_socket(s, server_hostname=host)
            except (OSError, ValueError) as e:  # MicroPython: a refused certificate is a ValueError
                raise failure(2, e, host, port, timeout_ms)
    except BaseException:
        s.close()
        raise
    return Stream(s)
