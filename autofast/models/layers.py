"""Conv factories: how a backbone's searchable convolutions are built.

Every backbone in :mod:`autofast.models` asks a *conv factory* for each SEARCHABLE convolution, i.e.
every conv with a kernel larger than 1 (stems and block convs). 1x1 shortcut / projection convs are
not searchable; backbones build those themselves as plain ``nn.Conv1d`` / ``nn.Conv2d``.

A factory is called as ``factory(layer_index, in_channels, out_channels, stride, ndim)`` with
``layer_index`` running 0..n-1 in forward order, and returns an ``nn.Module`` mapping
``(B, in, *S)`` to ``(B, out, *ceil(S / stride))`` ('same' padding). Backbones build (and register)
their searchable convs in that same order, so ``[m for m in model.modules() if is_searchable(m)]``
lists them by index -- the DASH supernet's ``derive_pattern`` relies on it.

* :func:`fixed_factory` -- a fixed (kernel size, dilation) pattern, one entry per layer index:
  the retrained DASH network and the fixed-kernel baseline.
* ``autofast.dash.supernet.MixedFactory`` -- the DASH supernet (a mixed-weights layer per index).

Factories are plain callables (functions or frozen dataclasses) with no global state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from autofast.kernels.conv import DilatedConv

ConvFactory = Callable[[int, int, int, int, int], nn.Module]
"""``factory(layer_index, in_channels, out_channels, stride, ndim) -> nn.Module``."""


def _check_kd(k: int, d: int, where: str) -> tuple[int, int]:
    k, d = int(k), int(d)
    if k < 1 or k % 2 == 0 or d < 1:
        raise ValueError(f"{where}: (kernel_size, dilation) = ({k}, {d}); kernel sizes must be odd and >= 1, "
                         f"dilations >= 1")
    return k, d


@dataclass(frozen=True)
class FixedFactory:
    """ConvFactory building ``DilatedConv(ndim, in, out, k, d, bias=False, stride=stride)`` with
    ``(k, d) = pattern[index]`` (``default`` past the pattern's end; ``default=None`` makes that an error).
    Each conv runs on the fastest exact path for its shape (``autofast.kernels.conv.conv_path``;
    ``path`` forces one: 'native', 'tap', 'fft')."""

    pattern: tuple[tuple[int, int], ...]
    default: tuple[int, int] | None = (3, 1)
    path: str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "pattern", tuple(_check_kd(k, d, f"pattern[{i}]")
                                                  for i, (k, d) in enumerate(self.pattern)))
        if self.default is not None:
            object.__setattr__(self, "default", _check_kd(*self.default, "default"))

    def kernel(self, index: int) -> tuple[int, int]:
        if 0 <= index < len(self.pattern):
            return self.pattern[index]
        if self.default is None:
            raise ValueError(f"searchable layer {index} is past the pattern's {len(self.pattern)} entries "
                             f"(and no default was given)")
        return self.default

    def __call__(self, index: int, in_channels: int, out_channels: int, stride: int, ndim: int) -> nn.Module:
        k, d = self.kernel(index)
        return DilatedConv(ndim, in_channels, out_channels, k, d, bias=False, stride=stride, path=self.path)


def fixed_factory(pattern: list[tuple[int, int]] | tuple = (), default: tuple[int, int] | None = (3, 1),
                  path: str = "auto") -> FixedFactory:
    """A ConvFactory for a fixed per-layer ``(kernel_size, dilation)`` pattern (kernel sizes odd,
    dilations >= 1). ``fixed_factory([])`` gives the plain 3x1 network."""
    return FixedFactory(tuple(tuple(p) for p in pattern), None if default is None else tuple(default), path)


class SearchableBuilder:
    """Per-backbone helper: hands out layer indices in construction order and records the shapes.

    Backbones construct their searchable convs in forward order through one of these, then expose
    ``num_searchable``, ``searchable_shapes`` and ``searchable_modules()``.
    """

    def __init__(self, factory: ConvFactory | None, ndim: int):
        self.factory = factory if factory is not None else fixed_factory()
        self.ndim = int(ndim)
        self.shapes: list[tuple[int, int, int]] = []
        self.modules: list[nn.Module] = []

    def __call__(self, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
        index = len(self.shapes)
        m = self.factory(index, int(in_channels), int(out_channels), int(stride), self.ndim)
        if not isinstance(m, nn.Module):
            raise TypeError(f"conv factory returned {type(m).__name__} for layer {index}; expected an nn.Module")
        self.shapes.append((int(in_channels), int(out_channels), int(stride)))
        self.modules.append(m)
        return m


class SearchableMixin:
    """``num_searchable``, ``searchable_shapes`` and ``searchable_modules()`` from a :class:`SearchableBuilder`."""

    num_searchable: int
    searchable_shapes: list[tuple[int, int, int]]

    def _finish_searchable(self, builder: SearchableBuilder) -> None:
        self.searchable_shapes = list(builder.shapes)
        self.num_searchable = len(builder.shapes)
        self._searchable = list(builder.modules)  # a plain list: the modules are registered elsewhere

    def searchable_modules(self) -> list[nn.Module]:
        """The factory-built modules, by layer index."""
        return list(self._searchable)


class PositionChannel(nn.Module):
    """Append a position channel ``linspace(-1, 1, L)`` (the input's dtype): ``(B, C, L) -> (B, C + 1, L)``.

    A layer of its own (not code in a model's ``forward``) so that fused trials
    (:mod:`autofast.engine.fused`) give each trial's channel block its own position channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.linspace(-1.0, 1.0, x.shape[2], dtype=x.dtype, device=x.device)
        return torch.cat([x, pos.expand(x.shape[0], 1, x.shape[2])], dim=1)


class ChannelCat(nn.Module):
    """``torch.cat(xs, dim=1)``: inputs ``(B, C_k, *S)`` -> ``(B, sum_k C_k, *S)``.

    A layer of its own so that fused trials (:mod:`autofast.engine.fused`) keep each trial's channels
    contiguous (trial n's blocks of every input side by side)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


def conv_nd(ndim: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d}[_check_ndim(ndim)]


def batchnorm_nd(ndim: int) -> type[nn.Module]:
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[_check_ndim(ndim)]


def _check_ndim(ndim: int) -> int:
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    return ndim
