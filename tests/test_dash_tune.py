"""DASHA's ASHA stage on a found pattern (tiny scale): trials scored on validation, resumable from the
journal, and the best configuration retrained on train+val with one test evaluation."""
from autofast.search.tune import DASHA_SPACE, TuneSettings, retrain_best, tune
from autofast.data.classification import load_task
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
    assert res["trained_on"] == "train+val" and 0 <= res["test_acc"] <= 1
    # one lr schedule: every trial's checkpoint and the retrain share it (cosine to R = max_epochs)
    assert res["schedule"] == s.schedule.to_dict() == cosine(2).to_dict()
    ckdir = tmp_path / "checkpoints"  # the journal holds paths relative to it
    assert all(read_run(ckdir / t["checkpoint"])["schedule"] == res["schedule"] for t in trials if t["checkpoint"])
    assert res["history"][-1]["lr"] < res["history"][0]["lr"]
