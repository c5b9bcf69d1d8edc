"""The weighted-degree string kernel SVM (autofast.models.wdkernel): the kernel, with and without shifts, against
a float64 loop over substrings on fresh random sequences (ambiguous bases included), the base codes, the
classifier's margins against scikit-learn's own SVMs on the same kernel, a positional substring rule learnt,
the two-class layout, a state round trip and input errors. Its search family is tested end to end in test_kmer.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autofast.errors import AutofastError
from autofast.models.wdkernel import WDKernelSVM, dna_codes, wd_kernels, wds_kernels


def loop_kernel(x: list[int], y: list[int], degree: int) -> float:
    """The WD kernel by its definition: every substring of length 1..degree at every position, float64."""
    total, length = 0.0, len(x)
    for i in range(length):
        for d in range(1, degree + 1):
            if i + d <= length and all(x[j] == y[j] and x[j] >= 0 for j in range(i, i + d)):
                total += 2.0 * (degree - d + 1) / (degree * (degree + 1))
    return total / length


def _match(x: list[int], i: int, y: list[int], j: int, d: int) -> bool:
    """``x[i:i+d] == y[j:j+d]``, both inside the sequence, no ambiguous base (code < 0) matching."""
    n = len(x)
    return i + d <= n and j + d <= n and all(x[i + t] == y[j + t] >= 0 for t in range(d))


def loop_shift_kernel(x: list[int], y: list[int], degree: int, shift: int) -> float:
    """The WD kernel with shifts by its definition (Rätsch et al. 2005), float64."""
    total, n = 0.0, len(x)
    for d in range(1, degree + 1):
        beta = 2.0 * (degree - d + 1) / (degree * (degree + 1))
        for i in range(n):
            total += beta * _match(x, i, y, i, d)
            for s in range(1, shift + 1):
                total += beta / (2 * (s + 1)) * (_match(x, i + s, y, i, d) + _match(x, i, y, i + s, d))
    return total / n


def one_hot(codes: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(codes.long(), 4).permute(0, 2, 1).float()


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_the_substring_loop(seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(-1, 4, (7, 13), generator=g).to(torch.int8)  # -1: an ambiguous base, matching nothing
    b = torch.randint(0, 4, (5, 13), generator=g).to(torch.int8)
    b[:2] = a[:2]  # long runs of equal bases
    degrees = (1, 3, 20)
    got = wd_kernels(a, b, degrees)
    assert got.dtype == torch.float64 and got.shape == (3, 7, 5)
    want = torch.tensor([[[loop_kernel(a[i].tolist(), b[j].tolist(), d) for j in range(5)] for i in range(7)]
                         for d in degrees], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # a sequence without ambiguous bases against itself: exactly 1 at degree 1
    clean = b[2:]  # no ambiguous base
    assert torch.allclose(wd_kernels(clean, clean, (1,))[0].diagonal(), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1])
def test_shift_kernel_matches_the_substring_loop(seed):
    g = torch.Generator().manual_seed(100 + seed)
    a = torch.randint(-1, 4, (6, 11), generator=g).to(torch.int8)
    b = torch.randint(0, 4, (4, 11), generator=g).to(torch.int8)
    b[0] = a[0]
    b[1, 2:] = a[1, :-2]  # the same sequence two positions on
    shifts, degree = (0, 1, 3, 12), 4  # 12 > L - 1: every offset the sequences allow
    got = wds_kernels(a, b, degree, shifts)
    assert got.dtype == torch.float64 and got.shape == (4, 6, 4)
    want = torch.tensor([[[loop_shift_kernel(a[i].tolist(), b[j].tolist(), degree, s) for j in range(4)]
                          for i in range(6)] for s in shifts], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[0], wd_kernels(a, b, (degree,))[0], rtol=0, atol=0)
    sym = wds_kernels(b, b, degree, (3,))[0]
    torch.testing.assert_close(sym, sym.T, rtol=1e-14, atol=1e-14)  # both directions of every shift: symmetric
    with pytest.raises(AutofastError, match="ascending"):
        wds_kernels(a, b, degree, (2, 1))
    with pytest.raises(AutofastError, match="degrees must lie"):
        wd_kernels(a, b, (0,))


def _jittered_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 30-nt sequences; class 1: 'ACGTA' starting anywhere in 8..12, class 0: no 'ACGTA' there."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, 30), generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    start = torch.randint(8, 13, (n,), generator=g)
    motif = torch.tensor([0, 1, 2, 3, 0])
    for i in range(n):
        if y[i] == 1:
            codes[i, start[i]:start[i] + 5] = motif
        else:
            for p in range(8, 13):
                if bool((codes[i, p:p + 5] == motif).all()):
                    codes[i, p] = 3
    return one_hot(codes), y


def test_shifts_are_chosen_where_a_motif_moves():
    x, y = _jittered_task(160, 6)
    xt, yt = _jittered_task(400, 7)
    shifted = WDKernelSVM(degrees=(6,), seed=0).fit(x, y)
    fixed = WDKernelSVM(degrees=(6,), shifts=(0,), seed=0).fit(x, y)
    assert shifted.shift_ > 0 and fixed.shift_ == 0
    assert shifted.score(xt, yt) > fixed.score(xt, yt) + 0.02, (shifted.score(xt, yt), fixed.score(xt, yt))


def test_codes_mark_ambiguous_positions():
    x = one_hot(torch.tensor([[0, 1, 2, 3, 0]]))
    x[0, :, 2] = torch.tensor([0.5, 0.5, 0.0, 0.0])  # an IUPAC code spread over two bases
    x[0, :, 4] = 0.0  # padding
    assert dna_codes(x).tolist() == [[0, 1, -1, 3, -1]]
    with pytest.raises(AutofastError, match=r"\(N, 4, L\)"):
        dna_codes(torch.zeros(2, 3, 5))


def _kernel_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 30-nt sequences; class 1: 'ACG' at positions 5-7, class 2: 'TT' at 20-21, else class 0."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, 30), generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    codes[y == 1, 5:8] = torch.tensor([0, 1, 2])
    codes[y == 2, 20:22] = 3
    codes[(y == 0) & (codes[:, 5:8] == torch.tensor([0, 1, 2])).all(1), 5] = 3
    codes[(y == 0) & (codes[:, 20:22] == 3).all(1), 20] = 0
    return one_hot(codes), y


def test_margins_are_scikit_learns_on_the_same_kernel():
    from sklearn.svm import SVC

    x, y = _kernel_task(150, 0)
    xt, _ = _kernel_task(40, 1)
    clf = WDKernelSVM(degrees=(5,), cs=(2.0,), shifts=(0,)).fit(x, y)
    assert (clf.degree_, clf.c_, clf.shift_) == (5, 2.0, 0)
    k_fit = wd_kernels(dna_codes(x), dna_codes(x), (5,))[0].numpy()
    k_new = wd_kernels(dna_codes(xt), dna_codes(x), (5,))[0].numpy()
    want = np.stack([SVC(C=2.0, kernel="precomputed").fit(k_fit, (y == j).numpy().astype(int))
                     .decision_function(k_new) for j in range(3)], axis=1)
    got = clf.decision_function(xt)
    assert got.dtype == torch.float32 and got.shape == (40, 3)
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-5, atol=1e-5)


def test_learns_a_positional_substring_rule_and_round_trips():
    x, y = _kernel_task(300, 2)
    xt, yt = _kernel_task(200, 3)
    clf = WDKernelSVM(seed=0).fit(x, y)
    assert clf.degree_ in (6, 12, 24) and clf.c_ in (0.5, 1.0, 2.0, 4.0) and "cross-validated" in clf.chosen_by_
    assert clf.score(xt, yt) >= 0.95
    assert clf.state_dict()["shift"] == clf.shift_ in (0, 2, 4, 8)
    again = WDKernelSVM.from_state_dict(clf.state_dict())
    torch.testing.assert_close(again.decision_function(xt), clf.decision_function(xt), rtol=0, atol=0)
    bad = {**clf.state_dict(), "coef": clf.coef_[:-1]}
    with pytest.raises(ValueError, match="do not fit"):
        WDKernelSVM.from_state_dict(bad)


def test_two_classes_give_opposite_half_margins():
    x, y = _kernel_task(120, 4)
    y = (y == 1).long()
    clf = WDKernelSVM(degrees=(6,), cs=(1.0,)).fit(x, y)
    s = clf.decision_function(x)
    assert s.shape == (120, 2)
    torch.testing.assert_close(s[:, 0], -s[:, 1])
    assert clf.score(x, y) >= 0.95


def test_input_errors_are_one_line():
    x, y = _kernel_task(60, 5)
    with pytest.raises(AutofastError, match="every class"):
        WDKernelSVM().fit(x, torch.zeros(60, dtype=torch.long))
    with pytest.raises(AutofastError, match="call fit"):
        WDKernelSVM().decision_function(x)
    clf = WDKernelSVM(degrees=(6,), cs=(1.0,)).fit(x, y)
    with pytest.raises(AutofastError, match=r"fitted on \(N, 4, 30\)"):
        clf.decision_function(x[:, :, :20])
    few = y.clone()
    few[0], few[1:][few[1:] == 2] = 2, 0  # one example of class 2: no stratified folds, the grid's middle
    assert "grid's middle" in WDKernelSVM(seed=0).fit(x, few).chosen_by_


def test_search_family_without_its_shift_stage(tmp_path, monkeypatch):
    """A short budget's kernel SVM (``shifts=(0,)``): the candidate and the final refit on train+val choose no
    shift, and the candidate records the grid the final refit uses."""
    from motif_data import motif_task

    from autofast.search import wd_family
    from autofast.search.config import SearchConfig
    from autofast.tasks import load_from_config

    task = load_from_config(SearchConfig(task=str(motif_task(tmp_path, n_train=160, length=30, val_fraction=0.25))))
    grids = []

    class Recording(wd_family.WDKernelSVM):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            grids.append(self.shifts)

    monkeypatch.setattr(wd_family, "WDKernelSVM", Recording)
    quick = wd_family.candidate(task, None, 0, shifts=(0,))
    assert quick["shift"] == 0 and quick["shifts"] == [0]
    model, _, rec = wd_family.final(task, quick, 0)
    assert rec["shift"] == 0 and model.clf.shift_ == 0
    full = wd_family.candidate(task, None, 0)
    assert full["shifts"] == list(wd_family.SHIFTS)
    assert grids == [(0,), (0,), wd_family.SHIFTS]  # candidate, final refit, the default candidate
