"""Kernel ridge regression with a Gaussian (RBF) kernel on the flattened input, the width and the penalty chosen by
exact leave-one-out error: the classical baseline for a few dozen to a few thousand small images.

``k(a, b) = exp(-gamma ||a - b||^2)`` over the flattened (standardised) inputs, ``gamma = g / m`` with ``m`` the
median squared distance between two training examples and ``g`` among :data:`GAMMAS` (``g = 0``: the linear
kernel ``a . b / m``); for each ``g`` one
eigendecomposition of the centred ``N x N`` kernel matrix gives the exact leave-one-out residuals of every penalty
in :data:`ALPHAS` (:func:`autofast.models.ridge.dual_loo`); the pair of least mean squared leave-one-out error is
kept. Classes are fitted as +-1 one-vs-rest targets (as ``RidgeClassifierCV``), values as they are.

Measured (session 37, test accuracy, 3 seeded stratified subsets of the official training split, the official
test split): Fashion-MNIST 100 / 500 / 2 000 training images 0.728 / 0.786 / 0.833 where logistic regression on
the pixels gives 0.718 / 0.772 / 0.804 and scikit-learn's ``SVC()`` 0.694 / 0.755 / 0.810; the search's CNN alone
(default budget, seed 0) 0.658 on the 100. digits, 50 / 100 / 300 / 1 257 training images (stratified, seeds
0-2, the rest as test): 0.859 / 0.923 / 0.973 / 0.989 against ``SVC()`` 0.843 / 0.905 / 0.963 / 0.985 and
logistic regression 0.847 / 0.901 / 0.943 / 0.965.

The fitted model keeps its training inputs (the support, float32) and dual coefficients as tensors: it is data
(:meth:`RBFKernelRidge.state_dict`) and predicts on any device.
"""
from __future__ import annotations

import torch

from .ridge import FeatureInputError, dual_loo

__all__ = ["RBFKernelRidge", "GAMMAS", "ALPHAS", "kernel_matrix", "squared_distances"]

#: kernel widths tried, as multiples of 1 / the median squared distance between two training examples; 0 is the
#: linear kernel ``a . b / m`` (the limit of a wide RBF kernel): a target linear in the pixels (an audit's image
#: regression, 10 x a quadrant's mean) got test RMSE 0.19 at the edge of a grid of 0.5-8 and 1e-6, 0.004 with wider
#: widths, 0.0000 with RidgeCV on the pixels
GAMMAS = (0.0, 1 / 32, 1 / 8, 0.5, 1.0, 2.0, 4.0, 8.0)
#: penalties tried (on the kernel's scale: ``k(x, x) = 1`` for the RBF kernel)
ALPHAS = tuple(torch.logspace(-9, 2, 23, dtype=torch.float64).tolist())
#: above this many training examples the width is chosen on a seeded random subset of this many (one
#: eigendecomposition per width there), then the penalty at that width on all of them (one at full size): the width
#: chosen on 500 and on 2 000 Fashion-MNIST images was the same on 3 seeds of 3
WIDTH_ROWS = 1000
_ROWS = 2048  # query rows per distance block at prediction


