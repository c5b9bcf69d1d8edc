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
