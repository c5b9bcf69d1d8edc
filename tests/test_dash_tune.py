"""DASHA's ASHA stage on a found pattern (tiny scale): trials scored on validation, resumable from the
journal, and the best configuration retrained on train+val with one test evaluation."""
import pytest

from autofast.search.trial import DASHA_SPACE, TuneSettings
from autofast.search.tune import retrain_best, tune
from autofast.data.supervised import load_task
from autofast.engine import cosine, read_run


def test_tune_then_retrain_on_splice_tiny(tmp_path):
    task = load_task("splice", seed=0)
    pattern = [(5, 1), (3, 3)] + [(3, 1)] * 8
    s = TuneSettings(width=4, n_configs=4, max_epochs=2, batch_size=128)
    sched = tune(task, "resnet1d", pattern, s, tmp_path)
    assert sched.is_finished() and (tmp_path / "asha.sqlite").exists()
    trials = sched.trials()
    assert len(trials) == 4 and all(0 <= t["scores"][0] <= 1 for t in trials if t["status"] != "failed")
    assert all(set(t["config"]) == set(DASHA_SPACE) for t in trials)
    again = tune(task, "resnet1d", pattern, s, tmp_path, resume=True)  # finished search: nothing re-run
    assert again.best()[:3] == sched.best()[:3]
    res = retrain_best(task, "resnet1d", pattern, s, sched.best()[1], epochs=2)
    from autofast.tasks import test_scores

    assert res["trained_on"] == "train+val" and 0 <= test_scores(res["model"], task)["test_acc"] <= 1
    # one lr schedule: every trial's checkpoint and the retrain share it (cosine to R = max_epochs)
    assert res["schedule"] == s.schedule.to_dict() == cosine(2).to_dict()
    ckdir = tmp_path / "checkpoints"  # the journal holds paths relative to it
    assert all(read_run(ckdir / t["checkpoint"])["schedule"] == res["schedule"] for t in trials if t["checkpoint"])
    assert res["history"][-1]["lr"] < res["history"][0]["lr"]


def test_ensemble_is_the_mean_prediction_of_its_members(seed):
    import torch

    from autofast.engine import evaluate
    from autofast.models.ensemble import Ensemble
    from autofast.search.tune import member_seeds

    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(50, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (50,), generator=g)
    models = [torch.nn.Linear(6, 3).double() for _ in range(3)]
    probs = torch.stack([m(x).softmax(-1) for m in models]).mean(0).detach()
    loss, acc = evaluate(Ensemble(models, classify=True), x, y)
    assert loss == pytest.approx(torch.nn.functional.nll_loss(probs.log(), y).item(), rel=1e-12)
    assert acc == (probs.argmax(1) == y).sum().item() / 50
    # dense outputs (N, C, H, W): the class dim is 1
    conv = [torch.nn.Conv2d(2, 3, 1).double() for _ in range(2)]
    xi = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    mean = torch.stack([c(xi).softmax(1) for c in conv]).mean(0)
    assert torch.allclose(Ensemble(conv, classify=True)(xi).exp(), mean, rtol=1e-12)
    yf = torch.randn(50, 3, generator=g, dtype=torch.float64)  # regression: the mean output
    assert torch.allclose(Ensemble(models, classify=False)(x), torch.stack([m(x) for m in models]).mean(0))
    assert evaluate(Ensemble(models[:1], classify=False), x, yf)[0] == pytest.approx(evaluate(models[0], x, yf)[0])
    s = member_seeds(17, 3)
    assert s[0] == 17 and len(set(s)) == 3


def test_retrain_ensemble_members_differ_and_are_averaged():
    task = load_task("splice", seed=0)
    pattern = [(3, 1)] * 10
    s = TuneSettings(width=4, max_epochs=1, batch_size=256)
    cfg = {"lr": 0.05, "dropout": 0.0, "weight_decay": 0.0, "momentum": 0.9, "seed": 3}
    one = retrain_best(task, "resnet1d", pattern, s, cfg, epochs=1)
    two = retrain_best(task, "resnet1d", pattern, s, cfg, epochs=1, members=2)
    assert one["members"] == 1 and two["members"] == 2 and two["member_seeds"][0] == 3
    assert two["member_histories"][0] == one["history"] or two["member_histories"][0][0]["train_loss"] == \
        pytest.approx(one["history"][0]["train_loss"])  # member 1 is the single retrain
    assert two["member_histories"][1][0]["train_loss"] != two["member_histories"][0][0]["train_loss"]
