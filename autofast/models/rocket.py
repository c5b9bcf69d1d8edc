"""MiniRocket-style random dilated-convolution features with a ridge head, on our own conv kernels.

The algorithm is MINIROCKET (Dempster, Schmidt & Webb 2021, "MINIROCKET: A Very Fast (Almost)
Deterministic Transform for Time Series Classification"), implemented here from the paper's description:

* **Kernels.** 84 fixed kernels of length 9: weight -1 everywhere except 2 at three positions, all
  C(9, 3) = 84 choices (each kernel sums to zero, so a constant input gives zero output).
* **Dilations.** ``num_features // 84`` features per kernel, spread over at most
  ``max_dilations_per_kernel`` dilations ``floor(2 ** linspace(0, log2((L - 1) / 8), n))`` (duplicates
  merged; each dilation gets features in proportion to how often it came up, the remainder handed out
  from the smallest dilation on).
* **Biases.** For each (dilation, kernel) one random training example is convolved ('same' padding) and
  its features' biases are quantiles of that output; the quantile levels are the low-discrepancy
  sequence ``frac(i * golden_ratio)``, i = 1, 2, ... over all features in order.
* **Feature.** PPV, the proportion of positive values of ``conv(x) - bias``. Padding alternates: the
  (dilation i, kernel k) combinations with ``(i + k)`` even pool over the whole 'same'-padded output,
  the others only over the positions the zero padding does not reach (``[4 d, L - 4 d)``).
* **Multivariate.** Each (dilation, kernel) combination reads ``floor(2 ** U(0, log2(min(C, 9) + 1)))``
  random channels and sums their convolutions.

Everything random comes from one ``torch.Generator`` seeded with ``seed``: the same seed and training
data give identical features. Series shorter than 9 steps are zero-padded on the right to 9.

Flat stretches are exact: every kernel sums to zero, so its output is exactly 0 wherever its 9 taps read
equal values (a flat stretch, a padded tail), where a float32 conv leaves rounding noise that lands on either
side of a bias of 0 (4% of the features moved, by up to 0.48, on series with flat stretches). Two backends
(:func:`resolve_backend`): on the CPU the fused numba kernel :mod:`autofast.kernels.minirocket.numba_cpu` (conv
and PPV per series, in cache, the conv as differences to the centre tap: ACSF1's 200 x 1 460 series in 0.12 s
on 2 cores, aeon 0.11 s; the torch path took 0.80 s); elsewhere (CUDA, or no numba) torch: per dilation ONE
dense :func:`autofast.kernels.conv.dilated_conv` call (weight ``(84, C, 9)``, each kernel's unused channels
zeroed, ``native`` path) over a chunk of examples, the flat windows (a dilated max-pool pair) set to 0, then the
counts; its fit convolves the 84 kernels' own examples in one depthwise call. A transform uses the backend it
was fitted with.

Classifier (:class:`RocketClassifier`, on :mod:`autofast.models.ridge`): features standardised with the training mean/std (float64),
ridge regression on +-1 one-vs-rest targets with an unpenalised intercept, alpha chosen among
``logspace(-3, 3, 10)`` by exact leave-one-out squared error computed in closed form from one
eigendecomposition (:func:`ridge_gcv`), as scikit-learn's ``RidgeClassifierCV`` does. This is the
pipeline of aeon's ``MiniRocketClassifier`` (MiniRocket -> StandardScaler -> RidgeClassifierCV).

Cost: the transform is N * L * (84 * D * (3 C + 1) additions + F comparisons); on 2 cores the ridge's float64
Gram matrix and N x N eigendecomposition dominate from a few thousand series (the same O(N^2 F + N^3) work as
``RidgeClassifierCV``).
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F

from autofast.kernels.conv import dilated_conv

from .ridge import DEFAULT_ALPHAS, FeatureInputError, RidgeFeatureClassifier, RidgeFit, ridge_gcv, ridge_loo_residuals

__all__ = ["RocketClassifier", "RocketTransform", "RocketInputError", "rocket_features", "fit_rocket_parameters",
           "rocket_transform_reference", "ridge_gcv", "ridge_loo_residuals", "RidgeFit", "kernel_weights",
           "fit_dilations", "quantile_levels", "DEFAULT_ALPHAS"]

KERNEL_LENGTH = 9
NUM_KERNELS = 84
#: (84, 3): the positions of the three 2-weights of each kernel, in ``itertools.combinations`` order
KERNEL_INDICES = torch.tensor(list(combinations(range(KERNEL_LENGTH), 3)), dtype=torch.int64)
_CHUNK_ELEMENTS = 1 << 22  # conv output values per chunk (16 MiB in float32): few, large parallel ops
_GOLDEN = (math.sqrt(5.0) + 1.0) / 2.0


RocketInputError = FeatureInputError  # bad input to the transform or classifier (shape, length, labels)


# ----------------------------------------------------------------------------------------------------------------
# parameters: kernels, dilations, quantile levels, random draws


def kernel_weights(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 84 MiniRocket kernels, ``(84, 9)``: -1 everywhere, 2 at the positions :data:`KERNEL_INDICES`."""
    w = torch.full((NUM_KERNELS, KERNEL_LENGTH), -1.0, dtype=dtype)
    w.scatter_(1, KERNEL_INDICES, 2.0)
    return w


