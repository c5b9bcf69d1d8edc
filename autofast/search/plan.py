"""The search plan: every budget-dependent setting of ``search`` derived from the data's sizes, the measured
cost of a training step on this machine and a wall-clock budget. A pure function (:func:`make_plan`) of
(:class:`DataSize`, :class:`StepCost`, budget, the options the user gave); no torch here.

What is counted: **optimiser updates**. A network converges after enough updates, not after a number of
epochs: 16 epochs of a 50-example set in batches of 64 are 16 updates, of splice 560. So the batch comes
from the training-set size (small sets: small batches, ``~N/10`` as the published deep baselines use, 8..64),
the top rung's epochs from a target number of updates (:data:`TARGET_UPDATES`), and both are cut down when
the budget cannot pay for them. Options the user gave are kept as given (they win over the plan).

Budget split (fractions of what is left after loading and measuring): the DASH supernet
:data:`DASH_SHARE`, the final retrain ensemble (hold-out selection only) :data:`FINAL_SHARE`, the random-
convolution and k-mer families a few seconds each, ASHA the rest, with :data:`MARGIN` kept back for evaluation and reports.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from autofast.budget import StepCost, batch_for, parse_duration  # noqa: F401 (re-exported)
from autofast.errors import AutofastError

TARGET_UPDATES = 1500  # updates of a top-rung trial (and of each retrain) when the budget allows
MIN_EPOCHS_R, MAX_EPOCHS_R = 4, 256  # bounds of the top rung R (epochs)
DASH_TARGET_UPDATES = 400  # supernet updates wanted (weights and alpha jointly)
DASH_SHARE, FINAL_SHARE, MARGIN = 0.15, 0.30, 0.08
#: an epoch of a network with a DASH pattern / one of the plain pattern (the measured step): larger kernels cost
#: more. Measured on 2 cores (session 17): splice's six patterns 1.34-1.45x, ItalyPowerDemand 1.09x,
#: BasicMotions 1.89x. ASHA draws the architecture uniformly, so its epochs cost (1 + this) / 2 on average
DASH_TRIAL_FACTOR = 1.5
MIN_DASH_EPOCHS = 4  # fewer affordable supernet epochs: no DASH stage (the plain pattern only)
DASH_MIN_SHARE = 0.5  # ... nor when the top rung would get less than this share of the epochs it wants
CV_BELOW_VAL = 250  # validation splits smaller than this: k-fold cross-validation over train+val
CV_FOLDS = 5
MIN_CV_UPDATES = 300  # a cross-validated plan whose top rung gets fewer updates falls back to hold-out ...
MIN_HOLDOUT_VAL = 50  # ... unless that split would hold fewer labelled examples (an accuracy on 10 moves by 10 points;
#                        values alike: Covid3Month's 14 validation series chose a CNN blend 16% worse on test than the
#                        training mean, session 22)
MAX_CONFIGS, MIN_CONFIGS = 64, 4
ENSEMBLE_MAX = 3
DEFAULT_TRIALS, MIN_DEFAULT = 12, 45.0  # the default budget: at most this many reference trials' time, at least this
# positional k-mer logistic regression (DNA): fit time per (example x feature), cross-validation of C included
# (measured on 2 cores: splice, 2 870 x 1 184 values (order 2), 4.4-5.7 s on an Intel Xeon; 2 232 x 1 184 7.5 s
# and 2 232 x 4 896 (order 3) 25-39 s on an AMD EPYC: the slower machine's 2.8e-6 s per value, so that a search
# there ends inside its budget); order 3 where its values fit the cap and its fits the share, else order 2, else none
KMER_SECONDS_PER_VALUE, KMER_MAX_VALUES = 2.8e-6, 2.0e7
KMER_SHARES = {3: 0.15, 2: 0.4}  # the share of the budget left each order's predicted fits may take
# the weighted-degree kernel SVM (DNA): seconds per (pair of fitted rows x position) of one fit, kernels with
# shifts and the cross-validated grid included (splice, 2 232 / 2 552 rows of 60 nt: 10.3 / 11.4 s on the 2-core
# Intel Xeon, so 2.9-3.4e-8; 1.5x for slower machines); planned for aligned DNA up to WD_MAX_EXAMPLES rows
# (N x N kernels), where it takes the k-mer family's place (splice, test accuracy over 3 splits alone 0.9723 vs
# 0.9613, blended with the CNN 0.9749 vs 0.9706 over 9 runs), when its fits take at most WD_SHARE of the budget
# left
WD_SECONDS_PER_VALUE, WD_SHARE = 5e-8, 0.2
# the same without the shift stage (D x C cross-validated on the unshifted kernels only; splice, 2 232 / 2 552
# rows: 2.8 / 3.5 s on the 2-core Intel Xeon, 9.0-9.4e-9, against 8.3-9.2 / 10.9 s with shifts; 1.5x), where the
# fits with shifts do not take their share: test accuracy on split seeds 0-2 0.9728 vs 0.9770 with shifts and
# 0.9525 for a 30 s search without the family (session 20); it gets the share the k-mer family's order 2 gets
WD_QUICK_SECONDS_PER_VALUE, WD_QUICK_SHARE = 1.4e-8, 0.4
WD_MAX_EXAMPLES = 4000  # its kernel matrices: 3 degrees x N x N float64, 384 MB at 4 000 rows
#: the linear family (forecasting windows): seconds per pooled (thinned) window x input value^2 of one ridge
#: fit (x^T x, its eigendecomposition, the leave-one-out residuals of 21 penalties) over every window, stride 1
#: (ETTh1's default windows, 4 988 pooled, 8 521 + 2 857 fitted, x 672 values: 2.2 s + 4.7 s on 2 cores beside
#: a running benchmark; 0.27 s + 0.41 s alone on the thinned windows)
LINEAR_SECONDS_PER_VALUE = 1e-9
#: dense fields: the most input x output values (float64 coefficients, 8 bytes each) the linear family fits
LINEAR_MAX_COEFS = 20_000_000
#: RBF kernel ridge on the pixels (images, autofast.search.kernel_family): planned up to KERNEL_MAX_EXAMPLES
#: train+val images whose pixels, kept as the model's support (float32), hold at most KERNEL_MAX_VALUES values,
#: when its fits take at most KERNEL_SHARE of the budget left. One fit: the squared distances (seconds per
#: n^2 x input value) and eigendecompositions of n x n kernel matrices (seconds per n^3; 8 widths on at most
#: autofast.models.rbf_ridge.WIDTH_ROWS rows, then one at full size). Measured on the 2-core AMD EPYC: 2 000
#: Fashion-MNIST images (784 values) 3.4-4.0 s a fit on one thread beside another job (predicted: 4.3 s)
KERNEL_MAX_EXAMPLES, KERNEL_MAX_VALUES, KERNEL_SHARE = 5000, 2.0e7, 0.3
#: images whose pixels exceed KERNEL_MAX_VALUES are read average-pooled 2 x 2 (4 x 4, ...) by the family, to sides
#: of at least this many pixels (Fashion-MNIST, 28 x 28, seed-0 subsets of 500 / 2 000 images, offline: 0.798 /
#: 0.837 as they are, 0.791 / 0.833 pooled 2 x 2, 0.783 / 0.815 pooled 4 x 4)
KERNEL_MIN_SIDE = 8
KERNEL_SECONDS_PER_CUBE, KERNEL_SECONDS_PER_DISTANCE = 2.5e-10, 1e-10
ARCHES = ("auto", "dash", "plain", "rocket")
#: the random-convolution family's final model averages the ridge scores of this many independent draws of its
#: kernels' random choices (autofast.search.rocket_family.final): over 5 x 3 draws on 8 UCR/UEA sets, test
#: accuracy 0.9320 vs 0.9299 for one draw (ACSF1 +0.5, JapaneseVowels +0.6 points, none below -0.05; 5 draws no
#: better than 3), for 3x the final fit's seconds (session 16, bench/README.md)
ROCKET_FINAL_DRAWS = 3
#: Hydra (series only, autofast.search.hydra_family): one input variant (the default, and the padding as zeros
#: where the series look padded), one draw in the final model, and planned when its fits take at most
#: HYDRA_SHARE of the budget left (ACSF1, 100 series x 1 460 steps, 5 folds: ~12 s of a 2-minute default)
HYDRA_FINAL_DRAWS, HYDRA_SHARE = 1, 0.25
PLANNED = ("batch_size", "folds", "search_epochs", "search_batch_fraction", "min_epochs", "max_epochs",
           "n_configs", "retrain_epochs", "ensemble")


@dataclass(frozen=True)
class DataSize:
    """What the plan reads of the data: split sizes, one example's shape ``(C, *spatial)``, classes (0 for
    regression), the smallest class count of train+val, the kind (dna, image, series, dense, timeseries),
    whether the training series look padded (:func:`autofast.search.rocket_family.looks_padded`) and whether
    the validation rows are the task's own validation file."""

    n_train: int
    n_val: int
    example_shape: tuple
    num_classes: int
    kind: str
    min_class_count: int = 0
    padded: bool = False
    val_file: bool = False  # the validation rows are the task's own validation file (a task file's ``val:``)
    target_values: int = 0  # values of one example's target (regression: T, a dense field T x H x W)
    n_test: int = 0  # rows of the test split (its one evaluation is part of the run's time)

    @property
    def n_pool(self) -> int:
        return self.n_train + self.n_val


