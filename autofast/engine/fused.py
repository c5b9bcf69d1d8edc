"""Fused trials: several runs of ONE architecture trained as one grouped model (horizontal fusion, HFTA).

N trials that share a network shape (ASHA trials of one pattern differ in lr, weight decay, momentum,
dropout and seed) run as one model whose activations hold the trials side by side along the channel
axis: trial n owns channel block n of every layer. Each leaf layer becomes its grouped form --
a conv with ``groups`` becomes one conv with ``N * groups`` groups, a BatchNorm one BatchNorm over the
N blocks, a Linear a batched matmul, dropout draws trial n's mask from trial n's own generator --
while channel-wise layers (activations, pooling, residual adds) are shared as they are. The fused
weights are concatenations of the trials' own parameters, rebuilt every step, so every trial keeps its
own parameters, optimiser (its lr, momentum, weight decay and schedule), generators and checkpoint:
the checkpoints stay separable and a fused trial computes what it computes alone (same seed, same
batches, same masks) up to the summation order of the grouped kernels.

Code in a model's own ``forward`` (not a leaf) runs unchanged on the fused activations, so it may only use
channel-wise operations; anything that adds or joins channels is a layer (``PositionChannel``,
``ChannelCat`` in :mod:`autofast.models.layers`) whose fused form keeps trial n's channels in block n.
A parameterless leaf that is not known to be channel-wise is refused (:func:`fuse_models` raises).

Training goes through the engine's one step loop (:func:`.loop.train_epochs`: loss scaling, hooks,
:class:`autofast.errors.Diverged` per trial: a diverging trial leaves the group, the others go on).

Where it pays: on a GPU, where one small model leaves the device mostly idle (HFTA: up to 15x). On the
2-core CPU here four vmap-fused width-32 trials ran at 0.84x of one after another, so
:func:`fusion_pays` is False for CPU devices and the scheduler's default never fuses there.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from autofast.kernels.conv import DilatedConv, native_conv
from autofast.models.dropout import Dropout
from autofast.models.layers import ChannelCat, PositionChannel

from .loop import LossFn, Run, plain_loss, train_epochs

_CHANNELWISE = (nn.ReLU, nn.GELU, nn.SiLU, nn.Identity, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.MaxPool1d,
                nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.Flatten)


def fusion_pays(device: torch.device | str) -> bool:
    """Whether fusing trials is the default on ``device``: GPUs only (measured 0.84x on the CPU)."""
    return torch.device(device).type == "cuda"


class _Fused(nn.Module):
    """Base of the fused leaves: holds the N trial modules (not as submodules: they stay the trials')."""

    def __init__(self, trials: list[nn.Module]):
        super().__init__()
        self._trials = tuple(trials)

    def cat(self, name: str) -> torch.Tensor | None:
        ts = [getattr(m, name) for m in self._trials]
        return None if ts[0] is None else torch.cat(ts, 0)


class _FusedConv(_Fused):
    def forward(self, x):
        m, n = self._trials[0], len(self._trials)
        if isinstance(m, DilatedConv):
            return native_conv(x, self.cat("weight"), self.cat("bias"), m.dilation, m.groups * n, m.stride)
        conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
        return conv(x, self.cat("weight"), self.cat("bias"), m.stride, m.padding, m.dilation, m.groups * n)


class _FusedBatchNorm(_Fused):
    def forward(self, x):
        m = self._trials[0]
        track = m.training and m.track_running_stats
        rm, rv = (self.cat("running_mean"), self.cat("running_var")) if m.track_running_stats else (None, None)
        momentum = m.momentum
        if momentum is None:  # cumulative average, as nn.BatchNorm (the trials share their step count)
            momentum = 1.0 / (float(m.num_batches_tracked) + 1) if track else 0.0
        y = F.batch_norm(x, rm, rv, self.cat("weight"), self.cat("bias"), m.training or rm is None, momentum, m.eps)
        if track:  # the trials' own buffers get their blocks of the updated statistics
            C = m.num_features
            for i, t in enumerate(self._trials):
                t.running_mean.copy_(rm[i * C : (i + 1) * C])
                t.running_var.copy_(rv[i * C : (i + 1) * C])
                t.num_batches_tracked.add_(1)
        return y


class _FusedLinear(_Fused):
    def forward(self, x):  # (B, N * in) -> (B, N * out)
        n = len(self._trials)
        w = torch.stack([t.weight for t in self._trials])  # (N, out, in)
        y = torch.einsum("bni,noi->bno", x.reshape(x.shape[0], n, -1), w)
        if self._trials[0].bias is not None:
            y = y + torch.stack([t.bias for t in self._trials])
        return y.reshape(x.shape[0], -1)


class _FusedDropout(_Fused):
    def forward(self, x):
        blocks = x.chunk(len(self._trials), dim=1)
        return torch.cat([t(b) for t, b in zip(self._trials, blocks)], dim=1)  # each trial's p and generator


class _FusedPosition(nn.Module):
    """Each trial's block gets its own position channel: ``(B, N * C, L) -> (B, N * (C + 1), L)``."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        B, _, L = x.shape
        pos = torch.linspace(-1.0, 1.0, L, dtype=x.dtype, device=x.device).expand(B, self.n, 1, L)
        return torch.cat([x.reshape(B, self.n, -1, L), pos], dim=2).reshape(B, -1, L)


class _FusedCat(nn.Module):
    """Channel concatenation per trial: inputs ``(B, N * C_k, *S)`` -> ``(B, N * sum_k C_k, *S)`` with trial n's
    blocks of every input side by side in block n (a plain cat would put trial 0's second input in block 1)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, *xs):
        B, S = xs[0].shape[0], xs[0].shape[2:]
        return torch.cat([x.reshape(B, self.n, -1, *S) for x in xs], dim=2).reshape(B, -1, *S)


def _fuse_leaf(mods: list[nn.Module]) -> nn.Module:
    m = mods[0]
    if isinstance(m, PositionChannel):
        return _FusedPosition(len(mods))
    if isinstance(m, ChannelCat):
        return _FusedCat(len(mods))
    if isinstance(m, (DilatedConv, nn.Conv1d, nn.Conv2d)):
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.padding_mode != "zeros":
            raise ValueError(f"cannot fuse {m}: padding mode {m.padding_mode}")
        return _FusedConv(mods)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return _FusedBatchNorm(mods)
    if isinstance(m, nn.Linear):
        return _FusedLinear(mods)
    if isinstance(m, Dropout):
        return _FusedDropout(mods)
    if isinstance(m, nn.Dropout):
        raise ValueError("cannot fuse torch's nn.Dropout (global RNG); use autofast.models.dropout.Dropout")
    if isinstance(m, _CHANNELWISE):
        return m
    raise ValueError(f"cannot fuse a {type(m).__name__} layer (not known to act channel by channel)")


def fuse_models(models: list[nn.Module]) -> nn.Module:
    """One module computing all ``models`` (same architecture) on channel-concatenated inputs:
    ``(B, N * C_in, ...) -> (B, N * out)``. The returned module holds no parameters of its own."""
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("fused trials must share one architecture (parameter shapes differ)")
    fused = copy.deepcopy(models[0])
    names = [n for n, m in models[0].named_modules() if not any(True for _ in m.children())]
    for name in names:
        leaf = _fuse_leaf([m.get_submodule(name) for m in models])
        parent, _, attr = name.rpartition(".")
        setattr(fused.get_submodule(parent) if parent else fused, attr, leaf)
    for p in list(fused.parameters()):  # the deep copy's own parameters are unused: drop them
        p.requires_grad_(False)
    return fused


def train_fused_epoch(runs: list[Run], x: torch.Tensor, y: torch.Tensor, batch_size: int,
                      loss_fn: LossFn = plain_loss, hooks: object | None = None) -> list:
    """One epoch of every run in ``runs`` (same architecture, same data ``x`` ``(N, C, ...)``), fused into one
    model, through the engine's step loop (:func:`.loop.train_epochs`).

    Each step: each run's scheduled lr and its own batch (from its own batch generator); one fused
    forward on the trials' batches side by side, ``(B, n * C, ...)``; the sum of the trials' (scaled) losses
    backward (trial n's parameters get exactly its own loss's gradient); every run's optimisers step.
    Returns one entry per run: its epoch record (as :func:`.loop.train_epoch`'s, with ``fused``: the
    group's size), or the :class:`autofast.errors.Diverged` of a trial that left the group."""
    cache: dict = {}

    def forward(group: list[Run], xs: list[torch.Tensor]) -> list[torch.Tensor]:
        key = tuple(id(r) for r in group)
        if key not in cache:  # the first step, or a trial left the group
            cache.clear()
            cache[key] = fuse_models([r.model for r in group]).train()
        return list(cache[key](torch.cat(xs, dim=1)).chunk(len(group), dim=1))

    return train_epochs(runs, x, y, batch_size, loss_fn, hooks=hooks, forward=forward, record={"fused": len(runs)})
