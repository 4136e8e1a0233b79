# A board's flash for the unix port: a littlefs2 file system (the one MicroPython boards use)
# in a host file of fixed size, mounted at /flash, then `picoclaw` run exactly as
# `python -m picoclaw` runs it. HOST ONLY: never deployed; the firmware is not changed.
#
#   MICROPYPATH=build/mpy:host_tests/support:.frozen micropython -X heapsize=N -m flash_driver IMAGE KB \
#       gateway --config C [--cycles N]
# IMAGE is created and formatted when it does not exist (KB kilobytes, 4 KB blocks); the
# config's workspace should be under /flash. Instead of a picoclaw command:
#   fill      write /flash/filler until the file system is full
#   free      remove /flash/filler
#   du PATH   print "<path> <bytes>" for every file under PATH, then "FREE <bytes>" A full file system answers writes with ENOSPC
# (OSError 28), as the board's does. The block device reads and writes the image in place
# through the caller's buffers, so it costs the heap no more than a few small objects.
import os
import sys

_BLOCK = 4096


class FileBlocks:
    """The block device protocol (readblocks, writeblocks, ioctl) over a host file."""

    def __init__(self, path, blocks):
        self.f = open(path, "r+b")
        self.blocks = blocks

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * _BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * _BLOCK + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return _BLOCK
        if op == 6:  # erase: littlefs overwrites whole blocks anyway
            return 0
        return None


image, kb = sys.argv[1], int(sys.argv[2])
fresh = False
try:
    os.stat(image)
except OSError:
    blank = b"\xff" * _BLOCK
    with open(image, "wb") as f:
        for _ in range(kb * 1024 // _BLOCK):
            f.write(blank)
    fresh = True
dev = FileBlocks(image, kb * 1024 // _BLOCK)
if fresh:
    os.VfsLfs2.mkfs(dev)
os.mount(os.VfsLfs2(dev), "/flash")
del sys.argv[1:3]


def du(d):
    for e in os.ilistdir(d):
        p = d + "/" + e[0]
        if e[1] == 0x4000:
            du(p)
        else:
            print(p, os.stat(p)[6])


try:
    if sys.argv[1] == "fill":
        # a piece at a time, each closed (littlefs commits a file's data when it is closed):
        # blocks, then ever smaller pieces for what is left
        block = bytearray(_BLOCK)
        for n in (_BLOCK, 512, 64, 8, 1):
            try:
                while True:
                    with open("/flash/filler", "ab") as f:
                        f.write(memoryview(block)[:n])
            except OSError as e:
                err = e
        print("FILLED", err)
    elif sys.argv[1] == "free":
        os.remove("/flash/filler")
    elif sys.argv[1] == "du":
        du(sys.argv[2])
        st = os.statvfs("/flash")
        print("FREE", st[0] * st[4])
    else:
        __import__("picoclaw.__main__")
finally:
    os.umount("/flash")
