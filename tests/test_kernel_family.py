"""RBF kernel ridge on the pixels (autofast/models/rbf_ridge.py, autofast/search/kernel_family.py): the closed-form
leave-one-out errors against refitting without each example, the fitted scores against the bordered kernel ridge
system solved in float64, values as targets, a class absent from a fold, the width chosen on a subset, the saved
state; and a small image search whose final model is the kernel ridge, saved and predicting the run's test
score."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autofast.cli import main
from autofast.models import rbf_ridge
from autofast.models.rbf_ridge import RBFKernelRidge
from autofast.models.ridge import FeatureInputError
from autofast.search import kernel_family


def _reference_fit(x: torch.Tensor, y: torch.Tensor, gamma: float, alpha: float, linear_scale: float = 0.0):
    """Kernel ridge with an unpenalised intercept, float64: ``[[K + alpha I, 1], [1^T, 0]] [beta; b] = [y; 0]``;
    the RBF kernel of ``gamma``, or with ``linear_scale`` the linear kernel ``a . b / linear_scale``."""
    n = len(x)
    flat = x.reshape(n, -1).double()

    def kern(q):
        q = q.reshape(len(q), -1).double()
        return q @ flat.T / linear_scale if linear_scale else torch.exp(-gamma * torch.cdist(q, flat).square())

    a = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    a[:n, :n], a[:n, n], a[n, :n] = kern(x) + alpha * torch.eye(n, dtype=torch.float64), 1.0, 1.0
    sol = torch.linalg.solve(a, torch.cat([y, torch.zeros(1, y.shape[1], dtype=torch.float64)]))
    beta, b = sol[:n], sol[n]
    return lambda q: kern(q) @ beta + b


def _targets(y: torch.Tensor, k: int) -> torch.Tensor:
    t = -torch.ones(len(y), k, dtype=torch.float64)
    t[torch.arange(len(y)), y] = 1.0
    return t


def _median_sq(x: torch.Tensor) -> float:
    flat = x.reshape(len(x), -1).double()
    d = torch.cdist(flat, flat).square()
    return float(d[torch.triu_indices(len(x), len(x), 1).unbind()].median())


@pytest.mark.parametrize("seed", [0, 1])
def test_leave_one_out_errors_and_scores_match_refits_in_float64(seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(14, 2, 3, 3, generator=g), torch.randint(0, 3, (14,), generator=g)
    y[:3] = torch.arange(3)
    gammas, alphas = (0.0, 0.5, 2.0), (0.01, 0.3, 3.0)  # 0: the linear kernel
    clf = RBFKernelRidge(gammas, alphas).fit(x, y)
    scale, t = _median_sq(x), _targets(y, 3)
    for i, gm in enumerate(gammas):
        for j, al in enumerate(alphas):
            res = torch.stack([t[r] - _reference_fit(x[torch.arange(14) != r], t[torch.arange(14) != r],
                                                     gm / scale, al, 0.0 if gm else scale)(x[r:r + 1])[0]
                               for r in range(14)])
            assert float(clf.loo_mse_[i, j]) == pytest.approx(float(res.square().mean()), rel=1e-5)  # float32 distances
    i, j = divmod(int(clf.loo_mse_.argmin()), len(alphas))
    assert (clf.g_, clf.alpha_) == (gammas[i], alphas[j]) and clf.gamma_ == pytest.approx(gammas[i] / scale)
    query = torch.randn(9, 2, 3, 3, generator=g)
    want = _reference_fit(x, t, clf.gamma_, clf.alpha_)(query)
    got = clf.decision_function(query)
    assert got.dtype == torch.float32 and got.shape == (9, 3)
    assert float((got.double() - want).abs().max()) <= 1e-5 * max(1.0, float(want.abs().max()))
    assert torch.equal(clf.predict(query), got.argmax(1))


def test_values_as_targets_and_predictions_in_blocks(monkeypatch):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20, 1, 4, 4, generator=g)
    y = torch.stack([x.flatten(1).sum(1), x.flatten(1)[:, 0]], 1) + 0.1 * torch.randn(20, 2, generator=g)
    clf = RBFKernelRidge().fit(x, y)
    # targets linear in the pixels: the linear kernel (an audit's image regression sat at the RBF grid's edge,
    # test RMSE 0.19 where RidgeCV gave 0.0000)
    assert clf.regression_ and clf.num_classes == 2 and clf.g_ == 0.0
    monkeypatch.setattr(rbf_ridge, "_ROWS", 4)  # 11 queries in blocks of 4: every row written once
    query = torch.randn(11, 1, 4, 4, generator=g)
    for model in (clf, RBFKernelRidge(gammas=(1.0, 4.0)).fit(x, y)):
        want = _reference_fit(x, y.double(), model.gamma_, model.alpha_, 0.0 if model.g_ else _median_sq(x))(query)
        got = model.predict(query)
        assert got.shape == (11, 2) and float((got.double() - want).abs().max()) <= 1e-5 * float(want.abs().max())
    back = RBFKernelRidge.from_state_dict(clf.state_dict())
    assert torch.equal(back.predict(query), clf.predict(query))


def test_a_class_absent_from_the_fit_is_a_column_never_predicted_and_bad_input_is_one_line():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(12, 1, 3, 3, generator=g), torch.arange(12) % 3
    clf = RBFKernelRidge(num_classes=4).fit(x, y)
    scores = clf.decision_function(torch.randn(30, 1, 3, 3, generator=g))
    assert scores.shape == (30, 4) and not bool((scores.argmax(1) == 3).any())
    with pytest.raises(FeatureInputError, match="fitted on 9"):
        clf.decision_function(torch.zeros(2, 1, 4, 4))
    with pytest.raises(FeatureInputError, match="at least 2 classes"):
        RBFKernelRidge().fit(x, torch.zeros(12, dtype=torch.long))
    with pytest.raises(FeatureInputError, match="NaN"):
        RBFKernelRidge().fit(x.masked_fill(x > 2, float("nan")), y)
    with pytest.raises(FeatureInputError, match=">= 0"):
        RBFKernelRidge(gammas=(-1.0,))


def test_the_width_on_a_subset_then_the_penalty_on_all(monkeypatch):
    """Over WIDTH_ROWS examples the width is the one the seeded subset's leave-one-out errors choose, the penalty
    and the coefficients those of all the examples at that width."""
    monkeypatch.setattr(rbf_ridge, "WIDTH_ROWS", 10)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(25, 1, 3, 3, generator=g), torch.arange(25) % 2
    clf = RBFKernelRidge(seed=7).fit(x, y)
    rows = torch.randperm(25, generator=torch.Generator().manual_seed(7))[:10]
    monkeypatch.setattr(rbf_ridge, "WIDTH_ROWS", 1000)
    full_scale, xs, ts = _median_sq(x), x[rows], _targets(y[rows], 2)
    # the subset's leave-one-out errors, refitting without each row, with the kernels at the full set's scale
    sub_losses = torch.tensor([[float(torch.stack([
        ts[r] - _reference_fit(xs[torch.arange(10) != r], ts[torch.arange(10) != r], gm / full_scale, al,
                               0.0 if gm else full_scale)(xs[r:r + 1])[0] for r in range(10)]).square().mean())
        for al in rbf_ridge.ALPHAS] for gm in rbf_ridge.GAMMAS], dtype=torch.float64)
    assert clf.loo_mse_.shape == sub_losses.shape and torch.allclose(clf.loo_mse_, sub_losses, rtol=1e-4)
    assert clf.g_ == rbf_ridge.GAMMAS[int(sub_losses.min(1).values.argmin())]
    alone = RBFKernelRidge(gammas=(clf.g_,)).fit(x, y)
    assert alone.alpha_ == clf.alpha_ and torch.allclose(alone.decision_function(x), clf.decision_function(x))


def test_state_dict_round_trip_and_a_damaged_one():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(10, 3, 2, 2, generator=g), torch.arange(10) % 2
    clf = RBFKernelRidge().fit(x, y)
    back = RBFKernelRidge.from_state_dict(clf.state_dict())
    assert torch.equal(back.decision_function(x), clf.decision_function(x)) and back.g_ == clf.g_
    state = {**clf.state_dict(), "column_mean": torch.zeros(3)}
    with pytest.raises(ValueError, match="do not fit together"):
        RBFKernelRidge.from_state_dict(state)


def test_candidate_scores_out_of_fold_like_a_configuration_and_final_refits():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(30, 1, 4, 4, generator=g), torch.arange(30) % 3
    x[y == 1] += 0.8
    task = SimpleNamespace(x_train=x[:24], y_train=y[:24], x_val=x[24:], y_val=y[24:],
                           data=SimpleNamespace(num_classes=3))
    folds = torch.arange(30) % 3
    cand = kernel_family.candidate(task, folds, seed=0)
    right = 0
    for i in range(3):
        clf = RBFKernelRidge(num_classes=3).fit(x[folds != i], y[folds != i])
        right += int((clf.predict(x[folds == i]) == y[folds == i]).sum())
    assert cand["val_acc"] == pytest.approx(right / 30) and cand["held_out"].shape == (30, 3)
    assert len(cand["g"]) == 3 and cand["selected_on"] == "3-fold out-of-fold predictions"
    model, seconds, rec = kernel_family.final(task, cand, seed=0, temperature=2.0)
    both = RBFKernelRidge(num_classes=3).fit(x, y)
    assert torch.allclose(model(x), torch.log_softmax(2.0 * both.decision_function(x), 1)) and rec["g"] == both.g_


def test_a_small_image_search_can_end_with_the_kernel_ridge_and_predicts_its_test_score(tmp_path):
    """Two classes of 8 x 8 images told apart by a smooth pattern, a network budget of one epoch: the kernel ridge
    is planned, scored out of fold, chosen, saved, and the loaded model reproduces the run's test accuracy."""
    import autofast

    rng = np.random.default_rng(0)
    pattern = np.outer(np.sin(np.linspace(0, 3, 8)), np.cos(np.linspace(0, 3, 8)))
    def images(n):
        y = np.arange(n) % 2
        x = rng.normal(size=(n, 1, 8, 8)) * 0.8 + (2 * y - 1)[:, None, None, None] * pattern
        return x.astype("float32"), y
    (xt, yt), (xs, ys) = images(60), images(40)
    np.savez(tmp_path / "train.npz", x=xt, y=yt)
    np.savez(tmp_path / "test.npz", x=xs, y=ys)
    (tmp_path / "t.yaml").write_text("kind: image\ntrain: train.npz\ntest: test.npz\n")
    run = tmp_path / "run"
    code = main(["search", "--task", str(tmp_path / "t.yaml"), "--out", str(run), "--retrain-width", "4",
                 "--n-configs", "2", "--max-epochs", "1", "--min-epochs", "1", "--threads", "1", "--json"])
    assert code == 0
    res = json.loads((run / "result.json").read_text())
    sel = res["selection"]
    assert res["plan"]["kernel"] and "kernel" in sel["features"] and sel["winner"] == "kernel"
    assert res["final"]["family"] == "kernel" and res["test_score"] >= 0.9
    assert res["timings"]["test"] > 0  # the one test evaluation is a stage of its own (it was inside "final")
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "kernel"
    result = autofast.load(run)
    pred = result.predict(xs)
    assert float((np.asarray(pred) == ys).mean()) == pytest.approx(res["test_score"])


