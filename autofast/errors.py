"""User-facing errors: one line that says what is wrong, where, and how to fix it."""
from __future__ import annotations


class AutofastError(Exception):
    """Bad input or configuration. The CLI prints ``error: <message>`` and exits with status 2."""


class Diverged(AutofastError, FloatingPointError):
    """Training diverged (a non-finite loss or score): the run or trial has no result to report.

    A ``FloatingPointError`` as well, so code that stops training on divergence keeps catching it; an
    ASHA trial that raises it is recorded as failed, never scored."""


OOM_FIX = "use a smaller --batch-size or --search-width / --retrain-width, or fewer --trials-per-device"
"""How to get past a device out-of-memory error (the CLI's error line; a failed ASHA trial's report)."""


def out_of_memory_line(exc: BaseException) -> str:
    """One line for a device out-of-memory error (``torch.OutOfMemoryError``): its first sentences and the fix."""
    text = " ".join(str(exc).split())
    what = ". ".join(text.split(". ")[:2]).rstrip(".")[:160] or "out of memory"
    return f"out of memory on the device ({what}); {OOM_FIX}"


class BudgetExhausted(RuntimeError):
    """The time budget ran out while a trial was training: it stops where it is (its finished rungs count)."""


def column_list(names) -> str:
    """The column names of a table, for an error message: listed only when they look like a real header
    (at least two short plain names); otherwise just their count, so no file's contents are echoed."""
    import re

    names = [str(n) for n in names]
    plain = len(names) >= 1 and all(re.fullmatch(r"[\w .:/()%#-]{1,40}", n) for n in names)
    if not plain:
        return f"{len(names)} column(s) in the header row"
    return ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else "")