@dataclass(frozen=True)
class Plan:
    """The derived settings (see the module docstring), why each has its value, and the predicted seconds
    per stage. ``folds`` 0: hold-out validation; ``k >= 2``: k-fold cross-validation over train+val, the
    best configuration's fold models are the final model (``ensemble``/``retrain_epochs`` unused)."""

    budget: float
    budget_source: str
    arch: str
    dash: bool
    rocket: bool
    batch_size: int
    folds: int
    search_epochs: int
    search_batch_fraction: float
    min_epochs: int
    max_epochs: int
    eta: float
    n_configs: int
    retrain_epochs: int
    ensemble: int
    updates_per_epoch: int
    predicted: dict = field(default_factory=dict)
    why: dict = field(default_factory=dict)
    given: tuple = ()
    kmer: int = 0  # order of the positional k-mer family (autofast.models.kmer): 3, 2, or 0 (none)
    linear: bool = False
    wd: bool = False  # the weighted-degree kernel SVM (autofast.models.wdkernel)
    wd_shifts: bool = True  # ... with its shift stage (False: the unshifted kernels only, a short budget's)
    hydra: bool = False  # Hydra's competing-kernel features (autofast.models.hydra), series only
    kernel: bool = False  # RBF kernel ridge on the pixels (autofast.models.rbf_ridge), images only
    kernel_pool: int = 1  # ... on the images average-pooled by this factor (their pixels over KERNEL_MAX_VALUES)
    beside: bool = False  # the host-CPU families (k-mer, kernel SVM) run beside the device stages (autofast.search.host)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        d = dict(d)
        d["given"] = tuple(d.get("given", ()))
        if isinstance(d.get("kmer"), bool):  # plans saved before the k-mer order: order 2 or none
            d["kmer"] = 2 if d["kmer"] else 0
        return cls(**d)

    def seconds_before_dash(self) -> float:
        """Predicted seconds from the command's start to the DASH stage's: loading, measuring and the feature
        families that run in line before it."""
        p = self.predicted
        host = 0.0 if self.beside else p.get("kmer", 0.0) + p.get("wd", 0.0)
        return (p["measure_and_load"] + p["rocket"] + p.get("hydra", 0.0) + p.get("linear", 0.0)
                + p.get("kernel", 0.0) + host)

    def lines(self) -> list[str]:
        """A human summary, one line per decision (printed before the run, kept in the report)."""
        p = self.predicted
        sel = f"{self.folds}-fold cross-validation over train+val" if self.folds else "hold-out validation split"
        out = [f"budget {self.budget:.0f}s ({self.budget_source}); predicted {p.get('total', 0):.0f}s",
               f"selection: {sel} ({self.why.get('folds', '')})",
               f"batch {self.batch_size} ({self.why.get('batch_size', '')}): {self.updates_per_epoch} updates/epoch",
               f"architectures: {self.arch}" + ("" if self.dash else " (no DASH stage)")
               + (" + random-convolution features" if self.rocket else "")
               + (" + Hydra features" if self.hydra else "")
               + (f" + positional k-mer logistic regression (order {self.kmer})" if self.kmer else "")
               + (" + weighted-degree kernel SVM" + ("" if self.wd_shifts else " (no shifts)") if self.wd else "")
               + (" + ridge regression on the flattened input" if self.linear else "")
               + (" + RBF kernel ridge on the pixels" if self.kernel else "")
               + (f" ({self.kernel_pool} x {self.kernel_pool} average-pooled)" if self.kernel and self.kernel_pool > 1
                  else "")
               + (f" (the {'k-mer model' if self.kmer else 'kernel SVM'} on the host CPU beside the device stages, "
                  f"~{p.get('kmer', 0) + p.get('wd', 0):.0f}s)" if self.beside and (self.kmer or self.wd) else "")
               + (f"; {self.why['dash']}" if "dash" in self.why else "")]
        if self.dash:
            out.append(f"DASH: {self.search_epochs} supernet epochs x {self.search_batch_fraction:g} of the batches "
                       f"(~{p.get('dash', 0):.0f}s; {self.why.get('search_epochs', '')})")
        if self.arch == "rocket":  # no network trained: the features' fits are the run
            out.append("final: the feature family that scores best, refit on train+val"
                       + (f" ({self.why['arch']})" if "arch" in self.why else ""))
            return out + (["the feature fits need ~{:.0f}s, more than the budget".format(p["total"])]
                          if p.get("total", 0) > self.budget else [])
        out.append(f"ASHA: {self.n_configs} configurations, epochs {self.min_epochs}..{self.max_epochs} (eta {self.eta:g}; "
                   f"top rung {self.max_epochs * self.updates_per_epoch} updates; ~{p.get('asha', 0):.0f}s; "
                   f"{self.why.get('max_epochs', '')}; {self.why.get('n_configs', '')}"
                   + (f"; {self.why['fused']}" if "fused" in self.why else "") + ")")
        if self.folds:
            out.append(f"final model: the best configuration's {self.folds} fold models averaged (no retrain)")
        else:
            out.append(f"final: {self.ensemble} retrain(s) x {self.retrain_epochs} epochs on train+val "
                       f"(~{p.get('final', 0):.0f}s; {self.why.get('ensemble', '')})")
        if self.given:
            out.append(f"given by you (kept): {', '.join(self.given)}")
        if p.get("total", 0) > self.budget:
            what = ("the options given need" if self.given else
                    "the fewest configurations and epochs the plan allows need")  # (none given: the plan's floors)
            out.append(f"{what} ~{p['total']:.0f}s, more than the budget: ASHA stops at its deadline and the "
                       "retrain ends its cosine early")
        return out