def fit_dilations(length: int, num_features: int, max_dilations_per_kernel: int) -> tuple[list[int], list[int]]:
    """The dilations and the features per kernel at each: ``(dilations, features_per_dilation)``.

    ``num_features // 84`` features per kernel over at most ``max_dilations_per_kernel`` exponentially
    spaced dilations from 1 to ``(length - 1) / 8`` (so the dilated kernel spans the series); a dilation
    drawn n times gets ``floor(n * multiplier)`` features, the remainder goes one each from the first on.
    """
    per_kernel = num_features // NUM_KERNELS
    if per_kernel < 1:
        raise RocketInputError(f"num_features must be at least {NUM_KERNELS} (one per kernel), got {num_features}")
    if max_dilations_per_kernel < 1:
        raise RocketInputError(f"max_dilations_per_kernel must be >= 1, got {max_dilations_per_kernel}")
    n = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / n
    max_exponent = math.log2((max(length, KERNEL_LENGTH) - 1) / (KERNEL_LENGTH - 1))
    raw = torch.floor(2.0 ** torch.linspace(0.0, max_exponent, n, dtype=torch.float64)).to(torch.int64)
    dilations, counts = torch.unique(raw, return_counts=True)
    per_dilation = [int(c * multiplier) for c in counts.tolist()]
    i, remainder = 0, per_kernel - sum(per_dilation)
    while remainder > 0:
        per_dilation[i] += 1
        remainder -= 1
        i = (i + 1) % len(per_dilation)
    return dilations.tolist(), per_dilation


def quantile_levels(n: int) -> torch.Tensor:
    """``(n,)`` float64 low-discrepancy quantile levels ``frac(i * golden_ratio)``, i = 1..n."""
    return torch.remainder(torch.arange(1, n + 1, dtype=torch.float64) * _GOLDEN, 1.0)


