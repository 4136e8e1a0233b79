"""The virtual board's "firmware start-up", run by host_tests/vboard.py as
`micropython -i vboard_rom.py` in the board's folder. HOST ONLY: never frozen, never deployed.

Like a board: boot.py, then main.py, each if present, then the REPL (-i). An exception in
either is printed and the REPL still comes up, as on a board.
"""
import sys


def _run(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    try:
        exec(src, {"__name__": "__main__"})
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
    except Exception as e:
        sys.print_exception(e)


_run("boot.py")
_run("main.py")
del _run
