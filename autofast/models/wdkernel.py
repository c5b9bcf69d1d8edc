"""The weighted-degree string kernel SVM for aligned DNA (splice sites, promoters, any window centred on a site).

The weighted-degree (WD) kernel (Rätsch & Sonnenburg 2004; Sonnenburg et al. 2007, the splice-site
recognisers of that work) counts the substrings two aligned sequences share AT THE SAME POSITION, up to a
length ``D``, length ``d`` weighted by ``beta_d = 2 (D - d + 1) / (D (D + 1))``::

    k(x, x') = (1 / L) sum_i sum_{d = 1..D} beta_d [x[i : i + d] == x'[i : i + d]]

It is computed from ``r_i``, the length of the run of equal bases starting at position ``i``
(``r_i = m_i (1 + r_{i+1})``, ``m_i``: the same base at ``i``): the inner sum is ``B_D(min(r_i, D))``, ``B_D``
the cumulative sum of ``beta`` (an integer over ``D (D + 1)``: int16/int32 arithmetic, exact). WITH SHIFTS
(Rätsch, Sonnenburg & Schölkopf 2005; :func:`wds_kernels`) the same sums along the diagonals ``s = 1..S``
positions off, both ways, weighted ``1 / (2 (s + 1))``, also count a substring a few bases from its place in
the other sequence. A position holding an ambiguous base (an IUPAC code spread over several
bases, not one-hot) matches nothing. Where the positional k-mer model (:mod:`.kmer`) sees single bases and
adjacent pairs, this kernel sees every shared substring up to ``D`` bases, at the cost of one ``N x N``
kernel matrix per degree (``search`` plans it up to 4 000 rows: :data:`autofast.search.plan.WD_MAX_EXAMPLES`).

:class:`WDKernelSVM`: one soft-margin SVM per class (one-vs-rest; scikit-learn's ``SVC`` on the precomputed
kernel), whose scores are the ``K`` margins. ``D`` and ``C`` are chosen among :data:`DEGREES` x :data:`C_GRID`,
then the shift ``S`` among :data:`SHIFTS` (with ``C`` again) at that ``D``, by stratified 3-fold
cross-validation of the log loss of ``softmax(T * margins)`` (``T`` fitted on the out-of-fold margins) on the
rows it is fitted on. The fitted model keeps its support vectors (as base codes)
and their dual coefficients as tensors: it is data (``state_dict``) and predicts on any device.

Measured on splice (3 190 sequences of 60 nt; fitted on train+val, test accuracy): without shifts 0.9734 /
0.9734 / 0.9702 on split seeds 0-2 against the positional k-mer model's 0.9624 / 0.9608 / 0.9608, averaged with
the CNN (:mod:`autofast.search.blend`) 0.9749 ± 0.0031 over 9 runs against 0.9706 ± 0.0051 with the k-mer model
(session 15); shifts chosen by the cross-validation (S 4 or 8 on every split) 0.9752 vs 0.9726 without over split
seeds 0-5, in ~11 s per fit (2 cores) instead of ~4 (session 16, bench/README.md).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from autofast.errors import AutofastError

from .labels import class_labels
from .temperature import fit_temperature

__all__ = ["WDKernelSVM", "dna_codes", "wd_kernels", "DEGREES", "C_GRID", "SHIFTS"]

DEGREES = (6, 12, 24)
C_GRID = (0.5, 1.0, 2.0, 4.0)
SHIFTS = (0, 2, 4, 8)
CV_FOLDS = 3
_CHUNK_VALUES = 1 << 20  # pairs of sequences per step of the run-length recursion
MAX_DEGREE = 180  # D (D + 1) fits the int16 terms of the recursion
MAX_LENGTH = 32_000  # run lengths fit int16


def dna_codes(x: torch.Tensor) -> torch.Tensor:
    """``(N, 4, L)`` one-hot DNA (any float dtype) -> ``(N, L)`` int8 base codes 0..3, ``-1`` where the
    position is not one-hot (an ambiguous base, or padding)."""
    if x.dim() != 3 or x.shape[1] != 4:
        raise AutofastError(f"weighted-degree kernel: one-hot DNA of shape (N, 4, L) expected, got {tuple(x.shape)}")
    x = x.detach()
    one_hot = ((x == 0) | (x == 1)).all(1) & (x.sum(1) == 1)
    return torch.where(one_hot, x.argmax(1), -1).to(torch.int8)


def _add_diagonal(a: torch.Tensor, b: torch.Tensor, offset: int, degrees: tuple[int, ...],
                  weight: float, out: torch.Tensor) -> None:
    """Add ``weight * sum_i B_D(min(r_i, D)) / L`` to ``out[g]`` (``D = degrees[g]``) for every pair, ``r_i``
    the run of equal bases from position ``i + offset`` of ``a`` and ``i`` of ``b`` (``offset`` may be negative:
    then from ``i`` of ``a`` and ``i - offset`` of ``b``). ``a``, ``b``: int8 codes with ambiguous bases as
    -1 in ``a`` and -2 in ``b`` (they never match). ``B_D(m) = m (2 D + 1 - m) / (D (D + 1))`` is an integer
    over ``D (D + 1)``, so each pair's sum is exact in int32 before the one float64 division."""
    length = a.shape[1]
    if offset >= 0:
        a, b = a[:, offset:], b[:, :length - offset]
    else:
        a, b = a[:, :length + offset], b[:, -offset:]
    step = max(1, _CHUNK_VALUES // max(1, len(b)))
    for s in range(0, len(a), step):
        rows = a[s:s + step]
        shape = (len(rows), len(b))
        run, m, t = (torch.zeros(shape, dtype=torch.int16, device=b.device) for _ in range(3))
        same = torch.empty(shape, dtype=torch.bool, device=b.device)
        acc = torch.zeros((len(degrees),) + shape, dtype=torch.int32, device=b.device)
        for i in range(a.shape[1] - 1, -1, -1):
            torch.eq(rows[:, None, i], b[None, :, i], out=same)
            run.add_(1).mul_(same)
            for g, d in enumerate(degrees):
                torch.clamp(run, max=d, out=m)
                torch.sub(m, 2 * d + 1, out=t)  # -(2 D + 1 - m): the sign is undone below
                acc[g] -= t.mul_(m)
        for g, d in enumerate(degrees):
            out[g, s:s + len(rows)] += acc[g].double() * (weight / (d * (d + 1) * length))


def _codes_pair(a: torch.Tensor, b: torch.Tensor, degrees: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise AutofastError(f"weighted-degree kernel: code rows of one length expected, got {tuple(a.shape)} and "
                            f"{tuple(b.shape)}")
    if not degrees or min(degrees) < 1 or max(degrees) > MAX_DEGREE:
        raise AutofastError(f"weighted-degree kernel: degrees must lie in 1..{MAX_DEGREE}, got {degrees}")
    if a.shape[1] > MAX_LENGTH:
        raise AutofastError(f"weighted-degree kernel: sequences of {a.shape[1]} positions; at most {MAX_LENGTH} "
                            f"(cut them to the window around the site)")
    b = b.to(torch.int8)
    a = a.to(device=b.device, dtype=torch.int8)
    return torch.where(a < 0, -1, a).to(torch.int8), torch.where(b < 0, -2, b).to(torch.int8)


def wd_kernels(a: torch.Tensor, b: torch.Tensor, degrees: tuple[int, ...]) -> torch.Tensor:
    """The WD kernels of every degree in ``degrees`` between the code rows of ``a`` ``(Na, L)`` and ``b``
    ``(Nb, L)`` (:func:`dna_codes`): ``(len(degrees), Na, Nb)`` float64 on ``b``'s device, each divided by ``L``."""
    degrees = tuple(int(d) for d in degrees)
    a, b = _codes_pair(a, b, degrees)
    out = torch.zeros(len(degrees), len(a), len(b), dtype=torch.float64, device=b.device)
    _add_diagonal(a, b, 0, degrees, 1.0, out)
    return out


def wds_kernels(a: torch.Tensor, b: torch.Tensor, degree: int, shifts: tuple[int, ...]) -> torch.Tensor:
    """The weighted-degree kernels WITH SHIFTS (Rätsch, Sonnenburg & Schölkopf 2005) of one ``degree``, for
    each maximal shift ``S`` in ``shifts`` (ascending): ``(len(shifts), Na, Nb)`` float64::

        k_S(x, x') = wd(x, x') + sum_{s = 1..S} (1 / (2 (s + 1))) (wd_s(x, x') + wd_s(x', x))

    ``wd_s(x, x')``: the WD sum over substrings of ``x`` starting ``s`` positions after the matching substring
    of ``x'`` (divided by ``L`` like ``wd``); ``S = 0`` is :func:`wd_kernels`. A motif a few bases off its usual
    place still counts, less the farther it is. Each shift costs two passes of the WD kernel's."""
    a, b = _codes_pair(a, b, (int(degree),))
    out = torch.empty(len(shifts), len(a), len(b), dtype=torch.float64, device=b.device)
    for j, (_, running) in enumerate(_shift_sums(a, b, int(degree), shifts)):
        out[j] = running
    return out


def _shift_sums(a: torch.Tensor, b: torch.Tensor, degree: int, shifts: tuple[int, ...]):
    """Yield ``(S, k_S)`` for each ``S`` in ``shifts`` (codes prepared by :func:`_codes_pair`); ``k_S`` is ONE
    running ``(Na, Nb)`` float64 sum, updated in place after the yield (copy what you keep)."""
    shifts = tuple(int(v) for v in shifts)
    if not shifts or shifts[0] < 0 or list(shifts) != sorted(set(shifts)):
        raise AutofastError(f"weighted-degree kernel: shifts must be ascending non-negative integers, got {shifts}")
    running = torch.zeros(1, len(a), len(b), dtype=torch.float64, device=b.device)
    _add_diagonal(a, b, 0, (degree,), 1.0, running)
    done = 0
    for top in shifts:
        for v in range(done + 1, min(top, a.shape[1] - 1) + 1):
            _add_diagonal(a, b, v, (degree,), 1.0 / (2 * (v + 1)), running)
            _add_diagonal(a, b, -v, (degree,), 1.0 / (2 * (v + 1)), running)
        done = max(done, top)
        yield top, running[0]


def _ovr(kernel: np.ndarray, labels: np.ndarray, c: float, k: int) -> list:
    """The one-vs-rest SVMs on a precomputed ``kernel`` (two classes: one SVM, class 1 positive)."""
    from sklearn.svm import SVC

    classes = [1] if k == 2 else range(k)
    return [SVC(C=c, kernel="precomputed").fit(kernel, (labels == j).astype(np.int64)) for j in classes]


def _margins(svms: list, kernel: np.ndarray) -> np.ndarray:
    """``(N, K)`` class scores of :func:`_ovr`'s SVMs on ``kernel`` rows (two classes: ``[-z/2, z/2]``)."""
    z = np.stack([m.decision_function(kernel) for m in svms], axis=1)
    return np.concatenate([-z / 2, z / 2], axis=1) if len(svms) == 1 else z


def _cv_loss(kernel: np.ndarray, labels: np.ndarray, k: int, split: list, c: float) -> float:
    """Out-of-fold log loss of softmax(T * margins) (``T`` fitted on them) of :func:`_ovr` at ``c``."""
    oof = np.zeros((len(labels), k))
    for inside, held in split:
        oof[held] = _margins(_ovr(kernel[np.ix_(inside, inside)], labels[inside], c, k), kernel[np.ix_(held, inside)])
    scores, target = torch.from_numpy(oof), torch.from_numpy(labels)
    return float(torch.nn.functional.cross_entropy(fit_temperature(scores, target) * scores, target))


class WDKernelSVM:
    """One-vs-rest SVMs on the weighted-degree kernel, ``D`` and ``C`` by cross-validation (see the module).

    ``fit(x, y)``: ``x`` ``(N, 4, L)`` float one-hot DNA, ``y`` ``(N,)`` int64 labels ``0..K-1`` (every class
    present; memory at most ``3 N^2`` float64). ``decision_function(x)`` ``(N, K)`` float32 margins on ``x``'s device;
    ``predict``, ``score`` as in scikit-learn."""

    def __init__(self, degrees: tuple[int, ...] = DEGREES, cs: tuple[float, ...] = C_GRID,
                 shifts: tuple[int, ...] = SHIFTS, seed: int = 0) -> None:
        self.degrees = tuple(int(d) for d in degrees)
        self.cs = tuple(float(c) for c in cs)
        self.shifts = tuple(int(v) for v in shifts)
        if not self.shifts or self.shifts[0] != 0 or list(self.shifts) != sorted(set(self.shifts)):
            raise AutofastError(f"weighted-degree kernel SVM: shifts must be ascending from 0, got {shifts}")
        self.seed = int(seed)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "WDKernelSVM":
        """Stage 1: ``D`` x ``C`` by cross-validation without shifts; stage 2 (``shifts`` beyond 0): the shift
        ``S`` x ``C`` at that ``D``. The lowest out-of-fold log loss wins; ties keep the earlier (smaller)."""
        from sklearn.model_selection import StratifiedKFold

        codes = dna_codes(x.cpu())
        labels, k, counts = class_labels(y, "weighted-degree kernel SVM")
        folds = min(CV_FOLDS, int(counts.min()))
        if folds < 2 or len(self.degrees) * len(self.cs) * len(self.shifts) == 1:
            g, c, shift = len(self.degrees) // 2, self.cs[len(self.cs) // 2], 0  # the grid's middle, no shift
            kernel = wd_kernels(codes, codes, (self.degrees[g],))[0].numpy()
            self.chosen_by_ = "the only configuration" if folds >= 2 else "the grid's middle (a class has 1 example)"
        else:
            split = list(StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(labels, labels))
            kernels = wd_kernels(codes, codes, self.degrees).numpy()
            loss, g, c = min((_cv_loss(kernels[g], labels, k, split, c), g, c)
                             for g in range(len(self.degrees)) for c in self.cs)
            del kernels  # at most 3 N^2 float64 at once: stage 2 holds its running sum and the best kernel
            # stage 2: one running sum over the shifts (from 0 again: one pass), the best kernel copied out
            kernel, shift = None, 0
            for v, running in _shift_sums(*_codes_pair(codes, codes, (self.degrees[g],)), self.degrees[g],
                                          self.shifts):
                if v > 0:
                    trial = min((_cv_loss(running.numpy(), labels, k, split, cc), cc) for cc in self.cs)
                    if trial[0] >= loss - 1e-12:
                        continue
                    (loss, c), shift = trial, v
                kernel = running.numpy().copy()
            self.chosen_by_ = f"{folds}-fold cross-validated log loss"
        svms = _ovr(kernel, labels, c, k)
        support = np.unique(np.concatenate([m.support_ for m in svms]))
        where = {int(j): i for i, j in enumerate(support)}
        coef = np.zeros((len(support), len(svms)))
        for col, m in enumerate(svms):
            coef[[where[int(j)] for j in m.support_], col] = m.dual_coef_[0]
        bias = np.array([float(m.intercept_[0]) for m in svms])
        if k == 2:  # scores [-z/2, z/2]
            coef, bias = np.concatenate([-coef / 2, coef / 2], axis=1), np.concatenate([-bias / 2, bias / 2])
        self.support_codes_ = codes[torch.from_numpy(support)]
        self.coef_ = torch.from_numpy(coef)
        self.intercept_ = torch.from_numpy(bias)
        self.degree_, self.c_, self.shift_ = self.degrees[g], float(c), int(shift)
        return self

    @property
    def num_classes(self) -> int:
        return int(self.coef_.shape[1])

    def decision_function(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "coef_"):
            raise AutofastError("weighted-degree kernel SVM: call fit() first")
        length = self.support_codes_.shape[1]
        if x.dim() != 3 or x.shape[1] != 4 or x.shape[-1] != length:
            raise AutofastError(f"weighted-degree kernel SVM: fitted on (N, 4, {length}) one-hot DNA, got "
                                f"{tuple(x.shape)}")
        sv = self.support_codes_.to(x.device)
        kernel = wds_kernels(dna_codes(x), sv, self.degree_, (self.shift_,))[0]
        return (kernel @ self.coef_.to(x.device) + self.intercept_.to(x.device)).float()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.decision_function(x).argmax(1)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(x).cpu() == y.cpu()).double().mean())

    def state_dict(self) -> dict:
        return {"support_codes": self.support_codes_, "coef": self.coef_, "intercept": self.intercept_,
                "degree": self.degree_, "c": self.c_, "shift": self.shift_}

    @classmethod
    def from_state_dict(cls, state: dict) -> "WDKernelSVM":
        codes, coef, bias = state["support_codes"], state["coef"], state["intercept"]
        if codes.dim() != 2 or coef.dim() != 2 or coef.shape[0] != codes.shape[0] or bias.shape != coef.shape[1:]:
            raise ValueError(f"support codes {tuple(codes.shape)} / coef {tuple(coef.shape)} / intercept "
                             f"{tuple(bias.shape)} do not fit together")
        degree = int(state["degree"])
        clf = cls(degrees=(degree,))
        clf.support_codes_, clf.coef_, clf.intercept_ = codes.to(torch.int8), coef.double(), bias.double()
        clf.degree_, clf.c_, clf.shift_ = degree, float(state.get("c", math.nan)), int(state.get("shift", 0))
        return clf
