"""tools/flash.py firmware, build, package and --help on their real (not --dry-run) paths.

firmware, ESP32: flash.py runs `python -m esptool`; an `esptool` stand-in put ahead of the
venv's on PYTHONPATH records each run's arguments, and the real esptool's own parser (click,
in-process) must accept them: erase-flash, then write-flash of the image at the board's
offset, with the board's chip, on the port given (a real pty, so the port check is the real
one). firmware, Pico: the image copied byte for byte onto a folder standing for the BOOTSEL
drive, given with --drive or found where drives are mounted. An image for another chip, a
file that is no image and a cut-short download are refused before esptool runs or anything
is copied. build: a fake MicroPython tree with `make`, `idf.py`, `cmake` and
`arm-none-eabi-gcc` stand-ins on PATH that record what they were asked. package: run on a
copy of the tree. (deploy's real path is tested against a virtual board in test_deploy.py.)
"""
import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest

import fwimages
import unixport

ROOT = unixport.ROOT
FLASH = os.path.join(ROOT, "tools", "flash.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import flash  # noqa: E402


def flash_run(*args, env=None, python=(sys.executable,)):
    full = dict(os.environ, **(env or {}))
    return subprocess.run(list(python) + [FLASH] + list(args), cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, env=full)


def one_line_error(r, text, prefix="flash.py: error: "):
    err = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "\n" not in err and "Traceback" not in err, err
    assert err == prefix + text, err
    return err


def recorded(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f]


# -- firmware: ESP32 with esptool ------------------------------------------------------------
_ESPTOOL_MAIN = """\
# stand-in for esptool (tests only): records its arguments; FAKE_ESPTOOL_FAIL=<command> fails it
import json, os, sys
with open(os.environ["FAKE_ESPTOOL_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_ESPTOOL_FAIL") in sys.argv:
    print("A fatal error occurred: Failed to connect to ESP32: No serial data received.", file=sys.stderr)
    sys.exit(2)
print("Hard resetting via RTS pin...")
"""


@pytest.fixture
def esptool(tmp_path):
    """(env for flash.py, log of esptool runs): an esptool stand-in ahead of the venv's."""
    pkg = tmp_path / "standin" / "esptool"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("# stand-in for esptool: tests only, see __main__.py\n")
    (pkg / "__main__.py").write_text(_ESPTOOL_MAIN)
    log = str(tmp_path / "esptool.log")
    return {"PYTHONPATH": str(tmp_path / "standin"), "FAKE_ESPTOOL_LOG": log}, log


@pytest.fixture
def port():
    """A serial port that exists: the slave end of a real pseudo-terminal."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


def real_esptool_accepts(argv, offset, image):
    """The real esptool's command line parser reads `argv` as flash.py means it."""
    import esptool

    esptool.cli._esp = None  # what EsptoolGroup.__call__ sets: no external chip object
    ctx = esptool.cli.make_context("esptool", list(argv))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 8.2: protected_args
        rest = list(getattr(ctx, "protected_args", [])) + list(ctx.args)
    name, cmd, rest = esptool.cli.resolve_command(ctx, rest)
    sub = cmd.make_context(name, rest, parent=ctx)
    try:
        if name == "write-flash":
            (addr, f), = sub.params["addr_filename"]
            assert addr == offset
            assert f.name == image and f.read() == open(image, "rb").read()
    finally:
        for f in getattr(sub, "_open_files", []):
            f.close()
    return name, ctx.params


@pytest.mark.parametrize("board, chip, chip_id, offset", [
    ("ESP32_GENERIC", "esp32", fwimages.ESP32, "0x1000"),
    ("ESP32_GENERIC_S3", "esp32s3", fwimages.ESP32S3, "0x0"),
])
def test_esp32_firmware_erases_then_writes(esptool, port, tmp_path, board, chip, chip_id, offset):
    env, log = esptool
    img = tmp_path / ("%s-v1.29.0.bin" % board)
    img.write_bytes(fwimages.esp_image(chip_id, 2048))
    r = flash_run("firmware", "--board", board, "--image", str(img), "--port", port, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = recorded(log)
    assert calls == [
        ["--chip", chip, "--port", port, "erase-flash"],
        ["--chip", chip, "--port", port, "--baud", "460800", "write-flash", offset, str(img)],
    ]
    assert "firmware: erasing the flash, then writing %s (2 KB) at %s" % (img, offset) in r.stdout
    assert r.stdout.rstrip().endswith("firmware: done; the board restarts into MicroPython. "
                                      "Next: python tools/flash.py deploy")
    # the arguments mean to the real esptool 5 what flash.py means by them
    names = []
    for argv in calls:
        name, params = real_esptool_accepts(argv, int(offset, 16), str(img))
        assert params["chip"] == chip and params["port"] == port
        names.append(name)
    assert names == ["erase-flash", "write-flash"]


def test_esp32_image_for_another_chip_is_refused_before_erasing(esptool, port, tmp_path):
    env, log = esptool
    s3 = tmp_path / "ESP32_GENERIC_S3-v1.29.0.bin"
    s3.write_bytes(fwimages.esp_image(fwimages.ESP32S3))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(s3), "--port", port, env=env)
    one_line_error(r, "%s is an ESP32-S3 image, but boards/ESP32_GENERIC is an ESP32 (download from "
                      "https://micropython.org/download/ESP32_GENERIC/)" % s3)
    esp32 = tmp_path / "ESP32_GENERIC-v1.29.0.bin"
    esp32.write_bytes(fwimages.esp_image(fwimages.ESP32))
    r = flash_run("firmware", "--board", "ESP32_GENERIC_S3", "--image", str(esp32), "--port", port, env=env)
    one_line_error(r, "%s is an ESP32 image, but boards/ESP32_GENERIC_S3 is an ESP32-S3 (download from "
                      "https://micropython.org/download/ESP32_GENERIC_S3/)" % esp32)
    c3 = tmp_path / "ESP32_C3-v1.29.0.bin"
    c3.write_bytes(fwimages.esp_image(fwimages.ESP32C3))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(c3), "--port", port, env=env)
    one_line_error(r, "%s is an ESP32-C3 image, but boards/ESP32_GENERIC is an ESP32 (download from "
                      "https://micropython.org/download/ESP32_GENERIC/)" % c3)
    odd = tmp_path / "future.bin"
    odd.write_bytes(fwimages.esp_image(99))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(odd), "--port", port, env=env)
    one_line_error(r, "%s is an image for another chip (chip id 99), but boards/ESP32_GENERIC is an "
                      "ESP32 (download from https://micropython.org/download/ESP32_GENERIC/)" % odd)
    for data in (b"<!DOCTYPE html><html>404 Not Found</html>" * 20,  # a saved error page
                 fwimages.esp_image(fwimages.ESP32)[:20],  # cut short inside the header
                 fwimages.uf2_image([fwimages.RP2040])):  # renamed .bin
        junk = tmp_path / "firmware.bin"
        junk.write_bytes(data)
        r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(junk), "--port", port, env=env)
        one_line_error(r, "%s is not an ESP32 firmware image (no esptool image header): download one "
                          "from https://micropython.org/download/ESP32_GENERIC/" % junk)
    assert recorded(log) == []  # esptool never ran: nothing was erased


