"""AutoFT loss terms and the searched fine-tuning objective (Choi et al. 2024, "AutoFT: Learning an
Objective for Robust Fine-Tuning").

AutoFT fine-tunes a pretrained model with a weighted sum of loss terms whose weights (plus the learning
rate, weight decay and seed) are searched to maximise a score on a small out-of-distribution validation
set. The terms, for logits ``(N, K)`` float and int64 targets ``y`` ``(N,)``:

* ``ce``          mean cross-entropy.
* ``hinge``       multiclass (Crammer-Singer) hinge ``mean_i max(0, margin + max_{j!=y_i} z_ij - z_iy_i)``.
* ``entropy``     mean Shannon entropy (natural log) of the softmax: entropy *minimisation*.
* ``dcm``         confidence minimisation on misclassified samples (DCM): mean over samples whose argmax
                  is wrong of the cross-entropy to the uniform distribution ``-(1/K) sum_j log p_j``.
* ``l1_init`` / ``l2_init``   distance to the pretrained weights (L2-SP style), ``mean |t - t0|`` /
                  ``mean (t - t0)^2``.
* ``l1_norm`` / ``l2_norm``   the same with ``t0 = 0``.
* ``contrastive`` FLYP-style symmetric contrastive loss against class embeddings, only for models that
                  expose ``class_embeddings`` (an ``nn.Parameter`` ``(K, D)``) and ``features(x)``.

The weight terms are MEANS over all elements of all parameters, not sums, so that a searched weight
means the same thing for a narrow and a wide network (a sum would grow with the parameter count).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import AutofastError

__all__ = [
    "LOSS_TERMS", "AUTOFT_SPACE", "AutoFTObjective", "autoft_space", "contrastive", "cross_entropy", "dcm",
    "entropy", "hinge", "objective_from_config", "snapshot_params", "weight_distance", "weight_norm",
]

LOSS_TERMS = ("ce", "hinge", "entropy", "dcm", "l1_init", "l2_init", "l1_norm", "l2_norm", "contrastive")
_SEARCHED_TERMS = ("ce", "hinge", "entropy", "dcm", "l1_init", "l2_init", "l1_norm", "l2_norm")


def _check_logits(logits: Tensor, y: Tensor | None = None, where: str = "loss") -> None:
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] < 2:
        raise AutofastError(f"{where}: logits must be (N, K) with N >= 1 and K >= 2, got {tuple(logits.shape)}; "
                            f"flatten dense outputs to (N*positions, K) first")
    if not logits.is_floating_point():
        raise AutofastError(f"{where}: logits must be floating point, got {logits.dtype}")
    if y is not None:
        if y.ndim != 1 or y.shape[0] != logits.shape[0]:
            raise AutofastError(f"{where}: targets must be (N,) = ({logits.shape[0]},), got {tuple(y.shape)}")
        if y.dtype != torch.int64:
            raise AutofastError(f"{where}: targets must be int64 class indices, got {y.dtype}; use y.long()")


# --------------------------------------------------------------------------------------------- terms
def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy."""
    _check_logits(logits, y, "cross_entropy")
    return F.cross_entropy(logits, y)


def hinge(logits: Tensor, y: Tensor, margin: float = 1.0) -> Tensor:
    """Multiclass (Crammer-Singer) hinge: ``mean_i max(0, margin + max_{j != y_i} z_ij - z_{i,y_i})``."""
    _check_logits(logits, y, "hinge")
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return torch.clamp(margin + others.max(dim=1).values - z_y, min=0).mean()


def entropy(logits: Tensor) -> Tensor:
    """Mean Shannon entropy (nats) of ``softmax(logits)`` over the samples; minimising it sharpens predictions."""
    _check_logits(logits, None, "entropy")
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(dim=1).mean()


