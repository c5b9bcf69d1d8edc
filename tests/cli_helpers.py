"""Shared by the CLI tests: run ``python -m autofast`` in process and capture what it printed."""
from __future__ import annotations

from autofast.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``main(args)``."""
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err
