"""User-facing errors: one line that says what is wrong, where, and how to fix it."""
from __future__ import annotations


class AutofastError(Exception):
    """Bad input or configuration. The CLI prints ``error: <message>`` and exits with status 2."""
