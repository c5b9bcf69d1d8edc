"""The task layer under ``dash`` and ``search``: load the task a config names, its backbone and position
channel, its plain network, its test metric and the one test evaluation.

``cfg`` below is any config with the fields of :class:`autofast.dash.pipeline.DashConfig` that a function reads
(``task``, ``kind``, ``seed``, ``backbone``, ``positional``; forecasting windows ``lookback``, ``horizon``,
``train_stride``).
"""
from __future__ import annotations

import numpy as np
import torch

from autofast.data.supervised import load_task
from autofast.data.types import row_digests
from autofast.engine import device_of, evaluate, mean_iou, predict, task_loss
from autofast.errors import AutofastError
from autofast.models import build_backbone, default_backbone, fixed_factory


def task_metric(task) -> tuple[str, bool]:
    """``(name, lower_is_better)`` of the task's test metric: accuracy for classification, per-pixel accuracy
    for dense labels, relative L2 for dense fields, standardised MSE for forecasting windows, RMSE in the
    targets' own units for values (regression on series or images; the Monash extrinsic-regression archive's
    metric)."""
    data = task.data
    if data.kind == "timeseries":
        return "MSE (standardised, per target)", True
    if data.kind == "dense":
        return ("relative L2", True) if data.regression else ("per-pixel accuracy", False)
    return ("RMSE", True) if data.regression else ("accuracy", False)


def placed(model, device, *tensors) -> tuple:
    """Move ``model`` to ``device`` (in place) and ``tensors`` (once, for a whole stage) to the device its
    parameters ended on; the tensors moved (a CPU model: the same tensors)."""
    model.to(device)
    dev = device_of(model)
    return tuple(t.to(dev) for t in tensors)


def test_rows(task) -> int:
    """Rows of the task's test split, counted from its indices (the test tensors stay closed until the one
    evaluation); forecasting windows without split indices: their train+val count stands in."""
    rows = getattr(getattr(task, "split", None), "test", None)
    return len(rows) if rows is not None else len(task.y_train) + len(task.y_val)


def copies_in_training(task):
    """``(N_test,)`` bool: the test rows whose input has an exact copy among the train+val rows (same values as
    loaded; UCI splice holds 62 such among its 638 test sequences at seed 0), or None where the task keeps no
    row indices (forecasting windows)."""
    split, x = getattr(task, "split", None), getattr(task.data, "x", None)
    if not isinstance(x, np.ndarray) or not all(hasattr(split, k) for k in ("train", "val", "test")):
        return None
    seen = set(row_digests(x[np.concatenate([split.train, split.val])]))
    return torch.tensor([d in seen for d in row_digests(x[split.test])], dtype=torch.bool)


def _unseen(out: dict, copies, right) -> dict:
    """``out`` with ``test_copies`` (test rows with an exact copy among the training rows) and the metric on the
    others (``test_acc_unseen`` from ``right`` (N,) bool, or ``test_rmse_unseen`` from ``right`` (N, T) errors);
    where every test row is a copy (a task naming its training file as its test file, as the scikit-learn style
    estimators' do), ``test_all_copies``: the score is a training-set score, not held out."""
    if copies is None or not bool(copies.any()):
        return out
    if bool(copies.all()):
        return {**out, "test_copies": int(copies.sum()), "test_all_copies": True}
    rest = right[~copies.to(right.device)]
    key, value = (("test_acc_unseen", float(rest.double().mean())) if right.dtype == torch.bool else
                  ("test_rmse_unseen", float(rest.double().square().mean().sqrt())))
    return {**out, "test_copies": int(copies.sum()), key: value}


