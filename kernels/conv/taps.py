"""Tap sets: the offsets a (dilated, possibly mixed) convolution reads.

A convolution with odd kernel size k and dilation d reads offsets ``d * (j - (k - 1) / 2)`` for
``j = 0..k-1`` in each spatial dim ('same' padding, stride 1). A DASH mixture over candidates
c = (k, d) reads the UNION of its candidates' offsets; the aggregated kernel is non-zero only there.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import torch


def dilated_offsets(kernel_size: int, dilation: int, ndim: int) -> list[tuple[int, ...]]:
    """Offsets of one dilated kernel in row-major tap order (the order of ``weight.flatten(2)``)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive for 'same' padding, got {kernel_size}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    half = (kernel_size - 1) // 2
    axis = [dilation * (j - half) for j in range(kernel_size)]
    return [tuple(t) for t in product(axis, repeat=ndim)]


@dataclass(frozen=True)
class TapUnion:
    """The union of several candidates' taps.

    ``offsets``: ``(U, ndim)`` int64, sorted; ``index[c]``: ``(k_c ** ndim,)`` int64 slots of candidate
    c's taps (row-major) in the union; ``flat_index``: ``(T,)`` all candidates' slots concatenated in
    candidate order (``T = sum_c k_c ** ndim``, the order of ``cat([w_c.flatten(2)], 2)``);
    ``owner``: ``(T,)`` the candidate each of those taps belongs to; ``radius``: the largest |offset|
    (dense kernel size 2r + 1).
    """

    candidates: tuple[tuple[int, int], ...]
    ndim: int
    offsets: torch.Tensor
    index: tuple[torch.Tensor, ...]
    flat_index: torch.Tensor
    owner: torch.Tensor

    @property
    def size(self) -> int:
        return self.offsets.shape[0]

    @property
    def radius(self) -> int:
        return int(self.offsets.abs().max()) if self.size else 0


@lru_cache(maxsize=256)
def tap_union(candidates: tuple[tuple[int, int], ...], ndim: int) -> TapUnion:
    """Union of the taps of candidates ``((k, d), ...)`` in ``ndim`` spatial dims."""
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    per = [dilated_offsets(k, d, ndim) for k, d in candidates]
    union = sorted(set().union(*per))
    slot = {o: i for i, o in enumerate(union)}
    index = tuple(torch.tensor([slot[o] for o in offs], dtype=torch.int64) for offs in per)
    owner = torch.cat([torch.full((len(offs),), c, dtype=torch.int64) for c, offs in enumerate(per)])
    return TapUnion(tuple(candidates), ndim, torch.tensor(union, dtype=torch.int64).reshape(-1, ndim), index,
                    torch.cat(index), owner)


def live_taps(offsets: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """Boolean mask of taps that can touch the input: |offset| < size in every dim (the rest read
    only 'same' padding zeros, so skipping them is exact)."""
    size = torch.tensor(spatial, dtype=torch.int64)
    return (offsets.abs() < size).all(dim=1)
