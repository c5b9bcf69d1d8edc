"""The learning-rate schedule family shared by every training stage.

A schedule is a pure function of (global step, steps per epoch): nothing is stored but the step
counter, so a run paused at any epoch and resumed follows exactly the curve of a run trained straight
through. Members:

* ``cosine``: optional linear warm-up over ``warmup_epochs``, then cosine decay from the base lr to
  ``final_fraction`` x base at ``horizon_epochs``; flat at the end value after the horizon. The horizon
  is FIXED by the caller, not by how long one call trains: ASHA trials use the search's maximum
  resource R, and the final retrain uses the same schedule with the same horizon (by default R epochs),
  so a configuration is judged in the regime it is used in.
* ``constant``: factor 1 at every step (AutoFT: the searched lr is the lr used, exactly).

Progress is measured in epochs (``step / steps_per_epoch``), so a retrain on train+val (more steps per
epoch) follows the same curve over its epochs as a trial on train.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from autofast.errors import AutofastError


@dataclass(frozen=True)
class Schedule:
    """``kind``: ``cosine`` or ``constant``; ``horizon_epochs``: where the cosine reaches its end."""

    kind: Literal["cosine", "constant"] = "constant"
    horizon_epochs: float = 1.0
    warmup_epochs: float = 0.0
    final_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("cosine", "constant"):
            raise AutofastError(f"unknown lr schedule {self.kind!r}; use cosine or constant")
        if self.kind == "cosine":
            if not self.horizon_epochs > 0:
                raise AutofastError(f"cosine schedule: horizon_epochs must be > 0, got {self.horizon_epochs}")
            if not 0 <= self.warmup_epochs < self.horizon_epochs:
                raise AutofastError(f"cosine schedule: warmup_epochs ({self.warmup_epochs}) must be in "
                                    f"[0, horizon_epochs = {self.horizon_epochs})")
            if not 0 <= self.final_fraction <= 1:
                raise AutofastError(f"cosine schedule: final_fraction must be in [0, 1], got {self.final_fraction}")

    def factor(self, step: int, steps_per_epoch: int) -> float:
        """The lr multiplier for optimiser step ``step`` (0-based; the step about to be taken)."""
        if self.kind == "constant":
            return 1.0
        t = step / max(1, int(steps_per_epoch))  # progress in epochs
        if t < self.warmup_epochs:
            return (step + 1) / (self.warmup_epochs * max(1, int(steps_per_epoch)))
        u = min(1.0, (t - self.warmup_epochs) / (self.horizon_epochs - self.warmup_epochs))
        return self.final_fraction + (1 - self.final_fraction) * 0.5 * (1 + math.cos(math.pi * u))

    def describe(self) -> str:
        if self.kind == "constant":
            return "constant lr"
        warm = f"linear warm-up {self.warmup_epochs:g} epochs, then " if self.warmup_epochs else ""
        end = f" to {self.final_fraction:g} x base" if self.final_fraction else " to 0"
        return f"{warm}per-step cosine decay{end} at epoch {self.horizon_epochs:g}"

    def to_dict(self) -> dict:
        return asdict(self)


CONSTANT = Schedule("constant")


def cosine(horizon_epochs: float, warmup_epochs: float = 0.0, final_fraction: float = 0.0) -> Schedule:
    return Schedule("cosine", float(horizon_epochs), float(warmup_epochs), float(final_fraction))