def esptool_written_image(chip):
    """An image written by the real esptool's own image writer (esptool/bin_image.py) for `chip`."""
    from esptool import bin_image

    im = getattr(bin_image, chip.replace("-", "") + "FirmwareImage")()
    im.entrypoint = 0x40080400
    im.segments = [bin_image.ELFSection(b".iram0.text", 0x40080000, bytes(range(64)), 0)]
    return im.save(None)


def test_image_header_is_read_as_esptool_writes_it(tmp_path):
    from esptool.targets import CHIP_DEFS

    ids = {c.CHIP_NAME: c.IMAGE_CHIP_ID for c in CHIP_DEFS.values() if hasattr(c, "IMAGE_CHIP_ID")}
    assert {name: ids[name] for name in flash._ESP_CHIPS.values()} == {n: i for i, n in flash._ESP_CHIPS.items()}
    for chip in ("ESP32", "ESP32-S2", "ESP32-S3", "ESP32-C3", "ESP32-C6"):
        img = tmp_path / ("%s.bin" % chip)
        img.write_bytes(esptool_written_image(chip))
        assert flash.esp_image_chip(str(img)) == chip
        for board in ("ESP32_GENERIC", "ESP32_GENERIC_S3"):
            info = flash.load_board(board)
            if info["mcu"] == chip:
                assert flash.check_image(info, str(img)) is None
            else:
                with pytest.raises(flash.Fail, match="is an %s image, but boards/%s is an " % (chip, board)):
                    flash.check_image(info, str(img))