def dcm(logits: Tensor, y: Tensor) -> Tensor:
    """Confidence minimisation on misclassified samples.

    Mean, over the samples whose argmax differs from ``y``, of the cross-entropy to the uniform
    distribution ``-(1/K) sum_j log p_j`` (at least ``log K``, equal to it when the prediction is uniform).
    The misclassified mask is computed WITHOUT gradient (``argmax`` is piecewise constant): gradients flow
    only through the log-probabilities of the selected samples. When no sample is misclassified the result
    is exactly 0, still connected to the graph (zero gradient), so ``backward()`` works unconditionally.
    """
    _check_logits(logits, y, "dcm")
    with torch.no_grad():
        wrong = logits.argmax(dim=1) != y
    # masked mean without a host sync (no ``if wrong.any()``): ``where`` gives the unselected samples a zero
    # value AND a zero gradient, and the denominator is clamped to 1, so "none wrong" yields exactly 0
    ce_uniform = -F.log_softmax(logits, dim=1).mean(dim=1)
    picked = torch.where(wrong, ce_uniform, torch.zeros_like(ce_uniform))
    return picked.sum() / wrong.sum().clamp(min=1).to(logits.dtype)


def _check_param_lists(params: Sequence[Tensor], init_params: Sequence[Tensor]) -> None:
    if len(params) != len(init_params):
        raise AutofastError(f"weight_distance: {len(params)} parameters but {len(init_params)} initial ones; "
                            f"take init_params with snapshot_params(model) on the same model before fine-tuning")
    for i, (p, p0) in enumerate(zip(params, init_params)):
        if p.shape != p0.shape:
            raise AutofastError(f"weight_distance: parameter {i} has shape {tuple(p.shape)} but its initial copy "
                                f"{tuple(p0.shape)}; take init_params with snapshot_params(model) on the same model")


def weight_distance(params: Iterable[Tensor], init_params: Iterable[Tensor] | None, p: int) -> Tensor:
    """``mean |t - t0|`` (p=1) or ``mean (t - t0)^2`` (p=2) over ALL elements of ALL parameters.

    A mean, not a sum, so the same weight is comparable across model sizes. ``init_params=None`` means
    ``t0 = 0`` (the weight norm). ``init_params`` should be detached (see :func:`snapshot_params`).
    """
    if p not in (1, 2):
        raise AutofastError(f"weight_distance: p must be 1 or 2, got {p!r}")
    params = list(params)
    if not params:
        raise AutofastError("weight_distance: the model has no parameters; nothing to regularise")
    if init_params is not None:
        init_params = list(init_params)
        _check_param_lists(params, init_params)
    total = None
    count = 0
    for i, t in enumerate(params):
        d = t if init_params is None else t - init_params[i].to(device=t.device, dtype=t.dtype)
        s = d.abs().sum() if p == 1 else (d * d).sum()
        total = s if total is None else total + s
        count += t.numel()
    if count == 0:
        return total * 0.0
    return total / count


def weight_norm(params: Iterable[Tensor], p: int) -> Tensor:
    """``mean |t|`` (p=1) or ``mean t^2`` (p=2) over all elements of all parameters (:func:`weight_distance`
    with ``t0 = 0``)."""
    return weight_distance(params, None, p)


