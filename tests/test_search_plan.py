"""The search plan (a pure function of data sizes, measured step cost and budget), k-fold selection, the
input-size-limited DASH space and the budget stop of the ASHA driver."""
from __future__ import annotations

import pytest
import torch

from autofast.budget import StepCost, parse_duration
from autofast.errors import AutofastError
from autofast.search import plan as plan_mod
from autofast.search.plan import ROCKET_FINAL_DRAWS, DataSize, asha_epochs, batch_for, default_budget, make_plan

COST = StepCost(overhead=0.005, per_example=0.0004, supernet_overhead=0.01, supernet_per_example=0.0006,
                rocket_per_example=1e-5)


def size(n_train, n_val, shape=(4, 60), classes=3, kind="dna", smallest=20):
    return DataSize(n_train, n_val, shape, classes, kind, smallest)


def test_parse_duration():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("1.5h") == 5400
    assert parse_duration(300) == 300 and parse_duration("45") == 45
    for bad in ("ten", "-5", "0", "5d", ""):
        with pytest.raises(AutofastError, match="time-budget"):
            parse_duration(bad)


def test_batch_follows_the_training_set_size():
    assert batch_for(40) == 8 and batch_for(216) == 16 and batch_for(2232) == 64 and batch_for(12) == 6
    assert all(8 <= batch_for(n) <= 64 for n in range(16, 5000, 37))


def test_small_data_gets_small_batches_enough_updates_and_cross_validation():
    p = make_plan(size(45, 5, (1, 361), 10, "series", 5), COST, 120, "test", {})
    assert p.folds == 5 and p.batch_size == 8  # 40 examples per fold model
    assert p.max_epochs * p.updates_per_epoch >= 500  # a top-rung trial gets hundreds of updates, not 16
    assert p.min_epochs * p.eta ** 4 == p.max_epochs or p.min_epochs == 1
    assert p.predicted["total"] <= 120 and p.rocket and p.ensemble == 1
    # padded series: the random-convolution family scores a third input variant (the padding as zeros)
    costly = StepCost(**{**COST.__dict__, "rocket_per_example": 1e-3})
    plain, padded = (make_plan(DataSize(45, 5, (1, 361), 10, "series", 5, padded=pad), costly, 120, "test", {})
                     for pad in (False, True))
    k, d = plain.folds, ROCKET_FINAL_DRAWS  # one fit per fold and variant, then the final refit of each draw
    assert padded.predicted["rocket"] / plain.predicted["rocket"] == pytest.approx((3 * k + d) / (2 * k + d), rel=0.02)


def test_splice_sized_data_keeps_hold_out_and_an_ensemble_within_the_budget():
    budget, _ = default_budget(size(2232, 320))
    assert 300 <= budget <= 480
    p = make_plan(size(2232, 320), COST, budget, "default", {})
    assert p.folds == 0 and p.batch_size == 64 and p.ensemble >= 1 and p.dash
    assert p.predicted["total"] <= budget


def test_plan_is_pure_and_scales_with_the_budget():
    s = size(600, 60, (12, 26), 9, "series", 30)
    a = make_plan(s, COST, 100, "t", {})
    assert make_plan(s, COST, 100, "t", {}) == a
    b = make_plan(s, COST, 400, "t", {})
    assert b.n_configs * b.max_epochs >= a.n_configs * a.max_epochs
    assert a.predicted["total"] <= 100 and b.predicted["total"] <= 400


def test_given_options_win():
    given = {"batch_size": 32, "max_epochs": 8, "n_configs": 3, "folds": 0, "ensemble": 2, "search_epochs": 2}
    p = make_plan(size(100, 20, (1, 50), 2, "series", 50), COST, 60, "t", given)
    assert (p.batch_size, p.max_epochs, p.n_configs, p.folds, p.ensemble, p.search_epochs) == (32, 8, 3, 0, 2, 2)
    assert set(p.given) == set(given)