def default_budget(size: DataSize, cost: StepCost | None = None) -> tuple[float, str]:
    """The budget when none is given: on a 2-core CPU, 2 minutes up to ~300 examples, growing ~0.12 s per
    example to 7 minutes (splice, 2 552 train+val: 390 s). It stands for an amount of training, not of
    time: with the measured ``cost``, never more than :data:`DEFAULT_TRIALS` reference trials (one network, or
    k fold networks where the plan would cross-validate, ~:data:`TARGET_UPDATES` updates) take here, and at
    least :data:`MIN_DEFAULT` s, so a GPU that trains 10x faster finishes 10x sooner with about the same
    plan (2-core Intel Xeon, splice: 12 trials ~290 s, the budget its README figures were measured at; 8 were
    chosen against a cached step cost 1.65x too slow, which a fresh install does not have). The predicted test
    evaluation (``size.n_test`` rows, each network of the final model) is added to it."""
    b = min(420.0, max(120.0, 120.0 + 0.12 * (size.n_pool - 300)))
    why = f"default for {size.n_pool} train+val examples"
    if cost is not None and size.n_train:
        k = max(1, _default_folds(size)[0])
        n_fit = fit_rows(size, k)
        batch = batch_for(n_fit)
        upe = math.ceil(n_fit / min(batch, n_fit))
        epochs = _wanted_epochs(upe)
        work = DEFAULT_TRIALS * epochs * (k * cost.epoch(n_fit, batch) if k > 1 else cost.trial_epoch(n_fit, batch))
        if work < b:
            b = max(MIN_DEFAULT, work)
            why += f": {DEFAULT_TRIALS} reference trials of {epochs} epochs at the measured step cost"
        # the one test evaluation is not training: its predicted seconds come on top (10 000 test images beside
        # 100 training ones: 65 s for the 5 fold networks, which took ASHA's time or overran the budget)
        test = cost.evaluation(size.n_test) * k
        if test >= 1.0:
            b += test
            why += f", + ~{test:.0f}s for the test evaluation ({size.n_test} rows)"
    return b, why


def input_variants(name: str, size: DataSize) -> int:
    """Input variants a random-convolution family scores (:mod:`autofast.search.rocket_family`): MiniRocket the
    standardised series, as loaded, and the padding as zeros where the series look padded (DNA: one); Hydra the
    standardised series and, where padded, the zeros variant."""
    if name == "rocket":
        return 1 if size.kind == "dna" else 2 + int(size.padded)
    return 1 + int(size.padded)