def kernel_matrix(a: torch.Tensor, b: torch.Tensor, g: float, scale: float, d2: torch.Tensor | None = None):
    """``k(a, b)`` ``(Na, Nb)`` float64 of width ``g`` over ``scale`` (the median squared distance): the RBF
    kernel ``exp(-g |a - b|^2 / scale)`` (``d2``: the squared distances where already computed), or for ``g`` 0
    the linear kernel ``a . b / scale``."""
    if g == 0:
        return (a.double() @ b.double().T) / scale
    return torch.exp((squared_distances(a, b) if d2 is None else d2) * (-g / scale))


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(Na, F)``, ``(Nb, F)`` -> ``(Na, Nb)`` float64 squared Euclidean distances (one matrix product,
    ``|a|^2 + |b|^2 - 2 a b^T``, clamped at 0): float32 on the CPU, float64 on an accelerator (whose float32
    products may run in TF32, 10-bit mantissas, where the difference cancels)."""
    dtype = torch.float32 if a.device.type == "cpu" else torch.float64
    a, b = a.to(dtype), b.to(dtype)
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * (a @ b.T)
    return d.clamp_(min=0.0).double()


class RBFKernelRidge:
    """RBF kernel ridge on ``x`` ``(N, *S)`` (any shape per example; flattened) -> scores ``(N, K)``.

    ``fit(x, y)``: ``y`` int64 labels ``0..K-1`` ``(N,)`` (+-1 one-vs-rest targets; ``num_classes``: ``K`` where
    a class may be absent from ``y``) or float values ``(N,)`` / ``(N, T)`` (``regression_``; predicted as
    ``(N, T)``, ``T`` 1 for ``(N,)``). ``decision_function(x)`` ``(N, K)`` float32 on ``x``'s device: the ridge
    scores (near +-1 for classes: rank them, calibrate them before reading them as probabilities) or the
    predicted values; ``predict`` their argmax (values: the predictions). Fitted: ``gamma_`` (absolute),
    ``g_`` (its multiple of 1 / the median squared distance), ``alpha_``, ``num_classes`` (values: T),
    ``loo_mse_`` ``(len(gammas), len(alphas))`` (over more than :data:`WIDTH_ROWS` examples: on the subset the
    width was chosen on, ``seed`` drawing it). ``pool`` > 1: images ``(N, C, H, W)`` are read average-pooled
    ``pool x pool`` (in fit and prediction: the support keeps the pooled pixels)."""

    def __init__(self, gammas=GAMMAS, alphas=ALPHAS, num_classes: int | None = None, seed: int = 0,
                 pool: int = 1) -> None:
        self.classes_wanted = num_classes  # the classes' count where some may be absent from y (a fold)
        self.seed = int(seed)
        self.pool = int(pool)
        if self.pool < 1:
            raise FeatureInputError(f"RBF kernel ridge: pool must be a whole number >= 1, got {pool}")
        self.gammas = tuple(float(g) for g in gammas)
        self.alphas = torch.as_tensor(alphas, dtype=torch.float64).flatten()
        if not self.gammas or min(self.gammas) < 0 or self.alphas.numel() == 0 or bool((self.alphas <= 0).any()):
            raise FeatureInputError("RBF kernel ridge: gammas must be a non-empty list of numbers >= 0 (0: linear), "
                                    "alphas of positive numbers")
        self.gamma_ = self.g_ = self.alpha_ = float("nan")
        self.num_classes, self.regression_ = 0, False
        self.loo_mse_: torch.Tensor | None = None
        self._support = self._beta = self._column_mean = self._intercept = None
        self._scale = float("nan")

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "RBFKernelRidge":
        x, y = self._pooled(torch.as_tensor(x)), torch.as_tensor(y)
        if x.dim() < 2 or x.shape[0] != y.shape[0] or x.shape[0] < 3:
            raise FeatureInputError(f"RBF kernel ridge needs x (N, ...) and y (N, ...) with N >= 3; got "
                                    f"{tuple(x.shape)}, {tuple(y.shape)}")
        flat = x.reshape(len(x), -1).float()
        if not bool(torch.isfinite(flat).all()):
            raise FeatureInputError("RBF kernel ridge: the inputs hold NaN or infinite values")
        self.regression_ = y.is_floating_point()
        if self.regression_:
            targets = y.reshape(len(y), -1).double().to(flat.device)
            if not bool(torch.isfinite(targets).all()):
                raise FeatureInputError("RBF kernel ridge: the target values hold NaN or infinite values")
        else:
            if y.dim() != 1 or (y.numel() and int(y.min()) < 0):
                raise FeatureInputError("y must hold integer class labels 0..K-1 (or float values to regress)")
            if torch.unique(y).numel() < 2:
                raise FeatureInputError(f"need at least 2 classes to fit a classifier, got {torch.unique(y).numel()}")
            k = max(int(y.max()) + 1, self.classes_wanted or 0)
            targets = torch.full((len(y), k), -1.0, dtype=torch.float64, device=flat.device)
            targets[torch.arange(len(y), device=flat.device), y.to(flat.device)] = 1.0
        n = len(flat)
        d2 = squared_distances(flat, flat)
        off = d2.masked_select(torch.ones(n, n, dtype=torch.bool, device=d2.device).triu_(1))  # each pair once
        positive = off[off > 0]
        scale = float(positive.median()) if positive.numel() else 1.0  # every input equal: any width
        gammas, subset = self.gammas, n > WIDTH_ROWS and len(self.gammas) > 1
        if subset:  # the width on a subset, the penalty on all
            rows = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[:WIDTH_ROWS].to(d2.device)
            best, self.loo_mse_ = self._grid(d2[rows][:, rows], targets[rows], scale, gammas, flat[rows])
            gammas = (best[1],)
        best, losses = self._grid(d2, targets, scale, gammas, flat)
        _, self.g_, self.alpha_, self._beta, self._column_mean = best
        if not subset:
            self.loo_mse_ = losses
        self.gamma_ = self.g_ / scale
        self._scale = scale
        self._support, self._intercept = flat, targets.mean(0)
        self.num_classes = targets.shape[1]
        return self

    def _grid(self, d2: torch.Tensor, targets: torch.Tensor, scale: float, gammas: tuple, flat: torch.Tensor) -> tuple:
        """``((least LOO MSE, g, alpha, beta, column means of the kernel), every LOO MSE (len(gammas), A))`` over
        ``gammas`` x the penalties, from the inputs ``flat`` ``(n, F)``, their squared distances ``d2`` ``(n, n)``
        and the targets ``(n, K)``."""
        yc = targets - targets.mean(0)
        best, losses = None, []
        for g in gammas:
            k = kernel_matrix(flat, flat, g, scale, d2)
            column_mean = k.mean(0)
            kc = k - column_mean - column_mean.unsqueeze(1) + column_mean.mean()  # C K C (K symmetric)
            beta, alpha, loo, _ = dual_loo(kc, yc, self.alphas)
            losses.append(loo)
            if best is None or float(loo.min()) < best[0]:
                best = (float(loo.min()), g, alpha, beta, column_mean)
        return best, torch.stack(losses)

    def decision_function(self, x: torch.Tensor) -> torch.Tensor:
        if self._beta is None:
            raise FeatureInputError("RBF kernel ridge: fit the model before predicting")
        x = torch.as_tensor(x)
        flat = self._pooled(x)
        flat = flat.reshape(len(x), -1 if len(x) else self._support.shape[1]).to(self._support.device)
        if flat.shape[1] != self._support.shape[1]:
            raise FeatureInputError(f"RBF kernel ridge: {flat.shape[1]} input values per example; the model was "
                                    f"fitted on {self._support.shape[1]}")
        out = [(kernel_matrix(flat[i:i + _ROWS], self._support, self.g_, self._scale) - self._column_mean)
               @ self._beta + self._intercept for i in range(0, len(flat), _ROWS)]
        scores = torch.cat(out) if out else torch.zeros(0, self.num_classes, dtype=torch.float64)
        return scores.float().to(x.device)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` average-pooled ``pool x pool`` (trailing rows and columns that fill no window
        dropped); other inputs, or ``pool`` 1, as they are."""
        if self.pool == 1 or x.dim() != 4 or len(x) == 0:
            return x
        if min(x.shape[2:]) < self.pool:
            raise FeatureInputError(f"RBF kernel ridge: images of {x.shape[2]} x {x.shape[3]} pixels cannot be "
                                    f"pooled {self.pool} x {self.pool}")
        return torch.nn.functional.avg_pool2d(x.float(), self.pool)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.decision_function(x)
        return scores if self.regression_ else scores.argmax(1)

    def state_dict(self) -> dict:
        """Tensors ``support`` ``(N, F)`` float32, ``beta`` ``(N, K)``, ``column_mean`` ``(N,)``, ``intercept``
        ``(K,)`` float64 (CPU), and the numbers ``gamma``, ``g`` (0: the linear kernel), ``scale`` (the median
        squared distance ``m``), ``alpha``, ``pool``, ``regression``."""
        return {"support": self._support.cpu(), "beta": self._beta.cpu(), "column_mean": self._column_mean.cpu(),
                "intercept": self._intercept.cpu(), "gamma": self.gamma_, "g": self.g_, "scale": self._scale,
                "alpha": self.alpha_, "pool": self.pool,
                "regression": self.regression_}

    @classmethod
    def from_state_dict(cls, state: dict) -> "RBFKernelRidge":
        """The fitted model back from :meth:`state_dict` (shapes checked: a ValueError names the mismatch)."""
        support, beta = state["support"].float(), state["beta"].double()
        column_mean, intercept = state["column_mean"].double(), state["intercept"].double()
        n, k = beta.shape if beta.dim() == 2 else (-1, -1)
        if support.dim() != 2 or len(support) != n or column_mean.shape != (n,) or intercept.shape != (k,):
            raise ValueError(f"support {tuple(support.shape)}, beta {tuple(beta.shape)}, column_mean "
                             f"{tuple(column_mean.shape)} and intercept {tuple(intercept.shape)} do not fit together")
        model = cls(pool=int(state.get("pool", 1)))
        model._support, model._beta, model._column_mean, model._intercept = support, beta, column_mean, intercept
        model.gamma_, model.g_, model.alpha_ = float(state["gamma"]), float(state["g"]), float(state["alpha"])
        model._scale = float(state["scale"])
        model.regression_, model.num_classes = bool(state["regression"]), k
        return model
