# Frozen firmware for ESP32_GENERIC with PicoClaw inside: the port's own modules (networking, ntptime,
# ...) as the stock board has them, then our package (../../manifest.py, frozen with opt=3).
# Frozen bytecode runs from flash, so the code costs no heap. Built by
#   python tools/flash.py build --board ESP32_GENERIC --micropython ~/micropython
include("$(PORT_DIR)/boards/manifest.py")  # networking, ntptime, neopixel...
include("../../manifest.py")