def test_budget_below_one_epoch_is_one_error_line_with_the_minimum():
    slow = StepCost(overhead=1.0, per_example=0.1)
    with pytest.raises(AutofastError, match=r"at least --time-budget \d+") as e:
        make_plan(size(2000, 300, shape=(3, 32, 32), kind="image"), slow, 5, "t", {})
    assert "\n" not in str(e.value)
    with pytest.raises(AutofastError, match=r"at least --time-budget \d+"):  # the arch asked for: no fallback
        make_plan(size(2000, 300, kind="series", shape=(3, 3000)), slow, 5, "t", {}, arch="plain")


def test_the_minimum_a_refusal_names_counts_the_feature_fits_and_the_ridge_solve():
    """splice's 'give at least --time-budget 10' ran 26 s: the minimum left out the random-convolution features
    planned beside the network; 4 000 series' feature fits took 37.7 s where the per-value price said 6 s (the
    ridge's n x n eigensolve is cubic in n)."""
    import math
    import re

    series = size(240, 30, shape=(1, 150), kind="series", classes=2)
    slow = StepCost(overhead=0.0, per_example=0.05, rocket_per_example=0.05)
    with pytest.raises(AutofastError) as e:
        make_plan(series, slow, 5, "t", {"folds": 0})
    named = int(re.search(r"at least --time-budget (\d+)", str(e.value)).group(1))
    one_epoch = 0.05 * 240
    assert named >= 2 * one_epoch + 2 * 0.05 * 270 + 1  # two network epochs and two feature fits
    assert plan_mod._feature_fit_seconds(0.0, 4000) == pytest.approx(
        plan_mod.RIDGE_SECONDS_PER_N3 * 4000 ** 3) and math.isclose(plan_mod.RIDGE_SECONDS_PER_N3 * 3200 ** 3, 3.9,
                                                                    rel_tol=0.05)


def test_a_budget_that_cannot_train_a_network_falls_back_to_hold_out_then_to_the_features():
    """A default budget refused itself (an epoch of 5 fold networks over it, where one hold-out network fits);
    300 long series at 25 s were one error line after the measurement where the features take seconds."""
    slow = StepCost(overhead=0.0, per_example=0.05, rocket_per_example=1e-5)
    images = size(120, 30, shape=(13, 32, 32), kind="image")
    plan = make_plan(images, slow, 40, "t", {})
    assert plan.folds == 0 and "hold-out" in plan.why["folds"] and plan.predicted["total"] <= 40 * 1.5
    with pytest.raises(AutofastError, match="at least --time-budget"):  # --folds given: kept, so refused
        make_plan(images, slow, 40, "t", {"folds": 5})
    series = size(270, 30, shape=(3, 3000), kind="series", classes=2)
    plan = make_plan(series, StepCost(overhead=0.0, per_example=0.3, rocket_per_example=2.5e-6 * 9000), 25, "t", {},
                     elapsed=10.0)
    assert plan.arch == "rocket" and "feature families only" in plan.why["arch"]
    assert plan.folds == 0 and "fits of the features" in plan.why["folds"]  # 5 x 2 + 3 fits over the budget
    assert make_plan(series, StepCost(overhead=0.0, per_example=0.3, rocket_per_example=2.5e-6 * 9000), 25, "t",
                     {}, arch="rocket").folds == 0  # asked for: the same


def test_tiny_budget_drops_dash_and_keeps_within_budget():
    p = make_plan(size(2232, 320), COST, 20, "t", {})
    assert not p.dash and p.arch == "plain" and "dash" in p.why
    assert p.predicted["total"] <= 20 * 1.1


def test_regression_and_forecasting_windows():
    p = make_plan(DataSize(2000, 500, (7, 96), 0, "timeseries"), COST, 200, "t", {})
    assert p.folds == 0 and not p.rocket  # time order kept; no classifier family for regression
    assert p.linear and 0 < p.predicted["linear"] < 10 and "ridge regression on the flattened input" in p.lines()[3]
    assert not make_plan(DataSize(2000, 500, (7, 96), 0, "timeseries"), COST, 200, "t", {}, arch="plain").linear
    d = make_plan(DataSize(360, 40, (1, 32, 32), 0, "dense", target_values=1024), COST, 200, "t", {})
    assert d.folds == 5 and not d.rocket and d.linear  # a field's ridge baseline: 1024 x 1024 coefficients
    big = DataSize(360, 40, (13, 64, 64), 0, "dense", target_values=3 * 64 * 64)  # 53 248 x 12 288: too many
    assert not make_plan(big, COST, 200, "t", {}).linear
    assert not make_plan(DataSize(360, 40, (1, 32, 32), 3, "dense"), COST, 200, "t", {}).linear  # masks: classes
    with pytest.raises(AutofastError, match="rocket"):
        make_plan(DataSize(360, 40, (1, 32, 32), 0, "dense"), COST, 200, "t", {}, arch="rocket")


