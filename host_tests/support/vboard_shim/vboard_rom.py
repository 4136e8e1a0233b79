"""The virtual board's "firmware start-up", run by host_tests/support/vboard.py as
`micropython -i vboard_rom.py` in the board's folder. HOST ONLY: never frozen, never deployed.

Like a board: boot.py, then main.py, each if present, then the REPL (-i). An exception in
either is printed and the REPL still comes up, as on a board. The source is compiled and
dropped before it runs: a board's pyexec_file reads the file as it parses it, and holding
main.py's whole text for the whole run would cost the bot ~7 KB of heap a board keeps.
"""
import sys


def _run(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    try:
        code = compile(src, name, "exec")
        src = None
        exec(code, {"__name__": "__main__"})
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
    except Exception as e:
        sys.print_exception(e)


_run("boot.py")
_run("main.py")
del _run
