"""The weighted-degree string kernel SVM for aligned DNA (splice sites, promoters, any window centred on a site).

The weighted-degree (WD) kernel (Rätsch & Sonnenburg 2004; Sonnenburg et al. 2007, the splice-site
recognisers of that work) counts the substrings two aligned sequences share AT THE SAME POSITION, up to a
length ``D``, length ``d`` weighted by ``beta_d = 2 (D - d + 1) / (D (D + 1))``::

    k(x, x') = (1 / L) sum_i sum_{d = 1..D} beta_d [x[i : i + d] == x'[i : i + d]]

It is computed from ``r_i``, the length of the run of equal bases starting at position ``i``
(``r_i = m_i (1 + r_{i+1})``, ``m_i``: the same base at ``i``): the inner sum is ``B_D(min(r_i, D))``, ``B_D``
the cumulative sum of ``beta``. A position holding an ambiguous base (an IUPAC code spread over several
bases, not one-hot) matches nothing. Where the positional k-mer model (:mod:`.kmer`) sees single bases and
adjacent pairs, this kernel sees every shared substring up to ``D`` bases, at the cost of one ``N x N``
kernel matrix per degree (``search`` plans it up to 4 000 rows: :data:`autofast.search.plan.WD_MAX_EXAMPLES`).

:class:`WDKernelSVM`: one soft-margin SVM per class (one-vs-rest; scikit-learn's ``SVC`` on the precomputed
kernel), whose scores are the ``K`` margins. ``D`` and ``C`` are chosen among :data:`DEGREES` x :data:`C_GRID`
by stratified 3-fold cross-validation of the log loss of ``softmax(T * margins)`` (``T`` fitted on the
out-of-fold margins) on the rows it is fitted on. The fitted model keeps its support vectors (as base codes)
and their dual coefficients as tensors: it is data (``state_dict``) and predicts on any device.

Measured on splice (3 190 sequences of 60 nt; split seeds 0-2, fitted on train+val, test accuracy): 0.9734 /
0.9734 / 0.9702 (0.9723 ± 0.0016) against the positional k-mer model's 0.9624 / 0.9608 / 0.9608, in about 6 s
on 2 cores; averaged with the CNN (:mod:`autofast.search.blend`) 0.9749 ± 0.0031 over 9 runs, against 0.9706 ±
0.0051 for the CNN with the k-mer model (session 15, bench/README.md).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from autofast.errors import AutofastError

from .labels import class_labels
from .temperature import fit_temperature

__all__ = ["WDKernelSVM", "dna_codes", "wd_kernels", "DEGREES", "C_GRID"]

DEGREES = (6, 12, 24)
C_GRID = (0.5, 1.0, 2.0, 4.0)
CV_FOLDS = 3
_CHUNK_VALUES = 1 << 20  # pairs of sequences per step of the run-length recursion


def dna_codes(x: torch.Tensor) -> torch.Tensor:
    """``(N, 4, L)`` one-hot DNA (any float dtype) -> ``(N, L)`` int8 base codes 0..3, ``-1`` where the
    position is not one-hot (an ambiguous base, or padding)."""
    if x.dim() != 3 or x.shape[1] != 4:
        raise AutofastError(f"weighted-degree kernel: one-hot DNA of shape (N, 4, L) expected, got {tuple(x.shape)}")
    x = x.detach()
    one_hot = ((x == 0) | (x == 1)).all(1) & (x.sum(1) == 1)
    return torch.where(one_hot, x.argmax(1), -1).to(torch.int8)


def _run_tables(degrees: tuple[int, ...], device) -> torch.Tensor:
    """``(G, max(degrees) + 1)`` float64: row g, column r = ``B_D(min(r, D))`` for ``D = degrees[g]``."""
    top = max(degrees)
    rows = []
    for d in degrees:
        beta = torch.tensor([2.0 * (d - j + 1) / (d * (d + 1)) for j in range(1, d + 1)], dtype=torch.float64)
        cum = torch.cat([torch.zeros(1, dtype=torch.float64), beta.cumsum(0)])
        rows.append(cum[torch.arange(top + 1).clamp(max=d)])
    return torch.stack(rows).to(device)


def wd_kernels(a: torch.Tensor, b: torch.Tensor, degrees: tuple[int, ...]) -> torch.Tensor:
    """The WD kernels of every degree in ``degrees`` between the code rows of ``a`` ``(Na, L)`` and ``b``
    ``(Nb, L)`` (:func:`dna_codes`, on one device): ``(len(degrees), Na, Nb)`` float64, each divided by ``L``."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise AutofastError(f"weighted-degree kernel: code rows of one length expected, got {tuple(a.shape)} and "
                            f"{tuple(b.shape)}")
    degrees = tuple(int(d) for d in degrees)
    length, top = a.shape[1], max(degrees)
    tables = _run_tables(degrees, b.device)
    out = torch.zeros(len(degrees), len(a), len(b), dtype=torch.float64, device=b.device)
    b_ok = b >= 0
    step = max(1, _CHUNK_VALUES // max(1, len(b)))
    for s in range(0, len(a), step):
        rows = a[s:s + step].to(b.device)
        run = torch.zeros(len(rows), len(b), dtype=torch.int64, device=b.device)
        acc = out[:, s:s + len(rows)]
        for i in range(length - 1, -1, -1):
            same = (rows[:, None, i] == b[None, :, i]) & b_ok[None, :, i] & (rows[:, None, i] >= 0)
            run = torch.where(same, run + 1, 0)
            acc += tables[:, run.clamp(max=top)]
    return out.div_(length)


def _ovr(kernel: np.ndarray, labels: np.ndarray, c: float, k: int) -> list:
    """The one-vs-rest SVMs on a precomputed ``kernel`` (two classes: one SVM, class 1 positive)."""
    from sklearn.svm import SVC

    classes = [1] if k == 2 else range(k)
    return [SVC(C=c, kernel="precomputed").fit(kernel, (labels == j).astype(np.int64)) for j in classes]


def _margins(svms: list, kernel: np.ndarray) -> np.ndarray:
    """``(N, K)`` class scores of :func:`_ovr`'s SVMs on ``kernel`` rows (two classes: ``[-z/2, z/2]``)."""
    z = np.stack([m.decision_function(kernel) for m in svms], axis=1)
    return np.concatenate([-z / 2, z / 2], axis=1) if len(svms) == 1 else z


class WDKernelSVM:
    """One-vs-rest SVMs on the weighted-degree kernel, ``D`` and ``C`` by cross-validation (see the module).

    ``fit(x, y)``: ``x`` ``(N, 4, L)`` float one-hot DNA, ``y`` ``(N,)`` int64 labels ``0..K-1`` (every class
    present; memory ``3 N^2`` float64). ``decision_function(x)`` ``(N, K)`` float32 margins on ``x``'s device;
    ``predict``, ``score`` as in scikit-learn."""

    def __init__(self, degrees: tuple[int, ...] = DEGREES, cs: tuple[float, ...] = C_GRID, seed: int = 0) -> None:
        self.degrees = tuple(int(d) for d in degrees)
        self.cs = tuple(float(c) for c in cs)
        self.seed = int(seed)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "WDKernelSVM":
        from sklearn.model_selection import StratifiedKFold

        codes = dna_codes(x.cpu())
        labels, k, counts = class_labels(y, "weighted-degree kernel SVM")
        kernels = wd_kernels(codes, codes, self.degrees).numpy()
        folds = min(CV_FOLDS, int(counts.min()))
        if folds >= 2 and len(self.degrees) * len(self.cs) > 1:
            split = list(StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(labels, labels))
            best = None
            target = torch.from_numpy(labels)
            for g in range(len(self.degrees)):
                km = kernels[g]
                parts = [(km[np.ix_(inside, inside)], labels[inside], km[np.ix_(held, inside)], held)
                         for inside, held in split]
                for c in self.cs:
                    oof = np.zeros((len(labels), k))
                    for fit_k, fit_y, held_k, held in parts:
                        oof[held] = _margins(_ovr(fit_k, fit_y, c, k), held_k)
                    scores = torch.from_numpy(oof)
                    loss = float(torch.nn.functional.cross_entropy(fit_temperature(scores, target) * scores, target))
                    if best is None or loss < best[0] - 1e-12:
                        best = (loss, g, c)
            _, g, c = best
            self.chosen_by_ = f"{folds}-fold cross-validated log loss"
        else:  # a class with one example: no stratified folds; the grid's middle
            g, c = len(self.degrees) // 2, self.cs[len(self.cs) // 2]
            self.chosen_by_ = "the grid's middle (a class has 1 example)"
        svms = _ovr(kernels[g], labels, c, k)
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
        self.degree_, self.c_ = self.degrees[g], float(c)
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
        kernel = wd_kernels(dna_codes(x), sv, (self.degree_,))[0]
        return (kernel @ self.coef_.to(x.device) + self.intercept_.to(x.device)).float()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.decision_function(x).argmax(1)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(x).cpu() == y.cpu()).double().mean())

    def state_dict(self) -> dict:
        return {"support_codes": self.support_codes_, "coef": self.coef_, "intercept": self.intercept_,
                "degree": self.degree_, "c": self.c_}

    @classmethod
    def from_state_dict(cls, state: dict) -> "WDKernelSVM":
        codes, coef, bias = state["support_codes"], state["coef"], state["intercept"]
        if codes.dim() != 2 or coef.dim() != 2 or coef.shape[0] != codes.shape[0] or bias.shape != coef.shape[1:]:
            raise ValueError(f"support codes {tuple(codes.shape)} / coef {tuple(coef.shape)} / intercept "
                             f"{tuple(bias.shape)} do not fit together")
        degree = int(state["degree"])
        clf = cls(degrees=(degree,))
        clf.support_codes_, clf.coef_, clf.intercept_ = codes.to(torch.int8), coef.double(), bias.double()
        clf.degree_, clf.c_ = degree, float(state.get("c", math.nan))
        return clf
