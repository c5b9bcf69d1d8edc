"""Search spaces as plain data.

A space is a ``dict[str, Dist]``. Each distribution is a frozen dataclass with
``sample(rng)`` taking a :class:`numpy.random.Generator`, so sampling is
deterministic for a seeded generator. :func:`parse_space` builds a space from
plain data (e.g. parsed JSON/YAML)::

    {"lr": {"loguniform": [1e-5, 0.5]}, "dropout": {"choice": [0, 0.05, 0.1]}}
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

import numpy as np

from autofast.errors import AutofastError

__all__ = ["loguniform", "uniform", "choice", "randint", "Dist", "parse_space", "sample_config", "space_to_data"]


@dataclass(frozen=True)
class loguniform:  # noqa: N801 - lower-case names read like the data keys
    """Log-uniform float on ``[lo, hi)``; both bounds must be > 0."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (self.lo > 0 and self.hi > 0):
            raise AutofastError(f"loguniform bounds must be > 0, got [{self.lo}, {self.hi}]; use uniform for ranges touching 0")
        if self.lo >= self.hi:
            raise AutofastError(f"loguniform needs lo < hi, got [{self.lo}, {self.hi}]; swap or widen the bounds")

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))


@dataclass(frozen=True)
class uniform:  # noqa: N801
    """Uniform float on ``[lo, hi)``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.lo >= self.hi:
            raise AutofastError(f"uniform needs lo < hi, got [{self.lo}, {self.hi}]; swap or widen the bounds")

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class choice:  # noqa: N801
    """One of a fixed, non-empty tuple of options (drawn uniformly)."""

    options: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise AutofastError("choice needs at least one option; give a non-empty list")

    def sample(self, rng: np.random.Generator) -> Any:
        opt = self.options[int(rng.integers(len(self.options)))]
        return opt.item() if isinstance(opt, np.generic) else opt


@dataclass(frozen=True)
class randint:  # noqa: N801
    """Integer uniform on ``[lo, hi)`` (``hi`` exclusive, like ``numpy.random.Generator.integers``)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if int(self.lo) != self.lo or int(self.hi) != self.hi:
            raise AutofastError(f"randint bounds must be integers, got [{self.lo}, {self.hi}]")
        if self.lo >= self.hi:
            raise AutofastError(f"randint needs lo < hi (hi exclusive), got [{self.lo}, {self.hi}]; widen the bounds")

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(int(self.lo), int(self.hi)))


Dist = Union[loguniform, uniform, choice, randint]
_BOUNDED = {"loguniform": loguniform, "uniform": uniform, "randint": randint}
_NAMES = "loguniform, uniform, choice, randint"


def _parse_one(key: str, spec: Any) -> Dist:
    if isinstance(spec, (loguniform, uniform, choice, randint)):
        return spec
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise AutofastError(
            f"search space key {key!r}: expected a one-entry mapping like {{\"uniform\": [0, 1]}}, got {spec!r}"
        )
    (name, args), = spec.items()
    if name == "choice":
        if not isinstance(args, (list, tuple)):
            raise AutofastError(f"search space key {key!r}: choice takes a list of options, got {args!r}")
        try:
            return choice(tuple(args))
        except AutofastError as e:
            raise AutofastError(f"search space key {key!r}: {e}") from None
    if name not in _BOUNDED:
        raise AutofastError(f"search space key {key!r}: unknown distribution {name!r}; use one of {_NAMES}")
    if (
        not isinstance(args, (list, tuple))
        or len(args) != 2
        or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    ):
        raise AutofastError(f"search space key {key!r}: {name} takes [lo, hi] as two numbers, got {args!r}")
    try:
        return _BOUNDED[name](*args)
    except AutofastError as e:
        raise AutofastError(f"search space key {key!r}: {e}") from None


def parse_space(data: Any) -> dict[str, Dist]:
    """Build a space from plain data; raises :class:`AutofastError` naming the bad key and the fix."""
    if not isinstance(data, Mapping):
        raise AutofastError(
            f"search space must be a mapping of name -> distribution, got {type(data).__name__}; "
            "e.g. {\"lr\": {\"loguniform\": [1e-5, 0.5]}}"
        )
    if not data:
        raise AutofastError("search space is empty; give at least one hyperparameter")
    out: dict[str, Dist] = {}
    for key, spec in data.items():
        if not isinstance(key, str):
            raise AutofastError(f"search space key {key!r} must be a string")
        out[key] = _parse_one(key, spec)
    return out


def sample_config(space: Mapping[str, Dist], rng: np.random.Generator) -> dict:
    """Draw one config; keys are sampled in the space's insertion order (deterministic for a seeded rng)."""
    return {k: d.sample(rng) for k, d in space.items()}


def space_to_data(space: Mapping[str, Dist]) -> dict:
    """Inverse of :func:`parse_space`: plain, JSON-ready data (``parse_space(space_to_data(s)) == s``)."""
    out = {}
    for key, d in space.items():
        if isinstance(d, choice):
            out[key] = {"choice": list(d.options)}
        else:
            out[key] = {type(d).__name__: [d.lo, d.hi]}
    return out
