// ESP32_GENERIC with PicoClaw frozen in: the stock board's settings, unchanged (the board name stays
// the stock one, so tools/flash.py recognises the board from sys.implementation._machine).
#include "boards/ESP32_GENERIC/mpconfigboard.h"