def test_a_few_values_get_as_many_folds_as_examples():
    """Values have no class to bound the folds: 4 examples were "4 examples cannot fill 5 folds" (a ValueError,
    'internal error' on the command line); now 4 folds, 2 examples one error line, and --folds above the examples
    one error line naming the most."""
    few = lambda n: DataSize(n - 1, 1, (1, 20), 0, "series")  # noqa: E731
    assert make_plan(few(4), COST, 60, "t", {}).folds == 4
    assert make_plan(few(40), COST, 60, "t", {}).folds == 5
    with pytest.raises(AutofastError, match="has 2 train\\+val example\\(s\\) with values; a regression needs at least 3"):
        make_plan(few(2), COST, 60, "t", {})
    with pytest.raises(AutofastError, match="--folds 10: the task has 6 train\\+val examples.*--folds 6 or fewer"):
        make_plan(few(6), COST, 60, "t", {"folds": 10})


def test_asha_epoch_count_matches_a_simulated_run():
    from autofast.asha import ASHA

    n, r, m, eta = 16, 2, 3, 2
    sched = ASHA({"x": {"uniform": [0, 1]}}, r, r * eta**m, eta=eta, max_trials=n, seed=0)
    epochs = 0
    while (job := sched.ask()) is not None:
        epochs += job.resource_to - job.resource_from
        sched.tell(job.trial_id, job.rung, job.config["x"])
    assert epochs == pytest.approx(asha_epochs(n, r, m, eta), rel=0.15)


# ---------------------------------------------------------------------------------------------- folds


def test_fold_ids_are_stratified_and_balanced(seed):
    from autofast.search.folds import cv_folds, fold_ids

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (103,), generator=g)
    f = fold_ids(y, 5, seed)
    sizes = torch.bincount(f, minlength=5)
    assert int(sizes.max() - sizes.min()) <= 1
    for c in range(4):
        per = torch.bincount(f[y == c], minlength=5)
        assert int(per.max() - per.min()) <= 1
    assert torch.equal(fold_ids(y, 5, seed), f)
    assert cv_folds(torch.tensor([0, 0, 0, 1, 1]), 5) == 2 and cv_folds(torch.tensor([0, 0, 1]), 5) == 0


def test_fold_batches_never_draw_from_the_held_out_fold(seed):
    from autofast.search.folds import fold_batches, fold_ids

    y = torch.arange(37) % 3
    f = fold_ids(y, 4, seed)
    batches = fold_batches(f, 8)(torch.Generator().manual_seed(seed))
    for b in batches:
        chunks = b.view(4, -1)
        for i, c in enumerate(chunks):
            assert not bool((f[c] == i).any())
    seen = torch.cat([b.view(4, -1)[0] for b in batches])
    assert set(seen.tolist()) == set(torch.nonzero(f != 0).flatten().tolist())  # every example once an epoch


