"""autofast: compiled-kernel accelerated AutoML baselines (Auto-AR forecasting, DASH, ASHA, AutoFT).

Kept import-light: ``import autofast.kernels`` must need only torch (and triton/numba where used).
"""
__version__ = "0.1.0"
