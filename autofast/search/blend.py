"""The blend candidates: the mean class probability of the CNN (the architecture pair where its parts are
comparable, else the best configuration) and one feature family (random-convolution features,
:mod:`.rocket_family`; for DNA the weighted-degree kernel SVM, :mod:`.wd_family`, or positional k-mer logistic
regression, :mod:`.kmer_family`), scored on the same validation predictions as the two alone.

Two models that err on different examples average to fewer errors than either; a CNN and a model on fixed
features are about as different as two classifiers get (splice, 9 runs: the CNN pair 0.9692, the kernel SVM
0.9728, their blend 0.9763 test accuracy). A blend whose parts are comparable is the final model
(:func:`autofast.search.pipeline.choose_family`: not selected against its parts by validation scores a few
examples apart); its final model is the two final models averaged (:class:`Blend`). A family's scores (ridge
scores, logits) are turned into probabilities by ``softmax(T * scores)`` with the one temperature ``T`` that
minimises their own validation (or out-of-fold) cross-entropy; the family alone is scored with the same ``T``
(:func:`calibrated`), so accuracy ties between a family, a blend and a CNN are broken by comparable losses.

A blend is eligible only when its parts are comparable (:func:`parts_comparable`): averaging with a clearly
weaker model pulls the stronger one down; and not where one part alone is ahead of the blend on the same
held-out predictions by more than one paired standard error (:func:`_behind_a_part`). Measured (quality panels,
sessions 8-9): on ACSF1 the CNN reached
0.54-0.60 out-of-fold beside the features' 0.69-0.75 (gaps of 2.3-3.2 standard errors), their blend won by
1-2 of 100 out-of-fold examples on 2 of 3 seeds and scored 0.89 on test where the features alone score
0.91-0.92; PickupGestureWiimoteZ's parts differ by 4 standard errors or more; the blends that paid differ by
less: splice (under 1; +0.5-1 test point) and JapaneseVowels (0-1.7; 0.992-0.995 vs the CNN's 0.987).
The test split is never read here.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from autofast.engine import device_of, task_loss, val_score
from autofast.models.ensemble import Ensemble
from autofast.models.temperature import fit_temperature  # noqa: F401 (re-exported)

#: a blend's parts may differ in held-out accuracy by at most this many standard errors of their paired difference
PART_GAP_SE = 2.0
FAMILY_NAMES = {"rocket": "random-convolution features", "hydra": "competing-kernel features (Hydra)",
                "kmer": "positional k-mer logistic regression", "wd": "weighted-degree kernel SVM",
                "linear": "ridge regression on the flattened input (window or field)",
                "kernel": "RBF kernel ridge on the pixels"}


class Blend(Ensemble):
    """``members = [cnn, features]``: the log of their mean class probability ``(N, K)`` (an :class:`Ensemble`
    of two modules that both return class scores; the feature model returns temperature-scaled
    log-probabilities: :class:`~.rocket_family.RocketModel`, :class:`~.kmer_family.KmerModel` or
    :class:`~.wd_family.WDModel`); for values (``classify`` False) their mean prediction ``(N, T)``."""

    def __init__(self, cnn: nn.Module, features: nn.Module, classify: bool = True) -> None:
        super().__init__([cnn, features], classify=classify)

    @property
    def cnn(self) -> nn.Module:
        return self.members[0]

    @property
    def features(self) -> nn.Module:
        return self.members[1]


def held_out_scores(clf, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int, torch.Tensor]:
    """A feature family's fitted classifier (``decision_function(x)`` -> ``(N, K)`` scores) on held-out
    ``(x, y)`` (one device): (summed cross-entropy of the softmaxed scores, correct predictions, the scores
    float64 on the CPU, for :func:`score_blend`); a regressor's (summed MSE per target, 0, its predictions)."""
    scores = clf.decision_function(x)
    correct = 0 if y.is_floating_point() else int((scores.argmax(1) == y).sum())
    return float(task_loss(scores.float(), y, reduction="sum")), correct, scores.double().cpu()


class FittedClassifier(nn.Module):
    """A fitted classifier (``decision_function(x)`` -> ``(N, K)`` scores, e.g. :class:`~autofast.models.kmer.
    KmerClassifier`) as a module: ``forward(x)`` -> log class probabilities ``(N, K)``, the log-softmax of
    ``temperature`` x the scores (1 alone, fitted when blended)."""

    def __init__(self, clf, temperature: float = 1.0) -> None:
        super().__init__()
        self.clf = clf
        self.temperature = float(temperature)
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.temperature * self.clf.decision_function(x), dim=1)