def test_review_edges_no_rows_a_budget_below_the_test_evaluation_and_tiny_image_regressions():
    """Zero query rows: an empty answer (was a reshape RuntimeError); a budget that cannot pay the test
    evaluation of the final networks is refused with the least budget (it planned on, 170 s over); an image
    regression of 3 rows plans no kernel ridge (its hold-out fit of 2 rows raised and ended the search)."""
    from autofast.budget import StepCost
    from autofast.search.plan import DataSize, make_plan

    clf = RBFKernelRidge().fit(torch.randn(6, 1, 2, 2), torch.arange(6) % 2)
    assert clf.decision_function(torch.zeros(0, 1, 2, 2)).shape == (0, 2)
    cost = StepCost(overhead=0.02, per_example=0.002)
    huge = DataSize(90, 10, (1, 28, 28), 10, "image", 10, n_test=30_000)
    with pytest.raises(Exception, match="test evaluation ~36.0s here; give at least --time-budget 38$"):
        make_plan(huge, cost, 30, "t", {})  # the hold-out plan's minimum (was the 5-fold one's, 4-5x more)
    held = make_plan(huge, cost, 40, "t", {})  # 5 fold networks' evaluations (180 s) do not fit; one does
    assert held.folds == 0 and "test evaluation ~180s" in held.why["folds"]
    tiny = make_plan(DataSize(2, 1, (1, 8, 8), 0, "image", 1, target_values=1), cost, 60, "t", {})
    assert not tiny.kernel and "< 3" in tiny.why["kernel"]


