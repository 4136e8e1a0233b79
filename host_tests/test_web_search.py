"""The web_search tool (firmware/picoclaw/tools/search.py) against the fake backends
(support/fakes/search_server.py: Brave, Tavily, SearXNG and DuckDuckGo's HTML page, each in
its real wire format, over TLS on loopback).

- CPython: each backend's results (numbered, capped, tags and entities gone, DuckDuckGo's
  redirect decoded, its ad left out), answers chunked in tiny pieces, the request each
  backend gets (path, query, headers, key), every error as one line (a refused key, 429,
  5xx, garbage, no results, a stall), bad arguments; and tools.web's "auto" pick
  (agent/setup.web, through config.load); tavily-python's client takes the fake's answers.
- the unix port, from .mpy: the same tool, each backend, and DuckDuckGo pages of ~30 KB and
  ~430 KB (10 results, 2 KB or 42 KB of markup after each; half of it read for 5) in the same
  small heap.
- end to end: the gateway on the unix port with the fake Telegram and the fake LLM, whose
  scripted tool call runs web_search; the results reach the model, the answer the chat.
"""
import io
import json
import os
import shutil
import ssl
import tempfile

import pytest

import gatewayrun
import unixport
from fakes.llm_server import FakeLLM
from fakes.search_server import BRAVE_KEY, DEFAULT_RESULTS, TAVILY_KEY, FakeSearch
from fakes.telegram_server import FakeTelegram
from picoclaw import config, tools
from picoclaw.agent import setup
from picoclaw.json.stream import JsonReader, StreamSource

PATHS = {"brave": "/res/v1/web/search", "tavily": "/search", "searxng": "", "duckduckgo": "/html/"}
KEYS = {"brave": BRAVE_KEY, "tavily": TAVILY_KEY, "searxng": "", "duckduckgo": ""}
BACKENDS = sorted(PATHS)


@pytest.fixture(scope="module")
def fake():
    with FakeSearch() as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(request):
    if "fake" in request.fixturenames:
        s = request.getfixturevalue("fake")
        s.fault, s.chunk, s.pad = None, 0, 0
        s.results = list(DEFAULT_RESULTS)


class _Borrowed:
    """The model connection the tool borrows its TLS context and buffer from."""

    def __init__(self, ca):
        self.ctx = ssl.create_default_context(cafile=ca)
        self.buf = bytearray(512)


class Ctx:
    def __init__(self, fake, backend, key=None, base=None, count=5, **kw):
        self.web = (0, (), (backend, KEYS[backend] if key is None else key,
                            # as agent/setup.web gives it: config drops a base_url's last "/"
                            (fake.base_url + PATHS[backend]).rstrip("/") if base is None else base, count))
        self.conn = _Borrowed(fake.ca_pem_path)
        self.small = bytearray(128)
        self.timeout_s = 10
        self.workspace = tempfile.gettempdir()
        self.__dict__.update(kw)


def search(ctx, args):
    """The tool's result text for the arguments object `args`."""
    path = os.path.join(tempfile.mkdtemp(prefix="websearch-"), "result")
    out = tools.Result(path, 4096)
    try:
        raw = args if isinstance(args, bytes) else json.dumps(args).encode()
        tools.run("web_search", JsonReader(StreamSource(io.BytesIO(raw), bytearray(128)), bytearray(128)), ctx, out)
    finally:
        out.close()
    with open(path, encoding="utf-8") as f:
        return f.read()


EXPECTED = (
    "1. MicroPython - Python for microcontrollers\n   https://micropython.org/\n"
    "   MicroPython is a lean and efficient implementation of the Python 3 programming language that"
    " includes a small subset of the Python standard library & is optimised to run on microcontrollers.\n"
    "2. PicoClaw: an AI assistant on a $10 board\n   https://github.com/sipeed/picoclaw\n"
    "   Ultra-efficient AI assistant in Go. \"Tiny\" <10 MB RAM, boots in 1 s.\n"
    "3. Raspberry Pi Pico W \u2013 datasheet\n"
    "   https://datasheets.raspberrypi.com/picow/pico-w-datasheet.pdf?x=1&y=2\n"
    "   Wireless-enabled microcontroller board \u00e9t\u00e9 \U0001F600 RP2040.")


def _expected(backend, query="python board"):
    return "Results for: %s (via %s)\n%s" % (query, backend, EXPECTED)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk", [0, 7])