def fitted_candidate(task, folds: torch.Tensor | None, make: Callable[[], object], device="cpu") -> dict:
    """A classifier family scored like a CNN configuration: ``make()`` (a new unfitted classifier with
    ``fit(x, y)`` and ``decision_function``) fitted on the training split and scored on the validation split
    (``folds`` None), or fitted outside each fold and scored on it (``folds`` ``(N,)``: each train+val example's
    fold). Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``, ``fitted`` (the
    classifiers, not JSON), ``seconds``, ``selected_on`` and ``held_out``: the scores ``(N, K)`` float64 on the
    validation split (or out-of-fold over train+val, in pool order), for :func:`score_blend` (not JSON). A
    regressor (float targets ``(N, T)``) the same with its predictions ``(N, T)`` as ``held_out``, the MSE as
    ``val_loss`` and ``val_acc`` None. The test split is never read."""
    t0 = time.perf_counter()
    regression = task.y_train.is_floating_point()
    if folds is None:
        clf = make().fit(task.x_train, task.y_train)
        loss, correct, held_out = held_out_scores(clf, task.x_val.to(device), task.y_val.to(device))
        n, fitted = len(task.y_val), [clf]
    else:
        x, y = torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val])
        width = y.reshape(len(y), -1).shape[1] if regression else int(task.data.num_classes)
        held_out = torch.empty(len(y), width, dtype=torch.float64)
        loss, correct, n, fitted = 0.0, 0, 0, []
        for i in range(int(folds.max()) + 1):
            inside = folds == i
            clf = make().fit(x[~inside], y[~inside])
            fl, fc, held_out[inside] = held_out_scores(clf, x[inside].to(device), y[inside].to(device))
            loss, correct, n = loss + fl, correct + fc, n + int(inside.sum())
            fitted.append(clf)
    acc, mean_loss = (float("nan") if regression else correct / max(1, n)), loss / max(1, n)
    return {"score": val_score(mean_loss, acc, regression), "val_acc": None if regression else acc,
            "val_loss": mean_loss, "fitted": fitted, "seconds": time.perf_counter() - t0, "held_out": held_out,
            "selected_on": f"{int(folds.max()) + 1}-fold out-of-fold predictions" if folds is not None
            else "validation split"}


def calibrated(candidate: dict, y: torch.Tensor) -> dict:
    """A feature family's candidate record (with ``held_out`` scores ``(N, K)`` on the predictions it is
    selected on, labels ``y``) scored with its fitted temperature: ``temperature``, ``val_loss`` and ``score``
    of ``softmax(T * held_out)`` (the accuracy is unchanged; the uncalibrated loss is kept as ``raw_val_loss``)."""
    t = fit_temperature(candidate["held_out"], y)
    loss = float(task_loss((t * candidate["held_out"]).float(), y))
    return {**candidate, "temperature": t, "raw_val_loss": candidate["val_loss"], "val_loss": loss,
            "score": val_score(loss, candidate["val_acc"], False)}