def test_images_too_large_for_the_support_are_read_pooled_and_saved_so():
    """2 000 RGB images of 64 x 64 (24.6 M values, over the 2e7 the model may keep): the plan pools them 2 x 2 for
    the kernel ridge (said), the model pools in fit and prediction alike, and the saved record rebuilds it."""
    import torch.nn.functional as F

    from autofast.budget import StepCost
    from autofast.predictor.families import build_model, model_record
    from autofast.search.plan import DataSize, make_plan, pool_for

    size = DataSize(1800, 200, (3, 64, 64), 10, "image", 100)
    plan = make_plan(size, StepCost(overhead=0.02, per_example=0.002), 900, "t", {})
    assert pool_for(size.example_shape, size.n_pool) == 2 and plan.kernel and plan.kernel_pool == 2
    assert "2 x 2 average-pooled" in plan.why["kernel_pool"] and "average-pooled" in plan.lines()[3]
    assert pool_for((13, 32, 32), 5000) == 2 and pool_for((13, 16, 16), 100_000) == 2  # never below 8 pixels a side
    g = torch.Generator().manual_seed(8)
    x, y = torch.randn(12, 2, 6, 6, generator=g), torch.arange(12) % 3
    clf = RBFKernelRidge(num_classes=3, pool=2).fit(x, y)
    plain = RBFKernelRidge(num_classes=3).fit(F.avg_pool2d(x, 2), y)
    query = torch.randn(5, 2, 6, 6, generator=g)
    assert torch.allclose(clf.decision_function(query), plain.decision_function(F.avg_pool2d(query, 2)))
    rec, tensors = model_record(kernel_family.KernelModel(clf, 1.5))
    assert rec["pool"] == 2 and tensors["kernel.support"].shape == (12, 2 * 3 * 3)
    back = build_model({"model": rec}, tensors, "run")
    assert torch.allclose(back(query), kernel_family.KernelModel(clf, 1.5)(query))


def test_the_test_reserve_is_the_prediction_and_a_cut_blend_retrain_is_reported():
    """A default budget that adds the test evaluation's 107 s ran 282 s of 227 where ASHA's reserve capped it at 0.3
    of the budget; a blend's retrain cut by the budget (6 of 16 epochs) went unsaid."""
    from autofast.search import report
    from autofast.search.pipeline import test_reserve

    plan = SimpleNamespace(predicted={"test": 107.0}, budget=227.0)
    assert test_reserve(plan) == 107.0
    cut = {"final": {"family": "cnn+kernel", "epochs": 6}, "plan": {"retrain_epochs": 16, "folds": 0}}
    assert report._retrain_cut(cut) == (6, 16)
    assert report._retrain_cut({**cut, "final": {"family": "kernel"}}) is None
