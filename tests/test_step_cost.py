"""The step-cost cache behind every plan (:mod:`autofast.dash.cost`): reused on the same machine and code,
measured afresh when the timed code changes, never kept from a busy machine; and the plan's price of a
DASH-pattern epoch."""
from __future__ import annotations

import json
import types

import pytest
import torch

from autofast.budget import StepCost
from autofast.dash import cost
from autofast.search.plan import DASH_TRIAL_FACTOR, DataSize, make_plan


def _task(n=40, length=60):
    return types.SimpleNamespace(x_train=torch.zeros(n, 4, length), data=types.SimpleNamespace(num_classes=3))


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """``measure`` with a fake clock: returns the list of measurements taken (each a fresh StepCost)."""
    monkeypatch.setenv("AUTOFAST_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AUTOFAST_REMEASURE", raising=False)
    taken = []

    def fake(*args):
        taken.append(StepCost(overhead=0.01 * (len(taken) + 1), per_example=1e-4))
        return taken[-1]

    monkeypatch.setattr(cost, "_measure", fake)
    return taken


def _measure(task):
    return cost.measure(task, "resnet1d", True, 32, 16)


def test_a_quiet_measurement_is_kept_and_reused(measured, monkeypatch):
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: 0.4)
    task = _task()
    first, again = _measure(task), _measure(task)
    assert len(measured) == 1 and first == again == measured[0]
    entries = json.loads(cost._cache_file().read_text())
    assert len(entries) == 1 and json.loads(next(iter(entries)))[1] == cost.code_version()
    assert _measure(_task(n=41)) == measured[1]  # other shapes: their own measurement


def test_a_busy_machine_measures_for_this_run_only(measured, monkeypatch):
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: cost.BUSY_LOAD + 0.5)
    task = _task()
    assert _measure(task) == measured[0] and _measure(task) == measured[1]  # measured again, nothing kept
    assert not cost._cache_file().exists()
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: cost.BUSY_LOAD / 2)
    assert _measure(task) == measured[2] and _measure(task) == measured[2]


def test_a_measurement_cut_by_the_budget_is_not_kept_and_features_only_time_no_network(measured, monkeypatch):
    """A given budget bounds the measurement (300 series of 3 000 steps took 95 s of a 25 s budget); one it cut
    short is this run's only (a later default-budget run measures in full); --arch rocket times nothing."""
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: 0.0)
    task = _task()
    assert cost.measure(task, "resnet1d", True, 32, 16, limit=0.0) == measured[0]
    assert not cost._cache_file().exists()
    features = cost.measure(task, "resnet1d", True, 32, 16, networks=False)
    assert len(measured) == 1 and features.per_example == 0.0 and features.rocket_per_example > 0


def test_a_measurement_starved_of_cpu_is_not_kept(measured, monkeypatch):
    """The load average lags: a measurement that got a fraction of a core (13 s of CPU in 76 s) was cached at a
    reading of 0.38 and planned every later run (a default budget then refused itself)."""
    import time as clock

    monkeypatch.setattr(cost, "_load_per_cpu", lambda: 0.0)
    wall = iter([0.0, 10.0, 10.0])  # 10 s of wall clock ...
    monkeypatch.setattr(cost.time, "perf_counter", lambda: next(wall, 10.0))
    cpu = iter([0.0, 2.0])  # ... 2 s of CPU
    monkeypatch.setattr(cost.time, "process_time", lambda: next(cpu, 2.0))
    assert cost.measure(_task(), "resnet1d", True, 32, 16) == measured[0]
    monkeypatch.setattr(cost.time, "perf_counter", clock.perf_counter)
    assert not cost._cache_file().exists()


def test_changed_training_code_is_measured_afresh(measured, monkeypatch):
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: 0.0)
    task = _task()
    assert _measure(task) == measured[0]
    monkeypatch.setattr(cost, "code_version", lambda: "another-engine")
    assert _measure(task) == measured[1] and len(json.loads(cost._cache_file().read_text())) == 2


def test_code_version_hashes_the_timed_sources(tmp_path, monkeypatch):
    pkg = tmp_path / "timedpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "step.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cost, "TIMED_CODE", ("timedpkg",))
    version = cost.code_version.__wrapped__
    before = version()
    assert version() == before and len(before) == 16
    (pkg / "sub" / "step.py").write_text("X = 2\n")
    assert version() != before
    assert cost.code_version() == cost.code_version()  # the real one: once per process


def test_dash_pattern_epochs_are_planned_dearer():
    step = StepCost(overhead=0.005, per_example=0.0004, supernet_overhead=0.01, supernet_per_example=0.0006)
    size = DataSize(2232, 320, (4, 60), 3, "dna", 700)
    fixed = {"n_configs": 8, "max_epochs": 16, "min_epochs": 2, "retrain_epochs": 16, "ensemble": 1,
             "search_epochs": 4}
    asha = {arch: make_plan(size, step, 10_000, "t", fixed, arch=arch).predicted["asha"]
            for arch in ("plain", "dash", "auto")}
    assert asha["dash"] == pytest.approx(DASH_TRIAL_FACTOR * asha["plain"], rel=1e-3)
    assert asha["auto"] == pytest.approx((1 + DASH_TRIAL_FACTOR) / 2 * asha["plain"], rel=1e-3)


