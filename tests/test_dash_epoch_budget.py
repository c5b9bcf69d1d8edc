"""`dash`'s fixed baseline trains the epochs the DASH side actually trained, and the retrain is re-planned after
the search at the searched pattern's own epoch cost.

The audit: `dash --task digits --time-budget 30s` planned 6 retrain epochs priced at the plain network's epoch;
the searched pattern's epochs cost more, the retrain stopped at its deadline after 1 of 6, and the baseline still
got the planned 6 + 2 (it trained 7, the DASH network 1 + 2): the printed verdict compared unequal training."""
import math
import time

import pytest

import autofast.dash.cost as cost_mod
import autofast.dash.pipeline as pipeline
from autofast.budget import MARGIN_DASH, Clock, StepCost
from autofast.dash.pipeline import DashConfig, fair_epochs, replan_retrain, run_dash, split_epochs
from motif_data import motif_task

TINY = dict(search_width=4, retrain_width=8, threads=1)


def test_split_epochs_prices_the_retrain_at_the_pattern_epoch():
    # 20 s left, 2 search epoch-equivalents for the baseline: R * e_pattern + (R + 2) * e_plain <= 20
    assert split_epochs(20, 1.0, 1.0, 2, 30) == 9  # 9 + 11 = 20
    assert split_epochs(20, 2.0, 1.0, 2, 30) == 6  # 12 + 8 = 20: a dearer pattern, fewer retrain epochs
    assert split_epochs(20, 3.0, 1.0, 2, 30) == 4  # 12 + 6 = 18 (5: 15 + 7 = 22 > 20)
    assert split_epochs(20, 2.0, 1.0, 2, 30, baseline=False) == 10  # no baseline: the retrain alone
    assert split_epochs(20, 0.01, 0.01, 2, 7) == 7  # capped by the configured retrain epochs
    assert split_epochs(1, 5.0, 5.0, 2, 30) == 1  # never fewer than one
    for e_pattern in (1.0, 1.3, 1.9, 4.0):
        r = split_epochs(100, e_pattern, 1.0, 3, 1000)
        assert r * e_pattern + (r + 3) * 1.0 <= 100 < (r + 1) * e_pattern + (r + 4) * 1.0


def test_replan_shares_the_time_left_and_keeps_the_stage_ends_in_order():
    clock = Clock(time.time() - 10.0, budget=60.0)  # 10 s spent: 60 * (1 - margin) - 10 left
    plan = {"retrain_epochs": 20, "retrain_cap": 30, "stage_ends": {"search": 12.0, "retrain": 33.0,
                                                                     "baseline": round(60 * (1 - MARGIN_DASH), 1)}}
    cfg = DashConfig(task="x", search_epochs=4, search_batch_fraction=0.5, retrain_epochs=20)
    new, rec = replan_retrain(cfg, clock, plan, 3, pattern_epoch=2.0, plain_epoch=1.0)
    left = 60 * (1 - MARGIN_DASH) - 10.0
    assert rec["search_equivalent"] == 2  # ceil(3 epochs trained x 0.5), not the 4 planned
    assert new.retrain_epochs == plan["retrain_epochs"] == rec["retrain_epochs"] == split_epochs(left, 2, 1, 2, 30)
    assert rec["planned_before"] == 20 and new.retrain_epochs == 14  # (45.2 - 2) // 3: the plain-priced 20 overran
    ends = plan["stage_ends"]
    assert ends["search"] <= ends["retrain"] <= ends["baseline"]
    r = new.retrain_epochs
    share = r * 2.0 / (r * 2.0 + (r + 2) * 1.0)  # the retrain's share of the time left
    assert ends["retrain"] == pytest.approx(10.0 + left * share, abs=0.2)
    # the same pattern at the plain cost: more retrain epochs
    plan2 = {**plan, "stage_ends": dict(plan["stage_ends"]), "retrain_epochs": 20}
    assert replan_retrain(cfg, clock, plan2, 3, 1.0, 1.0)[0].retrain_epochs > new.retrain_epochs


def test_fair_epochs_counts_what_was_trained():
    fair = fair_epochs(2, 2, 1.0, 1, 6)
    assert fair["baseline_epochs"] == 3 and fair["search_equivalent_epochs"] == 2
    assert fair["notes"] == ["retrain stopped at its deadline after 1 of 6 epochs; the baseline gets the same 1 + 2 "
                             "epochs"]
    assert fair_epochs(3, 4, 0.5, 6, 6)["baseline_epochs"] == 6 + 2  # ceil(3 x 0.5)
    assert fair_epochs(4, 4, 0.2, 6, 6) == {"retrain_epochs": 6, "search_equivalent_epochs": 1, "baseline_epochs": 7,
                                            "notes": []}
    assert fair_epochs(2, 2, 1.0, 1, 6, baseline=False)["baseline_epochs"] is None


