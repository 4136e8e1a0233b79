# Run on the unix port by tools/bench_setup.py --board: `picoclaw setup` with a board's TLS
# memory standing in the heap. Each handshake the checks make (getMe, the model's one-token
# request) allocates, inside this heap, what that board's mbedTLS allocates there: the receive
# buffer in one block, the send buffer, then the handshake's peak in pieces (net/tlsheap's
# stand-in, failing as mbedTLS fails). No reserve is held, since setup mode makes no TLS plan
# on a board. HOST ONLY.
#
#   micropython mp_setup_tls.py BOARD_JSON <the arguments of picoclaw setup>
#
# net/http and net/tlsheap stay loaded for the whole run (setup loads net/http only for its
# checks, which is where the peak is), so the figure is an upper bound by tlsheap's code.
import sys

from picoclaw.net import http, tlsheap

with open(sys.argv.pop(1)) as f:  # then sys.argv[1:] is what picoclaw's __main__ reads
    import json

    profile = json.load(f)["tls"]
http.Connection.tls_plan = tlsheap.Plan(profile, False, True, [], 0)
del json, profile, f, http, tlsheap
import picoclaw.__main__  # noqa: E402,F401  (runs setup)
