"""DASH backbones built from conv factories: one class gives a fixed-pattern network
(:func:`fixed_factory`) or a DASH supernet (``autofast.dash.supernet.MixedFactory``).

Searchable convs (kernel > 1), per backbone: ResNet1D ``1 + blocks * convs_per_block`` (10),
WRN-d ``d - 3`` (WRN-16: 13, WRN-22: 19), UNet ``5 depth + 2`` (17). Each backbone exposes
``num_searchable``, ``searchable_shapes`` (``(in, out, stride)`` per index) and ``searchable_modules()``.
"""
from __future__ import annotations

from torch import nn

from .layers import ConvFactory, FixedFactory, fixed_factory
from .resnet1d import ResNet1D
from .unet import UNet
from .wrn import WideResNet

BACKBONES = ("resnet1d", "wrn16", "wrn22", "unet")
#: the DASH backbone per data kind (``SupervisedData.kind``)
DEFAULT_BACKBONE = {"dna": "resnet1d", "series": "resnet1d", "image": "wrn16", "dense": "unet", "timeseries": "wrn16"}


def default_backbone(kind: str) -> str:
    """The backbone ``auto`` picks for a data kind: ResNet1D for DNA and series, WRN-16 for images (any
    band count), UNet for dense prediction, the 1-D WRN-16 for forecasting windows ("timeseries")."""
    if kind not in DEFAULT_BACKBONE:
        raise ValueError(f"no default backbone for data kind {kind!r}; choose one of {', '.join(BACKBONES)}")
    return DEFAULT_BACKBONE[kind]


def build_backbone(name: str, ndim: int, in_channels: int, num_classes: int, width: int,
                   factory: ConvFactory | None = None, positional: bool = False, **kw) -> nn.Module:
    """Build a backbone by name.

    * ``"resnet1d"`` (ndim 1): :class:`ResNet1D` with ``width`` (blocks: width, 2w, 2w).
    * ``"wrn16"`` / ``"wrn22"``: :class:`WideResNet` of that depth with ``widen = width / 16``
      (``width`` is the first group's width; 64 gives WRN-d-4), 2-D (or 1-D if ``ndim=1``).
    * ``"unet"``: :class:`UNet` with ``num_classes`` output channels per position.

    ``positional`` appends a position channel to the input (resnet1d only); ``kw`` goes to the
    constructor (e.g. ``dropout``).
    """
    if positional and name != "resnet1d":
        raise ValueError(f"a position channel is for the resnet1d backbone, not {name!r}")
    if name == "resnet1d":
        if ndim != 1:
            raise ValueError(f"backbone 'resnet1d' is 1-D but the data is {ndim}-D; use 'wrn16' or 'wrn22'")
        return ResNet1D(in_channels, num_classes, width=width, factory=factory, positional=positional, **kw)
    if name in ("wrn16", "wrn22"):
        return WideResNet(int(name[3:]), width / 16, in_channels, num_classes, factory=factory, ndim=ndim, **kw)
    if name == "unet":
        return UNet(ndim, in_channels, num_classes, width=width, factory=factory, **kw)
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "default_backbone", "ConvFactory", "FixedFactory", "ResNet1D", "UNet", "WideResNet",
           "build_backbone", "fixed_factory"]
