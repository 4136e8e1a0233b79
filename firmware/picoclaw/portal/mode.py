# Setup mode on a board: whether to enter it at start, and the access point the setup page
# (portal/server.py) is served on. board/start.py loads this module before the gateway is
# built and drops it again when setup mode is not wanted; when it is, run() never returns:
# the board restarts after a save (into the bot) or a timeout (into the bot, or into setup
# mode again while the config is still incomplete).
#
# When: no Wi-Fi SSID or no bot token in config.json (or no readable config at all), the
# `setup` flag file on flash (main.setup() on the console, `tools/flash.py setup`), or the
# BOOT button held at start where board.json names one (`boot_pin`: ESP32 GPIO0, active
# low; `"boot_button": "bootsel"`: the Pico W's BOOTSEL, read with rp2.bootsel_button()).
#
# The access point is named PicoClaw-XXXX after the last two bytes of the station MAC (the
# name tools/flash.py deploy prints), WPA2 with board.json's setup_password (written and
# printed by deploy), or open with a one-time code printed on the console only (never in
# the log) and asked for by the page, when board.json says setup_open or has no password.
import os

from micropython import const

from picoclaw import load, log, unload

FLAG = "setup"  # the file on flash that asks for setup mode at the next start
_MIN_PW = const(8)  # WPA2's shortest passphrase: a shorter one cannot protect the network
_SCAN_MAX = const(16)  # networks offered on the page: the strongest ones, enough to find yours
_SSID_MAX = const(32)  # bytes in an SSID (802.11)


def wanted(info, cfg_path="config.json"):
    """Why setup mode must run now (one line for the log), or None. info: board.json."""
    try:
        import network  # noqa: F401 - no Wi-Fi module (the plain unix port): no access point
    except ImportError:
        return None
    try:
        os.stat(FLAG)
        return "asked for (the %s file)" % FLAG
    except OSError:
        pass
    if _held(info):
        return "the BOOT button is held"
    return _incomplete(cfg_path)


def _held(info):
    # the BOOT button, read once at start: pressed is 0 on a pulled-up pin
    try:
        if info.get("boot_button") == "bootsel":
            import rp2

            return bool(rp2.bootsel_button())
        pin = info.get("boot_pin")
        if pin is None:
            return False
        import machine

        return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    except (ImportError, AttributeError, ValueError, OSError) as e:
        log.warn("setup: BOOT button not read: %s" % e)
        return False


def _incomplete(cfg_path):
    # the config's Wi-Fi SSID and bot token, read with the firmware's own loader, which
    # leaves with everything it loaded (the gateway's start-up wants the heap in one piece)
    import sys

    had = list(sys.modules)
    try:
        cfg = load("picoclaw.config").load(cfg_path)
        why = None if cfg.wifi_ssid and cfg.token else "the config has no %s" % (
            "Wi-Fi network (wifi.ssid)" if not cfg.wifi_ssid else "bot token")
    except (OSError, ValueError) as e:  # ConfigError is a ValueError: no usable config
        why = "no usable config (%s)" % e
    cfg = None
    unload(*[n for n in sys.modules if n not in had])
    return why


class AccessPoint:
    """What server.serve needs of the access point: scan() (the networks the station sees,
    names only) and net (the access point's own (ip, mask): clients from elsewhere are
    refused)."""

    def __init__(self, sta, net):
        self.sta = sta
        self.net = net

    def scan(self):
        """The SSIDs in reach, strongest first, at most _SCAN_MAX, no duplicates or hidden."""
        try:
            found = self.sta.scan()
        except (OSError, RuntimeError) as e:  # a busy radio: the page lets the name be typed
            log.warn("setup: Wi-Fi scan failed: %s" % e)
            return []
        found.sort(key=lambda t: -t[3])  # RSSI
        out = []
        for t in found:
            name = t[0]
            if not name or len(name) > _SSID_MAX:
                continue
            try:
                name = name.decode()
            except UnicodeError:  # not UTF-8: the page could not show it anyway
                continue
            if name not in out:
                out.append(name)
                if len(out) == _SCAN_MAX:
                    break
        return out


def code():
    """A 6-digit one-time code from the hardware's random source (os.urandom; 2**32 mod
    10**6 makes some codes more likely by 1 in 4000: no help to a guesser)."""
    return "%06d" % (int.from_bytes(os.urandom(4), "big") % 1000000)


def run(info, cfg_path, reason):
    """Setup mode: open the access point, serve the setup page until a save or the timeout,
    then reset the board. Never returns on a board (machine.reset())."""
    import machine
    import network

    log.info("setup mode: %s" % reason)
    sta = network.WLAN(network.STA_IF)
    sta.active(True)  # for the scan and the Wi-Fi check (check.wifi), beside the access point
    mac = sta.config("mac")
    name = "PicoClaw-%02X%02X" % (mac[-2], mac[-1])
    pw = info.get("setup_password") or ""
    one = None
    ap = network.WLAN(network.AP_IF)
    w = network.WLAN
    if info.get("setup_open") or len(pw) < _MIN_PW:
        if pw and not info.get("setup_open"):
            log.warn("setup: board.json setup_password is shorter than %d characters: open "
                     "network with a code instead" % _MIN_PW)
        one = code()
        kw = {"essid": name, "security": getattr(w, "SEC_OPEN", 0)}
        hint = "an open network; the page asks for the code %s" % one
    else:
        kw = {"essid": name, "password": pw}
        sec = getattr(w, "SEC_WPA2", None) or getattr(w, "SEC_WPA_WPA2", None)
        if sec is not None:  # else the port's default for a network with a password
            kw["security"] = sec
        hint = "password: the one tools/flash.py deploy printed"
    try:  # the Pico W takes the settings before it starts the network...
        ap.config(**kw)
        ap.active(True)
    except OSError:  # ...an ESP32 only once its Wi-Fi is started
        ap.active(True)
        ap.config(**kw)
    kw = pw = None
    ip, mask = ap.ifconfig()[:2]
    port = info.get("setup_port", 80)
    url = "http://%s/" % ip if port == 80 else "http://%s:%d/" % (ip, port)
    print("SETUP: join the Wi-Fi network %s (%s), then open %s" % (name, hint, url))
    hint = None
    server = load("picoclaw.portal.server")
    rc = server.serve(cfg_path, (ip, port), dns_port=info.get("setup_dns_port", 53),
                      ap=AccessPoint(sta, (ip, mask)), timeout_s=info.get("setup_timeout_s", 900), code=one)
    unload("picoclaw.portal.server")
    try:
        os.remove(FLAG)
    except OSError:
        pass
    log.info("setup mode: %s; restarting" % ("config saved" if rc == 0 else "timed out"))
    machine.reset()