def final_refit_seconds(name: str, scored_seconds: float, size: DataSize, folds: int, n_test: int) -> float:
    """Seconds a random-convolution family's final model is predicted to take (its refit on train+val and the
    test evaluation) from the seconds its scoring fits took here, ``scored_seconds``: in the plan's cost model
    the final model is ``draws`` fits of train+val with a transform of the test split, the scoring
    ``folds x input variants`` fits of train+val. The ASHA stage ends early by it, so that a feature family won
    after ASHA still ends within the budget: the constants below are one machine's, the scoring fits measure
    this one (ACSF1 at 60 s on the AMD EPYC: predicted 4.7 s for scoring and refit, taken 8 + 5 s). The RBF
    kernel ridge's refit: one scoring fit's seconds x (train+val / its rows)^3 (the eigensolve). 0 for the other
    families (their fits are a small share of the default budgets they are planned in)."""
    if name == "kernel":  # one fit of train+val: the scoring fits' seconds each, scaled by the n^3 eigensolve
        return scored_seconds / max(folds, 1) * (size.n_pool / max(fit_rows(size, folds), 1)) ** 3
    if name not in ("rocket", "hydra"):
        return 0.0
    draws = ROCKET_FINAL_DRAWS if name == "rocket" else HYDRA_FINAL_DRAWS
    return (scored_seconds * draws / (max(folds, 1) * input_variants(name, size))
            * (size.n_pool + n_test) / max(size.n_pool, 1))


def fit_rows(size: DataSize, folds: int) -> int:
    """Rows one model is fitted on: train+val less a fold (``folds`` k >= 2), else the training split."""
    return size.n_pool * (folds - 1) // folds if folds > 1 else size.n_train


