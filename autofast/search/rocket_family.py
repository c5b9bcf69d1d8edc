"""The random-convolution family as a search candidate (1-D tasks, DNA and series: classes, or values with the
ridge fitting them): MiniRocket-style
features on our dilated-conv kernels with a ridge head (:class:`autofast.models.rocket.RocketClassifier`), and
the same scoring and final model for Hydra's competing kernels (``features="hydra"``,
:class:`autofast.models.hydra.HydraClassifier`; the search's ``hydra`` family, :mod:`.hydra_family`).

It costs seconds where a CNN needs minutes to converge, so on small series sets it is often the better
baseline for a given budget. It is scored exactly like the CNN configurations (the same validation split,
or the same folds with out-of-fold predictions; one draw of the random kernels) and chosen on that score
alone; the final one is refit on train+val and averages three draws (the scored one and two more). The test
split is never read here.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from autofast.engine import val_score
from autofast.models.hydra import HydraClassifier
from autofast.models.ridge import RidgeFeatureClassifier
from autofast.models.rocket import RocketClassifier

from .blend import held_out_scores, paired_gap
from .plan import ROCKET_FINAL_DRAWS


#: the feature sets, each a :class:`~autofast.models.ridge.RidgeFeatureClassifier` made as ``cls(seed=...)``
FEATURES: dict[str, type[RidgeFeatureClassifier]] = {"minirocket": RocketClassifier, "hydra": HydraClassifier}
ZERO_TAIL = ", padded tail as zeros"
#: a training set "looks padded" when at least this share of its series end in MIN_TAIL or more equal steps
PADDED_SHARE, MIN_TAIL = 0.5, 3


def input_scaling(task, variant: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(scale, shift)`` per channel that maps the task's standardised inputs back to the values as loaded
    (``variant`` "as loaded", with or without :data:`ZERO_TAIL`), or None ("standardised", or data that were
    not standardised, e.g. DNA)."""
    if variant.startswith("standardised") or getattr(task, "mean", None) is None:
        return None
    shape = (1, -1) + (1,) * (task.x_train.dim() - 2)
    return (torch.as_tensor(task.std, dtype=torch.float32).reshape(shape),
            torch.as_tensor(task.mean, dtype=torch.float32).reshape(shape))


def tail_lengths(x: torch.Tensor) -> torch.Tensor:
    """``(N,)`` int64: how many steps at the end of each series ``x`` ``(N, C, L)`` equal its last step in
    every channel (1 when the last two differ)."""
    same = (x == x[..., -1:]).all(dim=1)  # (N, L)
    return same.flip(-1).to(torch.int64).cumprod(-1).sum(-1)


