# PicoClaw for MicroPython: a Telegram AI assistant for boards with ~100-200 KB of heap.
# Members load on first use (import picoclaw.<module>); nothing is imported here, so
# `import picoclaw` costs almost no RAM.
VERSION = "0.1.0"


class Settings:
    """The loaded configuration (config.load fills it): a plain attribute holder, here so
    that keeping the settings does not keep the config loader's code in RAM."""
