"""pytest setup: put the host shim and firmware/ on the path (CPython only)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shim  # noqa: E402

shim.install()
import mptest  # noqa: E402,F401  (os.ilistdir on CPython, as the firmware uses it)
