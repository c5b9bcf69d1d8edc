"""Fused trials: several runs of ONE architecture trained as one grouped model (horizontal fusion, HFTA).

N trials that share a network shape (ASHA trials of one pattern differ in lr, weight decay, momentum,
dropout and seed) run as one model whose activations hold the trials side by side along the channel
axis: trial n owns channel block n of every layer. Each leaf layer becomes its grouped form --
a conv with ``groups`` becomes one conv with ``N * groups`` groups, a BatchNorm one BatchNorm over the
N blocks, a Linear a batched matmul, dropout draws trial n's mask from trial n's own generator --
while channel-wise layers (activations, pooling, residual adds) are shared as they are. For the fused
epoch each parameter (and BatchNorm statistic) of the trials is stored once, as one fused tensor whose
block n is trial n's tensor (a view: the fused forward reads it without a concatenation, trial n's own
optimiser updates its block in place, the fused gradient reaches it as a view); at the epoch's end every
trial gets its own copies back. So every trial keeps its own parameters, optimiser (its lr, momentum,
weight decay and schedule), generators and checkpoint, and a fused trial computes what it computes alone
(same seed, same batches, same masks) up to the summation order of the grouped kernels. A fused step of
N trials dispatches about one trial's kernels plus N small ones per trial (the loss, the optimiser's
multi-tensor updates): splice's plain ResNet1D, 110 operators per step alone, 148 for 4 fused and 200 for 8
(concatenating the weights every step took 335 and 523; ``bench/test_bench_fused.py``).

Code in a model's own ``forward`` (not a leaf) runs unchanged on the fused activations, so it may only use
channel-wise operations; anything that adds or joins channels is a layer (``PositionChannel``,
``ChannelCat`` in :mod:`autofast.models.layers`) whose fused form keeps trial n's channels in block n.
A parameterless leaf that is not known to be channel-wise is refused (:func:`fuse_models` raises).

Training goes through the engine's one step loop (:func:`.loop.train_epochs`: loss scaling, hooks,
:class:`autofast.errors.Diverged` per trial, read once per epoch: a diverging trial leaves the group at the
epoch's end, the others go on; no computation mixes two trials, so its NaNs never reach them).

Where it pays: on a GPU, where one small model leaves the device mostly idle (HFTA: up to 15x). On the
2-core CPU here a width-64 epoch of 4 or 8 fused trials takes as long as the trials one after another
(0.98x, 0.97x; width 8: 1.80x, 2.03x faster), so :func:`fusion_pays` is False for CPU devices and the scheduler's
default never fuses there.
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


def _route_grads(params: list[nn.Parameter]):
    """A post-accumulate-grad hook for a fused parameter: trial n's ``.grad`` becomes a view of block n of
    the fused gradient (no copy), for the trial's own optimiser."""

    def hook(fused: torch.Tensor) -> None:
        for p, g in zip(params, fused.grad.chunk(len(params))):
            p.grad = g
        fused.grad = None

    return hook


class _Fused(nn.Module):
    """Base of the fused leaves. The N trial modules (not submodules: they stay the trials') keep their
    parameters and buffers, but while fused their storage is block n of one fused tensor per name: the
    fused forward reads the fused tensor as it is (no concatenation per step), each trial's optimiser
    updates its block in place, and the fused gradient reaches the trials as views (:func:`_route_grads`).
    :meth:`release` gives every trial its own copies back."""

    _PARAMS = ("weight", "bias")
    _BUFFERS: tuple = ()

    def __init__(self, trials: list[nn.Module]):
        super().__init__()
        self._trials = tuple(trials)
        self._fused: dict[str, torch.Tensor] = {}
        for name in self._PARAMS + self._BUFFERS:
            ts = [getattr(m, name, None) for m in trials]
            if ts[0] is None:
                continue
            fused = torch.cat([t.detach() for t in ts], 0)
            if name in self._PARAMS:
                fused.requires_grad_(True)
                fused.register_post_accumulate_grad_hook(_route_grads(ts))
            for t, block in zip(ts, fused.detach().chunk(len(ts))):  # views: trial n's tensor is block n
                t.data = block
            self._fused[name] = fused

    def get(self, name: str) -> torch.Tensor | None:
        return self._fused.get(name)

    def release(self, steps: int) -> None:
        """After ``steps`` fused steps: each trial's tensors become its own copies again."""
        for name in self._fused:
            for m in self._trials:
                t = getattr(m, name)
                t.data = t.data.clone()
                t.grad = None


class _FusedConv(_Fused):
    def forward(self, x):
        m, n = self._trials[0], len(self._trials)
        if isinstance(m, DilatedConv):
            return native_conv(x, self.get("weight"), self.get("bias"), m.dilation, m.groups * n, m.stride)
        conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
        return conv(x, self.get("weight"), self.get("bias"), m.stride, m.padding, m.dilation, m.groups * n)


class _FusedBatchNorm(_Fused):
    _BUFFERS = ("running_mean", "running_var")

    def forward(self, x):
        m = self._trials[0]
        rm, rv = self.get("running_mean"), self.get("running_var")  # updated in place: the trials' blocks
        return F.batch_norm(x, rm, rv, self.get("weight"), self.get("bias"), self.training or rm is None,
                            m.momentum if self.training else 0.0, m.eps)

    def release(self, steps: int) -> None:
        super().release(steps)
        if self.training and self._trials[0].track_running_stats:
            for t in self._trials:
                t.num_batches_tracked.add_(steps)