def zero_tail(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, C, L)`` with the repeats of each series' last step (all but the first of its trailing
    run, :func:`tail_lengths`) set to 0: a series padded by repeating its last value (the loader's
    ``variable_length: pad``) becomes the series zero-padded. A function of ``x`` alone, so new series
    get exactly what the training series got."""
    length = x.shape[-1]
    keep = length - tail_lengths(x) + 1  # (N,) steps kept
    tail = torch.arange(length, device=x.device) >= keep.unsqueeze(-1)  # (N, L)
    return x.masked_fill(tail.unsqueeze(1), 0.0)


def looks_padded(x: torch.Tensor) -> bool:
    """Whether at least :data:`PADDED_SHARE` of the series ``x`` ``(N, C, L)`` end in :data:`MIN_TAIL` or
    more equal steps (the trace of padding by repetition; DNA one-hot and equal-length recordings show it
    in a few percent of rows at most)."""
    return bool((tail_lengths(x) >= MIN_TAIL).double().mean() >= PADDED_SHARE)


def variants(task, padded: bool | None = None, first_only: bool = False) -> list[str]:
    """The input variants the family is scored on, the default first: where the training series look padded
    (:func:`looks_padded`), the inputs with the padding as zeros (:func:`zero_tail`); then the inputs as loaded
    (what MiniRocket is designed and published on) where the task standardised them; then the standardised
    inputs. Half of MiniRocket's convolutions zero-pad the series ends, so a series' level relative to 0, and
    where it stops, are features (test accuracy, 3 seeds: PickupGestureWiimoteZ 0.75 as loaded vs 0.68
    standardised, ACSF1 0.917 vs 0.913, JapaneseVowels 0.982 vs 0.986). A padded tail carries nothing but where
    the series ended, and as zeros says so: PickupGestureWiimoteZ 0.86 on test vs 0.76 as loaded (3 draws,
    seeds 0-2, each the same), while 5-fold accuracy on its 50 training series cannot tell them apart (0.80 vs
    0.78: hence the default, not a contest); GunPoint, ArrowHead and OSULeaf cut at random lengths and padded
    by repetition: 0.978 / 0.764 / 0.879 as zeros vs 0.982 / 0.751 / 0.880 as loaded. ``padded``:
    :func:`looks_padded` of the training series where the caller has it already; ``first_only``: the default
    and, where padded, the unpadded default only."""
    base = (["as loaded"] if getattr(task, "mean", None) is not None else []) + ["standardised"]
    base = base[:1] if first_only else base
    padded = looks_padded(task.x_train) if padded is None else padded
    return ([base[0] + ZERO_TAIL] if padded else []) + base


class RocketModel(nn.Module):
    """Fitted random-feature classifier draws (:data:`FEATURES`) as a module: ``forward(x)`` (the task's
    standardised inputs) gives log class probabilities ``(N, K)`` (log-softmax of ``temperature`` x the draws' mean
    ridge scores), or for regressors (``regression``) the draws' mean predictions ``(N, T)``, so
    evaluation and ensembles treat it like a network. ``clfs``: one classifier or a list of draws (the same
    classes, inputs and pipeline; other random seeds). ``scaling``: :func:`input_scaling` applied first, then
    :func:`zero_tail` where ``tail_as_zeros``; ``temperature``: 1 alone (argmax and accuracy do not depend
    on it), fitted when blended (:mod:`.blend`)."""

    def __init__(self, clfs: RidgeFeatureClassifier | list[RidgeFeatureClassifier], scaling: tuple | None = None,
                 temperature: float = 1.0, tail_as_zeros: bool = False) -> None:
        super().__init__()
        self.clfs = list(clfs) if isinstance(clfs, (list, tuple)) else [clfs]
        if not self.clfs or len({(type(c), c.num_classes) for c in self.clfs}) != 1:
            raise ValueError("RocketModel needs one or more fitted classifiers of one feature set and the same "
                             "classes")
        self.scaling = scaling
        self.regression = bool(self.clfs[0].regression_)
        self.temperature = float(temperature)
        self.tail_as_zeros = bool(tail_as_zeros)
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, L)`` -> ``(N, K)`` on ``x``'s device (the features computed there)."""
        sc = None if self.scaling is None else tuple(t.to(x.device) for t in self.scaling)
        x = _prepared(x, sc, self.tail_as_zeros)
        scores = torch.stack([c.decision_function(x).float() for c in self.clfs]).mean(0)
        if self.regression:
            return scores.to(x.device)
        return torch.log_softmax(self.temperature * scores, dim=1).to(x.device)


def _prepared(x: torch.Tensor, scaling, tail_as_zeros: bool) -> torch.Tensor:
    x = x if scaling is None else x * scaling[0] + scaling[1]
    return zero_tail(x) if tail_as_zeros else x


def _on_device(task, variant: str, device) -> tuple:
    """``(x_train, y_train, x_val, y_val, prepare)`` of the task moved to ``device`` once; ``prepare(x)``
    applies the variant (:func:`input_scaling`, :func:`zero_tail`)."""
    sc = input_scaling(task, variant)
    sc = None if sc is None else tuple(t.to(device) for t in sc)
    tail = variant.endswith(ZERO_TAIL)
    return (*(t.to(device) for t in (task.x_train, task.y_train, task.x_val, task.y_val)),
            lambda x: _prepared(x, sc, tail))