def test_each_backend_results_and_request(fake, backend, chunk):
    fake.chunk = chunk
    text = search(Ctx(fake, backend), {"query": "python board"})
    assert text == _expected(backend), text
    req = fake.requests[-1]
    assert req["backend"] == backend and req["status"] == 200
    h = req["headers"]
    if backend == "brave":
        assert req["query"] == {"q": "python board", "count": "5"} and h["x-subscription-token"] == BRAVE_KEY
        assert h["accept"] == "application/json"
    elif backend == "tavily":
        assert h["authorization"] == "Bearer " + TAVILY_KEY and h["content-type"] == "application/json"
        assert req["json"]["query"] == "python board" and req["json"]["max_results"] == 5
        assert req["json"]["api_key"] == TAVILY_KEY and req["json"]["include_raw_content"] is False
    elif backend == "searxng":
        assert req["path"] == "/search"
        assert req["query"] == {"q": "python board", "format": "json", "categories": "general"}
    else:
        assert req["query"] == {"q": "python board"}


def test_the_official_tavily_client_accepts_the_fake(fake):
    # tavily-python's TavilyClient, over real TLS to the fake: its results, its errors
    import requests
    from tavily import InvalidAPIKeyError, UsageLimitExceededError

    def client(key):
        session = requests.Session()
        session.verify = fake.ca_pem_path
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace verify
        from tavily import TavilyClient

        return TavilyClient(api_key=key, api_base_url=fake.base_url, session=session)

    got = client(TAVILY_KEY).search("python board", max_results=3)
    assert [(r["title"], r["url"], r["content"]) for r in got["results"]] == list(DEFAULT_RESULTS[:3])
    req = fake.requests[-1]
    assert req["backend"] == "tavily" and req["status"] == 200 and req["json"]["max_results"] == 3
    with pytest.raises(InvalidAPIKeyError):
        client("tvly-wrong").search("python board")
    fake.fault = 429
    with pytest.raises(UsageLimitExceededError):
        client(TAVILY_KEY).search("python board")


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_caps_the_results_and_odd_queries_are_encoded(fake, backend):
    fake.results = [("Result %d" % i, "https://r%d.example/a" % i, "s" * 500) for i in range(12)]
    q = "caf\u00e9 & \"quotes\" + 100%/?#="
    text = search(Ctx(fake, backend, count=3), {"query": q, "count": "2"})
    lines = text.split("\n")
    assert lines[0] == "Results for: %s (via %s)" % (q, backend)
    assert lines[1:] == ["1. Result 0", "   https://r0.example/a", "   " + "s" * 300,
                         "2. Result 1", "   https://r1.example/a", "   " + "s" * 300]
    req = fake.requests[-1]
    got = req["json"]["query"] if backend == "tavily" else req["query"]["q"]
    assert got == q
    text = search(Ctx(fake, backend, count=3), {"query": "x", "count": 99})  # past 10: 10
    assert "10. " in text and "11. " not in text


def test_duckduckgo_page_of_any_size_and_html_in_titles(fake):
    fake.pad = 40000
    fake.chunk = 1000
    fake.results = [("Tom &amp; Jerry's <i>page</i>", "https://e.example/caf\u00e9?a=1&b=%C3%A9", "one  two\n three \U0001F600 \u00e9 <x> \"q\"")]
    text = search(Ctx(fake, "duckduckgo"), {"query": "tom"})
    # the page escapes the text (' as &#x27;, " as &quot;, & as &amp;, < as &lt;): decoded once,
    # it reads as the service showed it; whitespace folds; 40 KB of markup between results;
    # the uddg URL decoded, but not its bytes past ASCII (they stay %-encoded: valid UTF-8)
    assert text.split("\n")[1:] == ["1. Tom &amp; Jerry's <i>page</i>", "   https://e.example/caf%C3%A9?a=1&b=%C3%A9",
                                    "   one two three \U0001F600 \u00e9 <x> \"q\""], text