def test_esptool_failure_is_one_line_and_stops_before_writing(esptool, port, tmp_path):
    env, log = esptool
    img = tmp_path / "ESP32_GENERIC-v1.29.0.bin"
    img.write_bytes(fwimages.esp_image(fwimages.ESP32))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(img), "--port", port,
                  env=dict(env, FAKE_ESPTOOL_FAIL="erase-flash"))
    assert "A fatal error occurred: Failed to connect to ESP32" in r.stderr  # esptool's own reason
    err = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and err == (
        "flash.py: error: esptool erase-flash failed on %s (exit 2): check the cable and the port, "
        "hold the board's BOOT button while esptool connects, and on Linux be in the dialout group "
        "(sudo usermod -aG dialout $USER, then log in again)" % port), r.stderr
    assert [c[-1] for c in recorded(log)] == ["erase-flash"]  # no write after a failed erase


def test_esp32_firmware_port_and_esptool_errors(esptool, tmp_path):
    env, log = esptool
    img = tmp_path / "ESP32_GENERIC-v1.29.0.bin"
    img.write_bytes(fwimages.esp_image(fwimages.ESP32))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(img), "--port", "/dev/ttyUSB9", env=env)
    one_line_error(r, "no board found at /dev/ttyUSB9 (is it plugged in? list ports with: mpremote devs)")
    # a Python without esptool (the system one, not .venv's): -S leaves site-packages out
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(img), "--port", "/dev/ttyUSB9",
                  python=(sys.executable, "-S"), env={"PYTHONPATH": ""})
    one_line_error(r, "esptool is not installed for %s (run .venv/bin/python tools/flash.py, or pip "
                      "install -r requirements.txt)" % sys.executable)
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(tmp_path / "nope.bin"), env=env)
    one_line_error(r, "no such image file: %s (download one from https://micropython.org/download/"
                      "ESP32_GENERIC/)" % (tmp_path / "nope.bin"))
    uf2 = tmp_path / "RPI_PICO_W.uf2"
    uf2.write_bytes(fwimages.uf2_image([fwimages.RP2040]))
    r = flash_run("firmware", "--board", "ESP32_GENERIC", "--image", str(uf2), env=env)
    one_line_error(r, "ESP32_GENERIC takes a .bin image, not %s (download from https://micropython.org/"
                      "download/ESP32_GENERIC/)" % uf2)
    assert recorded(log) == []


# -- firmware: Pico with a UF2 copy ----------------------------------------------------------
def uf2_drive(folder, board_id):
    os.makedirs(folder)
    with open(os.path.join(folder, "INFO_UF2.TXT"), "w") as f:
        f.write("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: %s\n" % board_id)
    return str(folder)