def test_fold_ensemble_trains_like_k_separate_models(seed):
    """One loop over the FoldEnsemble (loss x k, one SGD) == k models trained alone on the same batches."""
    from autofast.engine import Run, sgd, train_epoch
    from autofast.models.ensemble import FoldEnsemble
    from autofast.search.folds import fold_batches, fold_ids, fold_loss

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(30, 5, dtype=torch.float64, generator=g)
    y = torch.randint(0, 2, (30,), generator=g)
    f = fold_ids(y, 3, seed)
    torch.manual_seed(seed)
    members = [torch.nn.Linear(5, 2).double() for _ in range(3)]
    alone = [torch.nn.Linear(5, 2).double() for _ in range(3)]
    for a, m in zip(alone, members):
        a.load_state_dict(m.state_dict())
    model = FoldEnsemble(members, classify=True)
    run = Run.create(model, sgd(model.parameters(), 0.1, 0.9, 1e-3), seed)
    plan = fold_batches(f, 4)
    gen_state = run.rng.batch.get_state()
    train_epoch(run, x, y, 4, loss_fn=fold_loss(3), batches=plan)
    g2 = torch.Generator()
    g2.set_state(gen_state)
    steps = plan(g2)
    for i, a in enumerate(alone):
        opt = sgd(a.parameters(), 0.1, 0.9, 1e-3)
        for idx in steps:
            c = idx.view(3, -1)[i]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(a(x[c]), y[c]).backward()
            opt.step()
        for p, q in zip(a.parameters(), members[i].parameters()):
            assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)