def test_the_dash_factor_prices_configurations_not_the_top_rung(monkeypatch):
    from autofast.search import plan as plan_mod

    step = StepCost(overhead=0.005, per_example=0.0002, supernet_overhead=0.008, supernet_per_example=0.0003)
    size = DataSize(60, 7, (1, 24), 2, "series", 30)  # the top rung is cut by the budget here
    dear = make_plan(size, step, 120, "t", {}, arch="auto")
    monkeypatch.setattr(plan_mod, "DASH_TRIAL_FACTOR", 1.0)
    flat = make_plan(size, step, 120, "t", {}, arch="auto")
    assert dear.dash and flat.dash and dear.max_epochs == flat.max_epochs
    assert dear.n_configs < flat.n_configs
    assert dear.predicted["asha"] == pytest.approx(flat.predicted["asha"] * dear.n_configs / flat.n_configs
                                                   * (1 + DASH_TRIAL_FACTOR) / 2, rel=1e-3)


def test_fused_groups_price_a_trial_at_its_share_of_the_group():
    alone = StepCost(overhead=0.01, per_example=1e-4)
    assert alone.trial_epoch(640, 64) == alone.epoch(640, 64) and alone.group_epoch(640, 64, 3) == 3 * alone.epoch(640, 64)
    fused = StepCost(overhead=0.01, per_example=1e-4, fused_trials=3, fused_overhead=0.012, fused_per_example=2e-4)
    group = 10 * (0.012 + 2e-4 * 64)  # one epoch of a fused group of 3 over 640 examples
    assert fused.group_epoch(640, 64, 3) == pytest.approx(group)
    assert fused.group_epoch(640, 64, 1) == fused.group_epoch(640, 64, 2) == pytest.approx(group)  # a full group's time
    assert fused.group_epoch(640, 64, 4) == pytest.approx(2 * group)
    assert fused.trial_epoch(640, 64) == pytest.approx(group / 3)


def test_a_fused_step_is_measured_where_trials_fuse(monkeypatch, tmp_path):
    """``fused=3``: the step of 3 networks fused is timed too (real steps on the CPU, a tiny task), under a cache
    key of its own."""
    from autofast.dash.cost import measure

    monkeypatch.setenv("AUTOFAST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cost, "_load_per_cpu", lambda: 0.0)
    monkeypatch.setattr(cost, "MIN_CPU_SHARE", 0.0)  # a quiet machine, whatever runs beside this test
    task = types.SimpleNamespace(x_train=torch.randn(64, 4, 20), y_train=torch.randint(0, 3, (64,)),
                                 data=types.SimpleNamespace(num_classes=3, ndim=1))
    plain = measure(task, "resnet1d", False, 8, 8, b1=8, b2=16)
    fused = measure(task, "resnet1d", False, 8, 8, b1=8, b2=16, fused=3)
    assert plain.fused_trials == 0 and plain.fused_overhead == plain.fused_per_example == 0
    assert fused.fused_trials == 3 and fused.fused_overhead + fused.fused_per_example * 16 > 0
    assert len(json.loads(cost._cache_file().read_text())) == 2


def test_the_plan_prices_fused_trials_and_members_at_their_share():
    """Where trials fuse (measured: 3 for the time of 1.5), ASHA's configurations and the retrain's members are
    priced at their share of a fused group: more configurations in the same budget, the members trained
    together, a smaller default budget (the same amount of training); cross-validated plans never fuse."""
    from autofast.search.plan import default_budget

    base = dict(overhead=0.004, per_example=1e-4, supernet_overhead=0.006, supernet_per_example=1.5e-4)
    alone = StepCost(**base)
    fused = StepCost(**base, fused_trials=3, fused_overhead=0.006, fused_per_example=1.5e-4)
    splice = DataSize(2232, 320, (4, 60), 3, "dna", 700)
    a, f = make_plan(splice, alone, 100, "t", {}), make_plan(splice, fused, 100, "t", {})
    assert f.n_configs > a.n_configs and "fused" not in a.why
    assert f.why["fused"].startswith("trials fused 3 at a time: 0.50x") and "trials fused 3 at a time" in f.lines()[-2]
    a, f = make_plan(splice, alone, 150, "t", {}), make_plan(splice, fused, 150, "t", {})
    assert a.ensemble == 1 and f.ensemble == 3 and "3 member(s) trained fused" in f.why["ensemble"]
    group = 40 * (0.006 + 1.5e-4 * 64) * (1 + DASH_TRIAL_FACTOR) / 2  # a fused group's epoch on train+val (2 552)
    assert f.predicted["final"] == pytest.approx(f.retrain_epochs * group, abs=0.01)
    tight = make_plan(splice, fused, 100, "t", {})  # one member alone exceeds the final share: three cost the same
    assert tight.ensemble == 3 and make_plan(splice, alone, 100, "t", {}).ensemble == 1
    assert default_budget(splice, fused)[0] == pytest.approx(default_budget(splice, alone)[0] / 2)
    small = DataSize(240, 60, (4, 40), 2, "dna", 100)  # 5-fold cross-validation: no fusion, the same plan
    assert make_plan(small, fused, 120, "t", {}) == make_plan(small, alone, 120, "t", {})


def test_past_the_deadline_one_warm_epoch_is_still_timed(monkeypatch):
    """The warm-up epoch (the conv-path dispatcher timing every new shape) stood in for the step where a given
    budget's deadline passed during it: an audit's 240 RGB images planned 2.2 s a step for 0.07 s."""
    import time as clock

    calls = []

    def epoch(run, xs, ys, batch):
        calls.append(batch)
        clock.sleep(0.3 if len(calls) == 1 else 0.01)  # a slow first (warm-up) epoch, then warm ones
        return {"steps": 1}

    monkeypatch.setattr("autofast.engine.train_epoch", epoch)
    model = torch.nn.Linear(3, 2)
    x, y = torch.zeros(8, 3), torch.zeros(8, dtype=torch.long)
    seconds = cost._step_seconds(model, x, y, 8, deadline=clock.perf_counter())  # passed at once
    assert len(calls) == 2 and seconds < 0.1  # the warm epoch, not the warm-up's 0.3 s