def paired_gap(a_scores: torch.Tensor, b_scores: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``(mean(d), std(d) / sqrt(n))`` of ``d_i`` = (``a`` right on i) - (``b`` right on i): the accuracy gap of
    two models' class scores ``(N, K)`` on the same ``N`` labelled examples ``y`` and its paired standard error.
    For values ``y`` ``(N, T)`` (predictions ``(N, T)``) ``d_i`` is ``b``'s squared error on i minus ``a``'s
    (mean over targets): positive where ``a`` is the better, as for classes."""
    if y.is_floating_point():
        y = y.reshape(len(y), -1).double()
        d = ((b_scores.double() - y).square() - (a_scores.double() - y).square()).mean(1)
    else:
        d = (a_scores.argmax(1) == y).double() - (b_scores.argmax(1) == y).double()
    return float(d.mean()), (float(d.std(correction=1)) / math.sqrt(len(d)) if len(d) > 1 else 0.0)


def beats_mean(held_out: torch.Tensor, y: torch.Tensor) -> dict:
    """Whether value predictions ``held_out`` ``(N, T)`` beat predicting the training mean (0 on the
    standardised scale) on the same held-out targets ``y``: the mean squared-error advantage ``gap`` over the
    mean's, its paired standard error ``se``, and ``ahead`` (by more than one ``se``)."""
    gap, se = paired_gap(held_out, torch.zeros_like(held_out, dtype=torch.float64), y)
    return {"gap": gap, "se": se, "ahead": gap > se + 1e-12}


def parts_comparable(cnn_log_probs: torch.Tensor, feature_scores: torch.Tensor, y: torch.Tensor) -> dict:
    """Whether the two parts of a blend are comparable on the same held-out examples: the gap of their
    accuracies ``mean(d)``, ``d_i`` = (CNN right on i) - (family right on i), is within ``PART_GAP_SE``
    standard errors of that paired mean (``std(d) / sqrt(n)``): not a significant difference. Returns
    ``part_gap`` (CNN minus family), ``part_gap_se`` and ``eligible``."""
    gap, se = paired_gap(cnn_log_probs, feature_scores, y)
    return {"part_gap": gap, "part_gap_se": se, "eligible": abs(gap) <= PART_GAP_SE * se + 1e-12}


@torch.no_grad()
def cnn_val_log_probs(trial, config: dict, checkpoint: Path, x: torch.Tensor, folds: torch.Tensor | None,
                      device: str = "cpu", classify: bool = True) -> torch.Tensor:
    """``(N, K)`` float64 log class probabilities (on the CPU) of a trial's model, read from ``checkpoint``
    (weights only) and run on ``device``, on ``x``: the validation split (``folds`` None) or train+val where
    example j is predicted by the fold model that did not train on it (``folds`` ``(N,)``: each example's fold).
    For values (``classify`` False) the outputs ``(N, T)`` themselves."""
    from .trial import checkpoint_model

    def held(out: torch.Tensor) -> torch.Tensor:
        return (torch.log_softmax(out.double(), dim=1) if classify else out.double()).cpu()

    model = checkpoint_model(trial, config, checkpoint, device)[0]
    x = x.to(device_of(model))
    if folds is None:
        return held(model(x))
    out = torch.empty(len(x), model.members[0](x[:1]).shape[1], dtype=torch.float64)
    for i, member in enumerate(model.members):
        sel = torch.nonzero(folds == i).flatten()
        if len(sel):
            out[sel] = held(member(x[sel.to(x.device)]))
    return out


def mean_log_probs(*log_probs: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` float64 log of the mean of the members' class probabilities (each ``(N, K)`` log-probabilities)."""
    return torch.logsumexp(torch.stack([lp.double() for lp in log_probs]), dim=0) - math.log(len(log_probs))


def blend_log_probs(cnn_log_probs: torch.Tensor, feature_scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """``(N, K)`` log of the mean of the CNN's probabilities and ``softmax(temperature * feature_scores)``."""
    return mean_log_probs(cnn_log_probs, torch.log_softmax(temperature * feature_scores.double(), dim=1))


def blend_values(cnn_outputs: torch.Tensor, feature_predictions: torch.Tensor) -> torch.Tensor:
    """A value blend's predictions ``(N, T)`` float64: the mean of the two parts' (as :class:`Blend` combines them)."""
    return (cnn_outputs.double() + feature_predictions.double()) / 2


def score_blend(cnn_log_probs: torch.Tensor, feature_scores: torch.Tensor, y: torch.Tensor,
                others: dict[str, torch.Tensor] | None = None) -> dict:
    """A blend as a candidate on validation predictions: the temperature (fitted on the family's scores
    alone), ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``; the CNN's own
    accuracy on the same predictions (``cnn_val_acc``) and whether the parts are comparable enough for the
    blend to be a candidate (:func:`parts_comparable`: ``eligible``, ``part_gap``, ``part_gap_se``; and
    :func:`_behind_a_part`, with ``others``: the other single candidates' held-out scores by name).
    Values ``y`` ``(N, T)``: the mean of the two predictions, its MSE (``val_acc`` None, temperature 1) and
    the CNN's own MSE (``cnn_val_loss``)."""
    if y.is_floating_point():
        blended = blend_values(cnn_log_probs, feature_scores)
        loss = float(task_loss(blended, y.double()))
        rec = {"score": val_score(loss, float("nan"), True), "val_acc": None, "val_loss": loss, "temperature": 1.0,
               "cnn_val_loss": float(task_loss(cnn_log_probs.double(), y.double()))}
    else:
        temperature = fit_temperature(feature_scores, y)
        blended = blend_log_probs(cnn_log_probs, feature_scores, temperature)
        loss = float(task_loss(blended, y))
        acc = float((blended.argmax(1) == y).double().mean())
        rec = {"score": val_score(loss, acc, False), "val_acc": acc, "val_loss": loss, "temperature": temperature,
               "cnn_val_acc": float((cnn_log_probs.argmax(1) == y).double().mean())}
    return _behind_a_part({**rec, **parts_comparable(cnn_log_probs, feature_scores, y)}, blended,
                          {"cnn": cnn_log_probs, "features": feature_scores, **(others or {})}, y)


def _behind_a_part(rec: dict, blended: torch.Tensor, parts: dict[str, torch.Tensor], y: torch.Tensor) -> dict:
    """``rec`` made ineligible where one part alone, or another single candidate (``parts`` beyond "cnn" and
    "features": the other feature families' held-out scores, by name), is ahead of the blend on the same held-out
    predictions by more than one paired standard error (``behind``: that one, its gap and standard error): parts
    within two standard errors of each other can still average to fewer right answers than the better one (30
    series, 3 channels, 5-fold out of fold: the features 0.87, their blend with the CNN 0.67 was chosen, test 0.77
    where the features alone gave 0.98); and an eligible blend is chosen over every single candidate
    (:func:`autofast.search.pipeline.choose_family`): 40 splice rows, the CNN and the random-convolution features
    0.47 out of fold each, their blend 0.44, chosen over the kernel SVM's 0.84 (test 0.50, the majority class)."""
    if not rec["eligible"]:
        return rec
    for name, held in parts.items():
        gap, se = paired_gap(held, blended, y)
        if gap > se + 1e-12:
            return {**rec, "eligible": False, "behind": {"part": name, "gap": gap, "se": se}}
    return rec
