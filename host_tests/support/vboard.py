"""Host helper: a virtual board. The MicroPython unix port on a pseudo-terminal behaves like a
board's USB serial REPL (raw REPL works), so mpremote and tools/flash.py talk to it exactly as
to a real board; its filesystem is a folder on the host (the process runs with that folder as
its current directory).

    with VirtualBoard(folder) as vb:          # an empty folder is a freshly flashed board
        subprocess.run([mpremote, "connect", vb.port, "resume", "exec", "print(1)"])
        vb.wait_for("...")                    # everything the board printed: vb.output()

Two pty pairs joined by a relay thread: the unix port owns one (its stdin/stdout/stderr, and
its controlling terminal, so the Ctrl-C that mpremote sends interrupts a running program as on
a board), mpremote opens the other's slave path (`vb.port`). The relay keeps a transcript of
the board's output and drops it when nobody reads the port, as a USB serial port does. A
Ctrl-C that comes while the process starts waits until the port runs code (a board's USB
serial appears only then): it stops boot.py or main.py, and never ends the board.

Like a board it boots (boot=True): boot.py, then main.py, then the REPL (vboard_shim/
vboard_rom.py). A reset (machine.reset() from the fake machine module, also what
`mpremote reset` calls) prints a line the relay watches for; the relay then kills the process
and starts a fresh one: a hard reset. MICROPYPATH is the folder, its lib/ (where deploy puts
the .mpy files, as on a board), the fake machine/network/ntptime (vboard_shim/, host only) and
.frozen (the port's own frozen ssl and asyncio).
"""
import errno
import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import threading
import time
import tty

import unixport

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = os.path.join(HERE, "vboard_shim")
RESET_LINE = b"[vboard: reset]"
# KB of heap the fake machine, network and ntptime modules take (compiled from source, ~10.1 KB
# measured with the access point and the scan; test_deploy checks the bound): a board has them
# in its firmware, in ROM, so the virtual board's heap is the board's plus this, and what the
# firmware has left is the board's
SHIM_KB = 11


def heap_arg(heap):
    """The unix port's -X heapsize for a board heap like "128k" (plus the fakes' SHIM_KB);
    VBOARD_HEAP in the environment overrides it (exactly as given: for bisecting)."""
    if os.environ.get("VBOARD_HEAP"):
        return os.environ["VBOARD_HEAP"]
    return "%dk" % (int(heap.rstrip("k")) + SHIM_KB) if heap.endswith("k") else heap


