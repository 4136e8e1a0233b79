# PicoClaw for MicroPython: a Telegram AI assistant for boards with ~100-200 KB of heap.
# Members load on first use (import picoclaw.<module>); nothing is imported here, so
# `import picoclaw` costs almost no RAM.
VERSION = "0.1.0"


class Settings:
    """The loaded configuration (config.load fills it): a plain attribute holder, here so
    that keeping the settings does not keep the config loader's code in RAM."""


# Modules that only one step needs (a command, a tool, the model side, the formatter) are
# loaded for it and dropped after it, so the steps of a turn share the heap in turn:
#
#     try:
#         load("commands").run(gw, u, head)
#     finally:
#         unload("commands")
def load(name):
    """Module picoclaw.<name>, imported after a collection (its code then finds the freed
    heap in one piece) and kept until unload(name)."""
    import gc
    import sys

    gc.collect()
    name = __name__ + "." + name  # the package's own name: no literal to intern
    __import__(name)
    return sys.modules[name]


def unload(*names):
    """Unload picoclaw.<name> modules: their code leaves the heap once nothing else refers
    to it (the names they interned stay, and importing them again interns nothing new).
    Collects at once, not at the next failed allocation: 2 KB less min heap, measured."""
    import gc
    import sys

    pkg = globals()
    for n in names:
        sys.modules.pop(__name__ + "." + n, None)
        pkg.pop(n, None)  # the import made it an attribute of the package too
    gc.collect()
