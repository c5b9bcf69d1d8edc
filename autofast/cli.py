"""``python -m autofast``: command-line entry point.

Each subcommand lives in :mod:`autofast.commands` (its parser and its ``run``); this module assembles them,
sets up the process runtime, and is the one place that turns an expected failure into one ``error:`` line
on stderr and exit status 2: bad input (:class:`~autofast.errors.AutofastError`), a path or disk the OS
refuses (``OSError``), a failing run store (``sqlite3.Error``), a device out of memory, a precision the
device lacks; Ctrl-C and SIGTERM give the same line and exit status 130 and 143 (``python -m autofast`` ends
by SIGINT itself after a Ctrl-C). Anything else is a bug in autofast: one line and exit status 1, the
traceback with ``--debug``.
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
import traceback
from contextlib import contextmanager

from .commands import autoft, dash, datasets, forecast, predict, search
from .errors import AutofastError, out_of_memory_line
from .runtime import configure as configure_runtime
from .runtime import process_started

COMMANDS = (forecast, dash, search, predict, autoft, datasets)
CONV_COMMANDS = ("dash", "search", "pretrain", "finetune", "compare")  # the commands that train convs


class OneLineParser(argparse.ArgumentParser):
    """argparse with a usage error as one ``error:`` line (exit 2) instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())}; see `{self.prog} --help`\n")


