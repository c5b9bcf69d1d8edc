"""Ridge regression with exact leave-one-out penalty selection, and the classifier every random-feature family
shares: features (a fitted transform) -> scaling -> ridge on +-1 one-vs-rest targets.

:func:`ridge_gcv` is scikit-learn's ``RidgeCV`` with its efficient leave-one-out (one eigendecomposition of the
smaller of ``x x^T``, ``x^T x``, float64); :class:`RidgeFeatureClassifier` is ``RidgeClassifierCV`` behind a
transform (:class:`autofast.models.rocket.RocketClassifier`: MiniRocket features, standardised;
:class:`autofast.models.hydra.HydraClassifier`: Hydra counts, square-rooted and sparsely scaled).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from autofast.errors import AutofastError

__all__ = ["RidgeFit", "ridge_gcv", "dual_loo", "ridge_loo_residuals", "RidgeFeatureClassifier", "FeatureInputError",
           "DEFAULT_ALPHAS", "REGRESSION_ALPHAS"]

DEFAULT_ALPHAS = tuple(torch.logspace(-3, 3, 10, dtype=torch.float64).tolist())
#: a regressor's default penalties: 3 decades more than a classifier's, so that leave-one-out can shrink the fit
#: to the mean where the targets are mostly noise (the classifier grid's top, 1e3, was chosen on each of the
#: series-regression sets of the quality panel; CardanoSentiment test RMSE with MiniRocket's features
#: 0.319 -> 0.302, 3 draws, beside 0.300 for the training mean)
REGRESSION_ALPHAS = tuple(torch.logspace(-3, 6, 19, dtype=torch.float64).tolist())


class FeatureInputError(AutofastError, ValueError):
    """Bad input to a random-feature transform or its ridge classifier (shape, length, labels)."""


# ----------------------------------------------------------------------------------------------------------------
# ridge regression with leave-one-out alpha selection


@dataclass
class RidgeFit:
    """A fitted ridge: ``coef`` ``(F, K)`` and ``intercept`` ``(K,)`` float64, the chosen ``alpha``, and the
    mean squared leave-one-out error of every candidate alpha ``loo_mse`` ``(A,)``."""
    coef: torch.Tensor
    intercept: torch.Tensor
    alpha: float
    loo_mse: torch.Tensor


def dual_loo(kmat: torch.Tensor, yc: torch.Tensor, alphas: torch.Tensor, keep_residuals: bool = False):
    """Kernel ridge with an unpenalised intercept from a CENTRED Gram matrix ``kmat`` ``(N, N)`` (rows and columns
    summing to 0: ``xc xc^T``, or any kernel's ``C K C`` with ``C = I - 1 1^T / N``) and centred targets ``yc``
    ``(N, K)``, float64: for each alpha the exact leave-one-out residuals, then the dual coefficients at the alpha
    of least mean squared LOO error (the first on ties).

    The Gram matrix is restricted to the complement of the constant vector (a Householder reflection maps
    ``1/sqrt(N)`` to ``e_1``; dropping that row and column removes the intercept's direction exactly, instead of
    guessing which near-zero eigenvector it is). With its eigenpairs ``(lam, Q)``, ``G = Q diag(1 / (lam +
    alpha)) Q^T``, the coefficients ``G yc`` and the LOO residual ``(G yc)_i / G_ii``. The coefficients sum to 0
    over the examples, so a prediction ``sum_i beta_i k(x, x_i)`` needs the kernel uncentred in ``x`` only.

    Returns ``(beta (N, K), alpha, loo_mse (A,), residuals (A, N, K) or None)``."""
    n = kmat.shape[0]
    v = torch.full((n,), 1.0 / math.sqrt(n), dtype=kmat.dtype, device=kmat.device)
    v[0] -= 1.0  # Householder vector: H = I - 2 v v^T / (v^T v) maps e_1 <-> 1/sqrt(n)
    scale = 2.0 / float(v @ v)
    kv = kmat @ v
    hkh = kmat - scale * (torch.outer(v, kv) + torch.outer(kv, v)) + scale * scale * float(v @ kv) * torch.outer(v, v)
    lam, qs = torch.linalg.eigh(hkh[1:, 1:])
    q = torch.cat([torch.zeros(1, n - 1, dtype=kmat.dtype, device=kmat.device), qs]) - scale * torch.outer(v, v[1:] @ qs)
    lam = lam.clamp(min=0.0)
    qty, q2 = q.T @ yc, q * q
    mse, residuals = [], []
    for a in alphas.tolist():
        w = 1.0 / (lam + a)
        r = (q @ (w.unsqueeze(1) * qty)) / (q2 @ w).unsqueeze(1)
        mse.append(float((r * r).mean()))
        if keep_residuals:
            residuals.append(r)
    best = min(range(len(mse)), key=mse.__getitem__)
    w = 1.0 / (lam + float(alphas[best]))
    return (q @ (w.unsqueeze(1) * qty), float(alphas[best]), torch.tensor(mse, dtype=torch.float64),
            torch.stack(residuals) if keep_residuals else None)


def _ridge_centered(xc: torch.Tensor, yc: torch.Tensor, alphas: torch.Tensor, keep_residuals: bool = False):
    """Ridge with an unpenalised intercept on column-centred ``xc`` ``(N, F)`` and ``yc`` ``(N, K)`` (float64):
    for each alpha the exact leave-one-out residuals ``y_i - yhat_{-i}`` in closed form, then the
    coefficients at the alpha of least mean squared LOO error (the first on ties).

    Returns ``(coef (F, K), alpha, loo_mse (A,), residuals (A, N, K) or None)``.

    * N < F (the dual): :func:`dual_loo` of the kernel ``xc xc^T``, ``coef = xc^T beta``.
    * N >= F (the primal): ``xc^T xc = V diag(lam) V^T``, ``P = xc V``; hat ``h_i = 1/N + sum_j
      P_ij^2 / (lam_j + alpha)``, residual ``r = yc - P diag(1 / (lam + alpha)) P^T yc``, LOO ``r_i / (1 - h_i)``.
    """
    n, f = xc.shape
    if n < f:
        beta, alpha, loo, res = dual_loo(xc @ xc.T, yc, alphas, keep_residuals)
        return xc.T @ beta, alpha, loo, res
    lam, vecs = torch.linalg.eigh(xc.T @ xc)
    lam = lam.clamp(min=0.0)
    p = xc @ vecs
    pty, p2 = p.T @ yc, p * p
    mse, residuals = [], []
    for a in alphas.tolist():
        w = 1.0 / (lam + a)
        r = (yc - p @ (w.unsqueeze(1) * pty)) / (1.0 - 1.0 / n - p2 @ w).unsqueeze(1)
        mse.append(float((r * r).mean()))
        if keep_residuals:
            residuals.append(r)
    best = min(range(len(mse)), key=mse.__getitem__)
    w = 1.0 / (lam + float(alphas[best]))
    coef = vecs @ (w.unsqueeze(1) * pty)
    loo = torch.tensor(mse, dtype=torch.float64)
    return coef, float(alphas[best]), loo, (torch.stack(residuals) if keep_residuals else None)


def _ridge_inputs(x, y, alphas):
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64, device=x.device)
    if y.dim() == 1:
        y = y.unsqueeze(1)
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise FeatureInputError(f"ridge needs x (N, F) and y (N,) or (N, K) with N >= 2; got {tuple(x.shape)}, "
                               f"{tuple(y.shape)}")
    a = torch.as_tensor(DEFAULT_ALPHAS if alphas is None else alphas, dtype=torch.float64).flatten()
    if a.numel() == 0 or bool((a <= 0).any()):
        raise FeatureInputError("alphas must be a non-empty list of positive numbers")
    return x, y, a


def ridge_gcv(x: torch.Tensor, y: torch.Tensor, alphas=None) -> RidgeFit:
    """Ridge regression of ``y`` ``(N, K)`` (or ``(N,)``) on ``x`` ``(N, F)`` in float64 with an
    unpenalised intercept, alpha chosen among ``alphas`` (default ``logspace(-3, 3, 10)``) by exact
    leave-one-out mean squared error (averaged over examples and targets), as ``RidgeCV``/``RidgeClassifierCV``
    with their default efficient LOO. One eigendecomposition of the smaller of ``x x^T``, ``x^T x``."""
    x, y, a = _ridge_inputs(x, y, alphas)
    xm, ym = x.mean(0), y.mean(0)
    coef, alpha, loo, _ = _ridge_centered(x - xm, y - ym, a)
    return RidgeFit(coef, ym - xm @ coef, alpha, loo)


def ridge_loo_residuals(x: torch.Tensor, y: torch.Tensor, alphas=None) -> torch.Tensor:
    """The closed-form leave-one-out residuals ``y_i - yhat_{-i}`` of :func:`ridge_gcv`: ``(A, N, K)`` float64."""
    x, y, a = _ridge_inputs(x, y, alphas)
    return _ridge_centered(x - x.mean(0), y - y.mean(0), a, keep_residuals=True)[3]


# ----------------------------------------------------------------------------------------------------------------
# the classifier


class RidgeFeatureClassifier:
    """A fitted feature ``transform`` (``fit_transform``, ``transform``, ``state_dict``; ``(N, C, L)`` ->
    ``(N, F)``) -> per-feature scaling fitted on the training features (float64) -> ridge regression on +-1
    one-vs-rest targets with an unpenalised intercept, alpha among ``alphas`` (default ``logspace(-3, 3, 10)``;
    a regressor's :data:`REGRESSION_ALPHAS`) by exact leave-one-out squared error.

    ``fit(x (N, C, L) float32, y (N,) int64 labels 0..K-1)``; ``decision_function`` gives ``(N, K)``
    float32 ridge scores, ``predict`` their argmax, ``predict_proba`` their softmax (a calibration-free
    proxy: the ridge scores are regression outputs near +-1, not log-odds; use it for ranking/ensembling,
    not as calibrated probabilities). Fitted: ``alpha_``, ``num_classes``, ``loo_mse_`` (per alpha).
    With float targets ``y`` ``(N,)`` or ``(N, T)`` it is the same pipeline as a regressor (``regression_``;
    ``num_classes`` = T): the ridge fits the values themselves, ``decision_function`` and ``predict`` give
    ``(N, T)`` float32 predictions, ``score`` the coefficient of determination R^2.
    Works on the device of ``x`` (features float32, ridge float64). Subclasses name their ``transform_type``
    and may override the scaling (:meth:`_fit_scaling`, :meth:`_scaled`).
    """

    transform_type: type = type(None)  # the transform class, rebuilt by from_state_dict

    def __init__(self, transform, alphas=None):
        self.transform = transform
        self._default_alphas = alphas is None  # a regressor's default grid is REGRESSION_ALPHAS (fit)
        self.alphas = torch.as_tensor(DEFAULT_ALPHAS if alphas is None else alphas, dtype=torch.float64).flatten()
        if self.alphas.numel() == 0 or not bool((self.alphas > 0).all()):
            raise FeatureInputError("alphas must be a non-empty list of positive numbers")
        self.alpha_: float = float("nan")
        self.num_classes: int = 0
        self.regression_ = False
        self.loo_mse_: torch.Tensor | None = None
        self._mean = self._std = self._coef = self._intercept = None

    def _fit_scaling(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` ``(F,)`` of the training features ``(N, F)`` float64: StandardScaler's (constant
        features: scale 1)."""
        var, mean = torch.var_mean(feats, dim=0, correction=0)
        std = var.sqrt()
        return mean, torch.where(std > 1e-12, std, torch.ones_like(std))

    def _scaled(self, feats: torch.Tensor) -> torch.Tensor:
        """The features ``(N, F)`` float64 as the ridge reads them (in place where it can)."""
        return feats.sub_(self._mean).div_(self._std)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "RidgeFeatureClassifier":
        x = torch.as_tensor(x)
        if x.dim() != 3:
            raise FeatureInputError(f"x must be 3-D (examples, channels, length), got shape {tuple(x.shape)}")
        y = torch.as_tensor(y)
        self.regression_ = y.is_floating_point()
        if y.dim() not in ((1, 2) if self.regression_ else (1,)) or y.shape[0] != x.shape[0]:
            raise FeatureInputError(f"y must be 1-D with one label per example (values: (N,) or (N, T)): x has "
                                    f"{x.shape[0]} example(s), y has shape {tuple(y.shape)}")
        if self.regression_:
            if x.shape[0] < 2 or not bool(torch.isfinite(y).all()):
                raise FeatureInputError("regression needs at least 2 examples and finite target values")
        elif y.dtype == torch.bool or (y.numel() and int(y.min()) < 0):
            raise FeatureInputError("y must hold integer class labels 0..K-1 (or float values to regress)")
        elif y.numel() == 0 or torch.unique(y).numel() < 2:
            raise FeatureInputError(f"need at least 2 classes to fit a classifier, got {torch.unique(y).numel()}")
        feats = self.transform.fit_transform(x).double()  # (N, F)
        self._mean, self._std = self._fit_scaling(feats)
        feats = self._scaled(feats)
        if self.regression_:
            if self._default_alphas:
                self.alphas = torch.tensor(REGRESSION_ALPHAS, dtype=torch.float64)
            targets = y.to(device=feats.device, dtype=torch.float64).reshape(len(y), -1)
            self.num_classes = int(targets.shape[1])
        else:
            self.num_classes = int(y.max()) + 1
            targets = torch.full((len(y), self.num_classes), -1.0, dtype=torch.float64, device=feats.device)
            targets[torch.arange(len(y), device=feats.device), y.to(feats.device)] = 1.0
        ym, xm = targets.mean(0), feats.mean(0)  # xm ~0 where the scaling centres the features
        coef, self.alpha_, self.loo_mse_, _ = _ridge_centered(feats.sub_(xm), targets - ym, self.alphas)
        self._coef, self._intercept = coef, ym - xm @ coef
        return self

    def _check(self) -> None:
        if self._coef is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(x, y) first")

    def decision_function(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, L)`` -> ``(N, K)`` float32 ridge scores (one-vs-rest; higher = more likely); a regressor's
        predictions ``(N, T)``."""
        self._check()
        feats = self.transform.transform(x).double().to(self._coef.device)
        return (self._scaled(feats) @ self._coef + self._intercept).float()

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` float32 softmax of the ridge scores: a calibration-free proxy, not calibrated probabilities."""
        if self.regression_:
            raise FeatureInputError("this model regresses values; use predict")
        return torch.softmax(self.decision_function(x), dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` int64 predicted labels; a regressor's ``(N, T)`` float32 predictions."""
        out = self.decision_function(x)
        return out if self.regression_ else out.argmax(1)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of :meth:`predict` on ``(x, y)``; a regressor's R^2 (over every target value)."""
        y = torch.as_tensor(y)
        pred = self.predict(x)
        if self.regression_:
            y = y.reshape(pred.shape).double().cpu()
            return float(1 - (pred.double().cpu() - y).square().sum() / (y - y.mean(0)).square().sum().clamp_min(1e-300))
        if y.shape != pred.shape:
            raise FeatureInputError(f"y must have shape {tuple(pred.shape)}, got {tuple(y.shape)}")
        return float((pred.cpu() == y.cpu()).double().mean())

    def state_dict(self) -> dict[str, torch.Tensor | int | float]:
        """Everything needed to predict, as CPU tensors and plain numbers (``torch.load(weights_only=True)``)."""
        self._check()
        state = {f"transform.{k}": v for k, v in self.transform.state_dict().items()}
        return state | {"mean": self._mean.cpu(), "std": self._std.cpu(), "coef": self._coef.cpu(),
                        "intercept": self._intercept.cpu(), "alpha": float(self.alpha_), "alphas": self.alphas.cpu(),
                        "loo_mse": self.loo_mse_.cpu(), "num_classes": int(self.num_classes),
                        "regression": int(self.regression_)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "RidgeFeatureClassifier":
        """The classifier :meth:`state_dict` describes."""
        tstate = {k[len("transform."):]: v for k, v in state.items() if k.startswith("transform.")}
        clf = cls.__new__(cls)
        RidgeFeatureClassifier.__init__(clf, cls.transform_type.from_state_dict(tstate),
                                        state["alphas"])
        clf._mean, clf._std = torch.as_tensor(state["mean"]), torch.as_tensor(state["std"])
        clf._coef, clf._intercept = torch.as_tensor(state["coef"]), torch.as_tensor(state["intercept"])
        clf.alpha_, clf.num_classes = float(state["alpha"]), int(state["num_classes"])
        clf.regression_ = bool(state.get("regression", 0))
        clf.loo_mse_ = torch.as_tensor(state["loo_mse"])
        return clf
