"""Where new ASHA trials' configurations come from: random, grid, or optuna's TPE.

A sampler is asked for trial ``i``'s config once (:meth:`suggest`); it sees every rung result
(:meth:`observe`) and every failure (:meth:`failed`). On a resume the scheduler replays the journal:
configs already suggested are handed back with :meth:`register`, results with :meth:`observe`.

* ``random`` — trial ``i`` draws from ``numpy.random.default_rng([seed, i])``: the configs depend
  only on (seed, i), never on timing, so a resumed search makes the same suggestions.
* ``grid``   — the Cartesian product of every ``choice`` and ``grid_points`` values per numeric
  dimension (log-spaced for ``loguniform``), in a seeded shuffled order; trial ``i`` takes point
  ``i``. When the grid is used up no new trials start (``exhausted``).
* ``tpe``    — optuna's ``TPESampler`` fitted on the rung-0 scores (the one fidelity every trial
  reaches, so the model compares like with like). Needs optuna. After a resume, the suggestions
  still to come may differ from an uninterrupted run (the TPE random state is not journaled); no
  finished result is lost.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping

import numpy as np

from autofast.errors import AutofastError

from .space import Dist, choice, loguniform, randint, sample_config, uniform

__all__ = ["SAMPLERS", "make_sampler", "RandomSampler", "GridSampler", "TPESampler"]

SAMPLERS = ("random", "grid", "tpe")


class RandomSampler:
    """Independent draws; also the interface every sampler implements (the hooks below are no-ops here:
    a random sampler learns nothing from results)."""

    name = "random"

    def __init__(self, space: Mapping[str, Dist], seed: int = 0, mode: str = "max") -> None:
        self.space, self.seed = dict(space), int(seed)

    def suggest(self, trial_id: int) -> dict:
        return sample_config(self.space, np.random.default_rng([self.seed, trial_id]))

    def exhausted(self, n_started: int) -> bool:
        return False

    def register(self, trial_id: int, config: dict) -> None:
        """A config suggested before a resume (replayed from the journal)."""

    def observe(self, trial_id: int, rung: int, score: float) -> None:
        """A rung result."""

    def failed(self, trial_id: int) -> None:
        """A trial that failed."""


def _grid_values(d: Dist, points: int) -> list:
    if isinstance(d, choice):
        return list(d.options)
    if isinstance(d, loguniform):
        return [float(v) for v in np.geomspace(d.lo, d.hi, points)]
    if isinstance(d, uniform):
        return [float(v) for v in np.linspace(d.lo, d.hi, points)]
    if isinstance(d, randint):  # hi is exclusive
        return sorted({int(round(v)) for v in np.linspace(d.lo, d.hi - 1, points)})
    raise AutofastError(f"grid sampler: unsupported distribution {d!r}")


class GridSampler(RandomSampler):
    name = "grid"

    def __init__(self, space: Mapping[str, Dist], seed: int = 0, mode: str = "max", grid_points: int = 3) -> None:
        super().__init__(space, seed)
        if grid_points < 1:
            raise AutofastError(f"grid_points must be >= 1, got {grid_points}")
        axes = [_grid_values(d, grid_points) for d in self.space.values()]
        self.size = math.prod(len(a) for a in axes)
        if self.size > 1_000_000:
            raise AutofastError(f"the grid has {self.size} points; lower grid_points or use sampler 'random'")
        points = list(itertools.product(*axes))
        order = np.random.default_rng(self.seed).permutation(len(points))
        keys = list(self.space)
        self.points = [dict(zip(keys, points[i])) for i in order]

    def suggest(self, trial_id: int) -> dict:
        return dict(self.points[trial_id])

    def exhausted(self, n_started: int) -> bool:
        return n_started >= self.size


class TPESampler(RandomSampler):
    name = "tpe"

    def __init__(self, space: Mapping[str, Dist], seed: int = 0, mode: str = "max") -> None:
        super().__init__(space, seed)
        try:
            import optuna
        except ImportError:
            raise AutofastError("sampler 'tpe' needs optuna: pip install optuna (or use sampler 'random')") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        dist = optuna.distributions
        self._dists = {}
        for k, d in self.space.items():
            if isinstance(d, choice):
                self._dists[k] = dist.CategoricalDistribution(list(d.options))
            elif isinstance(d, loguniform):
                self._dists[k] = dist.FloatDistribution(d.lo, d.hi, log=True)
            elif isinstance(d, uniform):
                self._dists[k] = dist.FloatDistribution(d.lo, d.hi)
            else:
                self._dists[k] = dist.IntDistribution(int(d.lo), int(d.hi) - 1)
        self._study = optuna.create_study(
            direction="maximize" if mode == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=10),
        )
        self._trials: dict[int, Any] = {}

    def suggest(self, trial_id: int) -> dict:
        t = self._study.ask(self._dists)
        self._trials[trial_id] = t
        return {k: _plain(v) for k, v in t.params.items()}

    def register(self, trial_id: int, config: dict) -> None:
        self._study.enqueue_trial(dict(config), skip_if_exists=False)
        self._trials[trial_id] = self._study.ask(self._dists)

    def observe(self, trial_id: int, rung: int, score: float) -> None:
        if rung == 0:
            t = self._trials.pop(trial_id, None)  # each optuna trial is told once
            if t is not None:
                if score != score:  # NaN: optuna refuses it as a value
                    self._study.tell(t, state=self._optuna.trial.TrialState.FAIL)
                else:
                    self._study.tell(t, float(score))

    def failed(self, trial_id: int) -> None:
        t = self._trials.pop(trial_id, None)
        if t is not None:
            self._study.tell(t, state=self._optuna.trial.TrialState.FAIL)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def make_sampler(name: str, space: Mapping[str, Dist], seed: int, mode: str, grid_points: int = 3):
    """Build the sampler called ``name`` (one of :data:`SAMPLERS`)."""
    if name == "random":
        return RandomSampler(space, seed, mode)
    if name == "grid":
        return GridSampler(space, seed, mode, grid_points)
    if name == "tpe":
        return TPESampler(space, seed, mode)
    raise AutofastError(f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}")