def test_pico_firmware_copies_the_uf2_onto_the_drive(tmp_path):
    drive = uf2_drive(tmp_path / "RPI-RP2", "RPI-RP2")
    img = tmp_path / "RPI_PICO_W-20250415-v1.29.0.uf2"
    data = fwimages.uf2_image([fwimages.RP2040] * 300)  # 150 KB: three 64 KB chunks
    img.write_bytes(data)
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(drive, img.name), "rb") as f:
        assert f.read() == data
    assert "$ cp %s %s/%s" % (img, drive, img.name) in r.stdout
    assert "firmware: 100% of 150 KB" in r.stdout and "firmware: done" in r.stdout
    # Pico 2 W: an RP2350 ARM image (which starts with an "absolute" block); the RISC-V one
    # is taken too, with a word about deploying for it
    drive2 = uf2_drive(tmp_path / "RP2350", "RP2350")
    for fams, note in (([fwimages.ABSOLUTE] + [fwimages.RP2350_ARM] * 4, False),
                       ([fwimages.RP2350_RISCV] * 4, True)):
        img2 = tmp_path / "RPI_PICO2_W.uf2"
        img2.write_bytes(fwimages.uf2_image(fams))
        r = flash_run("firmware", "--board", "RPI_PICO2_W", "--image", str(img2), "--drive", drive2)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(drive2, img2.name), "rb") as f:
            assert f.read() == img2.read_bytes()
        assert ("firmware: note: %s is the RP2350 RISC-V build: deploy for it with python "
                "tools/flash.py deploy --march rv32imc" % img2 in r.stdout) == note, r.stdout


def test_pico_drive_is_found_where_drives_are_mounted(tmp_path, monkeypatch, capsys):
    media = tmp_path / "media"
    monkeypatch.setattr(flash, "MEDIA", (str(media / "$USER"), str(media / "other")))
    monkeypatch.setenv("USER", "ada")
    img = tmp_path / "RPI_PICO_W.uf2"
    img.write_bytes(fwimages.uf2_image([fwimages.RP2040] * 3))
    assert flash.main(["firmware", "--board", "RPI_PICO_W", "--image", str(img)]) == 2
    assert capsys.readouterr().err == ("flash.py: error: no RPI-RP2 drive: unplug the board, hold BOOTSEL "
                                       "while plugging it back in, then run this again (or pass --drive)\n")
    os.makedirs(media / "ada" / "RPI-RP2")  # a folder of that name but no bootloader: not it
    assert flash.uf2_drive("RPI-RP2") is None
    (media / "ada" / "RPI-RP2" / "INFO_UF2.TXT").write_text("Board-ID: RPI-RP2\n")
    drive = str(media / "ada" / "RPI-RP2")
    assert flash.uf2_drive("RPI-RP2") == drive
    assert flash.main(["firmware", "--board", "RPI_PICO_W", "--image", str(img)]) == 0
    assert (media / "ada" / "RPI-RP2" / img.name).read_bytes() == img.read_bytes()

    # --port: the board is sent to its bootloader with mpremote, then its drive shows up
    other = media / "other" / "RP2350"
    calls = tmp_path / "mpremote.log"
    script = ("import os, sys; open(%r, 'a').write(' '.join(sys.argv[1:]) + '\\n'); os.makedirs(%r); "
              "open(os.path.join(%r, 'INFO_UF2.TXT'), 'w').write('Board-ID: RP2350\\n')"
              % (str(calls), str(other), str(other)))
    monkeypatch.setattr(flash, "mpremote", lambda port: [sys.executable, "-c", script, "connect", port, "resume"])
    img2 = tmp_path / "RPI_PICO2_W.uf2"
    img2.write_bytes(fwimages.uf2_image([fwimages.RP2350_ARM] * 2))
    capsys.readouterr()
    assert flash.main(["firmware", "--board", "RPI_PICO2_W", "--image", str(img2), "--port", "/dev/ttyACM0"]) == 0
    assert calls.read_text() == "connect /dev/ttyACM0 resume bootloader\n"
    assert (other / img2.name).read_bytes() == img2.read_bytes()
    assert "firmware: sending the board on /dev/ttyACM0 to its bootloader" in capsys.readouterr().out


