# The setup DNS responder on the unix port, from .mpy: answers on BIND:PORT with IP until
# killed. First it prints the heap the module and one Responder take, and builds one answer
# under micropython.heap_lock() (the answer is made in place: an allocation fails the run).
# HOST ONLY (test_setup_dns.py): never deployed.
#
#   MICROPYPATH=build/mpy:host_tests/support:.frozen micropython -m dns_driver IP PORT BIND
import gc
import select
import sys

import micropython

gc.collect()
before = gc.mem_alloc()
from picoclaw.portal.dns import Responder  # noqa: E402 - measured from here

r = Responder(sys.argv[1], int(sys.argv[2]), sys.argv[3])
gc.collect()
print("DNS heap %d" % (gc.mem_alloc() - before))
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
r.buf[:len(q)] = q
micropython.heap_lock()
n = r._build(len(q))
micropython.heap_unlock()
print("DNS built %d bytes under heap_lock" % n)
p = select.poll()
p.register(r.sock, select.POLLIN)
print("DNS ready")
while True:
    for _ in p.poll(1000):
        r.answer_one()
