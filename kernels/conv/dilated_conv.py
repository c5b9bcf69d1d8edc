"""``dilated_conv``: a 1-D/2-D convolution with any odd kernel size and any dilation, 'same' padding,
stride 1, dense or depthwise; forward and backward for input, weight and bias on the tap kernels."""
from __future__ import annotations

import math

import torch
from torch import nn

from .tap_conv import TapPlan, check_tap_args
from .taps import dilated_offsets


class DilatedConvFunction(torch.autograd.Function):
    """``y = conv(x, weight, dilation) + bias`` over the kernel's dilated taps."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation: int, groups: int, backend: str):
        ndim = x.dim() - 2
        offsets = torch.tensor(dilated_offsets(weight.shape[-1], dilation, ndim), dtype=torch.int64).reshape(-1, ndim)
        w = weight.flatten(2)
        check_tap_args(x, w, offsets, groups)
        plan = TapPlan(x, offsets, groups, backend)
        y = plan.forward(x, w)
        if bias is not None:
            y = y + bias.view((1, -1) + (1,) * ndim)
        ctx.save_for_backward(x, w)
        ctx.plan, ctx.wshape, ctx.has_bias = plan, weight.shape, bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = ctx.plan.backward(x, w, g, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        gb = g.sum(dim=[0] + list(range(2, g.dim()))) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, None if gw is None else gw.reshape(ctx.wshape), gb, None, None, None


def dilated_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, dilation: int = 1,
                 groups: int = 1, backend: str = "auto") -> torch.Tensor:
    """Dilated convolution with 'same' padding and stride 1.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``; float32/float64 (fp16/bf16 on CUDA).
        weight: ``(Cout, Cin // groups, k)`` or ``(Cout, Cin // groups, k, k)``, k odd.
        bias: ``(Cout,)`` or None.
        dilation: >= 1. groups: 1 (dense) or Cin (depthwise, Cout = Cin).
        backend: see :func:`autofast.kernels.conv.tap_conv`.
    Returns:
        ``(B, Cout, *spatial)`` -- equal to ``F.conv{1,2}d(x, weight, bias, padding=dilation*(k-1)//2,
        dilation=dilation, groups=groups)``.
    """
    if weight.dim() != x.dim() or (weight.dim() == 4 and weight.shape[2] != weight.shape[3]):
        raise ValueError(f"weight must be (Cout, Cin/groups, k) for 1-D or (Cout, Cin/groups, k, k) for 2-D input; "
                         f"got weight {tuple(weight.shape)} for x {tuple(x.shape)}")
    return DilatedConvFunction.apply(x, weight, bias, int(dilation), int(groups), backend)


class DilatedConv(nn.Module):
    """Module form of :func:`dilated_conv` (``ndim`` 1 or 2); initialised like ``nn.Conv``."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 groups: int = 1, bias: bool = True, backend: str = "auto", device=None, dtype=None):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"ndim must be 1 or 2, got {ndim}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.ndim, self.dilation, self.groups, self.backend = ndim, dilation, groups, backend
        shape = (out_channels, in_channels // groups) + (kernel_size,) * ndim
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(max(1, self.weight[0].numel()))
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dilated_conv(x, self.weight, self.bias, self.dilation, self.groups, self.backend)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel_size={self.weight.shape[-1]}, "
                f"dilation={self.dilation}, groups={self.groups}, ndim={self.ndim}")


class DilatedConv1d(DilatedConv):
    def __init__(self, *args, **kwargs):
        super().__init__(1, *args, **kwargs)


class DilatedConv2d(DilatedConv):
    def __init__(self, *args, **kwargs):
        super().__init__(2, *args, **kwargs)
