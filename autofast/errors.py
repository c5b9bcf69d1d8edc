"""User-facing errors: one line that says what is wrong, where, and how to fix it."""
from __future__ import annotations


class AutofastError(Exception):
    """Bad input or configuration. The CLI prints ``error: <message>`` and exits with status 2."""


class Diverged(AutofastError, FloatingPointError):
    """Training diverged (a non-finite loss or score): the run or trial has no result to report.

    A ``FloatingPointError`` as well, so code that stops training on divergence keeps catching it; an
    ASHA trial that raises it is recorded as failed, never scored."""
