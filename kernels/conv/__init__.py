"""Fused dilated large-kernel and DASH mixed convolutions (1-D and 2-D, dense and depthwise).

Public API:

* :func:`dilated_conv`, :class:`DilatedConv1d`, :class:`DilatedConv2d`
* :func:`mixed_dilated_conv`, :class:`MixedDilatedConv`
* :func:`tap_conv` (the shared primitive: a convolution over an explicit offset set), :func:`tap_union`
* the registered ops ``torch.ops.autofast.tap_conv`` / ``tap_conv_wgrad`` (host backends) and
  ``tap_conv_triton`` / ``tap_conv_wgrad_triton`` (Triton): fake implementations, autograd, autocast;
  ``torch.compile(fullgraph=True)``, ``torch.export`` and ``FakeTensorMode`` work through every conv

Every conv runs on the fastest exact path for its shape (:mod:`.conv_path`: torch's native conv, the
tap kernels, or their FFT backend; measured once per shape and cached on disk; ``AUTOFAST_CONV_PATH``
forces one; :func:`path_summary` lists what ran). Tap backends: Triton on CUDA, C++/OpenMP on the CPU
(depthwise), torch per-tap shifts or FFT otherwise; the reference is F.conv with the dense aggregated
kernel (:mod:`.reference`).
"""
from .dilated_conv import DilatedConv, DilatedConv1d, DilatedConv2d, dilated_conv, native_conv
from .conv_path import path_choices, path_summary
from .mixed_dilated_conv import MixedDilatedConv, aggregate_taps, mixed_dilated_conv, union_conv
from .tap_conv import resolve_backend, tap_conv
from .taps import dilated_offsets, tap_union

__all__ = [
    "DilatedConv", "DilatedConv1d", "DilatedConv2d", "dilated_conv", "native_conv",
    "MixedDilatedConv", "aggregate_taps", "mixed_dilated_conv", "union_conv", "path_choices", "path_summary",
    "resolve_backend", "tap_conv", "dilated_offsets", "tap_union",
]
