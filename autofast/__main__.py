import signal
import sys

from autofast.cli import main

if __name__ == "__main__":  # only as `python -m autofast`, never on a mere import
    status = main()
    if status == 128 + signal.SIGINT:
        # Ctrl-C: after the clean-up, end by SIGINT as the shell expects of a program it stopped (a script's loop
        # then stops too; an exit status of 130 would let it go on). CPython does that, once finalised (atexit
        # handlers run), for a KeyboardInterrupt left unhandled here; the error line was printed, not its traceback.
        sys.excepthook = lambda *exc: None
        raise KeyboardInterrupt
    sys.exit(status)
