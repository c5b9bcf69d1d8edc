"""``dilated_conv``: a 1-D/2-D convolution with any odd kernel size, any dilation and any stride,
'same' padding, dense or depthwise. Runs on the fastest exact path for its shape (:mod:`.conv_path`):
torch's native convolution, or the tap kernels (forward and backward for input, weight and bias)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .conv_path import PATHS, choose, synthetic_pass, tap_backend_forced
from .tap_conv import BACKENDS, direct_backend, match_dtype, tap_conv
from .taps import as_int, dilated_taps


def native_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int, groups: int,
                stride: int) -> torch.Tensor:
    """torch's own convolution with 'same' padding ``dilation * (k - 1) / 2``, native stride and dilation."""
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x, weight, bias, stride, dilation * (weight.shape[-1] - 1) // 2, dilation, groups)


def subsample(y: torch.Tensor, stride: int) -> torch.Tensor:
    """``y[..., ::s]`` (``[..., ::s, ::s]`` in 2-D): a stride-s 'same' conv from the stride-1 one (output
    ``ceil(L / s)``); exact, since output i of the strided conv reads the input where output ``s i`` does."""
    if stride == 1:
        return y
    return y[(Ellipsis,) + (slice(None, None, stride),) * (y.dim() - 2)]


def _tap_path(x, weight, bias, dilation: int, groups: int, stride: int, backend: str) -> torch.Tensor:
    """The registered tap-conv op over the kernel's dilated taps (its autograd gives the x and weight
    gradients; the bias is a plain add), then the stride."""
    ndim = x.dim() - 2
    # the cache is for eager calls; torch.compile traces the pure function itself (through the lru_cache
    # wrapper it warns that it ignores the cache)
    taps_of = dilated_taps.__wrapped__ if torch.compiler.is_compiling() else dilated_taps
    taps = taps_of(weight.shape[-1], dilation, ndim)
    y = tap_conv(x, weight.flatten(2), taps, groups, backend)
    if bias is not None:  # in y's dtype: a float32 bias must not promote an autocast (bf16) output
        y = y + bias.to(y.dtype).view((1, -1) + (1,) * ndim)
    return subsample(y, stride)


def check_floating(op: str, **tensors: torch.Tensor | None) -> None:
    """TypeError naming the first given tensor that is not floating point (before any kernel or timing pass runs)."""
    for name, t in tensors.items():
        if t is not None and not t.is_floating_point():
            raise TypeError(f"{op} needs floating-point tensors; {name} is {t.dtype} (cast it, e.g. {name}.float())")


def check_input(x: torch.Tensor, ndim: int, in_channels: int, layer: str) -> None:
    """A layer's input: ``(B, in_channels, L)`` for ``ndim`` 1, ``(B, in_channels, H, W)`` for 2, floating point."""
    if x.dim() != ndim + 2:
        raise ValueError(f"x must be {'(B, C, L)' if ndim == 1 else '(B, C, H, W)'} for a {ndim}-D {layer}, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but this {layer} takes in_channels={in_channels}; "
                         f"got x {tuple(x.shape)}")
    check_floating(layer, x=x)


def check_layer_args(layer: str, ndim: int, in_channels, out_channels, groups, stride, backend: str,
                     path: str) -> tuple[int, int, int, int]:
    """A conv layer's constructor arguments -> ``(in_channels, out_channels, groups, stride)`` as ints; one-line
    errors naming the argument."""
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    cin, cout = as_int("in_channels", in_channels, 1), as_int("out_channels", out_channels, 1)
    groups, stride = as_int("groups", groups, 1), as_int("stride", stride, 1)
    if not (groups == 1 or groups == cin == cout):
        raise ValueError(f"groups must be 1 (dense) or equal to in_channels = out_channels (depthwise); "
                         f"got groups={groups} for {cin} -> {cout} channels")
    if backend not in BACKENDS:
        raise ValueError(f"unknown conv backend {backend!r} for {layer}; choose one of {', '.join(BACKENDS)}")
    if path not in PATHS:
        raise ValueError(f"unknown conv path {path!r} for {layer}; choose one of {', '.join(PATHS)}")
    return cin, cout, groups, stride


def check_groups(x: torch.Tensor, weight: torch.Tensor, groups: int) -> None:
    """``groups`` 1 (dense) or Cin (depthwise, Cout = Cin) with ``weight`` ``(Cout, Cin // groups, k...)``."""
    cin, cout = x.shape[1], weight.shape[0]
    if weight.shape[1] * groups != cin or not (groups == 1 or groups == cin == cout):
        raise ValueError(f"groups must be 1 (dense) or equal to the channels (depthwise) with weight "
                         f"(Cout, Cin/groups, k...); got groups={groups}, x {tuple(x.shape)}, weight {tuple(weight.shape)}")