def test_scores(model, task) -> dict:
    """The one test evaluation, on the model's device: ``test_loss``, ``test_acc``, ``test_score`` (the value
    of :func:`task_metric`) and, for dense labels, ``test_mean_iou``; for values ``test_rmse`` and
    ``test_mae`` in the targets' units. Where test rows have an exact copy among the training rows
    (:func:`copies_in_training`): their count ``test_copies`` and the metric on the rest (``test_acc_unseen``,
    ``test_rmse_unseen``), from the same predictions."""
    dev = device_of(model)
    x, y = task.x_test.to(dev), task.y_test.to(dev)
    data = task.data
    if data.kind not in ("dense", "timeseries") and data.regression:  # values: one pass, the loss from it too
        pred = predict(model, x)
        err = task.values(pred.double()) - task.values(y.double())  # (N, T), the targets' units
        rmse = float(err.square().mean().sqrt())
        out = {"test_loss": float(task_loss(pred, y)), "test_acc": float("nan"), "test_rmse": rmse,
               "test_mae": float(err.abs().mean()), "test_score": rmse}
        if err.dim() == 2 and err.shape[1] > 1:  # several targets in their own units: each, beside the pooled
            out["test_rmse_per_target"] = err.square().mean(0).sqrt().tolist()
        return _unseen(out, copies_in_training(task), err.reshape(len(err), -1))
    classes = data.kind not in ("dense", "timeseries") and len(y) > 0  # beside accuracy: what it hides on skew
    predicted: list = []
    test_loss, test_acc = evaluate(model, x, y, predicted=predicted if classes else None)
    out = {"test_loss": test_loss, "test_acc": test_acc}
    if data.kind == "dense" and not data.regression:
        out["test_mean_iou"] = mean_iou(model, x, y, data.num_classes)
    elif classes:
        pred = torch.cat(predicted)
        present = torch.unique(y)
        out["test_balanced_acc"] = float(torch.stack([(pred[y == c] == c).double().mean() for c in present]).mean())
        out["test_majority_share"] = float(torch.bincount(y).max()) / len(y)
        out = _unseen(out, copies_in_training(task), pred.to(y.device) == y)
    out["test_score"] = test_loss if task_metric(task)[1] else test_acc
    return out


def _backbone_name(cfg, kind: str, ndim: int) -> str:
    if cfg.backbone == "auto":
        return default_backbone(kind)
    if (cfg.backbone == "unet") != (kind == "dense"):
        raise AutofastError(f"backbone {cfg.backbone!r} does not fit {kind} data: dense tasks use 'unet', other "
                            f"tasks 'resnet1d'/'wrn16'/'wrn22'; drop --backbone to get the default")
    if cfg.backbone == "resnet1d" and ndim != 1:
        raise AutofastError(f"--backbone resnet1d is 1-D but task {cfg.task!r} has {ndim}-D inputs ({kind}); "
                            "use --backbone wrn16, wrn22 or auto")
    return cfg.backbone


def positional_input(cfg, backbone: str, kind: str) -> bool:
    """Whether the backbone gets a position channel (:class:`~autofast.models.ResNet1D`'s ``positional``):
    ``on``/``off`` as asked (``on`` needs resnet1d), ``auto`` for resnet1d on DNA, whose sequences are
    windows aligned on a site."""
    if cfg.positional == "on" and backbone != "resnet1d":
        raise AutofastError(f"--positional on is for the resnet1d backbone, not {backbone!r}; "
                            "drop it or use --positional off")
    return cfg.positional == "on" or (cfg.positional == "auto" and backbone == "resnet1d" and kind == "dna")


def load_from_config(cfg):
    """The task ``cfg`` names (``cfg.task``, ``cfg.kind``: auto/classification/timeseries; forecasting windows
    also ``lookback``, ``horizon``, ``train_stride``), split with ``cfg.split_seed`` (None: ``cfg.seed``)."""
    from autofast.data.registry import DATASETS

    bundled = {d.name.lower(): d for d in DATASETS.values()}
    kind = cfg.kind
    seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    if kind == "auto":
        d = bundled.get(cfg.task.lower())
        kind = "timeseries" if d is not None and d.kind == "timeseries" else "classification"
    if kind == "timeseries":
        from autofast.data.registry import resolve_timeseries
        from autofast.data.window_task import load_window_task

        name, path = resolve_timeseries(cfg.task)
        return load_window_task(name, path, cfg.lookback, cfg.horizon, cfg.train_stride, seed)
    return load_task(cfg.task, seed=seed)


def backbone_for(task, cfg) -> tuple[str, bool]:
    """``(backbone name, position channel)`` for the task under ``cfg`` (``auto`` resolved)."""
    data = task.data
    name = _backbone_name(cfg, data.kind, data.ndim)
    return name, positional_input(cfg, name, data.kind)


def plain_network(task, name: str, positional: bool, width: int = 4):
    """The backbone with its plain 3x1 / 3x3 pattern (a narrow one by default: for its layout)."""
    data = task.data
    return build_backbone(name, data.ndim, int(task.x_train.shape[1]), data.num_classes, width, fixed_factory([]),
                          positional=positional)
