"""Host helper: run `picoclaw setup` (portal/server.py) on the MicroPython unix port and drive
it as a phone would: GET the page, take its csrf token, POST the form. Used by
host_tests/test_setup_server.py and tools/bench_setup.py."""
import json
import os
import re
import socket
import subprocess
import tempfile
import urllib.parse

import gatewayrun
import unixport

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
ERRORS = re.compile(r'<p class="error">(.*?)</p>')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def old_config(tg=None, llm=None, extra=None):
    """A folder with a config.json that has what the page does not set: the fake Telegram's
    base_url and the fakes' roots in tls.ca_file (the checks trust what the bot will). tg None:
    no config.json at all (a first start). Returns the config path."""
    d = tempfile.mkdtemp(prefix="setup-")
    path = os.path.join(d, "config.json")
    if tg is not None:
        cas = [tg.ca_pem_path] + ([llm.ca_pem_path] if llm is not None else [])
        cfg = {"channels": {"telegram": {"base_url": tg.base_url, "poll_timeout": 1}},
               "tls": {"ca_file": gatewayrun.write_bundle(os.path.join(d, "ca.pem"), cas)},
               "agents": {"defaults": {"workspace": os.path.join(d, "ws")}}}
        if extra:
            cfg.update(extra)
        with open(path, "w") as f:
            json.dump(cfg, f)
    return path


class Setup:
    """`picoclaw setup` from .mpy in a subprocess, until it prints its "setup page on" line."""

    def __init__(self, config, heap="64k", args=(), source=False, board=None):
        """board: a folder of boards/ whose TLS memory stands in the heap (mp_setup_tls.py)."""
        self.port = free_port()
        path = (os.path.join(unixport.ROOT, "firmware") if source else unixport.build()) + ":.frozen"
        run = ["-m", "picoclaw"]
        if board:
            run = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_setup_tls.py"),
                   os.path.join(unixport.ROOT, "boards", board, "board.json")]
        cmd = [unixport.micropython(), "-X", "heapsize=" + heap] + run + [
            "setup", "--config", config, "--listen", "127.0.0.1:%d" % self.port] + list(args)
        self.p = subprocess.Popen(cmd, cwd=unixport.ROOT, env=unixport.env(path), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.p.wait(10)
                raise RuntimeError("setup did not start:\n" + "".join(self.lines))
            self.lines.append(line)
            if line.startswith("setup page on "):
                break
        self.base = "http://127.0.0.1:%d" % self.port

    def output(self, timeout=30):
        """Everything the process printed, once it has ended; (returncode, text)."""
        out, _ = self.p.communicate(timeout=timeout)
        return self.p.returncode, "".join(self.lines) + (out or "")

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        if self.p.stdout:
            self.p.stdout.close()

    # -- raw HTTP, so every byte sent is the test's choice -----------------------------------
    def connect(self, source=None):
        s = socket.socket()
        if source:
            s.bind((source, 0))
        s.settimeout(15)
        s.connect(("127.0.0.1", self.port))
        return s

    def exchange(self, data, source=None):
        """Send data (bytes), read the answer to its end: (status, headers dict, body str)."""
        s = self.connect(source)
        try:
            s.sendall(data)
            return read_answer(s)
        finally:
            s.close()

    def get(self, path="/", host=None, headers=b""):
        host = host or "127.0.0.1:%d" % self.port
        return self.exchange(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), host.encode(), headers))

    def post(self, fields, host=None, csrf=True, body=None):
        """POST /save with `fields` (a dict; csrf=True: a fresh token from GET / first)."""
        if csrf is True:
            fields = dict(fields, csrf=self.token())
        if body is None:
            body = urllib.parse.urlencode(fields).encode()
            if fields.get("pad") == FILL:  # "&pad=" and x's last, to BODY_CAP bytes in all
                fields = {k: v for k, v in fields.items() if k != "pad"}
                body = urllib.parse.urlencode(fields).encode() + b"&pad="
                body += b"x" * (BODY_CAP - len(body))
        host = host or "127.0.0.1:%d" % self.port
        return self.exchange(b"POST /save HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded"
                             b"\r\nContent-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))

    def token(self):
        status, _, page = self.get()
        assert status == 200, page
        return CSRF.search(page).group(1)


def read_answer(s):
    data = b""
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    status = int(m.group(1)) if m else 0  # 0: no answer (the server died, or cut it short)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body.decode("utf-8", "replace")


def form(tg, llm=None, size="small", **over):
    """The fields a user fills in: the fake Telegram's token, the fake LLM (provider openai with
    its base URL and key) or provider none. size="cap": every field at its cap (the same
    meaning: padding where the value allows it)."""
    f = {"ssid": "HomeNet", "wifi_password": "hunter22", "token": tg.token, "provider": "none",
         "api_base": "", "api_key": "", "model": "", "owner": "111"}
    if llm is not None:
        f.update(provider="openai", api_base=llm.base_url, api_key=llm.api_key, model="test-model")
    if size == "cap":  # what can be at its cap is; an unknown field fills the body to 2048
        f.update(ssid="S" * 32, wifi_password="p" * 64, owner="1" * 20)
        if llm is not None:
            f.update(model="m" * 64)
        f["pad"] = FILL
    f.update(over)
    return f


FILL = "(fill the body to its cap)"
BODY_CAP = 2048


def full_flow(heap, tg, llm=None, size="small", timeout=120, board=None):
    """One whole setup run at `heap`: start, GET, POST, the checks, the save, the exit
    (board: see Setup). Returns (returncode, output, config path, success page or "")."""
    cfg = old_config(tg, llm)
    try:
        st = Setup(cfg, heap, board=board)
    except RuntimeError as e:
        return -1, str(e), cfg, ""
    try:
        try:
            status, _, page = st.post(form(tg, llm, size))
        except (OSError, AttributeError, AssertionError):
            status, page = 0, ""
        if status != 200 or "Saved." not in page:  # refused or a check failed: it keeps serving
            st.close()
            return -3, "".join(st.lines) + "\n".join(ERRORS.findall(page)), cfg, ""
        try:
            rc, out = st.output(timeout)
        except subprocess.TimeoutExpired:
            st.close()
            rc, out = -2, "".join(st.lines)
        return rc, out, cfg, page if status == 200 and "Saved." in page else ""
    finally:
        st.close()
