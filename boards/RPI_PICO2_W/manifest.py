# Frozen firmware for RPI_PICO2_W with PicoClaw inside: the port's own modules (networking, ntptime,
# ...) as the stock board has them, then our package (../../manifest.py, frozen with opt=3).
# Frozen bytecode runs from flash, so the code costs no heap. Built by
#   python tools/flash.py build --board RPI_PICO2_W --micropython ~/micropython
include("$(PORT_DIR)/boards/manifest.py")
include("$(PORT_DIR)/boards/RPI_PICO2_W/manifest.py")  # bundle-networking (ntptime) as on the stock Pico 2 W
include("../../manifest.py")