def contrastive(features: Tensor, class_embeddings: Tensor, y: Tensor, temperature: float = 0.07) -> Tensor:
    """FLYP-style symmetric contrastive loss between sample features and class (label/text) embeddings.

    ``sims = normalize(features) @ normalize(class_embeddings).T / temperature`` is ``(N, K)``.

    * sample -> label: ``CE(sims, y)``, each sample against all K classes.
    * label -> sample: for each sample i, its class embedding ``e_{y_i}`` scored against every sample of the
      batch, ``logits_t = sims.T[y]`` ``(N, N)`` (row i, column j = similarity of class ``y_i`` with sample j).
      Samples of the same class are all positives of that row (the target is uniform over
      ``{j : y_j = y_i}``), so duplicated classes in a batch are not pushed apart as CLIP's one-hot
      targets would do; with distinct classes in the batch this is exactly CLIP/FLYP's text->image term.

    Returns the mean of the two directions.
    """
    if features.ndim != 2 or class_embeddings.ndim != 2 or features.shape[1] != class_embeddings.shape[1]:
        raise AutofastError(f"contrastive: features must be (N, D) and class_embeddings (K, D), got "
                            f"{tuple(features.shape)} and {tuple(class_embeddings.shape)}")
    if not temperature > 0:
        raise AutofastError(f"contrastive: temperature must be > 0, got {temperature}")
    f = F.normalize(features, dim=1)
    e = F.normalize(class_embeddings, dim=1)
    sims = f @ e.T / temperature
    _check_logits(sims, y, "contrastive")
    loss_i = F.cross_entropy(sims, y)
    logits_t = sims.T[y]                                   # (N, N)
    pos = (y[:, None] == y[None, :]).to(sims.dtype)
    target = pos / pos.sum(dim=1, keepdim=True)
    loss_t = -(target * F.log_softmax(logits_t, dim=1)).sum(dim=1).mean()
    return 0.5 * (loss_i + loss_t)


# ----------------------------------------------------------------------------------------- objective
def snapshot_params(model: nn.Module) -> list[Tensor]:
    """Detached clones of ``model.parameters()`` (in that order): the ``init_params`` of the objective."""
    return [p.detach().clone() for p in model.parameters()]


def _has_text_tower(model: nn.Module) -> bool:
    emb = getattr(model, "class_embeddings", None)
    return isinstance(emb, torch.Tensor) and emb.ndim == 2 and callable(getattr(model, "features", None))