def test_pico_image_for_another_chip_is_refused_before_copying(tmp_path):
    drive = uf2_drive(tmp_path / "RPI-RP2", "RPI-RP2")
    url = "https://micropython.org/download/RPI_PICO_W/"
    img = tmp_path / "RPI_PICO2_W-v1.29.0.uf2"
    img.write_bytes(fwimages.uf2_image([fwimages.ABSOLUTE] + [fwimages.RP2350_ARM] * 3))
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "%s is an RP2350 (ARM) image, but boards/RPI_PICO_W is an RP2040 (download from %s)" % (img, url))
    img.write_bytes(fwimages.uf2_image([fwimages.RP2040] * 3))
    drive2 = uf2_drive(tmp_path / "RP2350", "RP2350")
    r = flash_run("firmware", "--board", "RPI_PICO2_W", "--image", str(img), "--drive", drive2)
    one_line_error(r, "%s is an RP2040 image, but boards/RPI_PICO2_W is an RP2350 (download from "
                      "https://micropython.org/download/RPI_PICO2_W/)" % img)
    img.write_bytes(fwimages.uf2_image([0x55114460] * 2))  # an Adafruit SAMD51 board's
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "%s is an SAMD51 image, but boards/RPI_PICO_W is an RP2040 (download from %s)" % (img, url))
    img.write_bytes(fwimages.uf2_image([None] * 2))
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "%s names no chip (no UF2 family id in its blocks), but boards/RPI_PICO_W is an "
                      "RP2040 (download from %s)" % (img, url))
    whole = fwimages.uf2_image([fwimages.RP2040] * 4)
    for cut in (3 * 512, 3 * 512 + 100):  # a download cut short, at a block boundary or inside one
        img.write_bytes(whole[:cut])
        r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
        one_line_error(r, "%s is incomplete (%d bytes, its last block is 3 of 4): download it again" % (img, cut))
    img.write_bytes(whole[:1024] + b"\0" * 512 + whole[1536:])
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "%s is damaged: block 2 is not a UF2 block (download it again)" % img)
    img.write_bytes(fwimages.esp_image(fwimages.ESP32))
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "%s is not a UF2 firmware image (no UF2 block header): download one from %s" % (img, url))
    assert os.listdir(drive) == ["INFO_UF2.TXT"] and os.listdir(drive2) == ["INFO_UF2.TXT"]  # nothing copied

    # a --drive that is no bootloader drive, or the other chip's
    img.write_bytes(whole)
    plain = tmp_path / "stick"
    plain.mkdir()
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", str(plain))
    one_line_error(r, "%s is not a UF2 bootloader drive (no INFO_UF2.TXT): hold BOOTSEL while plugging "
                      "the board in, then pass the RPI-RP2 drive's folder" % plain)
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive2)
    one_line_error(r, "the drive %s is the bootloader drive of RP2350, but boards/RPI_PICO_W is an RP2040 (its drive "
                      "is RPI-RP2): pass the right --board" % drive2)
    assert os.listdir(plain) == [] and os.listdir(drive2) == ["INFO_UF2.TXT"]
    # the copy itself failing (here: a folder of the image's name on the drive)
    os.mkdir(os.path.join(drive, img.name))
    r = flash_run("firmware", "--board", "RPI_PICO_W", "--image", str(img), "--drive", drive)
    one_line_error(r, "copying onto %s stopped after 0 of 2048 bytes (Is a directory): put the board in "
                      "BOOTSEL mode again and rerun" % drive)


# -- build -----------------------------------------------------------------------------------
_TOOL = """#!%s
# stand-in for %s (tests only): records its arguments; make writes the image of a firmware build
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_TOOLS_LOG"], "a") as f:
    f.write(json.dumps([name] + sys.argv[1:]) + "\\n")
if name == "make" and os.environ.get("FAKE_MAKE_FAIL", "-") in sys.argv:
    print("make: *** [Makefile:58: submodules] Error 2", file=sys.stderr)
    sys.exit(2)
if name == "make" and any(a.startswith("FROZEN_MANIFEST=") for a in sys.argv) and "FAKE_NO_IMAGE" not in os.environ:
    d = sys.argv[sys.argv.index("-C") + 1]
    board = [a for a in sys.argv if a.startswith("BOARD_DIR=")][0].rstrip("/").rsplit("/", 1)[1]
    os.makedirs(os.path.join(d, "build-" + board), exist_ok=True)
    with open(os.path.join(d, "build-" + board, os.environ["FAKE_IMAGE"]), "wb") as f:
        f.write(b"firmware")
"""


