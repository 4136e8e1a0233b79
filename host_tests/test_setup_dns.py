"""The setup mode's DNS responder (firmware/picoclaw/portal/dns.py) asked real DNS questions.

dnspython's resolver (a real stub resolver: it checks the id, the question echoed and the
answer's shape) asks a loopback port where the responder runs, under CPython (a thread) and
on the unix port from .mpy (support/dns_driver.py). Every A query gets the board's address,
AAAA and MX get NOERROR with no records, and malformed datagrams sent with a raw socket get
no answer at all, after which the responder still answers.
"""
import random
import select
import socket
import string
import struct
import subprocess
import threading

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

import unixport

BOARD_IP = "192.168.4.1"  # what the answers carry (an access point's address); the
#                           responder listens on loopback
NAMES = ("connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com", "clients3.google.com")


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CPythonResponder:
    """dns.Responder polled by a thread, as server.serve polls it."""

    def __init__(self):
        from picoclaw.portal.dns import Responder

        self.port = free_udp_port()
        self.r = Responder(BOARD_IP, self.port, "127.0.0.1")
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        p = select.poll()
        p.register(self.r.sock, select.POLLIN)
        while not self._stop:
            for _ in p.poll(50):
                self.r.answer_one()

    def close(self):
        self._stop = True
        self._t.join(5)
        self.r.close()