@dataclass
class AutoFTObjective:
    """A weighted sum of :data:`LOSS_TERMS`. ``weights`` maps term -> weight >= 0 (missing terms weigh 0).

    ``objective(model, logits, y, init_params, features=None)`` returns ``(total, values)``: the weighted
    total (a scalar tensor to ``backward()``) and each computed term's UNWEIGHTED value as a float. Terms
    with weight 0 are not computed. ``init_params`` come from :func:`snapshot_params` taken before
    fine-tuning. ``features`` (``model.features(x)``) is needed only for a nonzero ``contrastive`` weight.
    The weight terms run over ``model.parameters()`` (all of them, frozen ones included, in that order).
    """

    weights: dict[str, float] = field(default_factory=lambda: {"ce": 1.0})
    hinge_margin: float = 1.0
    temperature: float = 0.07

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping):
            raise AutofastError(f"AutoFT objective: weights must be a mapping term -> weight, got "
                                f"{type(self.weights).__name__}; e.g. {{'ce': 1.0, 'l2_init': 0.1}}")
        clean: dict[str, float] = {}
        for key, w in self.weights.items():
            if key not in LOSS_TERMS:
                raise AutofastError(f"AutoFT objective: unknown loss term {key!r}; "
                                    f"valid terms: {', '.join(LOSS_TERMS)}")
            is_number = isinstance(w, numbers.Real) or (isinstance(w, torch.Tensor) and w.numel() == 1)
            if isinstance(w, bool) or not is_number:
                raise AutofastError(f"AutoFT objective: weight of {key!r} must be a number, got {w!r}")
            w = float(w)
            if not math.isfinite(w) or w < 0:
                raise AutofastError(f"AutoFT objective: weight of {key!r} must be finite and >= 0, got {w}")
            clean[key] = w
        if not any(w > 0 for w in clean.values()):
            raise AutofastError("AutoFT objective: every loss weight is 0; give at least one positive weight, "
                                "e.g. {'ce': 1.0}")
        self.weights = clean

    @property
    def active(self) -> dict[str, float]:
        """The terms with a nonzero weight, in :data:`LOSS_TERMS` order."""
        return {k: self.weights[k] for k in LOSS_TERMS if self.weights.get(k, 0.0) > 0}

    def __call__(self, model: nn.Module, logits: Tensor, y: Tensor, init_params: Sequence[Tensor] | None,
                 features: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        active = self.active
        needs_init = "l1_init" in active or "l2_init" in active
        if needs_init and init_params is None:
            raise AutofastError("AutoFT objective: l1_init/l2_init need init_params; pass "
                                "snapshot_params(model) taken before fine-tuning")
        if "contrastive" in active:
            if not _has_text_tower(model):
                raise AutofastError(f"AutoFT objective: 'contrastive' has weight {active['contrastive']} but "
                                    f"{type(model).__name__} has no class_embeddings (K, D) parameter and "
                                    f"features(x) method; set its weight to 0 for this model")
            if features is None:
                raise AutofastError("AutoFT objective: 'contrastive' needs features=model.features(x) of the batch")
        params = list(model.parameters()) if any(k.startswith(("l1_", "l2_")) for k in active) else []
        terms: dict[str, Tensor] = {}
        for key in active:
            if key == "ce":
                terms[key] = cross_entropy(logits, y)
            elif key == "hinge":
                terms[key] = hinge(logits, y, self.hinge_margin)
            elif key == "entropy":
                terms[key] = entropy(logits)
            elif key == "dcm":
                terms[key] = dcm(logits, y)
            elif key == "l1_init":
                terms[key] = weight_distance(params, init_params, 1)
            elif key == "l2_init":
                terms[key] = weight_distance(params, init_params, 2)
            elif key == "l1_norm":
                terms[key] = weight_norm(params, 1)
            elif key == "l2_norm":
                terms[key] = weight_norm(params, 2)
            elif key == "contrastive":
                terms[key] = contrastive(features, model.class_embeddings, y, self.temperature)
        total = None
        for key, value in terms.items():
            part = active[key] * value
            total = part if total is None else total + part
        return total, {k: float(v.detach()) for k, v in terms.items()}


# ------------------------------------------------------------------------------------------- space
def autoft_space(contrastive: bool = False) -> dict[str, dict[str, list[Any]]]:
    """The AutoFT search space as plain data (``autofast.asha.space.parse_space`` format): a weight
    ``w_<term>`` ~ loguniform(1e-4, 10) per loss term (``w_contrastive`` only when ``contrastive=True``),
    ``lr_mult`` ~ loguniform(0.01, 100) times the base lr, ``weight_decay`` ~ uniform(0, 1) and
    ``seed`` ~ randint(0, 1000)."""
    terms = _SEARCHED_TERMS + (("contrastive",) if contrastive else ())
    space: dict[str, dict[str, list[Any]]] = {f"w_{t}": {"loguniform": [1e-4, 10.0]} for t in terms}
    space["lr_mult"] = {"loguniform": [0.01, 100.0]}
    space["weight_decay"] = {"uniform": [0.0, 1.0]}
    space["seed"] = {"randint": [0, 1000]}
    return space


AUTOFT_SPACE = autoft_space()


def objective_from_config(config: Mapping[str, Any], **kw: Any) -> AutoFTObjective:
    """Build the objective from a sampled config: every ``w_<term>`` key becomes that term's weight;
    other keys (``lr_mult``, ``weight_decay``, ``seed``, ...) are ignored here. ``kw`` goes to
    :class:`AutoFTObjective` (``hinge_margin``, ``temperature``)."""
    if not isinstance(config, Mapping):
        raise AutofastError(f"AutoFT config must be a mapping, got {type(config).__name__}")
    weights = {}
    for key, value in config.items():
        if isinstance(key, str) and key.startswith("w_"):
            term = key[2:]
            if term not in LOSS_TERMS:
                raise AutofastError(f"AutoFT config key {key!r}: unknown loss term {term!r}; valid keys: "
                                    + ", ".join(f"w_{t}" for t in LOSS_TERMS))
            weights[term] = value
    if not weights:
        raise AutofastError("AutoFT config has no w_<term> loss weights; sample it from AUTOFT_SPACE "
                            "or give e.g. {'w_ce': 1.0}")
    return AutoFTObjective(weights, **kw)
