# Run on the unix port by test_httpclient.py: read an HTTP body through Connection.fill()
# with the heap locked, proving the socket read path does not allocate.
import sys

import micropython

from picoclaw import app
from picoclaw.net import http as httpclient

url = sys.argv[1]
conn = httpclient.Connection(app.split_url(url), bytearray(512), None)
conn.request(b"GET", b"/big", timeout_ms=5000)
conn.fill()  # first piece outside the lock (first-call caches)
total = 0
micropython.heap_lock()
try:
    while True:
        n = conn.fill()
        if not n:
            break
        total += n
finally:
    micropython.heap_unlock()
print("read", total, "bytes with the heap locked; status", conn.status)
