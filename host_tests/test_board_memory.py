"""The boards' memory on the unix port: with a board's profile (its board.json beside the config,
PICOCLAW_TLS_STAND_IN=1) every TLS connection holds what it holds on that board and every
handshake allocates its peak inside the GC heap (net/tlsheap.py), failing as mbedTLS fails
there. The agent burst at the Pico W's heap, a long run of reconnects, one connection at a time
where two do not fit, and an out-of-memory handshake said as memory, never as a certificate."""
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402
import gatewayrun  # noqa: E402
import unixport  # noqa: E402
from fakes.telegram_server import FakeTelegram  # noqa: E402

RATIO_32 = 0.70  # a 32-bit board's objects against the 64-bit port's (measured, README)


def _board(name):
    with open(os.path.join(ROOT, "boards", name, "board.json")) as f:
        return json.load(f)


def _heap_for_64_bit(name):
    """The board's GC heap, scaled for this port: TLS's bytes (two connections and the reserve
    of one) are the same on both, the rest is 1/0.70 as big here."""
    b = _board(name)
    tls = 3 * b["tls"]["held"]
    return int((tls + (b["gc_heap"] - tls) / RATIO_32) // 1024)


def test_the_agent_burst_fits_the_pico_w_with_both_connections_kept():
    kb = _heap_for_64_bit("RPI_PICO_W")
    r = bench.run_ours("tools", kb, 40, board="RPI_PICO_W")
    assert r, "the two-tool burst did not complete at %dk under the Pico W profile" % kb
    assert not r["tls_single"] and not r["tls_reserve_missed"] and r["tls_out_of_memory"] == 0
    assert r["tg_conns"] == 1 and r["llm_conns"] == 1  # both kept alive: 2 handshakes in all
    # the reserve and the two connections are in the heap: it is well above the plain port's
    plain = bench.run_ours("tools", 512, 10)
    assert r["end"] - plain["end"] > 3 * _board("RPI_PICO_W")["tls"]["held"] - 4096


def test_reconnects_after_a_long_run_all_succeed_at_the_pico_w_heap():
    # Telegram drops every connection idle for 2 ms, so its connection is made again for
    # nearly every message while the model's stays up: hundreds of handshakes on an aged heap
    kb = _heap_for_64_bit("RPI_PICO_W")
    n = 1000
    r = bench.run_ours("tools", kb, n, board="RPI_PICO_W", idle_s=0.002)
    assert r, "the run with reconnects did not complete at %dk" % kb  # every message answered once
    assert r["tg_conns"] > n // 4, r["tg_conns"]  # the reconnects happened
    # every handshake found its room; the only errors allowed are the fake closing a connection
    # just as a request arrived (a network retry, nothing lost): a few in a thousand
    assert r["tls_out_of_memory"] == 0 and not r["tls_reserve_missed"] and r["errors"] <= n // 40


def test_where_two_connections_do_not_fit_one_is_open_at_a_time():
    r = bench.run_ours("tools", 150, 40, board="RPI_PICO_W")
    assert r, "the two-tool burst did not complete at 150k, one connection at a time"
    assert r["tls_single"] and r["tls_out_of_memory"] == 0 and r["errors"] == 0
    assert r["tg_conns"] + r["llm_conns"] > 40  # a handshake at every switch: counted, and said


def _echo_once(tmp_path, heap_kb, **fake):
    with FakeTelegram(**fake) as tg:
        alice = tg.user(111, "Alice", "alice")
        tg.send_text(alice, "hello")
        cfg = gatewayrun.write_config(tg)
        shutil.copy(os.path.join(ROOT, "boards", "RPI_PICO_W", "board.json"), os.path.dirname(cfg))
        r = unixport.run(["-m", "picoclaw", "gateway", "--config", cfg, "--cycles", "1"],
                         heap="%dk" % heap_kb, path=unixport.build() + ":.frozen", PICOCLAW_TLS_STAND_IN="1")
        return r.stdout + r.stderr


def test_a_handshake_short_of_memory_is_said_as_memory_not_as_a_certificate(tmp_path):
    # 94k: the receive buffer fits, the rest of the handshake does not (mbedTLS then says
    # "not correctly signed"); 76k: not even the receive buffer (ENOMEM)
    for kb in (94, 76):
        out = _echo_once(tmp_path, kb)
        lines = [l for l in out.splitlines() if "TLS handshake to localhost ran out of memory" in l]
        assert lines, "%dk:\n%s" % (kb, out[-2000:])
        assert "KB free, largest block" in lines[0] and "needs about 32 KB" in lines[0], lines[0]
        assert "certificate" not in out.lower() and "check the time" not in out, out[-2000:]


def test_a_certificate_refused_with_room_to_spare_is_still_a_certificate(tmp_path):
    out = _echo_once(tmp_path, 256, unknown_ca=True)
    assert "certificate not trusted" in out and "ran out of memory" not in out, out[-2000:]
