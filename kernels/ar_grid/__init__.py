"""Batched lag-grid AR solver kernels.

Ops (float64 throughout; contracts in :mod:`.reference`):

* ``window_moments(z (C,T), width, start, count) -> (C, W+1, W+1)``
* ``ar_forecast_weights(psi (B,Q), intercept (B,), horizon) -> (B, Q+1, H)``
* ``ar_grid_scores(psi, intercept, S (L+1,L+1), Sxy (L+1,H), syy (H,), count) -> (B, H)``
* ``nested_ols(gram (G,K,K), rhs (G,K)) -> coefs (G,K,K), ok (G,)`` (torch.linalg everywhere)

Backends: ``reference`` (plain torch), ``numba`` (CPU default), ``triton`` (CUDA tensors, or the
CPU under ``TRITON_INTERPRET=1``). :func:`get_backend` picks one; ``AUTOFAST_AR_BACKEND`` forces it.
"""
from .dispatch import ARBackend, available_backends, get_backend
from .reference import difference_to_levels, nested_ols

__all__ = ["ARBackend", "available_backends", "get_backend", "difference_to_levels", "nested_ols"]
