"""Small firmware images with real headers, for the tests of tools/flash.py firmware.

esp_image: an esptool image as esptool/bin_image.py lays it out (magic 0xE9, segment count,
flash mode, size/frequency, entry point; then the 16-byte extended header whose bytes 4-5,
the image's 12-13, are the chip id of esptool/targets/*.py: 0 ESP32, 9 ESP32-S3, ...).
uf2_image: UF2 blocks as github.com/microsoft/uf2 defines them, 256 bytes of payload each.
"""
import struct

ESP32, ESP32S2, ESP32S3, ESP32C3 = 0, 2, 9, 5
RP2040, ABSOLUTE, RP2350_ARM, RP2350_RISCV = 0xE48BFF56, 0xE48BFF57, 0xE48BFF59, 0xE48BFF5A


def esp_image(chip_id, size=512):
    head = struct.pack("<BBBBI", 0xE9, 3, 2, 0x20, 0x40080400)  # 3 segments, DIO, 4MB@40MHz
    ext = struct.pack("<BBBBHBHH4BB", 0xEE, 0, 0, 0, chip_id, 0, 0, 0xFFFF, 0, 0, 0, 0, 1)
    body = bytes((i * 7) & 0xFF for i in range(size - len(head) - len(ext)))
    return head + ext + body


def uf2_image(families, base=0x10000000):
    """One block per entry of `families` (a family id, or None for a block without one)."""
    out = bytearray()
    for i, fam in enumerate(families):
        flags = 0x2000 if fam is not None else 0
        block = struct.pack("<8I", 0x0A324655, 0x9E5D5157, flags, base + 256 * i, 256, i,
                            len(families), fam or 0)
        block += bytes((i + j) & 0xFF for j in range(256))
        out += block + bytes(508 - len(block)) + struct.pack("<I", 0x0AB16F30)
    return bytes(out)