def draw_combinations(seed: int, num_examples: int, channels: int, num_dilations: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The random choices of the fit, from ``torch.Generator().manual_seed(seed)`` in a fixed order.

    Returns ``channel_mask`` ``(D, 84, C)`` bool (the channels each combination reads) and ``examples``
    ``(D, 84)`` int64 (the training example each combination's biases come from).
    """
    g = torch.Generator().manual_seed(int(seed))
    max_channels = min(channels, KERNEL_LENGTH)
    u = torch.rand((num_dilations, NUM_KERNELS), generator=g, dtype=torch.float64)
    n_channels = torch.floor(2.0 ** (u * math.log2(max_channels + 1))).to(torch.int64).clamp_(1, max_channels)
    ranks = torch.rand((num_dilations, NUM_KERNELS, channels), generator=g).argsort(-1).argsort(-1)
    channel_mask = ranks < n_channels.unsqueeze(-1)
    examples = torch.randint(num_examples, (num_dilations, NUM_KERNELS), generator=g)
    return channel_mask, examples


def padded_combination(dilation_index: int) -> torch.Tensor:
    """``(84,)`` bool: which kernels at this dilation pool over the whole 'same'-padded output (the rest
    pool only where the padding does not reach): ``(dilation_index + kernel) % 2 == 0``."""
    return (torch.arange(NUM_KERNELS) + dilation_index) % 2 == 0


@contextmanager
def ieee_fp32(device: torch.device):
    """Full float32 convolutions and matmuls on CUDA: cuDNN may run float32 convs in TF32 (10-bit mantissa)
    by default, which moved ~0.6% of the PPV features on an H200 (outputs crossing a bias); the flags are
    restored after."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def as_series(x, name: str = "x") -> torch.Tensor:
    """``x`` as a ``(N, C, L)`` float32 contiguous tensor, zero-padded on the right to at least 9 steps."""
    x = torch.as_tensor(x)
    if x.dim() != 3:
        raise RocketInputError(f"{name} must be 3-D (examples, channels, length), got shape {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] < 1:
        raise RocketInputError(f"{name} has an empty dimension: shape {tuple(x.shape)}")
    x = x.detach().to(torch.float32).contiguous()
    if not bool(torch.isfinite(x).all()):  # after the cast: float64 values beyond float32's range are inf there
        raise RocketInputError(f"{name} holds NaN or infinite values (or values beyond float32's range, ~3.4e38)")
    if x.shape[2] < KERNEL_LENGTH:
        x = F.pad(x, (0, KERNEL_LENGTH - x.shape[2]))
    return x


def flat_windows(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """``(B, C, L)`` -> ``(B, C, L)`` bool: where the 9 taps at ``dilation`` read equal values (the series
    outside its ends read as 0), i.e. where every MiniRocket kernel's output is exactly 0."""
    xp = F.pad(x, (4 * dilation, 4 * dilation))
    hi = F.max_pool1d(xp, KERNEL_LENGTH, stride=1, dilation=dilation)
    return hi == -F.max_pool1d(-xp, KERNEL_LENGTH, stride=1, dilation=dilation)


def _zero_flat(y: torch.Tensor, x: torch.Tensor, dilation: int, mask: torch.Tensor) -> torch.Tensor:
    """``y`` ``(B, K, L)`` (convs of ``x`` ``(B, C, L)`` over the channels ``mask`` ``(K, C)`` float picks) with
    0 written where every picked channel's taps are flat: a float32 conv leaves rounding noise there."""
    flat = flat_windows(x, dilation)
    if not bool(flat.any()):
        return y
    if x.shape[1] == 1:
        return y.masked_fill_(flat, 0.0)
    busy = torch.einsum("kc,bcl->bkl", mask, (~flat).to(y.dtype))
    return y.masked_fill_(busy == 0, 0.0)


def _row_quantiles(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Per-row quantiles with linear interpolation (numpy's default): ``values`` ``(R, n)``, ``levels``
    ``(R, m)`` in [0, 1] -> ``(R, m)`` in ``values.dtype``."""
    s = values.sort(-1).values
    n = s.shape[-1]
    pos = levels.to(torch.float64) * (n - 1)
    lo = pos.floor().to(torch.int64).clamp_(0, n - 1)
    hi = (lo + 1).clamp_(max=n - 1)
    frac = (pos - lo).to(s.dtype)
    a, b = s.gather(-1, lo.to(s.device)), s.gather(-1, hi.to(s.device))
    return a + frac.to(s.device) * (b - a)


# ----------------------------------------------------------------------------------------------------------------
# the transform


def _numba_kernel():
    """:mod:`autofast.kernels.minirocket.numba_cpu`, or None where numba does not load."""
    try:
        from autofast.kernels.minirocket import numba_cpu
    except ImportError:
        return None
    return numba_cpu


BACKENDS = ("auto", "numba", "torch")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise RocketInputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def resolve_backend(backend: str, device: torch.device) -> str:
    """``'numba'`` (the fused CPU kernel, whatever ``device``: a CUDA tensor is read on the host) or
    ``'torch'`` (:func:`dilated_conv` + counting, any device) for ``backend`` in :data:`BACKENDS`; ``'auto'``
    is numba for CPU tensors where numba loads."""
    _check_backend(backend)
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):
        return "torch"
    if _numba_kernel() is None:
        if backend == "numba":
            raise RocketInputError("backend='numba' needs numba (pip install numba); use backend='torch'")
        return "torch"
    return "numba"


def fit_rocket_parameters(x: torch.Tensor, num_features: int = 10_000, seed: int = 0,
                          max_dilations_per_kernel: int = 32, backend: str = "auto") -> dict[str, torch.Tensor]:
    """Fit the transform on training series ``x`` ``(N, C, L)``: returns (CPU tensors)

    * ``dilations`` ``(D,)`` int64, ``features_per_dilation`` ``(D,)`` int64 (per kernel),
    * ``channel_mask`` ``(D, 84, C)`` bool,
    * ``biases`` ``(F,)`` float32, F = 84 * sum(features_per_dilation), ordered (dilation, kernel, feature).

    The biases of (dilation i, kernel k) are quantiles of the 'same'-padded convolution of one random
    training example (its chosen channels summed), computed by the ``backend``'s arithmetic (the one the
    transform must then use: :func:`resolve_backend`).
    """
    x = as_series(x)
    backend = resolve_backend(backend, x.device)
    n, c, length = x.shape
    dilations, per_dilation = fit_dilations(length, num_features, max_dilations_per_kernel)
    channel_mask, examples = draw_combinations(seed, n, c, len(dilations))
    levels = quantile_levels(NUM_KERNELS * sum(per_dilation))
    depthwise = kernel_weights().to(x.device).unsqueeze(1)  # (84, 1, 9)
    biases, offset = [], 0
    for i, (d, nf) in enumerate(zip(dilations, per_dilation)):
        if backend == "numba":
            y = torch.from_numpy(_numba_kernel().combination_outputs(x.cpu().numpy(), d, channel_mask[i].numpy(),
                                                                     KERNEL_INDICES.numpy(), examples[i].numpy()))
        else:
            mask = channel_mask[i].to(device=x.device, dtype=torch.float32)  # (84, C)
            ex = x[examples[i].to(x.device)]  # (84, C, L): kernel k's example
            with ieee_fp32(x.device):  # the channel sum is a matmul: not in TF32 either
                z = torch.einsum("kc,kcl->kl", mask, ex)  # its chosen channels summed
                y = dilated_conv(z.unsqueeze(0), depthwise, dilation=d, groups=NUM_KERNELS, path="native")  # (1, 84, L)
            busy = (mask.unsqueeze(-1) * (~flat_windows(ex, d))).sum(1)  # (84, L): chosen channels not flat
            y = y[0].masked_fill_(busy == 0, 0.0)
        q = levels[offset:offset + NUM_KERNELS * nf].view(NUM_KERNELS, nf)
        biases.append(_row_quantiles(y, q).flatten().cpu())
        offset += NUM_KERNELS * nf
    return {"dilations": torch.tensor(dilations, dtype=torch.int64),
            "features_per_dilation": torch.tensor(per_dilation, dtype=torch.int64),
            "channel_mask": channel_mask, "biases": torch.cat(biases)}


@dataclass
class _DilationPlan:
    """One dilation's work: the kernels reordered padded-first (weight ``(84, C, 9)``, channel mask ``(84, C)``,
    biases ``(84, nf)``),
    how many pool over the padded output, where its features go and how to undo the reorder."""
    dilation: int
    weight: torch.Tensor
    mask: torch.Tensor
    biases: torch.Tensor
    num_padded: int
    inverse: torch.Tensor
    offset: int
    features: int


def _plans(params: dict[str, torch.Tensor], device: torch.device) -> list[_DilationPlan]:
    kernels = kernel_weights().to(device)
    plans, offset = [], 0
    dilations = params["dilations"].tolist()
    for i, (d, nf) in enumerate(zip(dilations, params["features_per_dilation"].tolist())):
        padded = padded_combination(i)
        order = torch.cat([torch.nonzero(padded).flatten(), torch.nonzero(~padded).flatten()])
        mask = params["channel_mask"][i].to(device=device, dtype=torch.float32)  # (84, C)
        mask = mask[order.to(device)]
        weight = (kernels[order.to(device)].unsqueeze(1) * mask.unsqueeze(-1)).contiguous()  # (84, C, 9)
        b = params["biases"][offset:offset + NUM_KERNELS * nf].view(NUM_KERNELS, nf)[order].to(device)
        plans.append(_DilationPlan(d, weight, mask, b.contiguous(), int(padded.sum()), order.argsort().to(device), offset, nf))
        offset += NUM_KERNELS * nf
    return plans


def _count_above(y: torch.Tensor, biases: torch.Tensor, out: torch.Tensor) -> None:
    """``out[j, b, k] = #{t : y[b, k, t] > biases[k, j]}`` for ``y`` ``(B, K, T)``, ``biases`` ``(K, J)``,
    ``out`` ``(J, B, K)`` float32 (counts exact below 2**24 steps). One comparison pass per bias column
    into a float buffer, then a sum straight into ``out[j]``: measured 2-3x faster on the CPU than summing
    a bool comparison, or one broadcast compare over all columns (torch's reductions over bool are slow)."""
    tmp = torch.empty(y.shape, dtype=torch.float32, device=y.device)
    for j in range(biases.shape[1]):
        torch.gt(y, biases[:, j:j + 1], out=tmp)
        torch.sum(tmp, dim=-1, out=out[j])


def rocket_features(x: torch.Tensor, params: dict[str, torch.Tensor], chunk_size: int | None = None,
                    backend: str = "auto") -> torch.Tensor:
    """The MiniRocket PPV features of ``x`` ``(N, C, L)`` under fitted ``params``
    (:func:`fit_rocket_parameters`, fitted with the same ``backend``): ``(N, F)`` float32 in [0, 1], on
    ``x``'s device.

    ``backend='numba'``: the fused conv + PPV kernel (:func:`autofast.kernels.minirocket.numba_cpu.transform`)
    on the CPU, ``torch.get_num_threads()`` threads (a CUDA ``x`` goes to the CPU and back). ``'torch'``: per
    chunk of examples (``chunk_size``; default about 2**22 conv outputs) and per
    dilation one dense :func:`dilated_conv` call ``(b, C, L) -> (b, 84, L)`` (0 on :func:`flat_windows`), then per
    bias the count of outputs above it (over all L positions for the padded combinations, over
    ``[4 d, L - 4 d)`` for the others).
    """
    x = as_series(x)
    n, c, length = x.shape
    if params["channel_mask"].shape[-1] != c:
        raise RocketInputError(f"x has {c} channel(s) but the transform was fitted on "
                               f"{params['channel_mask'].shape[-1]}")
    widest = int(params["dilations"].max()) * (KERNEL_LENGTH - 1)
    if length <= widest:
        raise RocketInputError(f"series of {length} steps are too short for the fitted dilations (the widest "
                               f"kernel spans {widest + 1} steps): give series of at least {widest + 1} steps "
                               "(RocketTransform.transform takes the training length only)")
    if resolve_backend(backend, x.device) == "numba":
        features = _numba_kernel().transform(
            x.cpu().numpy(), params["dilations"].numpy(), params["features_per_dilation"].numpy(),
            params["channel_mask"].numpy(), KERNEL_INDICES.numpy(), params["biases"].numpy(),
            threads=torch.get_num_threads())
        return torch.from_numpy(features).to(x.device)
    plans = _plans(params, x.device)
    total = NUM_KERNELS * int(params["features_per_dilation"].sum())
    out = torch.empty(n, total, dtype=torch.float32, device=x.device)
    b = chunk_size or max(1, _CHUNK_ELEMENTS // (NUM_KERNELS * length))
    for s in range(0, n, b):
        xc = x[s:s + b]
        nb = xc.shape[0]
        for p in plans:
            with ieee_fp32(x.device):
                y = dilated_conv(xc, p.weight, dilation=p.dilation, path="native")  # (nb, 84, L) float32
            _zero_flat(y, xc, p.dilation, p.mask)
            pad = p.dilation * (KERNEL_LENGTH - 1) // 2
            k = p.num_padded
            padded = torch.empty(p.features, nb, k, dtype=torch.float32, device=x.device)
            valid = torch.empty(p.features, nb, NUM_KERNELS - k, dtype=torch.float32, device=x.device)
            _count_above(y[:, :k], p.biases[:k], padded)
            _count_above(y[:, k:, pad:length - pad], p.biases[k:], valid)
            ppv = torch.cat([padded.div_(length), valid.div_(length - 2 * pad)], dim=2)  # (nf, nb, 84) plan order
            out[s:s + nb, p.offset:p.offset + NUM_KERNELS * p.features] = (
                ppv[:, :, p.inverse].permute(1, 2, 0).reshape(nb, -1))
    return out


class RocketTransform:
    """The MiniRocket transform as an object: ``fit(x)`` on training series, ``transform(x)`` ->
    ``(N, num_features_)`` float32 PPV features. ``num_features_ = 84 * (num_features // 84)``.

    ``backend`` (:data:`BACKENDS`): ``'auto'`` fits with the numba kernel on CPU tensors (the torch path on
    CUDA ones); the transform then always uses the backend it was fitted with (``backend_``), so the biases
    meet the arithmetic they were fitted with.

    Fitted attributes: ``params_`` (see :func:`fit_rocket_parameters`), ``backend_``, ``input_channels_``,
    ``input_length_`` (series given to ``transform`` must have the same channels and length).
    """

    def __init__(self, num_features: int = 10_000, seed: int = 0, max_dilations_per_kernel: int = 32,
                 backend: str = "auto"):
        if num_features < NUM_KERNELS:
            raise RocketInputError(f"num_features must be at least {NUM_KERNELS}, got {num_features}")
        _check_backend(backend)
        self.num_features, self.seed = int(num_features), int(seed)
        self.max_dilations_per_kernel, self.backend = int(max_dilations_per_kernel), backend
        self.params_: dict[str, torch.Tensor] | None = None
        self.backend_ = ""
        self.input_channels_ = self.input_length_ = 0

    @property
    def num_features_(self) -> int:
        return NUM_KERNELS * (self.num_features // NUM_KERNELS)

    def fit(self, x: torch.Tensor) -> "RocketTransform":
        """Fit on ``x`` ``(N, C, L)`` (any float dtype; used as float32)."""
        x = torch.as_tensor(x)
        self.backend_ = resolve_backend(self.backend, x.device)
        self.params_ = fit_rocket_parameters(x, self.num_features, self.seed, self.max_dilations_per_kernel,
                                             self.backend_)
        self.input_channels_, self.input_length_ = int(x.shape[1]), int(x.shape[2])
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, L)`` -> ``(N, num_features_)`` float32 features, on ``x``'s device."""
        if self.params_ is None:
            raise RuntimeError("RocketTransform is not fitted: call fit(x) first")
        x = torch.as_tensor(x)
        if x.dim() == 3 and (x.shape[1], x.shape[2]) != (self.input_channels_, self.input_length_):
            raise RocketInputError(f"x has shape {tuple(x.shape)}; the transform was fitted on series of "
                                   f"{self.input_channels_} channel(s) x {self.input_length_} steps")
        return rocket_features(x, self.params_, backend=self.backend_)

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.fit(x).transform(x)

    def state_dict(self) -> dict[str, torch.Tensor | int | str]:
        """Everything ``transform`` needs: CPU tensors, ints and the backend's name
        (``torch.load(weights_only=True)`` safe)."""
        if self.params_ is None:
            raise RuntimeError("RocketTransform is not fitted: call fit(x) first")
        return {"num_features": self.num_features, "seed": self.seed,
                "max_dilations_per_kernel": self.max_dilations_per_kernel,
                "input_channels": self.input_channels_, "input_length": self.input_length_,
                "backend": self.backend_, **{k: v.cpu() for k, v in self.params_.items()}}

    @classmethod
    def from_state_dict(cls, state: dict) -> "RocketTransform":
        """The fitted transform ``state`` describes (files written before the numba kernel: ``'torch'``).
        A numba-fitted transform where numba does not load runs on the torch path, after a warning: its
        features may then differ where an output lies within rounding of a bias."""
        t = cls(int(state["num_features"]), int(state["seed"]), int(state["max_dilations_per_kernel"]))
        t.params_ = {k: torch.as_tensor(state[k]) for k in ("dilations", "features_per_dilation", "channel_mask", "biases")}
        t.input_channels_, t.input_length_ = int(state["input_channels"]), int(state["input_length"])
        t.backend_ = str(state.get("backend", "torch"))
        if t.backend_ not in ("numba", "torch"):
            raise RocketInputError(f"unknown MiniRocket backend {t.backend_!r} in the saved state")
        if t.backend_ == "numba" and _numba_kernel() is None:
            warnings.warn("this MiniRocket transform was fitted with the numba kernel, which does not load here "
                          "(pip install numba); transforming on the torch path", RuntimeWarning, stacklevel=2)
            t.backend_ = "torch"
        return t


# ----------------------------------------------------------------------------------------------------------------
# float64 reference of the transform (for the tests): plain F.conv1d, one kernel and channel at a time


def rocket_transform_reference(x_fit: torch.Tensor, x: torch.Tensor, num_features: int = 10_000, seed: int = 0,
                               max_dilations_per_kernel: int = 32, biases: torch.Tensor | None = None,
                               margin: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The transform in float64 with ``torch.nn.functional.conv1d`` per (dilation, kernel, channel), the
    per-channel outputs summed, biases by ``torch.quantile``: ``(features (N, F), biases (F,))`` float64.

    Shares with the fast path only the random draws (:func:`draw_combinations`), the dilation schedule, the
    kernel table and the quantile levels.
    ``biases`` (``(F,)``) replaces the fitted ones; ``margin`` counts ``conv > bias + margin`` instead of
    ``conv > bias`` (a band ``[-eps, +eps]`` bounds what float32 rounding can flip).
    """
    x_fit = as_series(x_fit).double()
    x = as_series(x).double()
    n_fit, c, length = x_fit.shape
    dilations, per_dilation = fit_dilations(length, num_features, max_dilations_per_kernel)
    channel_mask, examples = draw_combinations(seed, n_fit, c, len(dilations))
    levels = quantile_levels(NUM_KERNELS * sum(per_dilation))
    kernels = kernel_weights(torch.float64)
    fitted, feats, offset = [], [], 0
    for i, (d, nf) in enumerate(zip(dilations, per_dilation)):
        pad = d * (KERNEL_LENGTH - 1) // 2
        for k in range(NUM_KERNELS):
            w = kernels[k].view(1, 1, KERNEL_LENGTH)
            chans = torch.nonzero(channel_mask[i, k]).flatten().tolist()

            def conv(series: torch.Tensor) -> torch.Tensor:  # (B, C, L) -> (B, L): chosen channels' convs summed
                return sum(F.conv1d(series[:, ch:ch + 1], w, padding=pad, dilation=d)[:, 0] for ch in chans)

            if biases is None:
                b = torch.quantile(conv(x_fit[examples[i, k]].unsqueeze(0))[0], levels[offset:offset + nf])
            else:
                b = biases[offset:offset + nf].double()
            fitted.append(b)
            out = conv(x)
            if (k + i) % 2 == 1:  # unpadded combination: only where the zero padding does not reach
                out = out[:, pad:length - pad]
            feats.append((out.unsqueeze(1) > (b + margin).view(1, -1, 1)).double().mean(-1))
            offset += nf
    return torch.cat(feats, dim=1), torch.cat(fitted)


# ----------------------------------------------------------------------------------------------------------------
# the classifier


class RocketClassifier(RidgeFeatureClassifier):
    """MiniRocket features -> standardisation -> ridge on +-1 one-vs-rest targets (alpha by LOO): aeon's
    ``MiniRocketClassifier`` pipeline (:class:`~autofast.models.ridge.RidgeFeatureClassifier`)."""

    transform_type = RocketTransform

    def __init__(self, num_features: int = 10_000, seed: int = 0, alphas=None, max_dilations_per_kernel: int = 32,
                 backend: str = "auto"):
        super().__init__(RocketTransform(num_features, seed, max_dilations_per_kernel, backend), alphas)
