"""Wall-clock budgets: parsing a duration, the command's clock, and what a training step costs on this
machine (:class:`StepCost`, measured by :func:`autofast.dash.cost.measure`). A leaf module: no torch."""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from autofast.errors import AutofastError

MARGIN_DASH = 0.08  # of a dash budget, kept back for evaluation, the report and timing noise
#: one network's evaluation, seconds per example, as a share of a training step's per example (Fashion-MNIST
#: 10 000 test images x 5 fold networks: 65 s beside 2.3 ms per training example on 2 cores: 0.57)
EVAL_SHARE = 0.6


def parse_duration(text: str | float | int, option: str = "--time-budget") -> float:
    """Seconds from ``300``, ``"300"``, ``"90s"``, ``"10m"``, ``"1.5h"``; a clear error naming ``option``
    otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text).lower())
        if not m:
            raise AutofastError(f"{option} {text!r}: give seconds or a number with s, m or h "
                                "(e.g. 300, 90s, 10m, 1h)")
        value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise AutofastError(f"{option} {text!r}: must be a positive duration (e.g. 300, 90s, 10m)")
    return value


@dataclass(frozen=True)
class StepCost:
    """Seconds per optimiser step measured on this machine (:func:`autofast.dash.cost.measure`):
    ``overhead + per_example * batch`` for the final network, the same for the DASH supernet, the
    random-convolution family's seconds per example (transform and fit), the same for Hydra's, and where trials
    fuse (GPUs), the
    same line for one step of ``fused_trials`` networks trained as one fused model (``fused_trials`` 0: they
    do not fuse here)."""

    overhead: float
    per_example: float
    supernet_overhead: float = 0.0
    supernet_per_example: float = 0.0
    rocket_per_example: float = 0.0
    hydra_per_example: float = 0.0
    fused_trials: int = 0
    fused_overhead: float = 0.0
    fused_per_example: float = 0.0

    def step(self, batch: int) -> float:
        return self.overhead + self.per_example * batch

    def evaluation(self, n: int) -> float:
        """One network's evaluation of ``n`` examples (the one test evaluation, planned: :data:`EVAL_SHARE`)."""
        return EVAL_SHARE * self.per_example * n

    def epoch(self, n: int, batch: int) -> float:
        """One epoch of one network over ``n`` examples."""
        return math.ceil(n / batch) * self.step(min(batch, n))

    def group_epoch(self, n: int, batch: int, members: int) -> float:
        """One epoch of ``members`` networks over ``n`` examples each, trained together where trials fuse (in
        groups of up to ``fused_trials``, each timed as a full group: a smaller one costs about as much on a
        GPU), else one after another."""
        if self.fused_trials < 2:
            return members * self.epoch(n, batch)
        groups = math.ceil(members / self.fused_trials)
        return groups * math.ceil(n / batch) * (self.fused_overhead + self.fused_per_example * min(batch, n))

    def trial_epoch(self, n: int, batch: int) -> float:
        """One network's share of an epoch of ASHA's trials: a fused group's epoch over its ``fused_trials``
        trials where trials fuse, else :meth:`epoch`."""
        return self.group_epoch(n, batch, max(1, self.fused_trials)) / max(1, self.fused_trials)

    def supernet_epoch(self, n: int, batch: int, fraction: float = 1.0) -> float:
        steps = max(1, round(math.ceil(n / batch) * fraction))
        return steps * (self.supernet_overhead + self.supernet_per_example * min(batch, n))


def batch_for(n_fit: int) -> int:
    """~n/10 rounded to a power of two, in 8..64 (never above half the examples)."""
    b = 2 ** round(math.log2(max(n_fit / 10, 1)))
    return int(max(1, min(64, max(8, b), max(1, n_fit // 2))))


class Clock:
    """A command's wall clock against its budget (wall time, ``time.time``, so trials in other processes
    can read a deadline too). ``budget`` is infinite until set."""

    def __init__(self, started: float | None = None, budget: float = float("inf")) -> None:
        self.start = time.time() if started is None else started
        self.budget = float(budget)

    def elapsed(self) -> float:
        return time.time() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()

    def at(self, seconds: float) -> float:
        """The wall time ``seconds`` after the start."""
        return self.start + seconds

    def epochs_until(self, seconds: float):
        """A ``stop()`` for a training loop that asks it before each epoch but the first (:func:`autofast.engine.fit
        .fit`) and must end ``seconds`` after the start: True when the next epoch, as long as the last one (the
        time since the previous call, or since this was made), would end past it. (A check of ``left() < 0``
        let every stage run one epoch past its end: ``dash --time-budget 25s`` took 38 s.)"""
        last = [time.perf_counter(), 0.0]

        def stop() -> bool:
            now = time.perf_counter()
            last[1], last[0] = now - last[0], now
            return self.elapsed() + last[1] > seconds

        return stop
