# Freezes PicoClaw into a custom MicroPython firmware (frozen bytecode stays in flash, so the
# code costs no heap). The board manifests in boards/<BOARD>/ include this after the port's
# own manifest; tools/flash.py build runs the port's make with BOARD_DIR=boards/<BOARD>.
# The JSON scanner and escaper are viper: the port's build passes its -march to mpy-cross.
metadata(description="PicoClaw: a Telegram AI assistant for boards with ~100-200 KB of heap", version="0.1.0")

# network time for TLS certificate dates (board.py); the stock esp32/rp2 W manifests already
# bring it with bundle-networking, and a second require of the same package is ignored
require("ntptime")

# simulate.py is kept: SIMULATE-style self-tests can run on a board with no network.
# main.py and boot.py are not frozen: the firmware runs them from the filesystem (deploy
# copies them).
package("picoclaw", base_path="firmware", opt=3)