def dilated_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, dilation: int = 1,
                 groups: int = 1, backend: str = "auto", stride: int = 1, path: str = "auto") -> torch.Tensor:
    """Dilated convolution with 'same' padding, on the fastest exact path for this shape.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``; float64/float32/bfloat16/float16 (half types run in
            fp32 on the CPU tap paths); ``weight``/``bias`` are cast to ``x.dtype`` outside autocast.
        weight: ``(Cout, Cin // groups, k)`` or ``(Cout, Cin // groups, k, k)``, k odd.
        bias: ``(Cout,)`` or None.
        dilation: int >= 1. groups: 1 (dense) or Cin (depthwise, Cout = Cin). stride: int >= 1. As for
            ``F.conv``, floats (even 2.0) and bools are refused (TypeError), never truncated.
        backend: the tap kernels' backend (:func:`autofast.kernels.conv.tap_conv`); anything but 'auto'
            forces the tap path.
        path: 'auto' (measured, see :mod:`.conv_path`), 'native', 'tap' or 'fft'.
    Returns:
        ``(B, Cout, *ceil(spatial / stride))`` -- equal to ``F.conv{1,2}d(x, weight, bias, stride,
        padding=dilation*(k-1)//2, dilation=dilation, groups=groups)``.
    """
    if x.dim() not in (3, 4) or weight.dim() != x.dim() or (weight.dim() == 4 and weight.shape[2] != weight.shape[3]):
        raise ValueError(f"weight must be (Cout, Cin/groups, k) for 1-D or (Cout, Cin/groups, k, k) for 2-D input; "
                         f"got weight {tuple(weight.shape)} for x {tuple(x.shape)}")
    check_floating("dilated_conv", x=x, weight=weight, bias=bias)  # before the path-timing pass draws random x
    if weight.shape[-1] % 2 == 0:
        raise ValueError(f"kernel size must be odd for 'same' padding, got {weight.shape[-1]}")
    dilation, stride, groups = as_int("dilation", dilation, 1), as_int("stride", stride, 1), as_int("groups", groups)
    check_groups(x, weight, groups)
    weight, bias = match_dtype(x, weight, bias)
    if tap_backend_forced(backend):
        path = "tap"
    candidates = ("native", "tap", "fft") if groups == 1 and not x.is_cuda else ("native", "tap")

    def runner(p: str):
        return synthetic_pass(x, weight, lambda xs, ws: _run(p, xs, ws, None))

    def _run(p: str, x_, w_, b_):
        if p == "native":
            return native_conv(x_, w_, b_, dilation, groups, stride)
        tap_backend = "fft" if p == "fft" else direct_backend(x_, groups, backend)
        return _tap_path(x_, w_, b_, dilation, groups, stride, tap_backend)

    chosen = choose("fixed", x, weight, f"k{weight.shape[-1]}d{dilation}", groups, stride, candidates, runner, path)
    return _run(chosen, x, weight, bias)


class DilatedConv(nn.Module):
    """Module form of :func:`dilated_conv` (``ndim`` 1 or 2); initialised like ``nn.Conv``."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 groups: int = 1, bias: bool = True, backend: str = "auto", device=None, dtype=None,
                 stride: int = 1, path: str = "auto"):
        super().__init__()
        in_channels, out_channels, groups, stride = check_layer_args(
            type(self).__name__, ndim, in_channels, out_channels, groups, stride, backend, path)
        kernel_size, dilation = as_int("kernel_size", kernel_size, 1), as_int("dilation", dilation, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.ndim, self.dilation, self.groups, self.backend = ndim, dilation, groups, backend
        self.stride, self.path = stride, path
        shape = (out_channels, in_channels // groups) + (kernel_size,) * ndim
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(max(1, self.weight[0].numel()))
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.ndim, self.weight.shape[1] * self.groups, type(self).__name__)
        return dilated_conv(x, self.weight, self.bias, self.dilation, self.groups, self.backend, self.stride,
                            self.path)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel_size={self.weight.shape[-1]}, "
                f"dilation={self.dilation}, stride={self.stride}, groups={self.groups}, ndim={self.ndim}")


class DilatedConv1d(DilatedConv):
    def __init__(self, *args, **kwargs):
        super().__init__(1, *args, **kwargs)


class DilatedConv2d(DilatedConv):
    def __init__(self, *args, **kwargs):
        super().__init__(2, *args, **kwargs)
