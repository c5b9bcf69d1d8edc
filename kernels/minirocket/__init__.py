"""The MiniRocket transform's fused conv + PPV kernel (CPU, numba): :mod:`.numba_cpu`.

* :func:`numba_cpu.combination_outputs`: the 84 combinations' outputs at one dilation (to fit biases).
* :func:`numba_cpu.transform`: the PPV features of every series ``(N, C, L) -> (N, F)``.

The float64 torch reference is :func:`autofast.models.rocket.rocket_transform_reference`; the torch path
(any device) and the backend choice live in :mod:`autofast.models.rocket`. Importing this package does not
import numba.
"""