def test_out_of_fold_score_uses_each_examples_held_out_model():
    from autofast.models.ensemble import FoldEnsemble
    from autofast.search.folds import out_of_fold

    class Const(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            out = torch.full((len(x), 2), -10.0)
            out[:, self.c] = 10.0
            return out

    x = torch.zeros(4, 1)
    y = torch.tensor([0, 0, 1, 1])
    f = torch.tensor([0, 0, 1, 1])
    _, acc = out_of_fold(FoldEnsemble([Const(0), Const(1)], True), x, y, f)
    assert acc == 1.0  # fold 0 predicted by model 0, fold 1 by model 1
    _, acc = out_of_fold(FoldEnsemble([Const(1), Const(0)], True), x, y, f)
    assert acc == 0.0


# ------------------------------------------------------------------------------------- DASH space


def test_dash_space_fits_the_input_length():
    from autofast.dash.supernet import MixedFactory, dropped_candidates, fitting_candidates, layer_extents
    from autofast.models import build_backbone, fixed_factory

    assert fitting_candidates((3, 7, 19), (1, 3, 7), 26) == [(3, 1), (3, 3), (3, 7), (7, 1), (7, 3), (19, 1)]
    assert fitting_candidates((9,), (7,), 5) == [(9, 7)]  # none fits: the narrowest is kept
    net = build_backbone("resnet1d", 1, 12, 3, 4, fixed_factory([]))
    assert layer_extents(net, (12, 26)) == (26,) * 10
    wrn = build_backbone("wrn16", 2, 1, 10, 16, fixed_factory([]))
    ext = layer_extents(wrn, (1, 8, 8))
    assert ext[0] == 8 and min(ext) == 2  # strided groups see 8, 4, 2
    sup = build_backbone("wrn16", 2, 1, 10, 16, MixedFactory((3, 5, 7), (1, 3), extents=ext))
    for m, e in zip(sup.searchable_modules(), ext):
        assert all(d * (k - 1) + 1 <= e for k, d in m.candidates) or m.candidates == [(3, 1)]
    assert dropped_candidates((3, 5), (1, 3), (4,)) == [{"layer": 0, "extent": 4, "dropped": [[3, 3], [5, 1], [5, 3]]}]


# ------------------------------------------------------------------------------------ budget stop


def test_drive_stops_asking_when_the_budget_is_spent(tmp_path):
    from autofast.asha import ASHA
    from autofast.asha.executor import LocalPool, drive

    calls = []

    def trial(job, ck_in, ck_out, device):
        calls.append(job.trial_id)
        return 0.5

    sched = ASHA({"x": {"uniform": [0, 1]}}, 1, 4, eta=2, max_trials=20, seed=0)
    with LocalPool(trial) as pool:
        drive(sched, pool, tmp_path, stop=lambda: len(calls) >= 3)
    assert len(calls) == 3 and not sched.is_finished() and sched.best() is not None


def test_retrain_shortens_to_the_time_left():
    from autofast.search.tune import shortened

    assert shortened(2, 10, 1.0, 100.0) == 10  # fits
    assert shortened(2, 10, 1.0, 5.5) == 7  # 5 more epochs fit
    assert shortened(2, 10, 1.0, 0.0) == 3  # at least one more: the cosine must still end


def test_cross_validation_falls_back_to_hold_out_when_it_would_starve_training():
    """A 2-D UNet on 400 Darcy fields in two minutes: 5-fold trials would get a top rung of ~10 updates."""
    unet = StepCost(overhead=0.02, per_example=0.01)
    p = make_plan(DataSize(360, 40, (1, 32, 32), 0, "dense"), unet, 132, "t", {})
    assert p.folds == 0 and "hold-out" in p.why["folds"] and "folds" not in p.given
    assert p.max_epochs * p.updates_per_epoch > 10
    cheap = make_plan(DataSize(360, 40, (1, 32, 32), 0, "dense"), COST, 132, "t", {})
    assert cheap.folds == 5  # affordable: cross-validation kept
    assert make_plan(DataSize(360, 40, (1, 32, 32), 0, "dense"), unet, 132, "t", {"folds": 5}).folds == 5  # given


def test_cross_validation_stays_when_the_hold_out_split_would_be_tiny():
    """100 long series, 10 classes, an expensive step: the top rung is short either way, but a validation
    split of 10 examples cannot rank configurations; the folds stay."""
    slow = StepCost(overhead=0.02, per_example=0.01, rocket_per_example=1e-5)
    p = make_plan(size(90, 10, (1, 1460), 10, "series", 10), slow, 120, "t", {})
    assert p.folds == 5 and p.max_epochs * p.updates_per_epoch < 300
    big = make_plan(size(450, 50, (1, 1460), 10, "series", 50), slow, 120, "t", {})
    assert big.folds == 0 and "hold-out" in big.why["folds"]


def test_default_budget_is_an_amount_of_training():
    """The size rule on a 2-core CPU; a machine that trains 10x faster gets a 10x smaller default (not below
    the floor), a slow one never more than the size rule."""
    splice = size(2232, 320)
    two_core = StepCost(overhead=0.0194, per_example=0.000215)  # measured: splice, ResNet1D width 32, 2 cores
    assert default_budget(splice, two_core)[0] == default_budget(splice)[0] == pytest.approx(390.0, abs=1)
    fast = StepCost(overhead=0.0194 / 10, per_example=0.000215 / 10)
    b, why = default_budget(splice, fast)
    assert 45 <= b < 60 and "reference trials" in why
    tiny = StepCost(overhead=1e-5, per_example=1e-7)
    assert default_budget(splice, tiny)[0] == 45.0
    slow = StepCost(overhead=1.0, per_example=0.01)
    assert default_budget(size(200, 20), slow)[0] == 120.0


def test_dash_stage_only_when_the_plain_network_still_trains_enough():
    """Too small a budget for the plain network's wanted epochs: no supernet, no second architecture."""
    slow = StepCost(overhead=0.02, per_example=0.0004, supernet_overhead=0.03, supernet_per_example=0.0006,
                    rocket_per_example=1e-5)
    tight = make_plan(size(240, 60, (4, 40), 2, "dna", 150), slow, 120, "t", {})
    assert not tight.dash and tight.arch == "plain" and tight.rocket and "plain pattern only" in tight.why["dash"]
    roomy = make_plan(size(240, 60, (4, 40), 2, "dna", 150), slow, 1200, "t", {})
    assert roomy.dash and roomy.arch == "auto"
    given = make_plan(size(240, 60, (4, 40), 2, "dna", 150), slow, 120, "t", {"search_epochs": 5})
    assert given.dash  # an explicit DASH budget wins
    assert make_plan(size(240, 60, (4, 40), 2, "dna", 150), slow, 120, "t", {}, arch="dash").dash


def test_weighted_degree_kernel_takes_the_kmer_family_place_where_it_fits():
    """Aligned DNA up to WD_MAX_EXAMPLES train+val rows whose fits take at most WD_SHARE of the budget: the kernel
    SVM, and no k-mer family (said why); beyond the cap or the share the k-mer family as before; never for
    series, images or a given architecture."""
    splice = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 285, "t", {})
    assert splice.wd and splice.kmer == 0 and "takes its place" in splice.why["kmer"]
    # 2 fits: 2 232^2 + 2 870^2 pairs x 60 positions at WD_SECONDS_PER_VALUE
    assert splice.predicted["wd"] == pytest.approx(plan_mod.WD_SECONDS_PER_VALUE * 60 * (2232**2 + 2870**2), abs=0.01)
    big = make_plan(size(4000, 1000, (4, 60), 3, "dna", 700), COST, 900, "t", {})
    assert not big.wd and big.kmer and big.why["wd"].startswith("5000 train+val rows > 4000")
    assert splice.wd_shifts and "wd" not in splice.why and "weighted-degree kernel SVM +" not in splice.lines()[3]
    # a short budget: the fits with shifts (~40 s > 0.2 x 60) do not fit, those without (~11 s <= 0.4 x 60) do
    short = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 60, "t", {})
    assert short.wd and not short.wd_shifts and short.kmer == 0 and "without its shift stage ~11s" in short.why["wd"]
    quick = plan_mod.WD_QUICK_SECONDS_PER_VALUE * 60 * (2232**2 + 2870**2)
    assert short.predicted["wd"] == pytest.approx(quick, abs=0.01) and "kernel SVM (no shifts)" in short.lines()[3]
    tiny = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 20, "t", {})  # ~11 s > 0.4 x 20: neither
    assert not tiny.wd and "without shifts ~11s > 0.4" in tiny.why["wd"] and tiny.predicted["wd"] == 0
    small = make_plan(size(240, 60, (4, 40), 2, "dna", 100), COST, 120, "t", {"folds": 5})  # 5 fold fits + 1
    assert small.folds == 5 and small.wd
    assert small.predicted["wd"] == pytest.approx(plan_mod.WD_SECONDS_PER_VALUE * 40 * (5 * 240**2 + 300**2), abs=0.01)
    assert not make_plan(size(45, 5, (1, 361), 10, "series", 5), COST, 120, "t", {}).wd
    assert not make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 390, "t", {}, arch="plain").wd
    assert not type(splice).from_dict({k: v for k, v in splice.to_dict().items() if k != "wd"}).wd  # older plans
    assert type(splice).from_dict({k: v for k, v in splice.to_dict().items() if k != "wd_shifts"}).wd_shifts


