# PicoClaw for MicroPython: a Telegram AI assistant for boards with ~100-200 KB of heap.
# Members load on first use (import picoclaw.<module>); nothing is imported here, so
# `import picoclaw` costs almost no RAM.
VERSION = "0.1.0"