class UnixPortResponder:
    def __init__(self):
        self.port = free_udp_port()
        self.p = subprocess.Popen([unixport.micropython(), "-X", "heapsize=32k", "-m", "dns_driver", BOARD_IP,
                                   str(self.port), "127.0.0.1"], cwd=unixport.ROOT, env=unixport.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        while True:
            line = self.p.stdout.readline()
            assert line, "dns_driver ended:\n" + "".join(self.lines)
            self.lines.append(line)
            if line.startswith("DNS ready"):
                break

    def close(self):
        self.p.kill()
        self.p.wait(5)


@pytest.fixture(params=["cpython", "unixport"], scope="module")
def responder(request):
    r = CPythonResponder() if request.param == "cpython" else UnixPortResponder()
    yield r
    r.close()


def resolver(port):
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port
    res.timeout = res.lifetime = 3
    return res


def ask(port, name, rdtype="A", edns=-1):
    q = dns.message.make_query(name, rdtype, use_edns=edns)
    return q, dns.query.udp(q, "127.0.0.1", port=port, timeout=3)


def raw(port, data, wait=0.3):
    """Send one datagram; the answer's bytes, or None when none came within `wait` s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(wait)
    try:
        s.sendto(data, ("127.0.0.1", port))
        return s.recv(2048)
    except socket.timeout:
        return None
    finally:
        s.close()


def random_name(rng):
    # the longest a name may be: 253 characters in text form
    labels = ["".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n)) for n in (63, 63, 63, 61)]
    return ".".join(labels)


def test_every_a_query_gets_the_board_address(responder):
    res = resolver(responder.port)
    for name in NAMES + (random_name(random.Random(17)),):
        ans = res.resolve(name, "A")
        assert [r.address for r in ans] == [BOARD_IP], name
        assert ans.rrset.ttl == 0
        assert ans.response.rcode() == dns.rcode.NOERROR
        assert ans.response.flags & dns.flags.AA


def test_the_answer_echoes_the_question_and_points_at_it(responder):
    q = dns.message.make_query("CaPtIvE.Apple.com", "A", use_edns=-1)  # 0x20 mixed case kept
    q.id = 0xBEEF
    wire = q.to_wire()
    out = raw(responder.port, wire)
    assert out is not None
    qlen = len(wire)
    assert out[:2] == b"\xbe\xef"
    flags, qd, an, ns, ar = struct.unpack("!HHHHH", out[2:12])
    assert flags == 0x8500  # response, authoritative, RD kept, NOERROR
    assert (qd, an, ns, ar) == (1, 1, 0, 0)
    assert out[12:qlen] == wire[12:]  # the question as asked, byte for byte
    assert out[qlen:] == b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton(BOARD_IP)


def test_edns_queries_are_answered_without_the_opt_record(responder):
    q, r = ask(responder.port, "connectivitycheck.gstatic.com", "A", edns=0)
    assert r.edns == -1  # no OPT record in the answer (RFC 6891 7: allowed)
    assert [i.address for i in r.answer[0]] == [BOARD_IP]


@pytest.mark.parametrize("rdtype", ["AAAA", "MX", "TXT", "HTTPS"])
def test_other_types_get_noerror_and_no_records(responder, rdtype):
    q, r = ask(responder.port, "captive.apple.com", rdtype)
    assert r.rcode() == dns.rcode.NOERROR and r.answer == [] and r.question == q.question
    with pytest.raises(dns.resolver.NoAnswer):  # so a phone falls back to IPv4 at once
        resolver(responder.port).resolve("connectivitycheck.gstatic.com", rdtype)


def _header(flags=0x0100, qd=1, an=0, ns=0, ar=0, qid=0x4242):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = b"\x07example\x03com\x00\x00\x01\x00\x01"
MALFORMED = {
    "empty": b"",
    "short header": b"\x00\x01\x01",
    "header only": _header(),
    "a response": _header(flags=0x8180) + QUESTION,
    "opcode STATUS": _header(flags=0x1000) + QUESTION,
    "opcode NOTIFY": _header(flags=0x2000) + QUESTION,
    "two questions": _header(qd=2) + QUESTION + QUESTION,
    "no question": _header(qd=0) + QUESTION,
    "answers in a query": _header(an=1) + QUESTION,
    "label over 63": _header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
    "pointer in the question": _header() + b"\xc0\x0c\x00\x01\x00\x01",
    "name past the end": _header() + b"\x07exam",
    "no zero label": _header() + b"\x07example\x03com",
    "type cut short": _header() + b"\x07example\x03com\x00\x00\x01\x00",
    "name over 255": _header() + (b"\x3f" + b"a" * 63) * 4 + b"\x05aaaaa\x00\x00\x01\x00\x01",
    "garbage": bytes(random.Random(5).randrange(256) for _ in range(300)),
    "oversized": _header() + b"\x3f" + b"a" * 63 + b"\x00" * 1500,
}


def test_malformed_datagrams_are_dropped_and_the_responder_survives(responder):
    for what, data in MALFORMED.items():
        assert raw(responder.port, data) is None, what
    # still answering, for a query straight after the garbage
    assert [r.address for r in resolver(responder.port).resolve("www.msftconnecttest.com", "A")] == [BOARD_IP]


def test_the_root_and_class_any(responder):
    out = raw(responder.port, _header() + b"\x00\x00\x01\x00\x01")  # "." A
    assert out is not None and struct.unpack("!H", out[6:8])[0] == 1
    out = raw(responder.port, _header() + QUESTION[:-2] + b"\x00\xff")  # class ANY
    assert out is not None and out.endswith(socket.inet_aton(BOARD_IP))
    out = raw(responder.port, _header() + QUESTION[:-2] + b"\x00\x03")  # class CHAOS: no records
    assert out is not None and struct.unpack("!H", out[6:8])[0] == 0


def test_many_queries_in_a_row(responder):
    res = resolver(responder.port)
    rng = random.Random(3)
    for _ in range(50):
        name = "%s.example" % "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(1, 40)))
        assert [r.address for r in res.resolve(name, "A")] == [BOARD_IP]


def test_unix_port_heap_and_no_allocation_in_the_build():
    r = UnixPortResponder()
    try:
        out = "".join(r.lines)
    finally:
        r.close()
    assert "DNS built 45 bytes under heap_lock" in out, out
    heap = int(out.split("DNS heap ")[1].split()[0])
    print("\nFIGURE setup DNS responder on the unix port from .mpy: %d bytes of heap (module + one "
          "Responder with its 512-byte buffer)" % heap)
    assert heap < 4096


def test_a_bad_address_is_one_line():
    from picoclaw.portal.dns import Responder

    with pytest.raises(ValueError, match="dns: '10.0.1' is no IPv4 address"):
        Responder("10.0.1", free_udp_port(), "127.0.0.1")
