# Freezes PicoClaw into a custom MicroPython firmware (frozen bytecode stays in flash, so the
# code costs no heap). Board manifests include this after the port's own manifest:
#     include("$(PORT_DIR)/boards/manifest.py")
#     include("$(MPY_DIR)/../picoclaw/manifest.py")
# The JSON scanner and escaper are viper: the port's build passes its -march to mpy-cross.
metadata(description="PicoClaw: a Telegram AI assistant for boards with ~100-200 KB of heap", version="0.1.0")

# simulate.py is kept: SIMULATE-style self-tests can run on a board with no network
package("picoclaw", base_path="firmware", opt=3)
