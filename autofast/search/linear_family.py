"""The linear family for forecasting windows and dense fields: ridge regression from the flattened input (a
window, a field's channels) to every output at once, as a search candidate.

A linear map from the last ``L`` steps of every channel to the next ``H`` is the baseline deep forecasters are
measured against (DLinear, Zeng et al. 2023; the ridge peer of the quality panel), and on the ETTh1 windows it is
hard to beat: one seed of the quality panel (session 9) gave test MSE 0.310 for RidgeCV on the window against
0.603 for the CNN search and 0.562 for the plain CNN under a 420 s budget. It costs a second.

Fit: :func:`autofast.models.ridge.ridge_gcv` (float64, unpenalised intercept, alpha among ``ALPHAS`` by exact
leave-one-out squared error) on EVERY training window (stride 1: ``train_stride`` thins the windows for the
CNN's cost, the ridge costs a second with all of them; ETTh1 test MSE 0.319 on the stride-4 windows, 0.310 on
all), scored on the validation windows with the task's loss (MSE on the standardised targets, like the CNN
configurations); the final model is refit on train+val. The test split is never read here.

Dense fields (a PDE surrogate's coefficient field -> solution, ``(N, C, H, W) -> (N, T, H, W)``): the same ridge
from every input value to every output value, scored by the task's relative L2 on the validation split or out of
fold, like the networks (a user's 16 x 24 grids at 60-90 s: RidgeCV 0.17 where the search's few epochs gave
0.35; darcy at its default budget: the search 0.037, RidgeCV 0.063, so the networks win there).
"""
from __future__ import annotations

import time

import torch
from torch import nn

from autofast.engine import task_loss, val_score
from autofast.models.ridge import ridge_gcv

#: the ridge penalties tried (the quality panel's RidgeCV peer uses the same grid)
ALPHAS = tuple(torch.logspace(-4, 6, 21, dtype=torch.float64).tolist())


class LinearModel(nn.Module):
    """``forward(x)``: ``(N, C, *S)`` -> ``(N, K)`` float32 (``(N, *out_shape)`` where given: a dense field),
    ``x.flatten(1) @ coef + intercept`` computed in float64.

    ``coef`` ``(C * prod(S), K)`` and ``intercept`` ``(K,)`` float64 buffers; ``alpha``: the ridge penalty chosen."""

    def __init__(self, coef: torch.Tensor, intercept: torch.Tensor, alpha: float = float("nan"),
                 out_shape: tuple | None = None) -> None:
        super().__init__()
        if coef.dim() != 2 or intercept.dim() != 1 or coef.shape[1] != intercept.shape[0]:
            raise ValueError(f"coef (F, K) and intercept (K,) expected, got {tuple(coef.shape)} and "
                             f"{tuple(intercept.shape)}")
        self.register_buffer("coef", coef.to(torch.float64))
        self.register_buffer("intercept", intercept.to(torch.float64))
        self.alpha = float(alpha)
        self.out_shape = tuple(int(s) for s in out_shape) if out_shape else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).to(device=self.coef.device, dtype=torch.float64)
        if flat.shape[1] != self.coef.shape[0]:
            raise ValueError(f"input of {flat.shape[1]} values per example; the model was fitted on "
                             f"{self.coef.shape[0]}")
        out = (flat @ self.coef + self.intercept).float().to(x.device)
        return out if self.out_shape is None else out.reshape(len(out), *self.out_shape)


def fit_linear(x: torch.Tensor, y: torch.Tensor, device="cpu") -> LinearModel:
    """Ridge from ``x`` ``(N, C, *S)`` to ``y`` ``(N, K)`` or a field ``(N, T, *S)`` (float), alpha by
    leave-one-out, on ``device``."""
    fit = ridge_gcv(x.flatten(1).to(device), y.flatten(1).to(device), ALPHAS)
    return LinearModel(fit.coef, fit.intercept, fit.alpha, tuple(y.shape[1:]) if y.dim() > 2 else None)


def _train_windows(task) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training window where the task can give them (:meth:`WindowTask.all_train_windows`), else
    ``x_train``/``y_train``."""
    every = getattr(task, "all_train_windows", None)
    return every() if every is not None else (task.x_train, task.y_train)


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu") -> dict:
    """Score the family like a CNN configuration: fit on every training window (or example), the task's loss on
    the validation split -- or, with ``folds`` ``(N,)`` over train+val (dense fields; windows keep their time
    order), on each fold's predictions by the fit without it. Returns ``score`` (:func:`autofast.engine.val_score`:
    minus the loss), ``val_loss``, ``val_acc`` (None), ``alpha``, ``seconds``, ``selected_on``. ``seed`` is unused
    (the fit is deterministic)."""
    t0 = time.perf_counter()
    if folds is None:
        model = fit_linear(*_train_windows(task), device)
        with torch.no_grad():
            loss = float(task_loss(model(task.x_val.to(device)), task.y_val.to(device)))
        alpha, where = model.alpha, "validation split"
    else:
        if getattr(task, "all_train_windows", None) is not None:
            raise ValueError("forecasting windows are scored on the validation windows, not on folds")
        x, y = torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val])
        total, alphas = 0.0, []
        for i in range(int(folds.max()) + 1):
            inside = folds == i
            model = fit_linear(x[~inside], y[~inside], device)
            with torch.no_grad():
                total += float(task_loss(model(x[inside].to(device)), y[inside].to(device), reduction="sum"))
            alphas.append(model.alpha)
        loss, alpha = total / len(y), float(torch.tensor(alphas).median())
        where = f"{int(folds.max()) + 1}-fold out-of-fold predictions"
    return {"score": val_score(loss, 0.0, True), "val_loss": loss, "val_acc": None, "alpha": alpha,
            "seconds": time.perf_counter() - t0, "selected_on": where}


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu",
          time_left: float | None = None) -> tuple[LinearModel, float, dict]:
    """The final model refit on train+val (alpha by leave-one-out there): (model, seconds, record); ``time_left``:
    not used (one fit)."""
    t0 = time.perf_counter()
    x, y = _train_windows(task)
    model = fit_linear(torch.cat([x, task.x_val]), torch.cat([y, task.y_val]), device)
    return model.to(device), time.perf_counter() - t0, {"alpha": model.alpha}