def test_host_families_beside_the_device_stages_take_no_share_of_the_budget():
    """Every device a GPU (``beside``): the kernel SVM / k-mer fits run in a worker process beside the device
    stages, so they are planned where they end within the run, leave the device stages' split untouched and
    are not in its predicted total; nothing changes where no host family is planned."""
    dna = size(2232, 638, (4, 60), 3, "dna", 700)
    short = make_plan(dna, COST, 60, "t", {})  # the kernel SVM's ~17 s > 0.2 x 60: without shifts in line
    side = make_plan(dna, COST, 60, "t", {}, beside=True)
    assert not short.wd_shifts and side.wd and side.wd_shifts and side.beside and side.kmer == 0
    assert side.predicted["wd"] == pytest.approx(plan_mod.WD_SECONDS_PER_VALUE * 60 * (2232**2 + 2870**2), abs=0.01)
    assert side.predicted["total"] == pytest.approx(sum(v for k, v in side.predicted.items()
                                                        if k not in ("wd", "kmer", "total")), abs=0.05)
    assert side.seconds_before_dash() == pytest.approx(side.predicted["measure_and_load"] + side.predicted["rocket"])
    assert "kernel SVM on the host CPU beside the device stages" in side.lines()[3]
    inline = make_plan(dna, COST, 285, "t", {})  # in line, the kernel SVM's fits come off the device stages' time
    roomy = make_plan(dna, COST, 285, "t", {}, beside=True)
    assert inline.wd and roomy.wd and roomy.n_configs >= inline.n_configs and roomy.predicted["asha"] > inline.predicted["asha"]
    assert inline.seconds_before_dash() == pytest.approx(inline.predicted["measure_and_load"] + inline.predicted["rocket"]
                                                         + inline.predicted["wd"])
    quick = make_plan(dna, COST, 15, "t", {}, beside=True)  # ~40 s of fits with shifts do not end within 15 s
    assert quick.wd and not quick.wd_shifts and "with shifts: fits ~40s > 0.9" in quick.why["wd"]
    too_long = make_plan(dna, COST, 12, "t", {}, beside=True)  # nor ~11 s without within 12 s (less the margin)
    assert not too_long.wd and "without shifts ~11s > 0.9" in too_long.why["wd"]
    series = make_plan(size(45, 5, (1, 361), 10, "series", 5), COST, 120, "t", {}, beside=True)
    assert not series.beside and series == make_plan(size(45, 5, (1, 361), 10, "series", 5), COST, 120, "t", {})
    assert not type(side).from_dict({k: v for k, v in side.to_dict().items() if k != "beside"}).beside  # older plans


