"""Classification scores used for selection and evaluation: accuracy, macro-F1 and worst-group accuracy
(the worst per-class accuracy: each class is a group)."""
from __future__ import annotations

import torch
from torch import nn

from autofast.engine import device_of, predict

METRICS = ("accuracy", "macro_f1", "worst_group")


def scores_from_predictions(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, float]:
    """All of :data:`METRICS`. Macro-F1 averages over the classes present in ``y`` or in ``pred``; the worst
    group is over the classes present in ``y``."""
    pred, y = pred.long().cpu(), y.long().cpu()
    if len(y) == 0:
        return {m: float("nan") for m in METRICS}
    acc = float((pred == y).double().mean())
    f1s, group = [], []
    for c in range(num_classes):
        tp = int(((pred == c) & (y == c)).sum())
        n_true, n_pred = int((y == c).sum()), int((pred == c).sum())
        if n_true:
            group.append(tp / n_true)
        if n_true or n_pred:
            f1s.append(2 * tp / (n_true + n_pred))
    return {"accuracy": acc, "macro_f1": sum(f1s) / len(f1s), "worst_group": min(group)}


def evaluate_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, float]:
    """:data:`METRICS` of ``model``'s argmax predictions on ``(x, y)`` (eval mode; ``x`` moved to the model's
    device)."""
    out = predict(model, x.to(device_of(model)))
    return scores_from_predictions(out.argmax(1) if len(out) else torch.zeros(0, dtype=torch.long), y, num_classes)


def mean_std(values) -> dict:
    """``{"mean", "std", "n"}`` over the finite values (None and NaN skipped); sample std, 0 for one value."""
    import math
    import statistics

    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
