"""WideResNet WRN-d-k (Zagoruyko & Komodakis), the DASH image backbone, built from a conv factory.

Standard layout: a 3x3 stem conv (in -> 16), then 3 groups of ``n = (d - 4) / 6`` pre-activation basic
blocks with widths ``16k, 32k, 64k`` (stride 2 at the first block of groups 2 and 3), then
BN-ReLU, global average pool and a linear head. A block is
``BN-ReLU -> conv3x3(stride) -> BN-ReLU -> dropout -> conv3x3`` plus a shortcut that is the identity,
or a 1x1 conv (with the block's stride) on the pre-activated input when the shape changes.

Searchable (in forward order): the stem, then conv1 and conv2 of every block: ``1 + 6n = d - 3``
layers (WRN-16: 13, WRN-22: 19). 2-D by default; ``ndim=1`` gives the same network over sequences.
Works for any input size (8x8 digits -> 8, 4, 2; 32x32 -> 32, 16, 8); odd sizes give ``ceil(S / 2)``.

``widen`` may be fractional (e.g. 0.5): group widths are ``round(16 * widen)`` etc. -- this is how
:func:`autofast.models.build_backbone` maps ``width`` (the first group's width) to ``widen = width / 16``.
"""
from __future__ import annotations

import torch
from torch import nn

from .dropout import Dropout
from .layers import ConvFactory, SearchableBuilder, SearchableMixin, batchnorm_nd, conv_nd


class PreActBlock(nn.Module):
    def __init__(self, make: SearchableBuilder, in_ch: int, out_ch: int, stride: int, dropout: float, ndim: int):
        super().__init__()
        BN = batchnorm_nd(ndim)
        self.bn1 = BN(in_ch)
        self.conv1 = make(in_ch, out_ch, stride)
        self.bn2 = BN(out_ch)
        self.dropout = Dropout(dropout)
        self.conv2 = make(out_ch, out_ch, 1)
        self.equal = in_ch == out_ch and stride == 1
        self.shortcut = None if self.equal else conv_nd(ndim)(in_ch, out_ch, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        y = self.conv2(self.dropout(torch.relu(self.bn2(self.conv1(o)))))
        return y + (x if self.equal else self.shortcut(o))


class WideResNet(SearchableMixin, nn.Module):
    """WRN-``depth``-``widen`` (see the module docstring).

    Args:
        depth: ``6n + 4`` (16, 22, 28, ...).  widen: widening factor k (may be fractional).
        in_channels, num_classes: input channels and classes.
        factory: ConvFactory for the searchable convs (None: plain 3x3 convs).
        dropout: inside each block, between the two convs (as in WRN).
        ndim: 2 (images, default) or 1.
    """

    def __init__(self, depth: int = 16, widen: float = 4, in_channels: int = 3, num_classes: int = 10,
                 factory: ConvFactory | None = None, dropout: float = 0.0, ndim: int = 2):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
        if widen <= 0:
            raise ValueError(f"widen must be > 0, got {widen}")
        n = (depth - 4) // 6
        self.depth, self.widen, self.ndim = depth, widen, ndim
        self.widths = [16] + [max(1, int(round(c * widen))) for c in (16, 32, 64)]
        make = SearchableBuilder(factory, ndim)
        self.stem = make(in_channels, self.widths[0], 1)
        groups = []
        for g in range(3):
            blocks = [PreActBlock(make, self.widths[g] if i == 0 else self.widths[g + 1], self.widths[g + 1],
                                  (1 if g == 0 else 2) if i == 0 else 1, dropout, ndim) for i in range(n)]
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        self.bn = batchnorm_nd(ndim)(self.widths[3])
        self.head = nn.Linear(self.widths[3], num_classes)
        self._finish_searchable(make)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(N, 64 * widen)``."""
        y = torch.relu(self.bn(self.groups(self.stem(x))))
        return y.flatten(2).mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.ndim + 2:
            raise ValueError(f"WideResNet(ndim={self.ndim}) expects {self.ndim + 2}-D input, got shape "
                             f"{tuple(x.shape)}")
        return self.head(self.features(x))