def board_env(folder, extra=None):
    """The environment the unix port runs a board folder with (also for a direct main.py run)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([folder, os.path.join(folder, "lib"), SHIM, ".frozen"])
    # the board's memory: its TLS connections take what they take there (board.json's "tls",
    # net/tlsheap.py), inside this heap
    env["PICOCLAW_TLS_STAND_IN"] = "1"
    env.update(extra or {})
    return env


def boot(folder, heap="128k", env=None, script="main.py"):
    """Run `main.py` in a board folder on the unix port with piped output (no pty): the
    board's start-up without the REPL. heap: the board's (see SHIM_KB). Returns a Console
    (see below)."""
    p = subprocess.Popen([unixport.micropython(), "-X", "heapsize=" + heap_arg(heap), script], cwd=folder,
                         env=board_env(folder, env), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return Console(p)


class Console:
    """A running process's merged output, collected by a thread; wait_for() a text in it."""

    def __init__(self, proc):
        self.proc = proc
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            with self._cond:
                self._buf += chunk
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self):
        with self._cond:
            return self._buf.decode("utf-8", "replace")

    def wait_for(self, text, timeout=20.0, since=0):
        """Wait until `text` appears in the output (after offset `since`); returns the whole
        output. AssertionError with the output's tail on timeout or when the process ends."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while text.encode() not in self._buf[since:]:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._t.is_alive()):
                    raise AssertionError("%r not seen; output:\n%s" % (text, self._buf.decode("utf-8", "replace")[-3000:]))
                self._cond.wait(min(left, 0.2))
            return self._buf.decode("utf-8", "replace")

    def wait(self, timeout=30):
        """Wait for the process to end; returns (exit code, output)."""
        self.proc.wait(timeout)
        self._t.join(5)
        return self.proc.returncode, self.output()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        return self.wait()


class VirtualBoard:
    """The unix port as a board on a pseudo-terminal (see the module docstring)."""

    def __init__(self, folder, boot=False, heap="128k", env=None):
        self.folder = folder
        self.boot = boot
        self.heap = heap
        self.env = env or {}
        self.resets = 0
        self.proc = None
        self._buf = bytearray()
        self._scan = 0  # where the next search for the reset line starts
        self._cond = threading.Condition()
        self._stop = False
        self._m1 = self._m2 = self._s2 = None
        self.port = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self):
        os.makedirs(self.folder, exist_ok=True)
        self._m2, self._s2 = pty.openpty()  # the host's side: mpremote opens the slave's path
        tty.setraw(self._s2)
        self.port = os.ttyname(self._s2)
        flags = fcntl.fcntl(self._m2, fcntl.F_GETFL)
        fcntl.fcntl(self._m2, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._spawn()
        threading.Thread(target=self._relay, name="vboard-relay", daemon=True).start()
        return self

    def _spawn(self):
        m1, s1 = pty.openpty()  # the board's side: the unix port's terminal
        tty.setraw(s1)
        # raw, but Ctrl-C still raises SIGINT (KeyboardInterrupt) in a running program, as
        # the USB serial of a board does; Ctrl-Z and Ctrl-\ stay plain bytes
        a = termios.tcgetattr(s1)
        a[3] |= termios.ISIG
        a[6][termios.VINTR] = 3
        a[6][termios.VQUIT] = 0
        a[6][termios.VSUSP] = 0
        termios.tcsetattr(s1, termios.TCSANOW, a)
        args = [unixport.micropython(), "-X", "heapsize=" + heap_arg(self.heap)]
        if self.boot:
            args += ["-i", os.path.join(SHIM, "vboard_rom.py")]

        def controlling_tty():  # in the child: s1 becomes its terminal, so Ctrl-C reaches it
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # `micropython` is a CPython program that runs the port as an extension: a Ctrl-C
            # during CPython's start-up (a tenth of a second, more on a busy machine) ended the
            # whole board, where a board never dies of one. Ignored until the port installs its
            # own handler as it starts running code; the relay holds a Ctrl-C back until then
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.proc = subprocess.Popen(args, cwd=self.folder, env=board_env(self.folder, self.env),
                                     stdin=s1, stdout=s1, stderr=s1, preexec_fn=controlling_tty,
                                     close_fds=True)
        os.close(s1)
        self._m1 = m1

    def stop(self):
        self._stop = True
        self._kill()
        for fd in (self._m2, self._s2):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._m2 = self._s2 = None

    def _kill(self):
        p = self.proc
        if p and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                p.kill()
            p.wait(5)
        if self._m1 is not None:
            try:
                os.close(self._m1)
            except OSError:
                pass
            self._m1 = None

    def reset(self):
        """Hard reset: a fresh process (it boots main.py if boot=True)."""
        with self._cond:
            self._kill()
            self.resets += 1
            self.env["VBOARD_RESET_CAUSE"] = "2"  # the fake machine's HARD_RESET
            self._spawn()
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- the relay ------------------------------------------------------------------------
    def _relay(self):
        while not self._stop:
            m1, m2 = self._m1, self._m2
            if m1 is None or m2 is None:
                time.sleep(0.01)
                continue
            try:
                r, _, _ = select.select([m1, m2], [], [], 0.1)
            except (OSError, ValueError):
                continue  # an fd closed under us by a reset: take the new ones
            if m1 in r:
                try:
                    data = os.read(m1, 4096)
                except OSError:
                    data = b""  # EIO: the process ended
                if not data:
                    if self.proc.poll() is not None and not self._stop and m1 is self._m1:
                        time.sleep(0.01)  # a dead board stays dead until reset()
                    continue
                with self._cond:
                    self._buf += data
                    # look for the reset line in what arrived (and the bytes it may straddle),
                    # never again in what was scanned before
                    at = self._buf.find(RESET_LINE, self._scan)
                    reset = at >= 0
                    self._scan = at + len(RESET_LINE) if reset else max(self._scan, len(self._buf) - len(RESET_LINE))
                    self._cond.notify_all()
                self._to_host(m2, data)
                if reset:
                    self.reset()
                    continue
            if m2 in r:
                try:
                    data = os.read(m2, 4096)
                except OSError:
                    continue
                if data and self._m1 is not None:
                    if b"\x03" in data and self.boot:  # (without boot: the REPL, where it is a character)
                        self._until_interruptible()
                    try:
                        os.write(self._m1, data)
                    except OSError:
                        pass

    def _until_interruptible(self, timeout=10.0):
        # a board's USB serial port appears once MicroPython runs: a Ctrl-C reaches the unix
        # port only once it handles SIGINT (no longer ignored, see _spawn), as it does from
        # the moment it runs code. timeout: far above CPython's start-up on a loaded machine
        # (a tenth of a second), then forwarded anyway (a board that never runs code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open("/proc/%d/status" % self.proc.pid) as f:
                    ignored = [int(w.split()[1], 16) for w in f if w.startswith("SigIgn:")]
            except (OSError, ValueError, IndexError):
                return  # no /proc: forwarded as it comes
            if not ignored or not ignored[0] & 1 << (signal.SIGINT - 1):
                return
            time.sleep(0.005)

    def _to_host(self, m2, data):
        # all of it while the host reads the port; what does not fit in 50 ms is dropped, as a
        # USB serial port drops what nobody reads (a short write is not a dropped chunk's end)
        deadline = time.monotonic() + 0.05
        while data:
            try:
                data = data[os.write(m2, data):]
            except OSError as e:
                if self._stop or e.errno == errno.EIO:
                    return  # the board is being stopped, or nobody has the port open
                if e.errno != errno.EAGAIN:
                    raise
            left = deadline - time.monotonic()
            if data and (left <= 0 or not select.select([], [m2], [], left)[1]):
                return

    # -- what the board said ----------------------------------------------------------------
    def output(self):
        with self._cond:
            return self._buf.decode("utf-8", "replace")

    def mark(self):
        """Position in the output; wait_for(text, since=mark) looks only after it."""
        with self._cond:
            return len(self._buf)

    def last_reset(self):
        """Position in the output of the last reset (as mark() would have given then), or 0."""
        with self._cond:
            return self._buf.rfind(RESET_LINE) + 1

    def wait_for(self, text, timeout=20.0, since=0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while text.encode() not in self._buf[since:]:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%r not seen on the virtual board; output:\n%s"
                                         % (text, self._buf[since:].decode("utf-8", "replace")[-3000:]))
                self._cond.wait(min(left, 0.2))
            return self._buf[since:].decode("utf-8", "replace")


def config_for(fake, allow=("111",), **telegram):
    """A board's config.json (as a dict) for the fake Telegram: its CA as ca.pem beside it,
    Wi-Fi set (the fake network needs an SSID), short long polls for quick tests."""
    tg = {"token": fake.token, "base_url": fake.base_url, "allow_from": list(allow), "poll_timeout": 1}
    tg.update(telegram)
    return {"channels": {"telegram": tg}, "tls": {"ca_file": "ca.pem"},
            "wifi": {"ssid": "vboard-net", "password": "vboard-secret-pw"}}


def make_board(folder, fake, allow=("111",), board=None, **telegram):
    """A board folder as deploy leaves it, without deploy (quick): .mpy files for the unix
    port in lib/, main.py, boot.py, config.json for the fake, its CA, and board.json when
    `board` (a dict) is given."""
    import json
    import shutil

    mpy = unixport.build()
    shutil.copytree(mpy, os.path.join(folder, "lib"), dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if ".mpy." in n])  # mpybuild's stamps
    for name in ("main.py", "boot.py"):
        shutil.copy(os.path.join(unixport.ROOT, "firmware", name), folder)
    shutil.copy(fake.ca_pem_path, os.path.join(folder, "ca.pem"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config_for(fake, allow, **telegram), f)
    if board is not None:
        with open(os.path.join(folder, "board.json"), "w") as f:
            json.dump(board, f)
    return folder