class _FusedLinear(_Fused):
    def forward(self, x):  # (B, N * in) -> (B, N * out); the fused weight (N * out, in) is N blocks of rows
        n = len(self._trials)
        w = self.get("weight")
        y = torch.einsum("bni,noi->bno", x.reshape(x.shape[0], n, -1), w.view(n, -1, w.shape[1]))
        if self.get("bias") is not None:
            y = y + self.get("bias").view(n, -1)
        return y.reshape(x.shape[0], -1)


class _FusedDropout(nn.Module):
    def __init__(self, trials: list[nn.Module]):
        super().__init__()
        self._trials = tuple(trials)

    def forward(self, x):
        if not self.training or all(t.p == 0 for t in self._trials):
            return x
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


def _leaf_builder(mods: list[nn.Module]):
    """What fuses the leaves ``mods`` (one per trial): a callable building the fused leaf; raises for a layer
    that cannot be fused (before any trial's tensors are shared)."""
    m = mods[0]
    other = {n for n, _ in m.named_parameters(recurse=False)} - set(_Fused._PARAMS)
    if other:  # a parameter no fused forward reads: it would never train
        raise ValueError(f"cannot fuse a {type(m).__name__} with parameters {sorted(other)}")
    if isinstance(m, PositionChannel):
        return lambda: _FusedPosition(len(mods))
    if isinstance(m, ChannelCat):
        return lambda: _FusedCat(len(mods))
    if isinstance(m, (DilatedConv, nn.Conv1d, nn.Conv2d)):
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.padding_mode != "zeros":
            raise ValueError(f"cannot fuse {m}: padding mode {m.padding_mode}")
        return lambda: _FusedConv(mods)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if m.momentum is None:  # a cumulative average needs each trial's own step count
            raise ValueError("cannot fuse a BatchNorm with momentum=None (a cumulative average)")
        return lambda: _FusedBatchNorm(mods)
    if isinstance(m, nn.Linear):
        return lambda: _FusedLinear(mods)
    if isinstance(m, Dropout):
        return lambda: _FusedDropout(mods)
    if isinstance(m, nn.Dropout):
        raise ValueError("cannot fuse torch's nn.Dropout (global RNG); use autofast.models.dropout.Dropout")
    if isinstance(m, _CHANNELWISE):
        return lambda: m
    raise ValueError(f"cannot fuse a {type(m).__name__} layer (not known to act channel by channel)")


def fuse_models(models: list[nn.Module]) -> nn.Module:
    """One module computing all ``models`` (same architecture) on channel-concatenated inputs:
    ``(B, N * C_in, ...) -> (B, N * out)``. It holds no parameters of its own: from here the models'
    parameters and BatchNorm statistics are blocks of its fused tensors (their optimisers work as before) until
    :func:`unfuse` gives them their own copies back."""
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("fused trials must share one architecture (parameter shapes differ)")
    names = [n for n, m in models[0].named_modules() if not any(True for _ in m.children())]
    for n, m in models[0].named_modules():
        own = [p for p, _ in m.named_parameters(recurse=False)]
        if own and n not in names:  # a module's own parameter beside its layers: no fused layer reads it
            raise ValueError(f"cannot fuse a {type(m).__name__} with parameters {sorted(own)}")
    builders = [_leaf_builder([m.get_submodule(name) for m in models]) for name in names]
    fused = copy.deepcopy(models[0])
    for p in list(fused.parameters()):  # the deep copy's own parameters are unused: drop them
        p.requires_grad_(False)
    for name, build in zip(names, builders):
        parent, _, attr = name.rpartition(".")
        setattr(fused.get_submodule(parent) if parent else fused, attr, build())
    return fused


def unfuse(fused: nn.Module, steps: int) -> None:
    """End :func:`fuse_models`' sharing after ``steps`` training steps: each model owns its tensors again
    (and its BatchNorm layers count the steps)."""
    for m in fused.modules():
        if isinstance(m, _Fused):
            m.release(steps)


def train_fused_epoch(runs: list[Run], x: torch.Tensor, y: torch.Tensor, batch_size: int,
                      loss_fn: LossFn = plain_loss, hooks: object | None = None) -> list:
    """One epoch of every run in ``runs`` (same architecture, same data ``x`` ``(N, C, ...)``; each run at its own
    epoch and step), fused into one model, through the engine's step loop (:func:`.loop.train_epochs`).

    Each step: each run's scheduled lr and its own batch (from its own batch generator); one fused
    forward on the trials' batches side by side, ``(B, n * C, ...)``; the sum of the trials' (scaled) losses
    backward (trial n's parameters get exactly its own loss's gradient); every run's optimisers step.
    Returns one entry per run: its epoch record (as :func:`.loop.train_epoch`'s, with ``fused``: the
    group's size), or the :class:`autofast.errors.Diverged` of a trial that diverged."""
    fused = fuse_models([r.model for r in runs]).train()
    steps = 0

    def forward(group: list[Run], xs: list[torch.Tensor]) -> list[torch.Tensor]:
        nonlocal steps
        steps += 1
        return list(fused(torch.cat(xs, dim=1)).chunk(len(group), dim=1))

    try:
        return train_epochs(runs, x, y, batch_size, loss_fn, hooks=hooks, forward=forward,
                            record={"fused": len(runs)})
    finally:
        unfuse(fused, steps)
