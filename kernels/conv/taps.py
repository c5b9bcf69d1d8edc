"""Tap sets: the offsets a (dilated, possibly mixed) convolution reads, as plain Python data.

A convolution with odd kernel size k and dilation d reads offsets ``d * (j - (k - 1) / 2)`` for
``j = 0..k-1`` in each spatial dim ('same' padding, stride 1). A DASH mixture over candidates
c = (k, d) reads the UNION of its candidates' offsets; the aggregated kernel is non-zero only there.

Everything a conv call needs about its taps -- the live taps for an input size, the dense kernel's
radius, the index tensors of the union scatter -- is a function of the tap set and the shapes alone:
computed in Python from a hashable :data:`Taps` tuple, never by reading tensor data, and the index
tensors are built once per (tap set, device) (:func:`device_index`). So a conv call on CUDA uploads
nothing and reads nothing back, and every op runs under ``FakeTensorMode`` and on the meta device.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Sequence

import torch

Taps = tuple[tuple[int, ...], ...]
"""A tap set: ``U`` offsets of ``ndim`` ints each (hashable; the order of the weights' tap axis)."""


def as_taps(offsets: torch.Tensor | Sequence[Sequence[int]], ndim: int | None = None) -> Taps:
    """A :data:`Taps` tuple from an ``(U, ndim)`` integer tensor or a sequence of offset tuples.

    A tensor is read on the host (``tolist``): pass tuples (e.g. :attr:`TapUnion.taps`) in hot code."""
    if isinstance(offsets, torch.Tensor):
        if offsets.is_floating_point() or offsets.dim() != 2:
            raise ValueError(f"offsets must be an integer (U, ndim) tensor, got {offsets.dtype} {tuple(offsets.shape)}")
        rows = offsets.tolist()
    else:
        rows = list(offsets)
    taps = tuple(tuple(int(v) for v in row) for row in rows)
    if ndim is not None and any(len(t) != ndim for t in taps):
        raise ValueError(f"offsets must have {ndim} coordinates each, got {taps[:3]}...")
    return taps


def as_int(name: str, value, minimum: int | None = None) -> int:
    """``value`` as a Python int, refused (TypeError) unless it is an integer: a Python, numpy or torch
    integer scalar. Floats, even integral ones like 2.0, and bools are refused, as torch's convolutions
    refuse them (nothing is truncated). ``minimum``: the least value allowed (ValueError below it)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}); pass an int") from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def flat_taps(taps: Taps) -> list[int]:
    """The ``int[]`` form the registered ops take (offsets row-major, ``ndim`` from the input)."""
    return [v for t in taps for v in t]


def unflat_taps(flat: Sequence[int], ndim: int) -> Taps:
    if ndim < 1 or len(flat) % ndim:
        raise ValueError(f"{len(flat)} offset values do not split into {ndim}-D offsets")
    return tuple(tuple(int(v) for v in flat[i : i + ndim]) for i in range(0, len(flat), ndim))


def negate(taps: Taps) -> Taps:
    return tuple(tuple(-v for v in t) for t in taps)


@lru_cache(maxsize=1024, typed=True)  # typed: a cached dilated_taps(3, 2) must not answer (3, 2.0)
def dilated_taps(kernel_size: int, dilation: int, ndim: int) -> Taps:
    """Offsets of one dilated kernel in row-major tap order (the order of ``weight.flatten(2)``)."""
    kernel_size, dilation = as_int("kernel_size", kernel_size), as_int("dilation", dilation)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive for 'same' padding, got {kernel_size}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    half = (kernel_size - 1) // 2
    axis = [dilation * (j - half) for j in range(kernel_size)]
    return tuple(tuple(t) for t in product(axis, repeat=ndim))


def dilated_offsets(kernel_size: int, dilation: int, ndim: int) -> list[tuple[int, ...]]:
    """:func:`dilated_taps` as a list."""
    return list(dilated_taps(kernel_size, dilation, ndim))


def radius(taps: Taps) -> int:
    """The largest |offset| (the dense kernel has size ``2 r + 1``)."""
    r = 0
    for t in taps:
        for v in t:
            r = max(r, abs(v))
    return r


def live_slots(taps: Taps, spatial: Sequence[int]) -> tuple[int, ...]:
    """Indices of the taps that can touch an input of size ``spatial``: |offset| < size in every dim
    (the rest read only 'same' padding zeros, so skipping them is exact). From shapes alone."""
    return _live_slots(taps, tuple(int(s) for s in spatial))


@lru_cache(maxsize=4096)
def _live_slots(taps: Taps, spatial: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(u for u, t in enumerate(taps) if all(abs(v) < s for v, s in zip(t, spatial)))


def live_taps(offsets: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """Boolean mask of the live taps of an ``(U, ndim)`` offset tensor (for tests and reports)."""
    size = torch.tensor(spatial, dtype=torch.int64)
    return (offsets.abs() < size).all(dim=1)


def _tracing() -> bool:
    """True under torch.compile, make_fx, FakeTensorMode or any other dispatch mode: tensors built then
    are the tracer's (fake, functional, proxied) and must not be kept in a cache."""
    return torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() > 0


def device_index(values: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """``torch.tensor(values)`` on ``device``, built once per (values, device, dtype) in eager mode (later
    calls upload nothing); under tracing a fresh tensor (a constant of the traced graph)."""
    if _tracing():
        return torch.tensor(values, dtype=dtype, device=device)
    return _device_index(values, torch.device(device), dtype)


@lru_cache(maxsize=1024)
def _device_index(values: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


def taps_tensor(taps: Taps, ndim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The ``(U, ndim)`` int64 offset tensor of ``taps`` on ``device`` (cached like :func:`device_index`)."""
    return device_index(tuple(flat_taps(taps)), torch.device(device)).reshape(-1, ndim)


@dataclass(frozen=True)
class TapUnion:
    """The union of several candidates' taps (all plain Python: hashable, free to trace).

    ``taps``: the union's offsets, sorted; ``index[c]``: the slots of candidate c's taps (row-major) in
    the union; ``flat_index``: all candidates' slots concatenated in candidate order (the order of
    ``cat([w_c.flatten(2)], 2)``); ``owner``: the candidate each of those taps belongs to; ``radius``:
    the largest |offset| (dense kernel size 2r + 1).
    """

    candidates: tuple[tuple[int, int], ...]
    ndim: int
    taps: Taps
    index: tuple[tuple[int, ...], ...]
    flat_index: tuple[int, ...]
    owner: tuple[int, ...]
    radius: int

    @property
    def size(self) -> int:
        return len(self.taps)

    @property
    def offsets(self) -> torch.Tensor:
        """``(U, ndim)`` int64 CPU tensor of :attr:`taps`."""
        return taps_tensor(self.taps, self.ndim)


@lru_cache(maxsize=256)
def tap_union(candidates: tuple[tuple[int, int], ...], ndim: int) -> TapUnion:
    """Union of the taps of candidates ``((k, d), ...)`` in ``ndim`` spatial dims."""
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    candidates = tuple((as_int(f"candidates[{i}] kernel size", k), as_int(f"candidates[{i}] dilation", d))
                       for i, (k, d) in enumerate(candidates))
    per = [dilated_taps(k, d, ndim) for k, d in candidates]
    union = tuple(sorted(set().union(*per)))
    slot = {o: i for i, o in enumerate(union)}
    index = tuple(tuple(slot[o] for o in offs) for offs in per)
    owner = tuple(c for c, offs in enumerate(per) for _ in offs)
    return TapUnion(candidates, ndim, union, index, tuple(i for ix in index for i in ix), owner, radius(union))