def _cut(monkeypatch, stages):
    """Make the search and/or the retrain stop after their first epoch, as a deadline would."""
    real, calls = pipeline.train, []

    def train(model, *args, search=False, stop=None, **kw):
        stage = "search" if search else ("retrain" if "retrain" not in calls else "baseline")
        calls.append(stage)
        return real(model, *args, search=search, stop=(lambda: True) if stage in stages else stop, **kw)

    monkeypatch.setattr(pipeline, "train", train)
    return calls


def test_a_cut_retrain_gives_the_baseline_the_epochs_trained_not_the_planned(tmp_path, monkeypatch):
    calls = _cut(monkeypatch, {"search", "retrain"})
    cfg = DashConfig(task=str(motif_task(tmp_path, n_train=60, n_test=20)), search_epochs=2,
                     search_batch_fraction=0.5, retrain_epochs=3, **TINY)
    said = []
    res = run_dash(cfg, say=said.append)
    assert calls == ["search", "retrain", "baseline"]
    assert (res["search"]["epochs"], res["search"]["planned_epochs"]) == (1, 2)
    assert (res["retrain"]["epochs"], res["retrain"]["planned_epochs"]) == (1, 3)
    # 1 retrain epoch + ceil(1 search epoch x 0.5): was 3 + ceil(2 x 0.5) = 4, the planned ones
    assert res["baseline"]["planned_epochs"] == res["baseline"]["epochs"] == 2
    eb = res["epoch_budget"]
    assert eb["baseline_epochs"] == eb["baseline_trained"] == 2 and eb["search_equivalent_epochs"] == 1
    note = ("search stopped at its deadline after 1 of 2 epochs; retrain stopped at its deadline after 1 of 3 epochs; "
            "the baseline gets the same 1 + 1 epochs")
    assert eb["notes"] == [note] and note in said


def test_an_uncut_run_gives_the_baseline_retrain_plus_search_equivalents(tmp_path, monkeypatch):
    _cut(monkeypatch, set())
    cfg = DashConfig(task=str(motif_task(tmp_path, n_train=60, n_test=20)), search_epochs=3,
                     search_batch_fraction=0.5, retrain_epochs=2, **TINY)
    res = run_dash(cfg)
    assert res["retrain"]["epochs"] == 2 and res["baseline"]["epochs"] == res["baseline"]["planned_epochs"] == 2 + 2
    assert res["epoch_budget"]["notes"] == []


def test_budget_replans_the_retrain_at_the_searched_pattern_cost(tmp_path, monkeypatch):
    """With a (fake) plain epoch of 1 s and the searched pattern's of 3 s, the re-plan after the search buys fewer
    retrain epochs than the plain-priced first plan, and the baseline gets those + the search's equivalents."""
    fake = StepCost(overhead=1.0, per_example=0.0, supernet_overhead=1.0, supernet_per_example=0.0)
    monkeypatch.setattr(cost_mod, "measure", lambda *a, **kw: fake)
    timed = []

    def epoch_seconds(model, x, y, batch, x_val=None, y_val=None):
        timed.append(batch)
        steps = math.ceil(len(x) / batch)
        return (3.0 if len(timed) == 1 else 1.0) * steps, 0.0  # the pattern's first, 3x the plain network's

    monkeypatch.setattr(pipeline, "epoch_seconds", epoch_seconds)
    cfg = DashConfig(task=str(motif_task(tmp_path, n_train=60, n_test=20)), search_epochs=2, batch_size=32,
                     time_budget=40, **TINY)
    said = []
    res = run_dash(cfg, say=said.append)
    plan, rec = res["budget_plan"], res["budget_plan"]["replan"]
    eq = rec["search_equivalent"]
    # both networks timed (the baseline's own shapes measured here, not in its epochs: JapaneseVowels at 30 s
    # lost 34 of its 35 epochs to them)
    assert timed == [32, 32] and eq == res["search"]["epochs"] >= 1  # the search's epochs trained, batch fraction 1
    steps = math.ceil(res["split"]["train"] / 32)
    assert rec["pattern_epoch"] == pytest.approx(3.0 * steps) and rec["plain_epoch"] == pytest.approx(1.0 * steps)
    r = rec["retrain_epochs"]
    assert r < rec["planned_before"] and r == plan["retrain_epochs"] == res["retrain"]["planned_epochs"]
    e_pat, e_plain, left = rec["pattern_epoch"], rec["plain_epoch"], rec["left"]
    assert r * e_pat + (r + eq) * e_plain <= left + 0.1 < (r + 1) * e_pat + (r + 1 + eq) * e_plain + 0.2
    ends = plan["stage_ends"]
    assert ends["search"] <= ends["retrain"] <= ends["baseline"]
    assert res["retrain"]["epochs"] == r  # real epochs of the tiny network are far cheaper: nothing is cut
    assert res["baseline"]["epochs"] == res["baseline"]["planned_epochs"] == r + eq
    assert any(m.startswith("re-plan") and f"-> {r} retrain epochs" in m for m in said)
    t = res["timings"]  # the step cost measured up front is a stage too (8 s of 27 were in none at 30 s)
    assert "measure_and_plan" in t and sum(v for k, v in t.items() if k != "total") <= t["total"] + 1e-6


