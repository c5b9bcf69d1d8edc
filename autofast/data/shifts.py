"""Built-in distribution shifts: out-of-distribution (OOD) copies of a data set, per modality.

AutoFT selects its fine-tuning objective on an OOD validation set. When the user has none, autofast makes
one by shifting the in-distribution validation inputs with one of these families, at a severity 1..5 (as
in ImageNet-C; 0 is the identity):

======== ============ ===========================================================================
modality family      effect at severity s
======== ============ ===========================================================================
image    noise        + gaussian noise, std ``0.08 s`` x the per-image std
image    blur         gaussian blur, sigma ``0.3 s`` pixels (separable depthwise conv, reflect padding)
image    contrast     shrink towards the per-image mean by the factor ``1 - 0.15 s``
image    rotation     rotate by an angle uniform in ``+-6 s`` degrees (bilinear, border padding)
image    band_noise   + gaussian noise per band: std ``0.08 s x u`` x the image's std in that band,
                      ``u`` uniform in [0, 2) per (image, band) (sensors differ in noise per band)
image    gain         multiply each band by ``exp(0.1 s z)``, ``z`` standard normal per (image, band)
                      (per-band calibration / gain drift)
image    band_drop    each band of each image is replaced by 0 (the training mean) with probability
                      ``0.1 s`` (a dead or missing band)
image    cloud        cloud-like occlusion: a smooth random field (4x4 noise, bilinear) covers the
                      fraction ``0.1 s`` of each image, where every band blends into that image's
                      brightest value of the band (soft edges)
dna      mutation     replace ``round(0.04 s x bases)`` positions of each sequence by a different base
dna      shift        roll each sequence by an offset uniform in ``-2s..2s``; vacated positions -> N (0.25)
series   scale        multiply each sample by ``exp(+-0.15 s)`` (random sign per sample)
series   level        add ``+-0.3 s`` x the per-channel std (random sign per sample and channel)
series   noise        + gaussian noise, std ``0.1 s`` x the per-channel std
======== ============ ===========================================================================

Shapes: image ``(N, C, H, W)`` (already standardised, any number of bands C: the last four families are
the multispectral ones), dna ``(N, 4, L)`` one-hot columns (IUPAC codes are
fractional distributions; gaps and padding are all-zero columns), series ``(N, C, L)``. Statistics (std,
mean) are per sample (image: over C, H, W; series: per channel over L). Every call returns a NEW tensor of
the same shape, dtype and device, and is deterministic for a seed: the randomness comes from a CPU
``torch.Generator`` seeded with ``seed`` (so the same seed gives the same shift on CPU and GPU). ``blur``
and ``contrast`` use no randomness at all.
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import AutofastError

__all__ = ["SHIFT_FAMILIES", "MODALITIES", "apply_shift", "modality_of", "parse_shift", "RANDOM_FAMILIES"]

SHIFT_FAMILIES: dict[str, tuple[str, ...]] = {
    "image": ("noise", "blur", "contrast", "rotation", "band_noise", "gain", "band_drop", "cloud"),
    "dna": ("mutation", "shift"),
    "series": ("scale", "level", "noise"),
}
MODALITIES = tuple(SHIFT_FAMILIES)
#: families whose result depends on the seed (the others are deterministic functions of the input)
RANDOM_FAMILIES: dict[str, tuple[str, ...]] = {
    "image": ("noise", "rotation", "band_noise", "gain", "band_drop", "cloud"),
    "dna": ("mutation", "shift"),
    "series": ("scale", "level", "noise"),
}
MAX_SEVERITY = 5
_KIND_TO_MODALITY = {"image": "image", "dna": "dna", "series": "series", "timeseries": "series"}


# ------------------------------------------------------------------------------------------ parsing
def _families_text(modality: str | None) -> str:
    if modality is not None:
        return ", ".join(SHIFT_FAMILIES[modality])
    return "; ".join(f"{m}: {', '.join(f)}" for m, f in SHIFT_FAMILIES.items())


def _check_modality(modality: str) -> str:
    if modality not in SHIFT_FAMILIES:
        raise AutofastError(f"unknown shift modality {modality!r}; use one of {', '.join(MODALITIES)}")
    return modality


def parse_shift(spec: str, modality: str | None = None) -> tuple[str, int]:
    """Parse ``"family:severity"`` (e.g. ``"noise:3"``) into ``("noise", 3)``.

    With ``modality`` the family must belong to it; without, to any modality. Severity is an integer 0..5.
    """
    if modality is not None:
        _check_modality(modality)
    if not isinstance(spec, str):
        raise AutofastError(f"shift spec must be a string like 'noise:3', got {spec!r}")
    m = re.fullmatch(r"\s*([A-Za-z_]+)\s*:\s*([+-]?\d+)\s*", spec)
    if m is None:
        raise AutofastError(f"shift spec {spec!r} is malformed; write family:severity, e.g. 'noise:3' "
                            f"(families: {_families_text(modality)}; severity 0..{MAX_SEVERITY})")
    family, severity = m.group(1).lower(), int(m.group(2))
    valid = SHIFT_FAMILIES[modality] if modality is not None else {f for fs in SHIFT_FAMILIES.values() for f in fs}
    if family not in valid:
        where = f" for {modality} data" if modality is not None else ""
        raise AutofastError(f"shift spec {spec!r}: unknown shift family {family!r}{where}; "
                            f"valid: {_families_text(modality)}")
    if not 0 <= severity <= MAX_SEVERITY:
        raise AutofastError(f"shift spec {spec!r}: severity must be an integer 0..{MAX_SEVERITY}, got {severity}")
    return family, severity


def modality_of(x: Tensor | None = None, kind: str | None = None) -> str:
    """The shift modality (``"image"``, ``"dna"``, ``"series"``) of a task.

    ``kind`` is the data kind (``SupervisedData.kind``: ``"dna"``/``"image"``; the registry's
    ``"timeseries"``) and wins when given; otherwise it is inferred from ``x``: 4-D -> image, 3-D with 4
    channels of non-negative columns summing to 0 or 1 -> dna, other 3-D -> series. When both are given,
    ``x``'s rank is checked against the modality.
    """
    if kind is not None:
        if kind not in _KIND_TO_MODALITY:
            raise AutofastError(f"no built-in shifts for data kind {kind!r}; known kinds: "
                                f"{', '.join(_KIND_TO_MODALITY)} (give an OOD split of your own instead)")
        modality = _KIND_TO_MODALITY[kind]
        if x is not None:
            _check_input(x, modality)
        return modality
    if x is None:
        raise AutofastError("modality_of: give the data kind or an input tensor")
    if x.ndim == 4:
        return "image"
    if x.ndim == 3:
        if x.shape[1] == 4 and x.numel() and bool((x >= 0).all()):
            sums = x.sum(dim=1)
            if bool((((sums - 1).abs() < 1e-4) | (sums.abs() < 1e-6)).all()):
                return "dna"
        return "series"
    raise AutofastError(f"cannot tell the modality of an input of shape {tuple(x.shape)}; expected image "
                        f"(N, C, H, W), dna (N, 4, L) or series (N, C, L)")


def _check_input(x: Tensor, modality: str) -> None:
    if not isinstance(x, Tensor):
        raise AutofastError(f"shift input must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise AutofastError(f"{modality} shift input must be floating point, got {x.dtype}; convert with .float()")
    want = {"image": (4, "(N, C, H, W)"), "dna": (3, "(N, 4, L)"), "series": (3, "(N, C, L)")}[modality]
    if x.ndim != want[0] or (modality == "dna" and x.shape[1] != 4):
        raise AutofastError(f"{modality} shift input must be {want[1]}, got shape {tuple(x.shape)}")


# ------------------------------------------------------------------------------------------- shifts
def _rand(gen: torch.Generator, shape, like: Tensor) -> Tensor:
    """Uniform [0, 1) drawn on the CPU generator, then moved to ``like``'s device and dtype."""
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def _randn(gen: torch.Generator, shape, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def _sign(gen: torch.Generator, shape, like: Tensor) -> Tensor:
    return torch.randint(0, 2, shape, generator=gen).to(device=like.device, dtype=like.dtype) * 2 - 1


def _image_std(x: Tensor) -> Tensor:
    return x.flatten(1).std(dim=1, unbiased=False).view(-1, 1, 1, 1)


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    n, c, h, w = x.shape
    out = x
    for axis, size in ((3, w), (2, h)):
        radius = min(int(math.ceil(3 * sigma)), size - 1)  # reflect padding needs pad < size
        if radius < 1:
            continue
        t = torch.arange(-radius, radius + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = (k / k.sum()).to(device=x.device, dtype=x.dtype)
        if axis == 3:
            weight = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
            out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), weight, groups=c)
        else:
            weight = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
            out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), weight, groups=c)
    return out


