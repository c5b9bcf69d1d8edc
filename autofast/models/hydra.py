"""Hydra: competing random convolutional kernels with a ridge head, for series classification.

The algorithm is HYDRA (Dempster, Schmidt & Webb 2023, "HYDRA: Competing convolutional kernels for fast and
accurate time series classification"), implemented here from the paper's description:

* **Kernels.** ``g`` groups of ``k`` random kernels of length 9; each kernel's weights are drawn N(0, 1), made
  zero-mean and scaled to unit L1 norm. A fresh draw per dilation.
* **Dilations.** ``2 ** e`` for ``e = 0 .. floor(log2((L - 1) / 8))``, 'same' zero padding (``4 d`` each side).
* **Inputs.** Half the groups read the series, the other half its first difference.
* **Multivariate.** Each group reads the sum of ``clip(C // 2, 2, 8)`` of the ``C`` channels, drawn without
  replacement (all of one channel for univariate series).
* **Features.** At every time step the kernels of a group compete: the one with the largest response adds
  that response to its "max" count, the one with the smallest adds 1 to its "min" count. Two features per
  (dilation, input, group, kernel): ``num_dilations * g * k * 2`` in all (``k, g = 8, 64``: 1 024 per dilation).

Classifier (:class:`HydraClassifier`, on :class:`autofast.models.ridge.RidgeFeatureClassifier`): counts
clamped at 0 and square-rooted, each feature centred on its training mean and divided by its standard
deviation plus ``(share of zeros) ** 4 + 1e-8``, zeros kept at zero (the paper's sparse scaling), then ridge
with alpha by exact leave-one-out error, as for MiniRocket (:mod:`autofast.models.rocket`).

Everything random comes from one ``torch.Generator`` seeded with ``seed`` on the CPU: the same seed, channels
and length give the same kernels on any device. Convolutions are ``F.conv1d`` with ``groups`` = the groups of
one input (full float32 on CUDA); examples are processed in chunks of about 4M conv outputs.

Why it is here: it wins where MiniRocket's proportions of positive values are weak (aeon's implementations on
the official splits, 3 seeds, test accuracy: OSULeaf 0.988 vs MiniRocket 0.955, GunPoint 1.0 vs 0.993,
ItalyPowerDemand 0.969 vs 0.965) and loses elsewhere (ACSF1 0.860 vs 0.917, ArrowHead 0.825 vs 0.857), so the
search scores it as its own candidate (:mod:`autofast.search.hydra_family`) and keeps it where validation says.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .ridge import FeatureInputError, RidgeFeatureClassifier
from .rocket import as_series, ieee_fp32

__all__ = ["HydraTransform", "HydraClassifier", "hydra_dilations", "fit_hydra_parameters", "hydra_features",
           "hydra_transform_reference"]

KERNEL_LENGTH = 9
_CHUNK_ELEMENTS = 1 << 22  # conv output values per chunk of examples


def hydra_dilations(length: int) -> list[int]:
    """``[1, 2, 4, ..., 2 ** floor(log2((L - 1) / 8))]`` for series of ``length`` >= 9 steps."""
    top = int(math.floor(math.log2((max(length, KERNEL_LENGTH) - 1) / (KERNEL_LENGTH - 1))))
    return [2 ** e for e in range(top + 1)]


def channels_per_group(channels: int) -> int:
    return 1 if channels == 1 else min(channels, max(2, min(8, channels // 2)))


def fit_hydra_parameters(channels: int, length: int, k: int = 8, g: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """The random draws for series of ``channels`` x ``length``: ``weights`` ``(D, 2, h * k, 1, 9)`` float32
    (D dilations, 2 inputs: series and first difference, h = g // 2 groups per input), ``channels``
    ``(D, 2, h, m)`` int64 (the m channels each group sums) and ``dilations`` ``(D,)`` int64."""
    if k < 2 or g < 2 or g % 2:
        raise FeatureInputError(f"Hydra needs k >= 2 kernels per group and an even g >= 2 groups, got k={k}, g={g}")
    gen = torch.Generator().manual_seed(int(seed))
    dil = hydra_dilations(length)
    h, m = g // 2, channels_per_group(channels)
    w = torch.randn(len(dil), 2, h * k, 1, KERNEL_LENGTH, generator=gen, dtype=torch.float64)
    w = w - w.mean(-1, keepdim=True)
    w = w / w.abs().sum(-1, keepdim=True)
    chosen = torch.rand(len(dil), 2, h, channels, generator=gen).argsort(-1)[..., :m]
    return {"weights": w.float(), "channels": chosen, "dilations": torch.tensor(dil, dtype=torch.int64)}


def hydra_features(x: torch.Tensor, params: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """``x`` ``(N, C, L)`` -> ``(N, D * 2 * h * k * 2)`` float32 counts on ``x``'s device, ordered (dilation,
    input, [max counts (h, k), min counts (h, k)])."""
    x = as_series(x)
    n, _, length = x.shape
    w_all = params["weights"].to(x.device)
    idx_all = params["channels"].to(x.device)
    dil = [int(d) for d in params["dilations"]]
    h = idx_all.shape[2]
    chunk = max(1, _CHUNK_ELEMENTS // (h * k * length))
    out = []
    with ieee_fp32(x.device):
        for s in range(0, n, chunk):
            xs = x[s:s + chunk]
            inputs = (xs, torch.diff(xs, dim=-1))
            feats = []
            for di, d in enumerate(dil):
                for i, inp in enumerate(inputs):
                    z_in = inp[:, idx_all[di, i]].sum(2)  # (n, h, L): each group's channels summed
                    z = F.conv1d(z_in, w_all[di, i], dilation=d, padding=4 * d, groups=h)
                    z = z.view(len(xs), h, k, -1)
                    top, top_at = z.max(2)  # (n, h, L)
                    low_at = z.min(2).indices  # (argmin along a middle dim is ~10x slower on CPU)
                    cmax = torch.zeros(len(xs), h, k, device=x.device).scatter_add_(2, top_at, top)
                    cmin = torch.zeros(len(xs), h, k, device=x.device).scatter_add_(2, low_at, torch.ones_like(top))
                    feats += [cmax.flatten(1), cmin.flatten(1)]
            out.append(torch.cat(feats, dim=1))
    return torch.cat(out)


class HydraTransform:
    """The Hydra transform as an object: ``fit(x)`` draws the kernels for the training series' channels and
    length, ``transform(x)`` -> ``(N, num_features_)`` float32 counts (:func:`hydra_features`)."""

    def __init__(self, k: int = 8, g: int = 64, seed: int = 0):
        self.k, self.g, self.seed = int(k), int(g), int(seed)
        self.params_: dict[str, torch.Tensor] | None = None
        self.input_channels_ = self.input_length_ = 0

    @property
    def num_features_(self) -> int:
        return 0 if self.params_ is None else len(self.params_["dilations"]) * self.g * self.k * 2

    def fit(self, x: torch.Tensor) -> "HydraTransform":
        """Draw the kernels for ``x`` ``(N, C, L)`` (its shape only: Hydra has no data-dependent parameters)."""
        x = as_series(x)
        self.input_channels_, self.input_length_ = int(x.shape[1]), int(x.shape[2])
        self.params_ = fit_hydra_parameters(self.input_channels_, self.input_length_, self.k, self.g, self.seed)
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.params_ is None:
            raise RuntimeError("HydraTransform is not fitted: call fit(x) first")
        x = as_series(x)
        if (x.shape[1], x.shape[2]) != (self.input_channels_, self.input_length_):
            raise FeatureInputError(f"x has shape {tuple(x.shape)}; the transform was fitted on series of "
                                    f"{self.input_channels_} channel(s) x {self.input_length_} steps")
        return hydra_features(x, self.params_, self.k)

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.fit(x).transform(x)

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """Everything ``transform`` needs: CPU tensors and ints (``torch.load(weights_only=True)`` safe)."""
        if self.params_ is None:
            raise RuntimeError("HydraTransform is not fitted: call fit(x) first")
        return {"k": self.k, "g": self.g, "seed": self.seed, "input_channels": self.input_channels_,
                "input_length": self.input_length_, **{n: v.cpu() for n, v in self.params_.items()}}

    @classmethod
    def from_state_dict(cls, state: dict) -> "HydraTransform":
        t = cls(int(state["k"]), int(state["g"]), int(state["seed"]))
        t.params_ = {n: torch.as_tensor(state[n]) for n in ("weights", "channels", "dilations")}
        t.input_channels_, t.input_length_ = int(state["input_channels"]), int(state["input_length"])
        return t


class HydraClassifier(RidgeFeatureClassifier):
    """Hydra counts -> square root -> sparse scaling -> ridge on +-1 one-vs-rest targets (alpha by LOO)."""

    transform_type = HydraTransform

    def __init__(self, k: int = 8, g: int = 64, seed: int = 0, alphas=None):
        super().__init__(HydraTransform(k, g, seed), alphas)

    def _fit_scaling(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        root = feats.clamp(min=0).sqrt()
        std, mean = torch.std_mean(root, dim=0)
        return mean, std + (root == 0).double().mean(0) ** 4 + 1e-8

    def _scaled(self, feats: torch.Tensor) -> torch.Tensor:
        root = feats.clamp_(min=0).sqrt_()
        kept = root != 0
        return root.sub_(self._mean).mul_(kept).div_(self._std)


def hydra_transform_reference(x: torch.Tensor, params: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """float64 reference of :func:`hydra_features` for the tests: one example, dilation, input, group and time
    step at a time, the convolution written out as a sum over taps."""
    x = as_series(x).double()
    n = x.shape[0]
    w_all, idx_all = params["weights"].double(), params["channels"]
    rows = []
    for e in range(n):
        diff = x[e, :, 1:] - x[e, :, :-1]
        feats = []
        for di, d in enumerate(int(v) for v in params["dilations"]):
            for i, series in enumerate((x[e], diff)):
                h = idx_all.shape[2]
                cmax, cmin = torch.zeros(h, k, dtype=torch.float64), torch.zeros(h, k, dtype=torch.float64)
                for grp in range(h):
                    s = series[idx_all[di, i, grp]].sum(0)  # (L,)
                    pad = torch.zeros(4 * d, dtype=torch.float64)
                    padded = torch.cat([pad, s, pad])
                    for t in range(len(s)):
                        window = padded[t:t + 8 * d + 1:d]  # 9 taps
                        resp = torch.stack([(w_all[di, i, grp * k + j, 0] * window).sum() for j in range(k)])
                        cmax[grp, int(resp.argmax())] += float(resp.max())
                        cmin[grp, int(resp.argmin())] += 1.0
                feats += [cmax.flatten(), cmin.flatten()]
        rows.append(torch.cat(feats))
    return torch.stack(rows)
