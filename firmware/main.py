# Board entry point: MicroPython runs it after boot.py (the code is picoclaw/board/start.py). Wires
# the hardware (picoclaw.board) to the gateway, which runs exactly as
# `python -m picoclaw gateway --config config.json`.
#
# Order: nostart check -> board.json -> safe-mode check -> setup mode? -> config.json -> gateway (built
# first, while the heap is in one piece) -> starter workspace files -> watchdog and LED ->
# Wi-Fi -> network time -> pairing when nobody is admitted -> the last crash reported to the
# owner -> poll forever.
#
# The log: every line the console shows is also appended to log.txt on flash (a ring of two
# files: log.txt up to 8 KB, then renamed log.1.txt: see picoclaw/log.py), and a crash's
# traceback is saved to crash.txt before the reset. Read both from a computer with
# `python tools/flash.py log` (or `mpremote cat :log.txt`); `/status` and `picoclaw status`
# show the last crash, and the owner gets one Telegram line about it at the next start.
#
# Setup mode (picoclaw/portal/mode.py), checked first: when config.json has no Wi-Fi or no bot
# token, the `setup` file exists (main.setup(), or `python tools/flash.py setup`) or the BOOT
# button is held, the board opens its own Wi-Fi network PicoClaw-XXXX and serves the setup
# page, then restarts.
#
# Safe mode: crashes.txt counts the runs in a row that ended in a crash: an exception (this
# file resets the board), or, seen at the next start, a run that ended without a word while
# the board was not powered off (a hang the watchdog ended, a hard fault). A power-up, a stop
# (Ctrl-C, which mpremote and deploy send) and a healthy run (polling without failure for
# healthy_s seconds) are no crash. After safe_after crashes this file returns at once and
# leaves the REPL to you. To leave safe mode delete crashes.txt (mpremote rm :crashes.txt),
# deploy again, or start once by hand: import main; main.run(True).
#
# nostart: a file deploy writes before it resets the board, so that the board comes up in
# the REPL with the whole heap free for mpremote (copying beside a running bot fails for
# lack of heap). This file deletes it and does not start: it works once, so a deploy that
# fails half-way leaves a board that starts normally at its next reset.
# `import main; main.run(True)` from the REPL; main.setup(): restart into setup mode
from picoclaw.board.start import run, setup  # noqa: E402,F401

if __name__ == "__main__":
    run()