def test_kmer_order_follows_the_feature_cap(monkeypatch):
    """Order 3 (+ 64 (L - 2) trinucleotide features) where its example x feature values fit the cap, else order
    2, else no k-mer family, said in the plan's reasons; never for series. (Where the weighted-degree kernel SVM
    does not fit: here no row does.)"""
    monkeypatch.setattr(plan_mod, "WD_MAX_EXAMPLES", 0)
    roomy = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 900, "t", {})
    assert roomy.kmer == 3 and "kmer" not in roomy.why
    splice = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 390, "t", {})  # order 3 ~79 s > 0.15 x 390
    assert splice.kmer == 2 and "of the" in splice.why["kmer"]
    long = make_plan(size(2232, 638, (4, 200), 3, "dna", 700), COST, 390, "t", {})  # order 3: 4.8e7 values
    assert long.kmer == 2 and long.why["kmer"].startswith("order 3: 4.8e+07 example x feature values")
    huge = make_plan(size(2232, 638, (4, 2000), 3, "dna", 700), COST, 390, "t", {})
    assert huge.kmer == 0 and "no k-mer family" in huge.why["kmer"]
    tiny = make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 20, "t", {})  # order 2 ~17 s of 20
    assert tiny.kmer == 0 and "order 2: fits" in tiny.why["kmer"]
    assert make_plan(size(45, 5, (1, 361), 10, "series", 5), COST, 120, "t", {}).kmer == 0
    assert not make_plan(size(2232, 638, (4, 60), 3, "dna", 700), COST, 390, "t", {}, arch="plain").kmer
    old = {**splice.to_dict(), "kmer": True}  # a plan saved before the order: order 2
    assert type(splice).from_dict(old).kmer == 2


def test_hydra_is_planned_for_series_where_its_fits_take_their_share():
    """Series classification: Hydra beside MiniRocket when its predicted fits (folds x the default input, the
    padded variant too where the series look padded, + one final draw) take at most HYDRA_SHARE of the budget;
    never for DNA, images or a network-only architecture; older plans read as without it."""
    cost = StepCost(**{**COST.__dict__, "hydra_per_example": 0.01})
    series = make_plan(size(160, 40, (1, 427), 6, "series", 20), cost, 120, "t", {"folds": 5})
    per_fit = 0.01 * 200 + plan_mod.RIDGE_SECONDS_PER_N3 * 200 ** 3  # the transform and the ridge's eigensolve
    assert series.hydra and series.predicted["hydra"] == pytest.approx(per_fit * (5 + plan_mod.HYDRA_FINAL_DRAWS),
                                                                       abs=0.01)
    assert "Hydra features" in series.lines()[3]
    padded = make_plan(DataSize(160, 40, (1, 427), 6, "series", 20, padded=True), cost, 120, "t", {"folds": 5})
    assert padded.predicted["hydra"] == pytest.approx(per_fit * (10 + plan_mod.HYDRA_FINAL_DRAWS), abs=0.01)
    rocket_only = make_plan(size(160, 40, (1, 427), 6, "series", 20), cost, 120, "t", {"folds": 5}, arch="rocket")
    assert rocket_only.hydra
    short = make_plan(size(160, 40, (1, 427), 6, "series", 20), cost, 40, "t", {"folds": 5})  # 12 s > 0.25 x 40
    assert not short.hydra and short.predicted["hydra"] == 0
    assert "no Hydra features" in short.why["hydra"]
    assert not make_plan(size(2232, 638, (4, 60), 3, "dna", 700), cost, 285, "t", {}).hydra
    assert not make_plan(size(160, 40, (1, 427), 6, "series", 20), cost, 120, "t", {"folds": 5}, arch="plain").hydra
    assert not type(series).from_dict({k: v for k, v in series.to_dict().items() if k != "hydra"}).hydra


