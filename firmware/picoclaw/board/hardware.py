# The one module that touches the board's hardware: Wi-Fi, network time, the watchdog, the
# status LED and resets. board/start.py (run by main.py) wires it to the gateway; nothing
# else imports it.
#
# Board(info, machine, network, ntptime) takes the modules as arguments (hardware(info)
# imports the real ones), so the host tests hand it fakes. What a runtime lacks is probed,
# never assumed from the platform: the unix port has no network (Wi-Fi is skipped) and its
# built-in machine has no Pin/WDT/Timer (no LED, no watchdog).
#
# The watchdog: a hardware WDT cannot be stopped once started and on the RP2040 its longest
# timeout is 8.4 s, shorter than a Telegram long poll or an LLM answer. So a 100 ms timer
# feeds it, but only while the main loop has called alive() within hang_s seconds: a loop
# stuck for longer (or a timer that stops running) resets the board. The same timer steps
# the status LED pattern.
import gc
import time

from micropython import const

from picoclaw import log

# Status LED patterns: 16 steps of 100 ms, bit i lit at step i (readable across a room).
JOINING = const(0x5555)  # fast blink: joining Wi-Fi
POLLING = const(0x0001)  # a short blip every 1.6 s: up, waiting for messages
THINKING = const(0xFFFF)  # steady on: answering a message
ERROR = const(0x0005)  # double blip: a failure, retrying (or stopped: see the console)

_STEP_MS = const(100)  # timer period: LED step and watchdog feed
_JOIN_MS = const(20000)  # one join attempt; a slow access point answers within ~10 s
_BACKOFF_MAX_MS = const(60000)  # an absent network is retried every minute, never hammered
_RADIO_RESTART = const(5)  # failed joins after which the Wi-Fi driver is restarted
_NO = const(-9999)  # no such status constant on this port