@pytest.fixture
def tree(tmp_path):
    """(a fake MicroPython source tree, a bin folder of tool stand-ins, their log)."""
    src = tmp_path / "micropython"
    for d in ("ports/esp32", "ports/rp2", "mpy-cross"):
        (src / d).mkdir(parents=True)
        (src / d / "Makefile").write_text("# fake\n")
    return src, tmp_path / "bin", str(tmp_path / "tools.log")


def build_run(tree, *args, without=(), **env):
    """flash.py build with only the tool stand-ins on PATH, less those named in `without`."""
    src, bin_dir, log = tree
    shutil.rmtree(bin_dir, ignore_errors=True)
    bin_dir.mkdir()
    for name in ("make", "cmake", "idf.py", "arm-none-eabi-gcc"):
        if name not in without:
            (bin_dir / name).write_text(_TOOL % (sys.executable, name))
            (bin_dir / name).chmod(0o755)
    return flash_run("build", "--micropython", str(src), *args,
                     env=dict({"PATH": str(bin_dir), "FAKE_TOOLS_LOG": log}, **env))


@pytest.mark.parametrize("board, port, image", [("ESP32_GENERIC", "esp32", "firmware.bin"),
                                                 ("RPI_PICO_W", "rp2", "firmware.uf2")])
def test_build_runs_make_with_the_board_folder(tree, board, port, image):
    src, _, log = tree
    r = build_run(tree, "--board", board, "-j", "3", FAKE_IMAGE=image)
    assert r.returncode == 0, r.stdout + r.stderr
    port_dir = str(src / "ports" / port)
    board_dir = os.path.join(ROOT, "boards", board)
    assert recorded(log) == [
        ["make", "-C", str(src / "mpy-cross")],
        ["make", "-C", port_dir, "BOARD_DIR=" + board_dir, "submodules"],
        ["make", "-C", port_dir, "BOARD_DIR=" + board_dir, "FROZEN_MANIFEST=" + os.path.join(board_dir, "manifest.py"), "-j3"],
    ]
    out = os.path.join(port_dir, "build-" + board, image)
    assert os.path.isfile(out)
    assert r.stdout.splitlines()[-1] == ("build: %s; flash it with: python tools/flash.py firmware --board %s "
                                         "--image %s" % (out, board, out))


def test_build_errors_are_one_line(tree, tmp_path):
    src, _, log = tree
    r = flash_run("build", "--board", "RPI_PICO_W", "--micropython", str(tmp_path))
    one_line_error(r, "not a MicroPython source tree: %s has no ports/rp2/Makefile (git clone "
                      "https://github.com/micropython/micropython)" % tmp_path)
    r = build_run(tree, "--board", "ESP32_GENERIC", FAKE_MAKE_FAIL="submodules", FAKE_IMAGE="firmware.bin")
    assert r.returncode == 2 and r.stderr.splitlines() == ["make: *** [Makefile:58: submodules] Error 2",
                                                           "flash.py: error: make failed (exit 2)"]
    assert [c[-1] for c in recorded(log)] == [str(src / "mpy-cross"), "submodules"]  # stopped there
    r = build_run(tree, "--board", "ESP32_GENERIC", FAKE_NO_IMAGE="1", FAKE_IMAGE="firmware.bin")
    one_line_error(r, "the build finished but wrote no %s (see make's output above)"
                   % (src / "ports" / "esp32" / "build-ESP32_GENERIC" / "firmware.bin"))
    r = build_run(tree, "--board", "RPI_PICO_W", without=["arm-none-eabi-gcc"], FAKE_IMAGE="firmware.uf2")
    one_line_error(r, "no ARM toolchain: install gcc-arm-none-eabi (see ports/rp2/README.md)")
    r = build_run(tree, "--board", "ESP32_GENERIC", without=["idf.py"], FAKE_IMAGE="firmware.bin")
    one_line_error(r, "ESP-IDF is not set up: run `. $IDF_PATH/export.sh` first (see ports/esp32/README.md)")
    r = build_run(tree, "--board", "RPI_PICO_W", without=["cmake"], FAKE_IMAGE="firmware.uf2")
    one_line_error(r, "cmake is not installed (apt install cmake, or brew install cmake)")
    r = build_run(tree, "--board", "RPI_PICO_W", without=["make"], FAKE_IMAGE="firmware.uf2")
    one_line_error(r, "make is not installed (apt install build-essential, or xcode-select --install)")


