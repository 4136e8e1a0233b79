# The captive portal's DNS: every A query is answered with the board's own address, so
# whatever a phone on the setup network looks up (connectivitycheck.gstatic.com,
# captive.apple.com, www.msftconnecttest.com) leads to the setup page.
#
# One query at a time, from a fixed 512-byte buffer: the answer is the query itself with
# its header rewritten and one A record appended (RFC 1035 4.1), so nothing is parsed into
# objects and nothing grows with the query. AAAA and every other type get NOERROR with no
# records (NODATA), which makes a phone fall back to IPv4 at once instead of waiting for a
# timeout. Anything that is not one plain question (a response, another opcode, a name
# that runs past the packet, a compression pointer in the question) is dropped unanswered:
# a reply to garbage is how DNS loops and reflection start.
#
#     r = Responder("192.168.4.1", 53)
#     poller.register(r.sock, select.POLLIN)
#     ... on POLLIN: r.answer_one()
import socket

from micropython import const

_BUF = const(512)  # the largest DNS message over UDP without EDNS (RFC 1035 2.3.4): stub
#                    resolvers send their queries far below it; a longer datagram is no
#                    plain query and is dropped
_HEAD = const(12)  # the fixed header: id, flags, four counts
_NAME = const(255)  # the longest domain name in wire form (RFC 1035 2.3.4)
_LABEL = const(63)  # the longest label; lengths 64-191 are reserved, 192+ are pointers
_ANSWER = const(16)  # one A record: name pointer 2, type 2, class 2, TTL 4, length 2, address 4
_A = const(1)  # QTYPE A: the only one answered with a record
_IN = const(1)  # QCLASS IN
_ANY = const(255)  # QCLASS "*": treated as IN
# TTL 0: nothing may keep the board's address for a real name once setup ends and the phone
# is back on its home network (a cached captive.apple.com -> 192.168.4.1 would look like a
# portal there)
_TTL = const(0)


class Responder:
    """The DNS socket of setup mode. ip: the address every A query gets ("192.168.4.1");
    port: the UDP port (53 on a board); bind: the address to listen on (default ip: on a
    board the access point's own, so a station link joined for the Wi-Fi check is never
    answered). `sock` is non-blocking: poll it, then call answer_one()."""

    def __init__(self, ip, port=53, bind=None):
        try:
            self._ip = bytes(int(x) for x in ip.split("."))
        except ValueError:  # a part that is no number, or over 255
            self._ip = b""
        if len(self._ip) != 4:
            raise ValueError("dns: %r is no IPv4 address" % ip)
        self.buf = bytearray(_BUF)  # the query, then the answer built over it
        self._mv = memoryview(self.buf)
        self.answered = 0  # queries answered (for the log and the tests)
        s = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(bind or ip, port)[0][-1])
        s.setblocking(False)

    def close(self):
        self.sock.close()

    def answer_one(self):
        """Read one datagram and answer it when it is a query: True when an answer was
        sent, False when there was nothing to read or the datagram was dropped."""
        try:
            # one byte over: a longer datagram shows as _BUF + 1 bytes. The ports have no
            # recvfrom_into: the datagram and its sender's address are allocated
            data, addr = self.sock.recvfrom(_BUF + 1)
        except OSError:  # EAGAIN: nothing waiting (or the stack dropped it)
            return False
        n = len(data)
        if n > _BUF:
            return False
        b = self.buf
        b[:n] = data
        data = None
        n = self._build(n)
        if not n:
            return False
        try:
            self.sock.sendto(self._mv[:n], addr)
        except OSError:  # the sender is gone, or no buffer in the stack: the phone asks again
            return False
        self.answered += 1
        return True

    def _build(self, n):
        # buf[:n] holds a datagram: rewrite it into the answer in place; its length, or 0
        # to drop it
        b = self.buf
        if n < _HEAD + 5:  # a header and the shortest question (root name, type, class)
            return 0
        # a standard query (QR 0, opcode 0) with exactly one question and no answers; an
        # additional record (the EDNS OPT a resolver adds) is allowed and left out of the
        # answer, which RFC 6891 7 permits for a responder without EDNS
        if b[2] & 0xF8 or b[4] or b[5] != 1 or b[6] or b[7] or b[8] or b[9]:
            return 0
        i = _HEAD
        while True:  # the question's name: labels up to the root's zero
            k = b[i]
            if k == 0:
                break
            if k > _LABEL:  # a pointer (nothing to point back at in a question) or reserved
                return 0
            i += k + 1
            if i - _HEAD > _NAME or i >= n:
                return 0
        i += 1
        end = i + 4  # QTYPE, QCLASS
        if end > n:
            return 0
        a = b[i] == 0 and b[i + 1] == _A and b[i + 2] == 0 and b[i + 3] in (_IN, _ANY)
        b[2] = 0x84 | (b[2] & 0x01)  # a response, authoritative, RD copied from the query
        b[3] = 0  # no recursion available, NOERROR
        b[7] = 1 if a else 0  # ANCOUNT
        b[10] = b[11] = 0  # ARCOUNT: the query's OPT record is not echoed
        if not a:
            return end
        b[end] = 0xC0  # the answer's name: a pointer to the question's, at offset 12
        b[end + 1] = _HEAD
        b[end + 2] = 0
        b[end + 3] = _A
        b[end + 4] = 0
        b[end + 5] = _IN
        b[end + 6] = b[end + 7] = b[end + 8] = 0
        b[end + 9] = _TTL
        b[end + 10] = 0
        b[end + 11] = 4
        ip = self._ip
        for j in range(4):  # byte by byte: a slice assignment would allocate a slice
            b[end + 12 + j] = ip[j]
        return end + _ANSWER