class Board:
    """The board's hardware. info: board.json as a dict ({} when there is none)."""

    def __init__(self, info, machine=None, network=None, ntptime=None):
        self.info = info
        # machine without Pin is the unix port's built-in: nothing to drive there
        self.machine = machine if hasattr(machine, "Pin") else None
        self._reset = getattr(machine, "reset", None)
        self._net = network
        self._ntp = ntptime
        self.wlan = None
        self.pattern = JOINING
        self.wdt = None
        self._timer = None
        self._step = 0
        self._on = -1
        self._t0 = self._alive = time.ticks_ms()
        self._hang_ms = info.get("hang_s", 300) * 1000
        self._free = False
        self._led = self._np = None
        self._since = 0  # time.time() at boot, once network time is set
        led = info.get("status_led")
        if led is not None and self.machine is not None:
            try:
                pin = self.machine.Pin(led, self.machine.Pin.OUT)
                if info.get("status_led_kind") == "neopixel":
                    import neopixel

                    self._np = neopixel.NeoPixel(pin, 1)
                    self._rgb = ((0, 0, 0), (0, 0, 24))  # off, dim blue (made once: no
                    #                                      allocation in the timer callback)
                else:
                    self._led = pin
            except (ValueError, TypeError, ImportError, OSError) as e:
                log.warn("status LED %s unavailable: %s" % (led, e))

    # -- watchdog and LED -------------------------------------------------------------------
    def start(self):
        """Start the LED timer and the hardware watchdog (wdt_ms in board.json; 0: none).
        From here on call alive() at least every hang_s seconds, or the board resets."""
        m = self.machine
        if m is None or not hasattr(m, "Timer"):
            return
        try:  # timer ids differ per port (rp2: -1, a virtual timer; esp32: 0-3, hardware)
            self._timer = m.Timer(self.info.get("timer_id", -1))
            self._timer.init(period=_STEP_MS, mode=m.Timer.PERIODIC, callback=self._tick)
        except (ValueError, OSError) as e:
            log.warn("no timer (%s): status LED and watchdog off; set timer_id in board.json" % e)
            return  # a watchdog nobody feeds would reset the board
        wdt_ms = self.info.get("wdt_ms", 0)
        if wdt_ms and hasattr(m, "WDT"):
            self.wdt = m.WDT(timeout=wdt_ms)
            log.info("watchdog: %d ms, fed while the main loop is alive (hang limit %d s)"
                     % (wdt_ms, self._hang_ms // 1000))

    def _tick(self, _timer):
        # every 100 ms, from a timer: may run as a hard interrupt, so nothing here allocates
        s = (self._step + 1) & 15
        self._step = s
        on = (self.pattern >> s) & 1
        if on != self._on:
            self._on = on
            if self._led is not None:
                self._led.value(on)
            elif self._np is not None:
                self._np[0] = self._rgb[on]
                self._np.write()
        if self.wdt is not None and (self._free or time.ticks_diff(time.ticks_ms(), self._alive) < self._hang_ms):
            self.wdt.feed()

    def alive(self, pattern=-1):
        """The main loop is alive (feeds the watchdog's hang check); pattern >= 0 also sets
        the LED pattern (JOINING, POLLING, THINKING, ERROR)."""
        self._alive = time.ticks_ms()
        if pattern >= 0:
            self.pattern = pattern

    def release(self, pattern=0):
        """The REPL has the board: keep the watchdog fed from now on (it cannot be stopped)
        and show `pattern` on the LED."""
        self._free = True
        self.pattern = pattern

    def reset(self):
        """Hard reset (a fresh boot: boot.py, then main.py)."""
        if self._reset is None:
            raise SystemExit(1)  # a runtime with no reset: end the process instead
        self._reset()

    def reset_cause(self):
        """Why the board last started: PWRON_RESET, WDT_RESET, ... ('?' if unknown)."""
        m = self.machine
        c = m.reset_cause() if m is not None and hasattr(m, "reset_cause") else None
        for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
            if c is not None and getattr(m, name, _NO) == c:
                return name
        return "?"

    # -- Wi-Fi ----------------------------------------------------------------------------
    def join(self, ssid, password):
        """Join Wi-Fi, retrying with back-off until it works (a bot without a network has
        nothing else to do). Returns the address, or None on a board without Wi-Fi.
        Raises ValueError when wifi.ssid is not set."""
        net = self._net
        if net is None:
            return None
        if not ssid:
            raise ValueError("config: wifi.ssid is not set (the board needs Wi-Fi to reach Telegram)")
        self._creds = (ssid, password)  # for rejoin(); never logged
        w = self.wlan
        if w is None:
            try:
                net.hostname("picoclaw")
            except (AttributeError, OSError, ValueError):
                pass
            w = self.wlan = net.WLAN(net.STA_IF)
        failures = 0
        while True:
            self.alive(JOINING)
            if not w.active():
                w.active(True)
            if w.isconnected():
                break
            log.info("Wi-Fi: joining %s" % ssid)
            try:
                w.connect(ssid, password)
                why = self._wait_link(w)
            except OSError as e:  # drivers report internal errors this way: retry
                why = "driver error %s" % e
            if why is None:
                break
            failures += 1
            wait = min(_BACKOFF_MAX_MS, 1000 << min(failures, 6))
            log.warn("Wi-Fi: %s; retrying in %d s" % (why, wait // 1000))
            try:
                w.disconnect()
                if failures % _RADIO_RESTART == 0:
                    w.active(False)  # some drivers wedge: restart the radio now and then
            except OSError:
                pass
            self.alive(ERROR)
            time.sleep_ms(wait)
        ip = w.ifconfig()[0]
        log.info("Wi-Fi: joined %s as %s" % (ssid, ip))
        self.alive(POLLING)
        return ip

    def _wait_link(self, w):
        # None once connected, else why not
        net = self._net
        t = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t) < _JOIN_MS:
            if w.isconnected():
                return None
            st = w.status()
            if st == getattr(net, "STAT_WRONG_PASSWORD", _NO):
                return "wrong password (wifi.password)"
            if st == getattr(net, "STAT_NO_AP_FOUND", _NO):
                return "network not found (check wifi.ssid; boards see 2.4 GHz networks only)"
            if st == getattr(net, "STAT_CONNECT_FAIL", _NO):
                return "connection refused by the access point"
            self.alive()
            time.sleep_ms(250)
        return "no answer within %d s" % (_JOIN_MS // 1000)

    def rejoin(self):
        """Join again with the last credentials (the link dropped)."""
        return self.join(*self._creds)

    def link_up(self):
        """False when Wi-Fi was joined and the link has dropped since."""
        return self.wlan is None or self.wlan.isconnected()

    # -- time and status ------------------------------------------------------------------
    def set_time(self, tries=3):
        """Set the clock from NTP (TLS checks certificate dates; schedules need the time).
        Returns True when set."""
        ntp = self._ntp
        if ntp is None:
            return False
        host = self.info.get("ntp_host")
        if host:
            ntp.host = host
        for i in range(tries):
            self.alive()
            try:
                ntp.settime()
                # ticks wrap after ~12 days: uptime comes from the clock once it is right
                self._since = time.time() - time.ticks_diff(time.ticks_ms(), self._t0) // 1000
                t = time.gmtime()
                log.info("time: %04d-%02d-%02d %02d:%02d:%02d UTC" % t[:6])
                return True
            except (OSError, OverflowError, IndexError) as e:
                log.warn("network time: %s (try %d of %d)" % (e, i + 1, tries))
                time.sleep_ms(1000 << i)
        log.warn("network time not set: TLS may refuse certificates as not yet valid")
        return False

    def status(self):
        """Small facts for system_status: heap, uptime, Wi-Fi (nothing secret)."""
        gc.collect()
        w = self.wlan
        if w is None:
            wifi = "none"
        elif w.isconnected():
            try:
                wifi = "connected, RSSI %d dBm" % w.status("rssi")
            except (OSError, ValueError, TypeError):
                wifi = "connected"
        else:
            wifi = "down"
        up = time.time() - self._since if self._since else time.ticks_diff(time.ticks_ms(), self._t0) // 1000
        return {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(), "uptime_s": up, "wifi": wifi}


def hardware(info):
    """A Board over this runtime's machine, network and ntptime modules (whichever exist)."""
    mods = []
    for name in ("machine", "network", "ntptime"):
        try:
            mods.append(__import__(name))
        except ImportError:
            mods.append(None)
    return Board(info, *mods)
