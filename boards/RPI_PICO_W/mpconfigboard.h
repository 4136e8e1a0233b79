// RPI_PICO_W with PicoClaw frozen in: the stock board's settings, unchanged (the board name stays
// the stock one, so tools/flash.py recognises the board from sys.implementation._machine).
#include "boards/RPI_PICO_W/mpconfigboard.h"