def _score_variant(task, folds: torch.Tensor | None, seed: int, variant: str, device="cpu",
                   features: str = "minirocket") -> dict:
    x_train, y_train, x_val, y_val, prepare = _on_device(task, variant, device)
    make = FEATURES[features]
    if folds is None:
        clf = make(seed=seed).fit(prepare(x_train), y_train)
        loss, correct, held_out = held_out_scores(clf, prepare(x_val), y_val)
        n = len(y_val)
    else:
        x = prepare(torch.cat([x_train, x_val]))
        y = torch.cat([y_train, y_val])
        loss, correct, n = 0.0, 0, 0
        held_out = torch.empty(len(y), int(task.data.num_classes), dtype=torch.float64)
        for i in range(int(folds.max()) + 1):
            inside = folds == i  # (N,) bool on the CPU
            at = inside.to(x.device)
            clf = make(seed=seed).fit(x[~at], y[~at])
            fl, fc, held_out[inside] = held_out_scores(clf, x[at], y[at])
            loss, correct, n = loss + fl, correct + fc, n + int(inside.sum())
    regression = y_train.is_floating_point()
    acc, mean_loss = (float("nan") if regression else correct / max(1, n)), loss / max(1, n)
    return {"score": val_score(mean_loss, acc, regression), "val_acc": None if regression else acc,
            "val_loss": mean_loss if math.isfinite(mean_loss) else None, "input": variant, "held_out": held_out}


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu", padded: bool | None = None,
              features: str = "minirocket", first_only: bool = False) -> dict:
    """Score the family like a CNN configuration: fit on the training split and score the validation split
    (``folds`` None), or fit outside each fold and score it (``folds``: each train+val example's fold), for
    each input variant (:func:`variants`; ``padded``, ``first_only`` passed on), on ``device``; the default
    (first) variant is the family's candidate unless another beats it by more than one standard error of an
    accuracy on n examples (values: by more than one paired standard error of the squared errors,
    :func:`~.blend.paired_gap`). ``features``: the feature set (:data:`FEATURES`).
    Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``, ``input``, ``features``,
    ``seconds``,
    every variant's scores, and ``held_out``: the chosen variant's ridge scores ``(N, K)`` float64 on the
    validation split (or out-of-fold over train+val, in pool order), for :mod:`.blend` (not JSON)."""
    t0 = time.perf_counter()
    scored = [_score_variant(task, folds, seed, v, device, features) for v in variants(task, padded, first_only)]
    best = scored[0]
    n = len(task.y_val) if folds is None else len(folds)
    regression = task.y_train.is_floating_point()
    y_sel = task.y_val if folds is None else torch.cat([task.y_train, task.y_val])
    for r in scored[1:]:  # another variant must win by more than the noise of n validation examples
        if regression:  # values: its paired squared-error advantage over one paired standard error
            gap, se = paired_gap(r["held_out"], best["held_out"], y_sel)
            if gap > se + 1e-12:
                best = r
            continue
        p = best["val_acc"]
        if r["val_acc"] - p > max(math.sqrt(max(p * (1 - p), 0.0) / max(n, 1)), 1.0 / max(n, 1)):
            best = r
    return {**best, "features": features,
            "variants": {r["input"]: r["val_loss"] if regression else r["val_acc"] for r in scored},
            "seconds": time.perf_counter() - t0,
            "selected_on": f"{int(folds.max()) + 1}-fold out-of-fold predictions" if folds is not None
            else "validation split"}


def draw_seeds(seed: int, draws: int = ROCKET_FINAL_DRAWS) -> list[int]:
    """The seeds of the final model's draws: the scored candidate's ``seed`` first, then ``draws - 1`` more."""
    return [int(seed) + 7919 * i for i in range(draws)]


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu", draws: int = ROCKET_FINAL_DRAWS,
          time_left: float | None = None) -> tuple[RocketModel, float, dict]:
    """The family's final model on the candidate's input variant (``cand["input"]``) and feature set
    (``cand["features"]``, MiniRocket where the record has none): ``draws`` independent
    draws of the transform (:func:`draw_seeds`; the first is the scored candidate's) each refit on train+val on
    ``device``, their ridge scores averaged (bagging the random kernels lowers the variance a single draw's
    luck adds: :data:`~.plan.ROCKET_FINAL_DRAWS`); (model, seconds, record). The model predicts on any device
    (features where the input is, the ridge where it was fitted).

    ``time_left``: seconds the run has left; a further draw is fitted only where another fit as long as the last
    ends within them, so a short ``--time-budget`` gets one draw instead of overrunning (splice at 20 s: three
    draws of ~8 s each took the run to 63 s). The record's ``draws`` is what was fitted."""
    t0 = time.perf_counter()
    variant = cand["input"]
    x_train, y_train, x_val, y_val, prepare = _on_device(task, variant, device)
    x, y = prepare(torch.cat([x_train, x_val])), torch.cat([y_train, y_val])
    features = cand.get("features", "minirocket")
    clfs = []
    for s in draw_seeds(seed, draws):
        t = time.perf_counter()
        clfs.append(FEATURES[features](seed=s).fit(x, y))
        now = time.perf_counter()
        if time_left is not None and (now - t0) + (now - t) > time_left:
            break  # another fit as long as the last would end past the budget
    model = RocketModel(clfs, input_scaling(task, variant), temperature, variant.endswith(ZERO_TAIL))
    record = {"input": variant, "features": features, "draws": len(clfs)}
    if len(clfs) < draws:
        record["draws_cut"] = f"{len(clfs)} of {draws} draws: the next would not end within the time budget"
    return model.to(device), time.perf_counter() - t0, record