@pytest.mark.parametrize("backend,status,words", [
    ("brave", 429, "rate limit reached (HTTP 429) (retry after 7 s)"),
    ("tavily", 429, "rate limit reached (HTTP 429) (retry after 7 s)"),
    ("brave", 500, "failed on its side (HTTP 500)"),
    ("searxng", 503, "failed on its side (HTTP 503)"),
    ("tavily", 432, "search credits are used up"),
    ("duckduckgo", 202, "duckduckgo refused the search (HTTP 202"),
    ("duckduckgo", 500, "failed on its side (HTTP 500)"),
])
def test_status_errors_are_one_line(fake, backend, status, words):
    fake.fault = status
    text = search(Ctx(fake, backend), {"query": "q"})
    assert text.startswith("Results for: q (via %s)\nerror: " % backend) and words in text, text
    assert text.count("\n") == 1


def test_refused_keys_name_the_config_key(fake):
    text = search(Ctx(fake, "brave", key="wrong"), {"query": "q"})
    assert "error: brave refused the API key (HTTP 422): check tools.web.brave.api_key" in text
    assert fake.requests[-1]["status"] == 422
    text = search(Ctx(fake, "tavily", key="tvly-wrong"), {"query": "q"})
    assert "error: tavily refused the API key (HTTP 401): check tools.web.tavily.api_key" in text
    # a base_url that is not the backend's: its status, and the key to check
    text = search(Ctx(fake, "searxng", base=fake.base_url + "/x"), {"query": "q"})
    assert "error: searxng search answered HTTP 404: check tools.web.searxng" in text


def test_searxng_without_json_format(fake, monkeypatch):
    # an instance whose settings.yml does not list json answers format=json with 403
    orig = fake._searxng

    def no_json(conn, rec):
        rec["query"].pop("format", None)
        return orig(conn, rec)

    monkeypatch.setattr(fake, "_searxng", no_json)
    text = search(Ctx(fake, "searxng"), {"query": "q"})
    assert "error: searxng refused the search (HTTP 403): enable the json format" in text


@pytest.mark.parametrize("backend", ["brave", "tavily", "searxng"])
def test_garbage_and_no_results(fake, backend):
    fake.fault = "garbage"
    text = search(Ctx(fake, backend), {"query": "q"})
    assert "\nerror: %s answered with something that is not its search JSON (JSON" % backend in text, text
    assert text.count("\n") == 1
    fake.fault = "empty"
    assert search(Ctx(fake, backend), {"query": "q"}).endswith("(via %s)\nNo results." % backend)


def test_duckduckgo_garbage_is_no_results(fake):
    fake.fault = "garbage"
    assert search(Ctx(fake, "duckduckgo"), {"query": "q"}).endswith("\nNo results.")
    fake.fault = "empty"
    assert search(Ctx(fake, "duckduckgo"), {"query": "q"}).endswith("\nNo results.")


def test_a_stalled_backend_times_out(fake):
    fake.fault = "stall"
    text = search(Ctx(fake, "brave", timeout_s=1), {"query": "q"})
    assert "error: brave search failed: localhost: timed out" in text and text.count("\n") == 1


def test_unreachable_backend_and_bad_arguments(fake):
    text = search(Ctx(fake, "searxng", base="https://localhost:1"), {"query": "q"})
    assert "error: searxng search failed: localhost:1 refused the connection" in text, text
    assert search(Ctx(fake, "brave"), {"query": "  "}) == "error: query is required and may not be empty"
    assert search(Ctx(fake, "brave"), {"count": 3}) == "error: query is required and may not be empty"
    assert "count must be a whole number" in search(Ctx(fake, "brave"), {"query": "q", "count": "many"})
    assert "bad arguments for web_search" in search(Ctx(fake, "brave"), b'{"query": ')
    c = Ctx(fake, "brave")
    c.web = (0, (), None)
    assert search(c, {"query": "q"}) == "error: tool web_search is not available on this device"


# -- trust: the model's roots first, the other groups when refused, then the one remembered -----
def test_a_refused_certificate_tries_the_other_groups_and_is_remembered(fake, tmp_path, monkeypatch):
    from picoclaw.net.http import Connection

    ws = str(tmp_path / "ws")
    os.makedirs(ws)
    monkeypatch.setattr(Connection, "trust", (fake.ca_pem_path, ws))  # app sets it (tls.ca_file, workspace)
    c = Ctx(fake, "brave", workspace=ws)
    c.conn.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the model's roots: not the backend's
    c.conn.ctx.load_default_certs()
    errors = len(fake.handshake_errors)
    assert search(c, {"query": "python board"}) == _expected("brave")
    assert len(fake.handshake_errors) == errors + 1  # refused once, then the fallback verified
    with open(os.path.join(ws, "state", "anchors")) as f:
        assert f.read().split()[0] == "localhost"
    assert search(c, {"query": "python board"}) == _expected("brave")
    assert len(fake.handshake_errors) == errors + 1  # the remembered group first: no refusal


