"""UNet (1-D or 2-D) for dense prediction, built from a conv factory.

Layout with channels ``c_l = width * 2**l``::

    encoder level 0:       conv(in -> c_0) BN ReLU, conv(c_0 -> c_0) BN ReLU            -> skip_0
    encoder level l>=1:    maxpool 2 (ceil mode), conv(c_{l-1} -> c_l) BN ReLU, conv(c_l -> c_l) BN ReLU
    decoder level l = depth-1 .. 0:
        upsample (nearest, or (bi)linear) to skip_l's exact size, conv(c_{l+1} -> c_l) BN ReLU,
        concat with skip_l, conv(2 c_l -> c_l) BN ReLU, conv(c_l -> c_l) BN ReLU
    head: dropout, 1x1 conv(c_0 -> out_channels)

Odd lengths: max-pool runs in ceil mode (``ceil(S / 2)``) and the decoder interpolates to the skip's
exact size, so any input size (>= 1) gives outputs of the input's spatial size -- no padding or
cropping needed. Searchable (all k > 1 convs, forward order): ``2 (depth + 1) + 3 depth`` = 17 for
``depth=3``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import Dropout
from .layers import ChannelCat, ConvFactory, SearchableBuilder, SearchableMixin, batchnorm_nd, conv_nd


def _conv_bn_relu(make: SearchableBuilder, in_ch: int, out_ch: int, ndim: int) -> list[nn.Module]:
    return [make(in_ch, out_ch, 1), batchnorm_nd(ndim)(out_ch), nn.ReLU(inplace=True)]


class UpBlock(nn.Module):
    def __init__(self, make: SearchableBuilder, in_ch: int, out_ch: int, ndim: int, mode: str):
        super().__init__()
        self.mode = mode
        self.up = nn.Sequential(*_conv_bn_relu(make, in_ch, out_ch, ndim))
        self.cat = ChannelCat()
        self.body = nn.Sequential(*_conv_bn_relu(make, 2 * out_ch, out_ch, ndim), *_conv_bn_relu(make, out_ch, out_ch, ndim))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        size = skip.shape[2:]
        if self.mode == "nearest":
            x = F.interpolate(x, size=size, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="linear" if x.dim() == 3 else "bilinear", align_corners=False)
        return self.body(self.cat(self.up(x), skip))


class UNet(SearchableMixin, nn.Module):
    """UNet (see the module docstring). ``forward(x)``: ``(N, in, *S) -> (N, out_channels, *S)``.

    Args:
        ndim: 1 or 2.  in_channels, out_channels: input channels and output channels per position.
        width: channels of level 0 (doubling per level).  depth: number of down/up-sampling steps.
        factory: ConvFactory for the searchable convs (None: plain 3-wide convs).
        upsample: ``"nearest"`` or ``"linear"`` (bilinear in 2-D).  dropout: before the head.
    """

    def __init__(self, ndim: int, in_channels: int, out_channels: int, width: int = 16, depth: int = 3,
                 factory: ConvFactory | None = None, upsample: Literal["nearest", "linear"] = "nearest",
                 dropout: float = 0.0):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"ndim must be 1 or 2, got {ndim}")
        if depth < 0 or width < 1:
            raise ValueError(f"need depth >= 0 and width >= 1, got depth={depth}, width={width}")
        if upsample not in ("nearest", "linear"):
            raise ValueError(f"upsample must be 'nearest' or 'linear', got {upsample!r}")
        self.ndim, self.depth = ndim, depth
        chans = [width * 2**l for l in range(depth + 1)]
        self.widths = chans
        make = SearchableBuilder(factory, ndim)
        pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[ndim]
        self.encoders = nn.ModuleList()
        for l in range(depth + 1):
            layers = [] if l == 0 else [pool(2, ceil_mode=True)]
            layers += _conv_bn_relu(make, in_channels if l == 0 else chans[l - 1], chans[l], ndim)
            layers += _conv_bn_relu(make, chans[l], chans[l], ndim)
            self.encoders.append(nn.Sequential(*layers))
        self.decoders = nn.ModuleList(UpBlock(make, chans[l + 1], chans[l], ndim, upsample)
                                      for l in reversed(range(depth)))
        self.dropout = Dropout(dropout)
        self.head = conv_nd(ndim)(chans[0], out_channels, 1)
        self._finish_searchable(make)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.ndim + 2:
            raise ValueError(f"UNet(ndim={self.ndim}) expects {self.ndim + 2}-D input, got shape {tuple(x.shape)}")
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        for dec in self.decoders:
            x = dec(x, skips.pop())
        return self.head(self.dropout(x))
