"""The DASH supernet: every searchable conv becomes a mixed-weights layer with its own logits alpha.

``SearchableConv`` holds one ``MixedDilatedConv`` over K x D and ``alpha`` (one logit per (k, d)).
In training the mixture coefficients are ``gumbel_softmax(alpha, tau)``; in eval, ``softmax(alpha)``.
Layers with equal input and output channels use a depthwise proxy during search (DASH), so search
cost grows with the channels, not their square. After search, ``derive_pattern`` takes the per-layer
argmax; the pattern transfers layer by layer to a (wider) network built with ``fixed_factory``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import torch
from torch import nn

from autofast.errors import AutofastError
from autofast.io import write_json_atomic
from autofast.kernels.conv import MixedDilatedConv

DEFAULT_SPACES = {
    "1d": ((3, 7, 11, 15, 19), (1, 3, 7, 15)),
    "2d": ((3, 5, 7, 9), (1, 3, 7, 15)),
    "genomics": ((3, 5, 7, 9, 11), (1, 3, 5, 7)),
}


def receptive_field(k: int, d: int) -> int:
    return d * (k - 1) + 1


class SearchableConv(nn.Module):
    """Mixed conv over ``kernel_sizes x dilations`` plus its architecture logits ``alpha``."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, stride: int, kernel_sizes, dilations,
                 depthwise_proxy: bool = True, tau: float = 1.0, max_extent: int | None = None):
        super().__init__()
        groups = in_channels if (depthwise_proxy and in_channels == out_channels) else 1
        self.mixed = MixedDilatedConv(ndim, in_channels, out_channels, groups=groups, bias=False, stride=stride,
                                      candidates=fitting_candidates(kernel_sizes, dilations, max_extent))
        self.candidates = self.mixed.candidates
        self.alpha = nn.Parameter(torch.zeros(len(self.candidates)))
        self.stride, self.ndim, self.tau = stride, ndim, tau
        rf = torch.tensor([receptive_field(k, d) for k, d in self.candidates], dtype=torch.float32)
        self.register_buffer("rf_norm", rf / rf.max(), persistent=False)

    def mixture(self) -> torch.Tensor:
        """Mixture weights ``(candidates,)``: Gumbel-softmax(alpha, tau) in training, with the noise drawn
        from ``self.generator`` when the training engine bound one (else the global RNG); softmax in eval."""
        if self.training:
            noise = torch.empty_like(self.alpha).exponential_(generator=getattr(self, "generator", None))
            return torch.softmax((self.alpha - noise.log()) / self.tau, dim=0)
        return torch.softmax(self.alpha, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.mixture().to(x.dtype)
        return self.mixed(x, a)

    def rf_penalty(self) -> torch.Tensor:
        """Expected normalised receptive field under softmax(alpha)."""
        return (torch.softmax(self.alpha, 0) * self.rf_norm).sum()

    def best(self) -> tuple[int, int]:
        return self.candidates[int(self.alpha.argmax())]


@dataclass(frozen=True)
class MixedFactory:
    """ConvFactory for supernets: every searchable conv becomes a :class:`SearchableConv`."""

    kernel_sizes: tuple[int, ...]
    dilations: tuple[int, ...]
    depthwise_proxy: bool = True
    tau: float = 1.0
    extents: tuple[int, ...] = ()  # per layer index: the input's smallest spatial size there (:func:`layer_extents`)

    def __call__(self, index: int, in_channels: int, out_channels: int, stride: int, ndim: int) -> nn.Module:
        extent = self.extents[index] if index < len(self.extents) else None
        return SearchableConv(ndim, in_channels, out_channels, stride, self.kernel_sizes, self.dilations,
                              self.depthwise_proxy, self.tau, max_extent=extent)


def fitting_candidates(kernel_sizes, dilations, max_extent: int | None = None) -> list[tuple[int, int]]:
    """``kernel_sizes x dilations`` without the pairs whose receptive field ``d (k - 1) + 1`` is wider than
    ``max_extent`` (the layer's input size: wider taps only ever read the zero padding); the narrowest
    pair when none fits. ``max_extent`` None: every pair."""
    pairs = all_candidates(kernel_sizes, dilations)
    if max_extent is None:
        return pairs
    fit = [(k, d) for k, d in pairs if receptive_field(k, d) <= max_extent]
    return fit or [min(pairs, key=lambda p: (receptive_field(*p), p))]


def layer_extents(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per searchable layer (``model.searchable_modules()``, by index), the smallest spatial size of its
    input when ``model`` reads one example of ``input_shape`` (``(C, *spatial)``); found by running a zero
    input through ``model`` (e.g. the plain 3x1 backbone of the same layout; on the ``meta`` device only the
    shapes are computed) on its device with forward pre-hooks."""
    sizes: dict[int, int] = {}
    mods = model.searchable_modules()
    def record(i):
        def hook(_module, args):
            sizes.setdefault(i, int(min(args[0].shape[2:])))  # returns None: the input is left as it is
        return hook

    hooks = [m.register_forward_pre_hook(record(i)) for i, m in enumerate(mods)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters(), None)
            model(torch.zeros((1,) + tuple(input_shape), device=p.device if p is not None else "cpu"))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return tuple(int(sizes[i]) for i in range(len(mods)))


def dropped_candidates(kernel_sizes, dilations, extents) -> list[dict]:
    """What :func:`fitting_candidates` removes per layer: ``[{"layer", "extent", "dropped": [[k, d], ...]}]``
    for the layers that lose at least one pair (for the report)."""
    out = []
    every = all_candidates(kernel_sizes, dilations)
    for i, e in enumerate(extents):
        kept = set(fitting_candidates(kernel_sizes, dilations, e))
        gone = [list(p) for p in every if p not in kept]
        if gone:
            out.append({"layer": i, "extent": int(e), "dropped": gone})
    return out


def searchable_layers(model: nn.Module) -> list[SearchableConv]:
    return [m for m in model.modules() if isinstance(m, SearchableConv)]


def arch_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [m.alpha for m in searchable_layers(model)]


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    arch = {id(p) for p in arch_parameters(model)}
    return [p for p in model.parameters() if id(p) not in arch]


def derive_pattern(model: nn.Module) -> list[tuple[int, int]]:
    """Per-layer argmax (k, d), in the backbone's searchable-layer order."""
    return [m.best() for m in searchable_layers(model)]


def arch_probabilities(model: nn.Module) -> list[list[float]]:
    return [torch.softmax(m.alpha.detach(), 0).tolist() for m in searchable_layers(model)]


def full_probabilities(model: nn.Module, candidates: list[tuple[int, int]]) -> list[list[float]]:
    """softmax(alpha) per searchable layer over the full ``candidates`` list (0 for the pairs a layer does not
    hold, e.g. those dropped as wider than its input), so every row has one entry per candidate."""
    rows = []
    for m, p in zip(searchable_layers(model), arch_probabilities(model)):
        own = dict(zip(m.candidates, p))
        rows.append([float(own.get(tuple(c), 0.0)) for c in candidates])
    return rows


def normalise_arch_grads(model: nn.Module, eps: float = 1e-12) -> None:
    """DASH's arch-gradient normalisation: each layer's alpha gradient scaled to unit norm."""
    for a in arch_parameters(model):
        if a.grad is not None:
            a.grad.div_(a.grad.norm() + eps)


def rf_penalty(model: nn.Module) -> torch.Tensor:
    layers = searchable_layers(model)
    return torch.stack([m.rf_penalty() for m in layers]).mean() if layers else torch.zeros(())


# ----------------------------------------------------------------------------------- pattern files


def save_pattern(path: str | Path, pattern: list[tuple[int, int]], meta: dict | None = None) -> None:
    write_json_atomic(path, {"format": "autofast-dash-pattern/1",
                             "layers": [{"kernel_size": k, "dilation": d} for k, d in pattern], **(meta or {})})


def load_pattern(path: str | Path, num_layers: int | None = None) -> list[tuple[int, int]]:
    """Read a pattern JSON (data only); validate odd kernel sizes, dilations >= 1 and the layer count."""
    p = Path(path)
    if not p.exists():
        raise AutofastError(f"pattern file {str(p)!r} does not exist; run `python -m autofast dash` first or fix the path")
    try:
        obj = json.loads(p.read_text())
        layers = [(int(l["kernel_size"]), int(l["dilation"])) for l in obj["layers"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AutofastError(f"{p}: not a DASH pattern file ({exc.__class__.__name__}); expected "
                            f'{{"layers": [{{"kernel_size": k, "dilation": d}}, ...]}}') from None
    for i, (k, d) in enumerate(layers):
        if k < 1 or k % 2 == 0 or d < 1:
            raise AutofastError(f"{p}: layer {i} has kernel_size {k}, dilation {d}; kernel sizes must be odd "
                                f"and dilations >= 1")
    if num_layers is not None and len(layers) != num_layers:
        raise AutofastError(f"{p}: pattern has {len(layers)} layers but the backbone has {num_layers} searchable "
                            f"convs; search again for this backbone")
    return layers


def default_space(kind: str, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return DEFAULT_SPACES["genomics" if kind == "dna" else ("1d" if ndim == 1 else "2d")]


def all_candidates(kernel_sizes, dilations) -> list[tuple[int, int]]:
    return list(product(kernel_sizes, dilations))