DESCRIPTION = ("autofast: tuned baselines on compiled kernels. search: a tuned model for a classification, "
               "regression (values), dense or forecasting-window task (DASH + ASHA + retrain, one test score); "
               "forecast: Auto-AR; "
               "predict: apply a run's final model to new data. `python -m autofast COMMAND --help` for a "
               "command's options.")


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help line ends with its default: the one its help gives (``default: ...``), else
    argparse's value, ``off`` for a switch."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0:
            return f"{text} (default: off)"
        return text if action.default is None else f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = OneLineParser(prog="python -m autofast", description=DESCRIPTION, formatter_class=DefaultsFormatter)
    parser.add_argument("--version", action="version", version=f"autofast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for name, p in sub.choices.items():
        p.formatter_class = DefaultsFormatter
        if name in CONV_COMMANDS:
            p.add_argument(
                "--conv-path", choices=["auto", "native", "tap", "fft"], default=None,
                help="how convolutions run: auto = the fastest exact path per shape, measured once and cached in "
                     "~/.cache/autofast; native = torch's conv; tap = autofast's tap kernels; fft; saved with the "
                     "run (default: $AUTOFAST_CONV_PATH, else auto)")
            p.add_argument(
                "--precision", choices=["auto", "fp32", "bf16", "fp16"], default=None,
                help="training precision: auto = fp32; fp32; bf16 (autocast); fp16 (autocast + loss scaling, "
                     "CUDA only); saved with the run (default: $AUTOFAST_PRECISION, else auto)")
        p.add_argument("--debug", action="store_true", help="on failure, print the Python traceback too")
    return parser


def failure_line(exc: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for a bug."""
    if isinstance(exc, AutofastError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return ("interrupted (Ctrl-C or SIGTERM); no file was left half-written (a run folder's finished work stays: "
                "--resume continues it)")
    if isinstance(exc, sqlite3.Error):
        return f"the run's journal database failed ({exc}); free disk space or fix the file system and retry"
    torch = sys.modules.get("torch")  # never imported here: a torch error implies torch is loaded
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return out_of_memory_line(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller batch size, width or data set"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}; check the path, its permissions and the free disk space"
    return None


def _unsafe_to_raise(frame) -> bool:
    """Whether an exception raised in ``frame`` would not unwind cleanly: in the import system itself (Python
    prints and drops an exception in the module lock's weakref callback), in a ``__del__``, or in Python code
    that an extension module's initialisation called (a caller is an ``ExtensionFileLoader`` creating or
    executing its module: the exception crosses C++ and aborts the process, as triton's nanobind module did
    under ``torch._dynamo``'s first import, exit -6). Plain Python imports are safe to interrupt."""
    code = getattr(frame, "f_code", None)
    if code is not None and (code.co_filename.startswith("<frozen importlib") or code.co_name == "__del__"):
        return True
    while frame is not None:
        code = getattr(frame, "f_code", None)
        if (code is not None and code.co_name in ("create_module", "exec_module")
                and code.co_filename.startswith("<frozen importlib")
                and type(getattr(frame, "f_locals", {}).get("self")).__name__ == "ExtensionFileLoader"):
            return True
        frame = getattr(frame, "f_back", None)
    return False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM as raised by :func:`_sigterm_handler`, with the signal's number: the command's exit
    status is 128 + it (130, 143), the shell's convention, so a script tells an interrupt from bad input (2)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__()
        self.signum = int(signum)


def _sigterm_handler(signum, frame):
    """Raise :class:`Interrupted`; where that is unsafe (:func:`_unsafe_to_raise`: a SIGTERM landing in an
    import's lock callback let a ``dash`` run finish with exit 0; one in an extension's import aborted a
    ``search``), deliver the signal again a moment later instead, outside that frame."""
    if _unsafe_to_raise(frame):
        import threading

        pid = os.getpid()
        threading.Timer(0.05, lambda: os.kill(pid, signum)).start()
        return
    raise Interrupted(signum)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C, so every clean-up path runs for both; both are held
    back out of imports (:func:`_sigterm_handler`; Ctrl-C only where it has its default handler, not where
    the shell made this process ignore it)."""
    try:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _sigterm_handler)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _sigterm_handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _forget_handled_interrupt() -> None:
    """Clear CPython's "unhandled KeyboardInterrupt" flag. An interrupt that passed through ``PyRun_String``
    (pybind11's ``py::eval`` in an extension) sets it even when our code caught the interrupt, and the
    interpreter would then end itself with SIGINT instead of our exit status. Running any code through
    ``PyRun_SimpleString`` resets it."""
    import ctypes

    ctypes.pythonapi.PyRun_SimpleString(b"pass")


#: options that name files or folders (``~`` expanded where the shell did not)
PATH_OPTIONS = ("out", "run_dir", "data", "config", "checkpoint", "task", "resume", "labels")


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, with an unknown option reported by the command it was given to (argparse's
    top-level parser named ``python -m autofast`` for ``pretrain --time-budget``) and the option meant, where one
    is close."""
    import difflib

    args, extra = parser.parse_known_args(argv)
    if extra:
        command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        known = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        flag = next((e.split("=")[0] for e in extra if e.startswith("--")), None)
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.8) if flag else []
        hint = f" (did you mean {close[0]}?)" if close else f" ({args.command} takes no such option)" if flag else ""
        if flag == "--overwrite" and args.command == "search":  # its folder is continued, not replaced
            hint = " (search continues a run folder with --resume RUN_DIR, or starts one in a new --out)"
        command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_command_line(build_parser(), argv)
    args.started = process_started() if argv is None else time.time()  # a budget counts from the process start
    for name in PATH_OPTIONS:  # '--out=~/runs' or a quoted '~/x': the shell left the ~ (it made a folder named ~)
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))
    try:
        with sigterm_as_interrupt():
            threads = getattr(args, "threads", None)
            if threads is not None and threads < 1:
                raise AutofastError(f"--threads {threads}: give a positive thread count (default: the CPUs this "
                                    "process may use)")
            configure_runtime(threads)  # before torch / numba / the C++ extension start their thread pools
            return args.func(args)  # --precision / --conv-path: options of the command's config
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if args.debug:
            traceback.print_exc()
        line = failure_line(exc)
        interrupt = next((e for e in (exc, exc.__context__) if isinstance(e, KeyboardInterrupt)), None)
        if interrupt is not None:
            _forget_handled_interrupt()
        if line is not None:
            print(f"error: {' '.join(line.split())}", file=sys.stderr)
            return 2 if interrupt is None else 128 + getattr(interrupt, "signum", signal.SIGINT)
        print(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} (a bug in autofast; "
              "rerun with --debug for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