def test_final_refit_of_a_feature_family_is_predicted_from_its_scoring_here():
    """ACSF1-sized (100 train+val series of 1 460 steps, 100 test, 5 folds): MiniRocket's scoring took 8.2 s on
    the AMD EPYC, its refit of three draws and the test evaluation 4.5-5.3 s; the reserve follows the measured
    scoring (not the constants), Hydra's one draw on one input variant, nothing for the other families."""
    from autofast.search.plan import final_refit_seconds

    acsf1 = DataSize(90, 10, (1, 1460), 10, "series", 10)
    assert final_refit_seconds("rocket", 8.2, acsf1, 5, 100) == pytest.approx(8.2 * 3 / 10 * 2)  # 4.9 s
    assert final_refit_seconds("rocket", 8.2, acsf1, 0, 100) == pytest.approx(8.2 * 3 / 2 * 2)  # hold-out: 1 fit
    assert final_refit_seconds("hydra", 5.0, acsf1, 5, 0) == pytest.approx(1.0)
    padded = DataSize(90, 10, (1, 1460), 10, "series", 10, padded=True)
    assert final_refit_seconds("rocket", 9.0, padded, 5, 100) == pytest.approx(9.0 * 3 / 15 * 2)
    assert final_refit_seconds("kmer", 10.0, size(2232, 320), 0, 638) == 0.0


def test_many_whole_number_classes_suggest_regression():
    """150 series with 70 distinct whole-number targets ran as 70-class classification (test accuracy 0.05) with only
    'a class has fewer than 2 examples: hold-out' said; the plan now names target: regression."""
    from autofast.search.plan import _default_folds

    _, why = _default_folds(DataSize(120, 30, (1, 40), 70, "series", 1))
    assert "70 classes for 150 examples" in why and "target: regression" in why
    assert "regression" not in _default_folds(DataSize(120, 30, (1, 40), 3, "series", 1))[1]


def test_the_test_evaluation_is_planned_and_the_kernel_ridge_for_images():
    """100 training images beside 10 000 test images: the 5 fold networks' evaluation took 65 s past a 120 s
    budget (no stage held it). It is predicted, kept back from ASHA, and added to the default budget; images get
    the RBF kernel ridge where its fits fit."""
    cost = StepCost(overhead=0.02, per_example=0.002)
    few, many = (DataSize(90, 10, (1, 28, 28), 10, "image", 10, n_test=n) for n in (100, 10_000))
    a, b = make_plan(few, cost, 120, "t", {}), make_plan(many, cost, 120, "t", {})
    assert b.folds == 5 and b.predicted["test"] == pytest.approx(cost.evaluation(10_000) * 5)
    assert b.predicted["test"] > 50 * a.predicted["test"] and b.n_configs < a.n_configs
    none = DataSize(90, 10, (1, 28, 28), 10, "image", 10)  # (under a second of evaluation: nothing added)
    assert default_budget(few, cost)[0] == default_budget(none, cost)[0]
    assert default_budget(many, cost)[0] == pytest.approx(default_budget(none, cost)[0] + cost.evaluation(10_000) * 5)
    assert "test evaluation (10000 rows)" in default_budget(many, cost)[1]
    assert a.kernel and a.predicted["kernel"] > 0 and "RBF kernel ridge" in a.lines()[3]
    assert not make_plan(few, cost, 120, "t", {}, arch="plain").kernel
    big = DataSize(5000, 500, (3, 32, 32), 10, "image", 50)
    assert not make_plan(big, cost, 600, "t", {}).kernel  # 5 500 images: over the cap, said why
    assert "no RBF kernel ridge" in make_plan(big, cost, 600, "t", {}).why["kernel"]