# -- tools.web: which backend "auto" picks (agent/setup.web, from a real config file) ----------
def _web(tmp_path, web):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"channels": {"telegram": {"token": "1:a", "allow_from": ["1"]}},
                             "tools": {"web": web}}))
    return setup.web(config.load(str(p)))


ALL = {"brave": {"enabled": True, "api_key": "b", "max_results": 3},
       "searxng": {"enabled": True, "base_url": "http://searx.lan:8888/"},
       "tavily": {"enabled": True, "api_keys": ["t1", "t2"]},
       "duckduckgo": {"enabled": True, "max_results": 50}}


def test_auto_picks_the_first_ready_backend(tmp_path):
    assert _web(tmp_path, dict(ALL))[2] == ("brave", "b", "", 3)
    assert _web(tmp_path, dict(ALL, brave={"enabled": True}))[2] == ("searxng", "", "http://searx.lan:8888", 5)
    assert _web(tmp_path, dict(ALL, brave={"enabled": False, "api_key": "b"}, searxng={"enabled": True}))[2] == \
        ("tavily", "t1", "", 5)
    assert _web(tmp_path, {"duckduckgo": {"enabled": True, "max_results": 50}})[2] == ("duckduckgo", "", "", 10)
    assert _web(tmp_path, {"brave": {"enabled": True}})[2] is None  # none ready: web_search not offered
    assert _web(tmp_path, {})[2] is None
    assert _web(tmp_path, dict(ALL, provider="tavily"))[2][0] == "tavily"
    assert _web(tmp_path, dict(ALL, provider="duckduckgo", brave={"enabled": False}))[2][0] == "duckduckgo"
    assert _web(tmp_path, dict(ALL, provider="tavily", tavily={"enabled": False}))[2][0] == "brave"
    assert _web(tmp_path, dict(ALL, enabled=False)) is None


# -- the unix port, from .mpy --------------------------------------------------------------
DRIVER = r"""
import sys, io
from picoclaw.net import trust
from picoclaw import tools
from picoclaw.json.stream import JsonReader, StreamSource

backend, key, base, ca, query, heap = sys.argv[1:7]

class Borrowed:
    pass

class Ctx:
    pass

b = Borrowed()
b.ctx = trust.context(ca, True, ("localhost",), None)
trust.unload()
b.buf = bytearray(512)
c = Ctx()
c.conn = b
c.small = bytearray(128)
c.web = (0, (), (backend, key, base, 5))
c.timeout_s = 10
import gc, micropython
gc.collect()
before = gc.mem_alloc()
out = tools.Result("/tmp/mp-websearch-" + backend, 4096)
tools.run("web_search", JsonReader(StreamSource(io.BytesIO(query), bytearray(128)), bytearray(128)), c, out)
out.close()
gc.collect()
print("HEAPDELTA", gc.mem_alloc() - before)
print(open("/tmp/mp-websearch-" + backend).read())
"""


def _mp(fake, backend, heap, query=b'{"query": "python board"}'):
    d = tempfile.mkdtemp(prefix="mp-websearch-")
    drv = os.path.join(d, "drv.py")
    with open(drv, "w") as f:
        f.write(DRIVER)
    r = unixport.run([drv, backend, KEYS[backend], (fake.base_url + PATHS[backend]).rstrip("/"), fake.ca_pem_path,
                      query.decode(), heap], heap=heap, path=unixport.build() + ":.frozen", timeout=60)
    return r


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_unix_port_from_mpy(fake, backend):
    fake.chunk = 100
    r = _mp(fake, backend, "64k")  # passes at 57-59k (the driver compiled from source included)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    text = r.stdout.split("\n", 1)[1].rstrip("\n")
    assert text == _expected(backend), text


def test_on_unix_port_the_page_size_does_not_matter(fake):
    # DuckDuckGo pages of ~30 KB and ~430 KB pass through the same small heap
    fake.results = [("Result %d" % i, "https://r%d.example/" % i, "snippet %d" % i) for i in range(10)]
    for pad in (2000, 42000):
        fake.pad = pad
        r = _mp(fake, "duckduckgo", "64k")  # both pass at 59k
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "5. Result 4\n   https://r4.example/\n   snippet 4" in r.stdout and "6. " not in r.stdout


