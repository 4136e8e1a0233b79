# The gateway run from a ROMFS image, as on a board whose .mpy code executes in place from
# flash. Not part of the firmware; tools/bench.py (--romfs) builds the image and runs this.
#
#   MICROPYPATH=.frozen micropython -X heapsize=N romfs_driver.py IMAGE gateway --config C --cycles N
# The unix port has no flash: the image is read into one bytearray first, so that it is one
# block at the bottom of the heap and every heap figure is the board's plus the image's size.
import os
import sys
import vfs

rom = bytearray(os.stat(sys.argv[1])[6])
with open(sys.argv[1], "rb") as f:
    f.readinto(rom)
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path.insert(0, "/rom")
sys.argv[1:2] = []  # what `python -m picoclaw` would see
import picoclaw.__main__  # noqa: E402,F401  (runs the command line, as `-m picoclaw` does)