def pool_for(shape: tuple, n: int) -> int:
    """The average-pooling factor (1, 2, 4, ...) of images of ``shape`` ``(C, H, W)`` at which ``n`` of them hold
    at most :data:`KERNEL_MAX_VALUES` values, no side below :data:`KERNEL_MIN_SIDE` pixels (the largest such
    factor if none fits: the plan then leaves the family out)."""
    c, sides = shape[0], shape[1:]
    p = 1
    while n * c * math.prod(s // p for s in sides) > KERNEL_MAX_VALUES and min(sides) // (2 * p) >= KERNEL_MIN_SIDE:
        p *= 2
    return p


def kernel_fit_seconds(n: int, values: int) -> float:
    """Predicted seconds of one RBF kernel ridge fit (:class:`autofast.models.rbf_ridge.RBFKernelRidge`) on ``n``
    examples of ``values`` input values each."""
    from autofast.models.rbf_ridge import GAMMAS, WIDTH_ROWS

    eighs = len(GAMMAS) * n ** 3 if n <= WIDTH_ROWS else len(GAMMAS) * WIDTH_ROWS ** 3 + n ** 3
    return KERNEL_SECONDS_PER_CUBE * eighs + KERNEL_SECONDS_PER_DISTANCE * n * n * values


def _rungs(R: int, eta: float) -> int:
    """Promotions below the top rung: as many as keep the first rung >= 1 epoch, at most 4."""
    m = 0
    while m < 4 and R / eta ** (m + 1) >= 1:
        m += 1
    return m


def asha_epochs(n_configs: int, r: float, m: int, eta: float) -> float:
    """Epochs ASHA trains in all (resumed promotions): ``n r (1 + m (eta - 1) / eta)``."""
    return n_configs * r * (1 + m * (eta - 1) / eta)


def make_plan(size: DataSize, cost: StepCost, budget: float, budget_source: str, given: dict,
              arch: str = "auto", eta: float = 2.0, elapsed: float = 0.0, beside: bool = False) -> Plan:
    """Derive the plan (module docstring). ``given``: option name -> value the user set (kept as is; names
    in :data:`PLANNED`); ``elapsed``: seconds already spent (loading, measuring), taken off the budget;
    ``beside``: the host-CPU families (k-mer model, kernel SVM) run in a process of their own beside the device
    stages (:mod:`autofast.search.host`: every device a GPU), so their fits take no share of the budget the
    device stages split; they are planned where they end within the run (``(1 - MARGIN)`` of the time left).

    Cross-validation trains k models per configuration; when that would leave a top rung of fewer than
    :data:`MIN_CV_UPDATES` updates (an expensive network, a short budget: a 2-D UNet on Darcy in 2 minutes
    got 10), the plan falls back to the hold-out split, which is noisier but lets a network train; not for
    classification (or values of series, images, DNA) with a validation split under :data:`MIN_HOLDOUT_VAL`
    examples, where a hold-out score is
    noise (ACSF1 on a loaded 2-core machine: 10 examples), so the folds stay and the networks train less.

    With ``arch`` auto, the DASH stage is planned only when the plain network's top rung still gets at least
    :data:`DASH_MIN_SHARE` of the epochs it wants: a budget that cannot train even the plain network is not
    spent on a supernet and on a second architecture (motif, 120 s: DASH + two architectures 0.985 vs the
    plain arm's 0.997 over 3 seeds, its top rung cut from 188 epochs to 32).

    Raises AutofastError (one line, with the minimum) when the budget cannot pay one epoch of the network.
    """
    try:
        plan = _plan_dash_if_it_pays(size, cost, budget, budget_source, given, arch, eta, elapsed, beside)
    except BudgetTooSmall as exc:
        return _without_networks_epoch(exc, size, cost, budget, budget_source, given, arch, eta, elapsed, beside)
    if arch == "rocket":
        return _features_in_budget(plan, size, cost, given, eta, elapsed, beside)
    top = plan.max_epochs * plan.updates_per_epoch
    # a score on a few dozen labels or values is noise (dense fields: each example is a whole field)
    tiny_val = size.n_val < MIN_HOLDOUT_VAL and (size.num_classes > 0 or size.kind in ("dna", "image", "series"))
    if plan.folds and "folds" not in given and arch != "rocket" and top < MIN_CV_UPDATES and not tiny_val:
        try:
            return _on_hold_out(lambda g: _plan_dash_if_it_pays(size, cost, budget, budget_source, g, arch, eta,
                                                                elapsed, beside), given,
                                f"{plan.folds}-fold training would leave a top rung of {top} updates "
                                f"(< {MIN_CV_UPDATES}) in this budget: hold-out validation split")
        except AutofastError:
            return plan
    return plan


def _on_hold_out(make, given: dict, why: str) -> Plan:
    """``make(options)`` with ``folds: 0`` added to ``given`` (the hold-out split instead of k folds), ``why`` said;
    the folds are the plan's choice, not listed as given."""
    plan = make({**given, "folds": 0})
    return replace(plan, why={**plan.why, "folds": why}, given=tuple(g for g in plan.given if g != "folds"))


class BudgetTooSmall(AutofastError):
    """The budget cannot pay two epochs of the smallest network (or the features' fits): ``need`` seconds for
    one, at ``folds`` folds."""

    def __init__(self, message: str, need: float, folds: int, what: str) -> None:
        super().__init__(message)
        self.need, self.folds, self.what = need, folds, what  # what: what overran, for the hold-out fallback's reason


def _without_networks_epoch(exc: BudgetTooSmall, size: DataSize, cost: StepCost, budget: float, budget_source: str,
                            given: dict, arch: str, eta: float, elapsed: float, beside: bool) -> Plan:
    """Where the budget cannot pay a network's epochs: the hold-out split instead of k folds (folds not given: a
    default budget refused itself for 900 image patches, an epoch of 5 fold networks), else -- ``arch`` auto on
    a 1-D task -- the feature families alone (300 series of 3 000 steps at 25 s: one error line after 95 s where
    MiniRocket takes 4 s); else ``exc``."""
    tried = exc
    if exc.folds and "folds" not in given:
        try:
            return _on_hold_out(lambda g: _plan_dash_if_it_pays(size, cost, budget, budget_source, g, arch, eta,
                                                                elapsed, beside), given,
                                f"{exc.folds}-fold training: {exc.what}, more than the budget pays: "
                                "hold-out validation split")
        except BudgetTooSmall as again:
            tried = again
    one_d = len(size.example_shape) == 2 and size.kind in ("dna", "series")
    if arch == "auto" and one_d:
        try:
            plan = _features_in_budget(_make_plan(size, cost, budget, budget_source, given, "rocket", eta, elapsed,
                                                  beside), size, cost, given, eta, elapsed, beside)
        except BudgetTooSmall:
            raise tried from None
        return replace(plan, why={**plan.why, "arch": f"one epoch of the smallest network takes ~{tried.need:.0f}s "
                                                      "here, more than the budget pays: the feature families only"})
    raise tried  # the hold-out plan's minimum where it was tried (the k-fold one asked 4-5x what runs)


def _features_in_budget(plan: Plan, size: DataSize, cost: StepCost, given: dict, eta: float, elapsed: float,
                        beside: bool) -> Plan:
    """A features-only plan whose k-fold fits (k per family and input) overrun the budget: the hold-out split
    instead (one fit each), unless ``--folds`` was given (300 series of 3 000 steps: 41 s at a 25 s budget)."""
    if plan.predicted["total"] <= plan.budget or not plan.folds or "folds" in given:
        return plan
    return _on_hold_out(lambda g: _make_plan(size, cost, plan.budget, plan.budget_source, g, "rocket", eta, elapsed,
                                             beside), given,
                        f"{plan.folds}-fold fits of the features ~{plan.predicted['total']:.0f}s, more than the "
                        "budget: hold-out validation split")


#: the random-convolution family's ridge: one eigendecomposition of the n x n Gram matrix per fit (n examples,
#: fewer than its ~10 000 features), seconds per n^3 on 2 cores (4 000 series: 37.7 s of feature fits where the
#: per-value price alone predicted 6 s)
RIDGE_SECONDS_PER_N3 = 1.2e-10
ROCKET_FEATURES = 9_996


def _feature_fit_seconds(per_example: float, n: int) -> float:
    """One random-convolution (or Hydra) fit on ``n`` examples: the transform (``per_example``: the measured cost's
    ``rocket_per_example`` or ``hydra_per_example``) and the ridge's eigendecomposition (cubic in the smaller of
    examples and features)."""
    return per_example * n + RIDGE_SECONDS_PER_N3 * min(n, ROCKET_FEATURES) ** 3


def _default_folds(size: DataSize) -> tuple[int, str]:
    """(folds, why) before the budget is considered: k-fold CV for a small validation split."""
    if size.kind == "timeseries":
        return 0, "forecasting windows keep their time order"
    if size.n_val >= CV_BELOW_VAL:
        return 0, f"validation split of {size.n_val} is large enough"
    if size.val_file and size.n_val >= MIN_HOLDOUT_VAL:  # the user's own choice of where to select (e.g. a later period)
        return 0, (f"the task's own validation file ({size.n_val} examples): candidates are selected there, not on "
                   "folds that pool it with the training rows")
    folds = CV_FOLDS
    if size.min_class_count and size.min_class_count < folds:
        folds = size.min_class_count if size.min_class_count >= 2 else 0
    if 0 < size.n_pool < folds:  # values: a few examples (classes are bounded by their smallest above)
        folds = size.n_pool if size.n_pool >= 2 else 0
    many = size.num_classes and size.num_classes * 3 > size.n_train + size.n_val  # 70 classes of 150 examples
    return folds, (f"validation split of {size.n_val} < {CV_BELOW_VAL}: a hold-out score would be noise"
                   if folds else "a class has fewer than 2 examples: hold-out") + (
        f"; {size.num_classes} classes for {size.n_train + size.n_val} examples: if the labels are values (counts, "
        "scores), give 'target: regression' in a task file" if many else "")


def _wanted_epochs(updates_per_epoch: int) -> int:
    return min(MAX_EPOCHS_R, max(MIN_EPOCHS_R, math.ceil(TARGET_UPDATES / max(1, updates_per_epoch))))


def _plan_dash_if_it_pays(size: DataSize, cost: StepCost, budget: float, budget_source: str, given: dict,
                          arch: str, eta: float, elapsed: float, beside: bool) -> Plan:
    plan = _make_plan(size, cost, budget, budget_source, given, arch, eta, elapsed, beside)
    if arch != "auto" or not plan.dash or {"search_epochs", "max_epochs"} & set(given):
        return plan
    want = _wanted_epochs(plan.updates_per_epoch)
    if plan.max_epochs >= DASH_MIN_SHARE * want:
        return plan
    bare = _make_plan(size, cost, budget, budget_source, given, arch, eta, elapsed, beside, allow_dash=False)
    why = {**bare.why, "dash": f"the budget pays a top rung of {plan.max_epochs} of the {want} epochs wanted with a "
                               f"DASH stage (< {DASH_MIN_SHARE:.0%}): plain pattern only, {bare.max_epochs} epochs"}
    return replace(bare, why=why)


def _make_plan(size: DataSize, cost: StepCost, budget: float, budget_source: str, given: dict,
               arch: str, eta: float, elapsed: float, beside: bool = False, allow_dash: bool = True) -> Plan:
    if arch not in ARCHES:
        raise AutofastError(f"--arch {arch!r}: choose one of {', '.join(ARCHES)}")
    why: dict[str, str] = {}
    regression = size.num_classes == 0
    classify_1d = not regression and len(size.example_shape) == 2 and size.kind in ("dna", "series")
    values_1d = regression and len(size.example_shape) == 2 and size.kind in ("dna", "series")  # 1-D regression
    left = budget - elapsed

    if regression and size.n_pool < 3:
        raise AutofastError(f"the task has {size.n_pool} train+val example(s) with values; a regression needs at "
                            "least 3 (two to fit, one to score)")
    folds = given.get("folds")
    if folds is not None:
        why["folds"] = "given"
        if folds > size.n_pool:
            raise AutofastError(f"--folds {folds}: the task has {size.n_pool} train+val examples, too few for "
                                f"{folds} folds; give --folds {size.n_pool} or fewer (0: a hold-out split)")
    else:
        folds, why["folds"] = _default_folds(size)
    n_fit = fit_rows(size, folds)
    batch = given.get("batch_size") or batch_for(n_fit)
    why.setdefault("batch_size", "given" if "batch_size" in given else f"~{n_fit} training examples / 10, in 8..64")
    upe = math.ceil(n_fit / min(batch, n_fit))
    members_per_trial = max(folds, 1)
    alone = members_per_trial * cost.epoch(n_fit, batch)  # one trial's epoch, trained alone
    # what a trial's epoch costs ASHA: where trials fuse (a GPU), its share of a fused group's epoch
    trial_epoch = alone if folds else cost.trial_epoch(n_fit, batch)
    if not folds and cost.fused_trials > 1:
        why["fused"] = (f"trials fused {cost.fused_trials} at a time: {trial_epoch / max(alone, 1e-12):.2f}x a "
                        "trial's epoch alone (measured)")
    rocket_only = arch == "rocket"
    with_features = arch in ("auto", "rocket") and (classify_1d or values_1d)
    # one fit and the final refit of the features, where they are planned (the minimum named left them out:
    # splice's "at least 10" ran 26 s)
    features_min = 2 * _feature_fit_seconds(cost.rocket_per_example, size.n_pool) if with_features else 0.0
    # the one test evaluation of the final networks (a feature family's is in its refit): one per fold model,
    # or per retrain member (more members: added where the ensemble is sized)
    test_one = 0.0 if rocket_only else cost.evaluation(size.n_test)
    test_s = test_one * members_per_trial
    minimum = elapsed + (features_min if rocket_only else 2 * alone + features_min + test_s) + 1.0
    if budget < minimum:
        tested = test_s >= 1.0  # the test evaluation named where it counts
        need = minimum - elapsed - 1.0 if rocket_only else alone
        what = (f"the random-convolution features take ~{need:.1f}s" if rocket_only else
                f"one epoch of the smallest network takes ~{alone:.1f}s"
                + (f" and its test evaluation ~{test_s:.1f}s" if tested else ""))
        raise BudgetTooSmall(f"--time-budget {budget:.0f}s is too small for this data: {what} here; give at least "
                             f"--time-budget {math.ceil(minimum)}", need=need, folds=folds,
                             what=f"one epoch ~{alone:.0f}s" + (f" and the test evaluation ~{test_s:.0f}s"
                                                                if tested else ""))

    rocket = arch in ("auto", "rocket") and (classify_1d or values_1d)
    if arch == "rocket" and not rocket:
        raise AutofastError(f"--arch rocket is for 1-D tasks (DNA, series: classes or values), not "
                            f"this {size.kind} {'regression ' if regression else ''}task; use --arch auto")
    rocket_s = (_feature_fit_seconds(cost.rocket_per_example, size.n_pool)
                * (members_per_trial * input_variants("rocket", size) + ROCKET_FINAL_DRAWS) if rocket else 0.0)
    hydra_fits = (_feature_fit_seconds(cost.hydra_per_example, size.n_pool)
                  * (members_per_trial * input_variants("hydra", size) + HYDRA_FINAL_DRAWS))
    hydra = rocket and size.kind == "series" and hydra_fits <= HYDRA_SHARE * left
    if rocket and size.kind == "series" and not hydra:
        why["hydra"] = f"Hydra's fits ~{hydra_fits:.0f}s > {HYDRA_SHARE:g} of the {left:.0f}s left: no Hydra features"
    hydra_s = hydra_fits if hydra else 0.0
    # 4 L + 16 (L - 1) (+ 64 (L - 2) at order 3) features (autofast.models.kmer.kmer_feature_count); fitted per
    # fold and once more at the end; the highest order whose example x feature values fit the cap
    length = size.example_shape[-1]
    values = {3: size.n_pool * (4 * length + 16 * (length - 1) + 64 * max(length - 2, 0)),
              2: size.n_pool * (4 * length + 16 * (length - 1))}
    # the weighted-degree kernel SVM: aligned DNA of at most WD_MAX_EXAMPLES rows, fitted per fold and once more
    # at the end, when those fits take at most WD_SHARE of the budget left, else without its shift stage when
    # those take at most WD_QUICK_SHARE; it takes the k-mer family's place
    dna = arch == "auto" and classify_1d and size.kind == "dna"
    n_fits = fit_rows(size, folds) ** 2 * members_per_trial
    pairs = length * (n_fits + size.n_pool ** 2) if dna else 0
    wd_full_s, wd_quick_s = WD_SECONDS_PER_VALUE * pairs, WD_QUICK_SECONDS_PER_VALUE * pairs
    # beside the device stages a host family has the whole run (less the margin) to itself
    def share(in_line: float) -> float:
        return 1 - MARGIN if beside else in_line
    fits_rows = dna and size.n_pool <= WD_MAX_EXAMPLES
    wd_shifts = wd_full_s <= share(WD_SHARE) * left
    wd = fits_rows and (wd_shifts or wd_quick_s <= share(WD_QUICK_SHARE) * left)
    full_why = f"with shifts: fits ~{wd_full_s:.0f}s > {share(WD_SHARE):g} of the {left:.0f}s left"
    if fits_rows and wd and not wd_shifts:
        why["wd"] = f"{full_why}; without its shift stage ~{wd_quick_s:.0f}s"
    elif dna and not wd:
        why["wd"] = (f"{size.n_pool} train+val rows > {WD_MAX_EXAMPLES}" if size.n_pool > WD_MAX_EXAMPLES else
                     f"{full_why}; without shifts ~{wd_quick_s:.0f}s > {share(WD_QUICK_SHARE):g}") \
            + ": no weighted-degree kernel SVM"
    wd_s = (wd_full_s if wd_shifts else wd_quick_s) if wd else 0.0
    # the k-mer family otherwise: whose predicted fits take at most KMER_SHARES[order] of the budget left
    kmer = 0
    if dna and wd:
        why["kmer"] = "the weighted-degree kernel SVM takes its place"
    elif dna:
        fits = {o: KMER_SECONDS_PER_VALUE * values[o] * (members_per_trial + 1) for o in (3, 2)}
        reasons = []
        for order in (3, 2):
            if values[order] > KMER_MAX_VALUES:
                reasons.append(f"order {order}: {values[order]:.2g} example x feature values > {KMER_MAX_VALUES:.0e}")
            elif fits[order] > share(KMER_SHARES[order]) * left:
                reasons.append(f"order {order}: fits ~{fits[order]:.0f}s > {share(KMER_SHARES[order]):g} of the "
                               f"{left:.0f}s left")
            else:
                kmer = order
                break
        if reasons:
            why["kmer"] = "; ".join(reasons) + ("" if kmer else ": no k-mer family")
    kmer_s = KMER_SECONDS_PER_VALUE * values[kmer] * (members_per_trial + 1) if kmer else 0.0
    # forecasting windows: ridge from the flattened window to every output, fitted twice (scored, then final)
    # on every training window (the pool counts the windows train_stride kept)
    in_values = math.prod(size.example_shape)
    # ... and dense fields (a PDE surrogate's linear baseline: at 60-90 s RidgeCV beat the networks' few epochs),
    # where the coefficient matrix stays small
    dense_linear = size.kind == "dense" and regression and in_values * max(size.target_values, 1) <= LINEAR_MAX_COEFS
    linear = arch == "auto" and (size.kind == "timeseries" or dense_linear)
    linear_s = 2 * LINEAR_SECONDS_PER_VALUE * size.n_pool * in_values * in_values if linear else 0.0
    # images: RBF kernel ridge on the pixels, fitted per fold (or on the training split) and once more at the end;
    # images too large for the model's support read average-pooled (2 x 2, 4 x 4, ...: kernel_pool)
    kernel_s, kernel_pool = 0.0, 1
    if arch == "auto" and size.kind == "image":
        kernel_pool = pool_for(size.example_shape, size.n_pool)
        pooled = size.example_shape[0] * math.prod(s // kernel_pool for s in size.example_shape[1:])
        kernel_s = (members_per_trial * kernel_fit_seconds(n_fit, pooled)
                    + kernel_fit_seconds(size.n_pool, pooled))
        if kernel_pool > 1:
            why["kernel_pool"] = (f"{size.n_pool} images x {in_values} values > {KERNEL_MAX_VALUES:.0e} (the model "
                                  f"keeps them): the kernel ridge reads them {kernel_pool} x {kernel_pool} "
                                  "average-pooled")
        if n_fit < 3:
            why["kernel"] = f"{n_fit} training images per fit (< 3): no RBF kernel ridge"
        elif size.n_pool > KERNEL_MAX_EXAMPLES:
            why["kernel"] = f"{size.n_pool} train+val images > {KERNEL_MAX_EXAMPLES}: no RBF kernel ridge"
        elif size.n_pool * pooled > KERNEL_MAX_VALUES:
            why["kernel"] = (f"{size.n_pool} images x {pooled} values > {KERNEL_MAX_VALUES:.0e} (the model keeps "
                             f"them) even pooled to {KERNEL_MIN_SIDE} pixels a side: no RBF kernel ridge")
        elif kernel_s > KERNEL_SHARE * left:
            why["kernel"] = (f"its fits ~{kernel_s:.0f}s > {KERNEL_SHARE:g} of the {left:.0f}s left: no RBF kernel "
                             "ridge")
        kernel_s = 0.0 if "kernel" in why else kernel_s
    kernel = kernel_s > 0
    kernel_pool = kernel_pool if kernel else 1
    usable = (left * (1 - MARGIN) - rocket_s - hydra_s - linear_s - kernel_s - test_s
              - (0.0 if beside else kmer_s + wd_s))

    # DASH stage
    dash = arch == "dash" or (arch == "auto" and allow_dash)
    frac = given.get("search_batch_fraction") or 1.0
    search_epochs = given.get("search_epochs") or 0
    dash_s = 0.0
    if dash:
        s_epoch = cost.supernet_epoch(size.n_train, batch, frac)
        if not search_epochs:
            want = min(100, max(10, math.ceil(DASH_TARGET_UPDATES / max(1, round(upe * frac)))))
            can = int(DASH_SHARE * usable // max(s_epoch, 1e-9))
            search_epochs = min(want, can)
            why["search_epochs"] = (f"{want} epochs = ~{DASH_TARGET_UPDATES} updates" if search_epochs == want
                                    else f"cut to {DASH_SHARE:.0%} of the budget")
            if search_epochs < MIN_DASH_EPOCHS and arch == "auto":
                dash, search_epochs = False, 0
                why["dash"] = (f"the budget pays {max(can, 0)} supernet epochs (< {MIN_DASH_EPOCHS}): plain pattern "
                               "only")
        else:
            why["search_epochs"] = "given"
        dash_s = search_epochs * s_epoch if dash else 0.0
    arch_used = arch if arch != "auto" else ("auto" if dash else "plain")
    if arch == "rocket":
        dash, search_epochs, dash_s = False, 0, 0.0
    usable -= dash_s
    # ASHA's and the retrain's epochs cost the plain network's, more where some or all trials have a DASH
    # pattern; ASHA's share cuts the top rung R at the plain network's epoch (R protects the plain network's
    # training), the final share at the retrain's
    arch_factor = DASH_TRIAL_FACTOR if arch == "dash" else (1 + DASH_TRIAL_FACTOR) / 2 if dash else 1.0
    plain_epoch, trial_epoch = trial_epoch, trial_epoch * arch_factor

    # the top rung R: enough updates, cut so that ~4 full trials fit ASHA's share and one retrain the final share
    holdout_final = not folds and arch != "rocket"
    final_budget = usable * FINAL_SHARE / (1 - DASH_SHARE) if holdout_final else 0.0
    epoch_pool = cost.group_epoch(size.n_pool, batch, 1) * arch_factor  # one retrain epoch on train+val
    R = given.get("max_epochs")
    if R is None:
        want = _wanted_epochs(upe)
        afford = int((usable - final_budget) / (4 * plain_epoch)) if plain_epoch > 0 else want
        if holdout_final and "retrain_epochs" not in given:
            afford = min(afford, int(final_budget / max(epoch_pool, 1e-9)))
        R = max(1, min(want, afford))
        why["max_epochs"] = (f"{want} epochs = ~{TARGET_UPDATES} updates" if R == want else
                             f"cut from {want} to fit the budget")
    else:
        why["max_epochs"] = "given"
    r = given.get("min_epochs")
    if r is None:
        m = _rungs(R, eta)
        r = max(1, round(R / eta**m))
        if "max_epochs" not in given:
            R = int(r * eta**m)
    m = len([k for k in range(8) if r * eta**k < R])

    # the final stage first (hold-out: retrain ensemble), then ASHA gets the rest
    retrain_epochs = given.get("retrain_epochs") or R
    ensemble = given.get("ensemble")
    final_s = 0.0
    if not holdout_final:
        ensemble = ensemble or 1
        why["ensemble"] = "cross-validation: the fold models are the ensemble" if folds else "not used"
    else:
        def members_s(e: int) -> float:  # e members one after another, or fused where trials fuse; the
            # test evaluation of each beyond the first (that one's is reserved above)
            return retrain_epochs * arch_factor * cost.group_epoch(size.n_pool, batch, e) + (e - 1) * test_one

        if ensemble is None:  # as many as fit the share, or as cost no more than one member (fused)
            ensemble = max(e for e in range(1, ENSEMBLE_MAX + 1) if members_s(e) <= max(final_budget, members_s(1)))
            why["ensemble"] = (f"{ensemble} member(s) trained fused, ~{members_s(ensemble):.0f}s together, fit the "
                               "final share" if cost.fused_trials > 1 and ensemble > 1 else
                               f"{ensemble} member(s) of ~{members_s(1):.0f}s fit the final share")
        else:
            why["ensemble"] = "given"
        final_s = members_s(ensemble)
    n = given.get("n_configs")
    if n is None:
        per_config = trial_epoch * r * (1 + m * (eta - 1) / eta)
        n = int((usable - final_s) // max(per_config, 1e-9))
        n = max(MIN_CONFIGS, min(MAX_CONFIGS, n))
        why["n_configs"] = (f"{n} configurations fill the rest of the budget" if n < MAX_CONFIGS else
                            f"capped at {MAX_CONFIGS}")
    else:
        why["n_configs"] = "given"
    asha_s = trial_epoch * asha_epochs(n, r, m, eta) if arch != "rocket" else 0.0
    predicted = {"measure_and_load": round(elapsed, 2), "rocket": round(rocket_s, 2), "hydra": round(hydra_s, 2),
                 "kmer": round(kmer_s, 2),
                 "wd": round(wd_s, 2),
                 "linear": round(linear_s, 2),
                 "kernel": round(kernel_s, 2),
                 "dash": round(dash_s, 2),
                 "asha": round(asha_s, 2), "final": round(final_s, 2), "test": round(test_s, 2)}
    # the total is the device stages' timeline: families beside it end within it
    predicted["total"] = round(sum(v for k, v in predicted.items() if not (beside and k in ("kmer", "wd"))), 2)
    return Plan(budget=float(budget), budget_source=budget_source, arch=arch_used, dash=dash, rocket=rocket,
                batch_size=int(batch), folds=int(folds), search_epochs=int(search_epochs),
                search_batch_fraction=float(frac), min_epochs=int(r), max_epochs=int(R), eta=float(eta),
                n_configs=int(n), retrain_epochs=int(retrain_epochs), ensemble=int(ensemble),
                updates_per_epoch=int(upe), predicted=predicted, why=why,
                given=tuple(sorted(k for k in given if k in PLANNED)), kmer=kmer, linear=linear, wd=wd, kernel=kernel,
                kernel_pool=kernel_pool,
                wd_shifts=bool(wd and wd_shifts), hydra=hydra, beside=beside and bool(kmer or wd))
