# PicoClaw for MicroPython: a Telegram AI assistant for boards with ~100-200 KB of heap.
# Nothing is imported here, so `import picoclaw` costs almost no RAM; the layers are the
# subpackages (docs/architecture.md): json/, net/, telegram/, gateway/, llm/, agent/, tools/,
# cmd/ and board/.
VERSION = "0.1.0"


class Settings:
    """The loaded configuration (config.load fills it): a plain attribute holder, here so
    that keeping the settings does not keep the config loader's code in RAM."""


# Loaded .mpy code lives in the heap, so a module that only one step needs (a command, a
# tool, the model side, the formatter) is loaded for that step and dropped after it, and the
# steps of a turn take the heap in turn:
#
#     try:
#         load("picoclaw.gateway.commands").run(gw, u, head)
#     finally:
#         unload("picoclaw.gateway.commands")
#
# Full dotted names, as __import__ takes them (docs/memory.md).
def load(name):
    """The module `name` ("picoclaw.net.fail"), imported after a collection so that its code
    finds the freed heap in one piece; kept until unload(name)."""
    import gc
    import sys

    gc.collect()
    __import__(name)
    return sys.modules[name]


def unload(*names):
    """Forget the modules named: their code leaves the heap once nothing else
    refers to it.
    Collects at once rather than at the next failed allocation: 2 KB less min heap, measured."""
    import gc
    import sys

    for name in names:
        sys.modules.pop(name, None)
        i = name.rfind(".")
        parent = sys.modules.get(name[:i])
        if parent is not None:  # the import made it an attribute of its package too
            parent.__dict__.pop(name[i + 1:], None)
    gc.collect()
