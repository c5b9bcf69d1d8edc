"""The in-process ASHA executor with real torch checkpoints: promotions resume (no epoch twice),
raising trials are marked failed, and a killed search resumes from its journal to the same end."""
import pytest
import torch
from torch import nn

from autofast.asha import ASHA, Journal, TorchTrial, run_local

SPACE = {"lr": {"loguniform": [1e-3, 0.5]}, "width": {"choice": [2, 4]}}
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1


def make_trial(counter, fail_if=None, kill_after=None):
    calls = {"n": 0}

    def build(cfg):
        m = nn.Sequential(nn.Linear(3, cfg["width"]), nn.ReLU(), nn.Linear(cfg["width"], 1))
        return m, torch.optim.SGD(m.parameters(), lr=cfg["lr"], momentum=0.9)

    def train_epoch(run, cfg):
        m, opt, epoch = run.model, run.optimizer, run.epoch
        if fail_if is not None and fail_if(cfg):
            raise RuntimeError("CUDA out of memory (simulated)")
        counter[(cfg["lr"], epoch)] = counter.get((cfg["lr"], epoch), 0) + 1
        opt.zero_grad()
        nn.functional.mse_loss(m(X).squeeze(1), Y).backward()
        opt.step()

    def score(m, cfg):
        calls["n"] += 1
        if kill_after is not None and calls["n"] > kill_after:
            raise KeyboardInterrupt  # the process dies here (not a trial failure)
        with torch.no_grad():
            return -nn.functional.mse_loss(m(X).squeeze(1), Y).item()

    return TorchTrial(build, train_epoch, score)


def test_promotions_resume_and_no_epoch_is_trained_twice(tmp_path):
    counter = {}
    sched = run_local(ASHA(SPACE, 1, 8, eta=2, max_trials=12, seed=3), make_trial(counter), tmp_path)
    assert sched.is_finished()
    trials = sched.trials()
    assert max(counter.values()) == 1  # every (trial, epoch) trained exactly once
    assert sum(counter.values()) == sum(t["resource"] for t in trials)  # = each trial's furthest resource
    assert any(t["status"] == "completed" and t["resource"] == 8 for t in trials)
    assert any(t["status"] == "paused" for t in trials)


def test_raising_trial_is_failed_and_search_goes_on(tmp_path):
    counter = {}
    sched = run_local(ASHA(SPACE, 1, 4, eta=2, max_trials=8, seed=1),
                      make_trial(counter, fail_if=lambda c: c["width"] == 4), tmp_path)
    assert sched.is_finished() and sched.best() is not None
    failed = [t for t in sched.trials() if t["status"] == "failed"]
    assert failed and all(t["config"]["width"] == 4 and "out of memory" in t["error"] for t in failed)
    assert all(t["config"]["width"] == 2 for t in sched.trials() if t["status"] != "failed")


def test_killed_search_resumes_to_the_same_results(tmp_path):
    ref = run_local(ASHA(SPACE, 1, 8, eta=2, max_trials=10, seed=5), make_trial({}), tmp_path / "a")
    journal = tmp_path / "b.sqlite"
    sched = ASHA(SPACE, 1, 8, eta=2, max_trials=10, seed=5).attach(Journal(journal))
    with pytest.raises(KeyboardInterrupt):
        run_local(sched, make_trial({}, kill_after=7), tmp_path / "b")
    del sched
    resumed = run_local(ASHA.resume(journal), make_trial({}), tmp_path / "b")
    assert resumed.is_finished()
    assert resumed.best()[0] == ref.best()[0] and resumed.best()[2] == pytest.approx(ref.best()[2], rel=1e-6)
