"""Batched lag-grid AR solver kernels.

Ops (float64 throughout; contracts in :mod:`.reference`, the float64 torch reference):

* ``window_moments(z (C,T), width, start, count) -> (C, W+1, W+1)``
* ``ar_forecast_weights(psi (B,Q), intercept (B,), horizon) -> (B, Q+1, H)``
* ``ar_grid_scores(psi, intercept, S (L+1,L+1), Sxy (L+1,H), syy (H,), count, order, edges) -> (B, H)``
* ``forecast_error_sums(z (C,T), psi (C,Q), intercept (C,), start, count, lookback, horizon) -> (C, 2, H)``
* ``nested_ols(gram (G,K,K), rhs (G,K)) -> coefs (G,K,K), ok (G,)``

Backends: ``numba`` (the CPU default; numpy arrays in and out, torch never imported), ``reference``
(plain torch) and ``triton`` (CUDA tensors, or the CPU under ``TRITON_INTERPRET=1``).
:func:`get_backend` picks one; ``AUTOFAST_AR_BACKEND`` forces it. Importing this package does not
import torch.
"""
from .dispatch import ARBackend, available_backends, cuda_available, get_backend
from .levels import difference_to_levels

__all__ = ["ARBackend", "available_backends", "cuda_available", "get_backend", "difference_to_levels"]
