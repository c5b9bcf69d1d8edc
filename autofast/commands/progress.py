"""What a long-running command is doing, on stderr: a rich spinner or bar in a terminal, and one plain line
per stage message where a spinner draws nothing (a pipe or a log file), so no stage runs silently.
A quiet console (``--json``) prints neither."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator


def make_console(stderr: bool = False, quiet: bool = False):
    """The commands' rich console (stdout, or stderr for progress; ``quiet``: prints nothing). Markup and emoji
    codes are off: what it prints holds users' names -- a task 'ood_test:cloud:3' printed a cloud, a path with
    '[x]' lost it."""
    from rich.console import Console

    return Console(stderr=stderr, quiet=quiet, markup=False, emoji=False)


@contextmanager
def stage(console, message: str, delay: float = 2.0) -> Iterator[Callable[[str], None]]:
    """Show ``message`` while the block runs; yields ``update(text)`` for the stage's later messages.

    Terminal: a spinner whose text ``update`` replaces. Otherwise each update is a line, and ``message`` is one
    once the stage has run ``delay`` seconds without an update (so a bad input refused at once still ends in
    its one ``error:`` line).
    """
    if console.is_terminal:
        with console.status(message) as status:
            yield status.update
        return
    said = threading.Event()

    def opening() -> None:
        if not said.is_set():
            said.set()
            console.print(message, highlight=False)

    def update(text: str) -> None:
        said.set()
        console.print(text, highlight=False)

    timer = threading.Timer(delay, opening)
    timer.daemon = True
    timer.start()
    try:
        yield update
    finally:
        timer.cancel()


@contextmanager
def steps(console, message: str, total: int) -> Iterator[Callable[[str], None]]:
    """A stage of ``total`` known steps; yields ``step(text)``, called as each step starts (the one before is
    then done). Terminal: a bar with the count and elapsed time; otherwise one line per step."""
    if not console.is_terminal:
        console.print(message, highlight=False)
        count = [0]

        def line(text: str) -> None:
            count[0] += 1
            console.print(f"  [{count[0]}/{total}] {text}", highlight=False)

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(message, total=total)
        started = [0]

        def advance(text: str) -> None:
            bar.update(task, completed=started[0], description=f"{message}: {text}")
            started[0] += 1

        yield advance
