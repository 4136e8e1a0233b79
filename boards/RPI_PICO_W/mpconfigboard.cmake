# RPI_PICO_W with PicoClaw frozen in, built from outside the MicroPython tree:
#   make -C <micropython>/ports/rp2 BOARD_DIR=<this folder>     (tools/flash.py build does it)
# The hardware settings are the stock board's (included from the tree being built, so they
# match its version); only the frozen manifest is ours. CMAKE_CURRENT_SOURCE_DIR is the port
# folder here: this file is include()d by the port's CMakeLists.txt.
include(${CMAKE_CURRENT_SOURCE_DIR}/boards/RPI_PICO_W/mpconfigboard.cmake)
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
# Pin names ("LED" is on the Wi-Fi chip): the stock Pico W table, the same on the Pico 2 W
set(MICROPY_BOARD_PINS ${CMAKE_CURRENT_SOURCE_DIR}/boards/RPI_PICO_W/pins.csv)