def _rotate(x: Tensor, degrees: Tensor) -> Tensor:
    n, _, h, w = x.shape
    a = degrees.to(torch.float64) * math.pi / 180
    cos, sin = torch.cos(a), torch.sin(a)
    # rotation in pixel units, expressed in affine_grid's normalised coordinates (which scale x by 2/W and
    # y by 2/H), so non-square images rotate rigidly instead of shearing
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _cloud(x: Tensor, s: int, gen: torch.Generator) -> Tensor:
    n, c, h, w = x.shape
    low = _rand(gen, (n, 1, 4, 4), x)
    field = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False).flatten(1)  # (N, H*W)
    t = torch.quantile(field.to(torch.float64), 1 - 0.1 * s, dim=1, keepdim=True).to(x.dtype)
    spread = (field.max(dim=1, keepdim=True).values - field.min(dim=1, keepdim=True).values).clamp_min(1e-6)
    alpha = ((field - t) / (0.1 * spread) + 0.5).clamp(0, 1).view(n, 1, h, w)  # soft edge around the threshold
    bright = x.flatten(2).max(dim=2).values.view(n, c, 1, 1)
    return x * (1 - alpha) + bright * alpha


def _image(x: Tensor, family: str, s: int, gen: torch.Generator) -> Tensor:
    n, c = x.shape[:2]
    if family == "band_noise":
        band_std = x.flatten(2).std(dim=2, unbiased=False).view(n, c, 1, 1)
        return x + _randn(gen, x.shape, x) * (0.08 * s) * 2 * _rand(gen, (n, c, 1, 1), x) * band_std
    if family == "gain":
        return x * torch.exp(0.1 * s * _randn(gen, (n, c, 1, 1), x))
    if family == "band_drop":
        return x * (_rand(gen, (n, c, 1, 1), x) >= 0.1 * s).to(x.dtype)
    if family == "cloud":
        return _cloud(x, s, gen)
    if family == "noise":
        return x + _randn(gen, x.shape, x) * (0.08 * s) * _image_std(x)
    if family == "blur":
        return _gaussian_blur(x, 0.3 * s)
    if family == "contrast":
        mean = x.flatten(1).mean(dim=1).view(-1, 1, 1, 1)
        return mean + (x - mean) * (1 - 0.15 * s)
    if family == "rotation":
        degrees = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * (6.0 * s)
        return _rotate(x, degrees)
    raise AssertionError(family)