def test_given_retrain_epochs_are_not_replanned(tmp_path, monkeypatch):
    monkeypatch.setattr(cost_mod, "measure", lambda *a, **kw: StepCost(overhead=0.01, per_example=0.0,
                                                                       supernet_overhead=0.01))
    monkeypatch.setattr(pipeline, "epoch_seconds", lambda *a, **kw: pytest.fail("timed a given retrain"))
    cfg = DashConfig(task=str(motif_task(tmp_path, n_train=60, n_test=20)), search_epochs=1, retrain_epochs=2,
                     time_budget=30, baseline=False, **TINY)
    res = run_dash(cfg)
    assert "replan" not in res["budget_plan"] and res["retrain"]["planned_epochs"] == 2


def test_epoch_seconds_times_the_engine_loop_and_a_validation_pass():
    import torch

    from autofast.models import build_backbone, fixed_factory

    torch.manual_seed(0)
    x, y = torch.randn(50, 4, 40), torch.randint(0, 2, (50,))
    net = build_backbone("resnet1d", 1, 4, 2, 8, fixed_factory([(9, 7)] * 10))
    train_s, val_s = cost_mod.epoch_seconds(net, x, y, 16, x[:10], y[:10])
    assert 0 < train_s < 5 and 0 < val_s < 5
    assert cost_mod.epoch_seconds(net, x, y, 16)[1] == 0.0  # no validation split: nothing timed


def test_the_test_evaluations_are_kept_back_from_the_training_stages(tmp_path, monkeypatch):
    """The retrain's and the baseline's test evaluations (priced per test example) end the training stages that
    much earlier: the last stage ends at the budget less its margin less the two evaluations."""
    fake = StepCost(overhead=0.05, per_example=0.01, supernet_overhead=0.05, supernet_per_example=0.01)
    monkeypatch.setattr(cost_mod, "measure", lambda *a, **kw: fake)
    task = pipeline.load_from_config(DashConfig(task=str(motif_task(tmp_path, n_train=60, n_test=200)), **TINY))
    cfg = DashConfig(task="x", time_budget=60, **TINY)
    _, plan = pipeline.budget_epochs(cfg, task, Clock(time.time(), budget=60.0))
    tests = 2 * fake.evaluation(len(task.y_test))
    assert plan["test_seconds"] == pytest.approx(tests, abs=0.01) and tests > 2
    assert plan["stage_ends"]["baseline"] == pytest.approx(60 * (1 - MARGIN_DASH) - tests, abs=0.1)
    assert plan["predicted_seconds"] <= 60


def test_the_replan_prices_the_retrains_test_evaluation_at_the_patterns_cost():
    """A dilated pattern's epoch at 2.8x the plain one's: its test evaluation took 61 s where 23 s were kept and the
    baseline got 1 of 32 epochs. The re-plan prices the retrain's evaluation at the pattern's cost too."""
    clock = Clock(time.time() - 10.0, budget=100.0)
    ends = {"search": 12.0, "retrain": 40.0, "baseline": 70.0}
    plan = {"retrain_epochs": 20, "retrain_cap": 30, "test_seconds": 20.0, "stage_ends": dict(ends)}
    cfg = DashConfig(task="x", search_epochs=4, retrain_epochs=20)
    _, rec = replan_retrain(cfg, clock, plan, 3, pattern_epoch=3.0, plain_epoch=1.0)
    assert plan["test_seconds"] == pytest.approx(10.0 * 3 + 10.0)  # the retrain's 3x, the baseline's as planned
    assert rec["left"] == pytest.approx(100 * (1 - MARGIN_DASH) - 40.0 - 10.0, abs=0.2)