# -- package ---------------------------------------------------------------------------------
def test_package_rewrites_package_json(tmp_path):
    copy = tmp_path / "repo"
    skip = shutil.ignore_patterns("__pycache__")
    for d in ("tools", "firmware", "boards"):
        shutil.copytree(os.path.join(ROOT, d), copy / d, ignore=skip)
    (copy / "package.json").write_text('{"urls": [], "version": "0"}\n')  # stale
    r = subprocess.run([sys.executable, str(copy / "tools" / "flash.py"), "package"], cwd=str(copy),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (copy / "package.json").read_text()
    assert text == flash.package_json()  # what this tree's modules make
    n = len(json.loads(text)["urls"])
    assert n > 10 and r.stdout == "package: wrote package.json (%d files)\n" % n
    # --dry-run prints it and writes nothing
    (copy / "package.json").write_text("stale\n")
    r = subprocess.run([sys.executable, str(copy / "tools" / "flash.py"), "package", "--dry-run"], cwd=str(copy),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == text + "\n" and (copy / "package.json").read_text() == "stale\n"


# -- the command line ------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["", "firmware", "deploy", "build", "package", "log", "setup", "ca"])
def test_help_for_flash_and_each_subcommand(cmd):
    r = flash_run(*([cmd, "--help"] if cmd else ["--help"]))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("usage: flash.py %s" % cmd if cmd else "usage: flash.py [-h] {firmware,deploy,build,package,log,setup,ca}")
    for part in {"": ("firmware", "deploy", "build", "package", "log", "setup", "ca", "--dry-run prints"),
                 "firmware": ("--board", "--image", "--port", "--drive", "refused"),
                 "deploy": ("--port", "--config", "--march", "--no-reset", "--open-setup"),
                 "build": ("--micropython", "BOARD_DIR", "--jobs"),
                 "package": ("--dry-run",),
                 "log": ("--port", "--no-reset"),
                 "setup": ("--port", "setup page"),
                 "ca": ("--chain", "--bundle")}[cmd]:
        assert part in r.stdout, (cmd, part)


def test_command_line_mistakes_are_one_line_naming_them():
    r = flash_run("flsh")
    one_line_error(r, "argument cmd: invalid choice: 'flsh' (choose from 'firmware', 'deploy', 'build', "
                      "'package', 'log', 'setup', 'ca') (see: flash.py --help)")
    r = flash_run()
    one_line_error(r, "the following arguments are required: cmd (see: flash.py --help)")
    r = flash_run("firmware", "--board", "ESP32_GENERIC")
    one_line_error(r, "the following arguments are required: --image (see: flash.py firmware --help)",
                   prefix="flash.py firmware: error: ")
    r = flash_run("firmware", "--board", "PICO", "--image", "x.uf2")
    assert "argument --board: invalid choice: 'PICO' (choose from 'ESP32_GENERIC'" in one_line_error(
        r, r.stderr.strip()[len("flash.py firmware: error: "):], prefix="flash.py firmware: error: ")


def test_board_firmware_entries_name_the_chip_the_header_check_expects():
    for name in flash.board_names():
        b = flash.load_board(name)
        fw = b["firmware"]
        assert fw["download"] == "https://micropython.org/download/%s/" % name
        if fw["tool"] == "esptool":
            assert flash._ESP_CHIPS[fw["image_chip_id"]] == b["mcu"], name
            assert fw["chip"] == b["mcu"].lower().replace("-", "") and fw["ext"] == ".bin"
            int(fw["offset"], 16)
        else:
            fams = [int(x, 16) for x in fw["uf2_families"]]
            assert fams and all(flash._UF2_FAMILIES[x].startswith(b["mcu"]) for x in fams), name
            assert fw["ext"] == ".uf2" and fw["drive"]
        assert "firmware" in flash.HOST_ONLY  # none of it goes onto the board


# -- deploy's questions, on the config onboard writes (PicoClaw's version 3) ----------------
def _onboard_config(tmp_path):
    r = unixport.run(["-m", "picoclaw", "onboard", "--config", str(tmp_path / "config.json")], heap="256k",
                     path=os.path.join(ROOT, "firmware") + ":.frozen")
    assert r.returncode == 0, r.stdout + r.stderr
    return str(tmp_path / "config.json")


def test_deploy_asks_for_the_secrets_onboard_left_empty_in_version_3(tmp_path, monkeypatch):
    import builtins
    import getpass

    import flash

    path = _onboard_config(tmp_path)
    # not in a terminal: one line naming each key to fill in, in the file's own format
    with pytest.raises(flash.Fail) as e:
        flash.board_config(path, False, ask=False)
    assert "channel_list.telegram.settings.token" in str(e.value) and "model_list[].api_keys" in str(e.value)
    assert "channels.telegram.token" not in str(e.value)
    # in a terminal: asked (secrets without echo), saved where the firmware reads them
    secrets = {"Telegram bot token (from @BotFather): ": "123456:ABCdef",
               "Wi-Fi password (empty for an open network): ": "hunter22",
               "API key for openai/gpt-4o-mini: ": "sk-test-0123456789"}
    plain = {"Wi-Fi network name (SSID): ": "home", "save to %s? [Y/n] " % path: "y"}
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or secrets[prompt])
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or plain[prompt])
    data, _ = flash.board_config(path, False, ask=True)
    assert sorted(asked) == sorted(list(secrets) + list(plain))
    for cfg in (json.loads(data), json.load(open(path))):
        assert cfg["channel_list"]["telegram"]["settings"]["token"] == "123456:ABCdef"
        assert cfg["model_list"][0]["api_keys"] == ["sk-test-0123456789"]
        assert cfg["wifi"] == {"ssid": "home", "password": "hunter22"}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    # asked once: a second deploy finds everything
    asked.clear()
    _, extra = flash.board_config(path, False, ask=True)
    assert asked == []
    # onboard's starter files and its example skill go to the board's workspace
    ws = str(tmp_path / "workspace")
    want = {"workspace/" + n: os.path.join(ws, n) for n in flash.WORKSPACE_FILES + ("skills/weather/SKILL.md",)}
    assert extra == want


def test_deploy_takes_the_skills_the_board_would_list(tmp_path):
    import flash

    ws = tmp_path / "workspace"
    for rel, text in (("skills/weather/SKILL.md", "---\nname: weather\n---\n"), ("skills/weather/cities.txt", "Oslo\n"),
                      ("skills/weather/.notes", "mine"), ("skills/draft/README.md", "no SKILL.md here"),
                      ("skills/.hidden/SKILL.md", "x"), ("skills/a:b/SKILL.md", "x"), ("skills/cron/SKILL.md", "x"),
                      ("skills/cron/sub/deeper.md", "a folder in a skill: not listed"), ("skills/loose.md", "x")):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    os.symlink(str(ws / "skills" / "weather"), str(ws / "skills" / "linked"))
    assert flash.skill_files(str(ws)) == ["skills/cron/SKILL.md", "skills/weather/SKILL.md", "skills/weather/cities.txt"]
    assert flash.skill_files(str(tmp_path / "none")) == []