def _dna(x: Tensor, family: str, s: int, gen: torch.Generator) -> Tensor:
    n, _, length = x.shape
    if family == "mutation":
        # which positions: round(0.04 s * bases) per sequence, drawn among its non-empty columns (gaps and
        # padding are all-zero columns and stay so). The new base is uniform over the 3 others for a
        # one-hot column, uniform over all 4 for an ambiguous (IUPAC) column.
        keys = torch.rand(n, length, generator=gen, dtype=torch.float64)
        step = torch.randint(1, 4, (n, length), generator=gen)
        any_base = torch.randint(0, 4, (n, length), generator=gen)
        cpu = x.detach().to("cpu", torch.float64)
        valid = cpu.sum(dim=1) > 1e-6                                        # (N, L)
        k = torch.round(valid.sum(dim=1).to(torch.float64) * (0.04 * s)).long()  # (N,)
        keys = keys.masked_fill(~valid, float("inf"))
        rank = keys.argsort(dim=1).argsort(dim=1)
        mutate = (rank < k[:, None]) & valid
        top, cur = cpu.max(dim=1)
        one_hot = (top - 1).abs() < 1e-6
        new = torch.where(one_hot, (cur + step) % 4, any_base)
        new_cols = F.one_hot(new, 4).permute(0, 2, 1).to(device=x.device, dtype=x.dtype)  # (N, 4, L)
        return torch.where(mutate.to(x.device)[:, None, :], new_cols, x)
    if family == "shift":
        span = 2 * s
        offset = torch.randint(-span, span + 1, (n,), generator=gen)            # (N,)
        src = torch.arange(length)[None, :] - offset[:, None]                  # out[i] = x[i - offset]
        inside = (src >= 0) & (src < length)
        idx = src.clamp(0, length - 1).to(x.device)[:, None, :].expand(n, 4, length)
        rolled = x.gather(2, idx)
        return torch.where(inside.to(x.device)[:, None, :], rolled, torch.full_like(rolled, 0.25))
    raise AssertionError(family)


def _series(x: Tensor, family: str, s: int, gen: torch.Generator) -> Tensor:
    n, c, _ = x.shape
    std = x.std(dim=2, unbiased=False, keepdim=True)  # (N, C, 1)
    if family == "scale":
        return x * torch.exp(_sign(gen, (n, 1, 1), x) * (0.15 * s))
    if family == "level":
        return x + _sign(gen, (n, c, 1), x) * (0.3 * s) * std
    if family == "noise":
        return x + _randn(gen, x.shape, x) * (0.1 * s) * std
    raise AssertionError(family)


_APPLY = {"image": _image, "dna": _dna, "series": _series}


def apply_shift(x: Tensor, modality: str, family: str, severity: int, seed: int) -> Tensor:
    """Return a shifted COPY of ``x`` (``x`` is untouched); deterministic given ``seed``.

    ``modality`` is ``"image"``, ``"dna"`` or ``"series"`` (see :func:`modality_of`), ``family`` one of
    ``SHIFT_FAMILIES[modality]``, ``severity`` an int 0..5 (0 returns an unchanged copy).
    """
    _check_modality(modality)
    if family not in SHIFT_FAMILIES[modality]:
        raise AutofastError(f"unknown shift family {family!r} for {modality} data; valid: {_families_text(modality)}")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= MAX_SEVERITY:
        raise AutofastError(f"shift {family}: severity must be an integer 0..{MAX_SEVERITY}, got {severity!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AutofastError(f"shift {family}: seed must be an integer, got {seed!r}")
    _check_input(x, modality)
    if severity == 0 or x.numel() == 0:
        return x.clone()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed) % (2**63))
    with torch.no_grad():
        out = _APPLY[modality](x.detach(), family, severity, gen)
    return out.to(x.dtype).contiguous()
