"""A live progress table for ``python -m autofast search`` (rich): the stage, the running ASHA jobs,
the latest results and the best validation score so far. Callbacks run in the driver's thread."""
from __future__ import annotations

import time
from collections import deque

from rich.console import Group
from rich.table import Table
from rich.text import Text


class SearchProgress:
    """Renderable state fed by ``stage(msg)``, ``on_start(job)`` and ``on_result(outcome)``.

    Use inside ``rich.live.Live(progress, console=...)``; ``progress`` renders itself (``__rich__``).
    """

    def __init__(self, n_configs: int, rungs: list | None = None, recent: int = 8) -> None:
        self.n_configs, self.rungs = n_configs, rungs
        self.message = "starting"
        self.running: dict = {}  # trial id -> (job, start time)
        self.recent: deque = deque(maxlen=recent)
        self.done = self.failed = 0
        self.best: tuple | None = None  # (score, trial id, rung)
        self.t0 = time.perf_counter()
        self.clock = None  # the run's budget clock, once planned (shows the time left)

    def on_plan(self, plan, clock) -> None:
        self.n_configs, self.clock = plan.n_configs, clock

    def stage(self, message: str) -> None:
        self.message = message

    def on_start(self, job) -> None:
        self.running[job.trial_id] = (job, time.perf_counter())

    def on_result(self, out) -> None:
        self.running.pop(out.job.trial_id, None)
        self.recent.appendleft(out)
        if out.error is not None:
            self.failed += 1
            return
        self.done += 1
        key = (out.job.rung, out.score)  # the highest rung first, then the score
        if self.best is None or key > (self.best[2], self.best[0]):
            self.best = (out.score, out.job.trial_id, out.job.rung)

    def __rich__(self):
        table = Table(title=None, expand=False, show_edge=False, pad_edge=False)
        for col in ("trial", "rung", "epochs", "status", "val score", "secs", "worker"):
            table.add_column(col, justify="right" if col not in ("status", "worker") else "left")
        now = time.perf_counter()
        for job, t0 in self.running.values():
            table.add_row(str(job.trial_id), str(job.rung), f"{job.resource_from:g}->{job.resource_to:g}",
                          "[cyan]running", "", f"{now - t0:.0f}", "")
        for out in self.recent:
            status = ("[yellow]budget-cut" if out.error.startswith("BudgetExhausted") else "[red]failed") \
                if out.error else "done"
            score = out.error[:40] if out.error else f"{out.score:.4f}"
            table.add_row(str(out.job.trial_id), str(out.job.rung), f"{out.job.resource_to:g}", status, score,
                          f"{out.seconds:.1f}", out.worker + (" (unfused)" if getattr(out, "note", None) else ""))
        best = "-" if self.best is None else f"{self.best[0]:.4f} (trial {self.best[1]}, rung {self.best[2]})"
        left = "" if self.clock is None else f", {max(0.0, self.clock.left()):.0f}s of {self.clock.budget:.0f}s left"
        head = Text.from_markup(f"[bold]{self.message}[/]  elapsed {now - self.t0:.0f}s{left}")
        foot = Text(f"jobs done {self.done}, failed {self.failed}; configurations {self.n_configs}; best {best}")
        return Group(head, table, foot) if (self.running or self.recent) else head