# -- end to end: the gateway, the fake Telegram, the fake LLM and the search backend ----------
def _gateway(fake, tg, llm, web, heap="128k", board=None):
    """Run the gateway (from .mpy) for the fakes with tools.web = web; board: a boards/ folder
    whose memory the run has (its board.json beside config.json, TLS standing in the heap)."""
    cfg_path = gatewayrun.write_config(tg, llm=llm, agent={"stream": False})
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["tools"] = {"web": web}
    cfg["tls"]["ca_file"] = gatewayrun.write_bundle(cfg["tls"]["ca_file"], [cfg["tls"]["ca_file"], fake.ca_pem_path])
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = {}
    if board:
        shutil.copy(os.path.join(unixport.ROOT, "boards", board, "board.json"), os.path.dirname(cfg_path))
        env["PICOCLAW_TLS_STAND_IN"] = "1"
    r = unixport.run(["-m", "picoclaw", "gateway", "--config", cfg_path, "--cycles", "3"], heap=heap,
                     timeout=120, path=unixport.build() + ":.frozen", **env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert not llm.errors, llm.errors
    return r


@pytest.mark.parametrize("backend", ["brave", "duckduckgo"])
def test_gateway_agent_calls_web_search(fake, backend):
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        alice = tg.user(111, "Alice", "alice")
        tg.send_text(alice, "what is micropython?")
        llm.reply_tool_calls([("web_search", {"query": "micropython", "count": 2})])
        llm.reply_text("MicroPython is Python for microcontrollers (micropython.org).")
        # brave first: "auto" picks it; duckduckgo named by tools.web.provider
        _gateway(fake, tg, llm, {"brave": {"enabled": True, "api_key": BRAVE_KEY,
                                           "base_url": fake.base_url + PATHS["brave"]},
                                 "duckduckgo": {"enabled": True, "base_url": fake.base_url + "/html/"},
                                 "provider": "auto" if backend == "brave" else backend})
        assert len(llm.requests) == 2
        assert any("web_search" in json.dumps(t) for t in llm.requests[0]["body"]["tools"])
        tool_msg = [m for m in llm.requests[1]["body"]["messages"] if m["role"] == "tool"][-1]
        assert tool_msg["content"].startswith("Results for: micropython (via %s)\n"
                                              "1. MicroPython - Python for microcontrollers\n"
                                              "   https://micropython.org/\n" % backend), tool_msg
        assert "2. PicoClaw" in tool_msg["content"] and "3. " not in tool_msg["content"]
    req = fake.requests[-1]
    assert req["backend"] == backend and req["query"] == ({"q": "micropython", "count": "2"} if backend == "brave"
                                                         else {"q": "micropython"})
    texts = [s["params"].get("text") for s in tg.sent if s["method"] in ("sendMessage", "editMessageText")]
    assert texts[-1] == "MicroPython is Python for microcontrollers (micropython.org)."


@pytest.mark.parametrize("heap", ["184k", "256k"])
def test_gateway_search_in_a_pico_w_heap(fake, heap):
    # TLS inside the heap (the Pico W's profile, standing in on the unix port): the search's
    # connection takes the idle model connection's place, so the plan's reserve is there
    # after every handshake; at the Pico W's 184k one connection at a time, at 256k side by side
    with FakeTelegram() as tg, FakeLLM("openai") as llm:
        alice = tg.user(111, "Alice", "alice")
        for i in range(2):
            tg.send_text(alice, "question %d" % i)
            llm.reply_tool_calls([("web_search", {"query": "micropython %d" % i})])
            llm.reply_text("answer %d" % i)
        r = _gateway(fake, tg, llm, {"searxng": {"enabled": True, "base_url": fake.base_url}}, heap=heap,
                     board="RPI_PICO_W")
        assert "no room for the" not in r.stdout and "out of memory" not in r.stdout, r.stdout[-3000:]
        assert len(llm.requests) == 4 and not llm.pending_replies()
    texts = [s["params"].get("text") for s in tg.sent if s["method"] in ("sendMessage", "editMessageText")]
    assert "answer 0" in texts and texts[-1] == "answer 1"
