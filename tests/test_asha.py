"""ASHA scheduler core: promotion order, resume-not-restart resources, failures, space parsing,
SQLite journal resume and determinism. Pure CPU, stdlib + numpy; runs in well under a second."""
from __future__ import annotations

import math
import sqlite3
from collections import deque

import pytest

from autofast.asha import ASHA, Job, Journal, choice, loguniform, parse_space, randint, rung_resources, sample_config, uniform
from autofast.errors import AutofastError

SPACE = {"lr": {"loguniform": [1e-5, 0.5]}, "dropout": {"choice": [0, 0.05, 0.1]}, "width": {"randint": [8, 65]}}


def toy_score(config: dict, resource: float) -> float:
    """A deterministic learning curve: better with more resource, best near lr=1e-2."""
    return -abs(math.log10(config["lr"]) + 2) - config["dropout"] + math.log1p(resource) / 3 + config["width"] / 1000


def drive(sched: ASHA, workers: int = 3, stop_after_tells: int | None = None, inflight=None, fail=lambda job: False):
    """Simulate ``workers`` parallel workers finishing jobs in FIFO order; returns (jobs asked, epochs per trial).

    Fills the worker queue with ``ask()``, then finishes the oldest job. ``stop_after_tells`` stops
    abruptly (jobs still in flight are simply lost, as in a killed process).
    """
    queue = deque(inflight or [])
    asked, epochs, tells = [], {}, 0
    while True:
        while len(queue) < workers:
            job = sched.ask()
            if job is None:
                break
            asked.append(job)
            queue.append(job)
        if not queue:
            break
        if stop_after_tells is not None and tells >= stop_after_tells:
            break
        job = queue.popleft()
        if fail(job):
            sched.tell_failed(job.trial_id, "CUDA out of memory")
        else:
            epochs[job.trial_id] = epochs.get(job.trial_id, 0) + (job.resource_to - job.resource_from)
            sched.tell(job.trial_id, job.rung, toy_score(job.config, job.resource_to))
        tells += 1
    return asked, epochs


# ---------------------------------------------------------------------------------------- rungs
def test_rung_resources_clamp_last_rung_to_max():
    assert rung_resources(1, 20, 2) == [1, 2, 4, 8, 16, 20]
    assert rung_resources(1, 16, 2) == [1, 2, 4, 8, 16]
    assert rung_resources(1, 27, 3) == [1, 3, 9, 27]
    assert rung_resources(5, 5, 2) == [5]
    with pytest.raises(AutofastError, match="eta"):
        rung_resources(1, 8, 1)


# ---------------------------------------------------------------------------------------- order
def test_promotion_order_hand_computed():
    """eta=2, rungs [1, 2, 4], 4 trials, one worker; scores fed in a fixed order.

    t0:r0=0.5 -> rung0 has 1 result, floor(1/2)=0 promotable  -> new t1
    t1:r0=0.9 -> rung0 top-1 = {t1}                          -> promote t1 to rung1 (1 -> 2)
    t1:r1=0.95 -> rung1 top-0; rung0 top-1 {t1} done         -> new t2
    t2:r0=0.7 -> rung0 3 results, top-1 {t1} done            -> new t3
    t3:r0=0.8 -> rung0 4 results, top-2 {t1, t3}             -> promote t3 to rung1 (1 -> 2)
    t3:r1=0.6 -> rung1 2 results, top-1 {t1} (scan top first)-> promote t1 to rung2 (2 -> 4)
    t1:r2=0.99 -> nothing promotable, 4 trials started       -> None, finished
    """
    sched = ASHA(SPACE, min_resource=1, max_resource=4, eta=2, max_trials=4, seed=0)
    scores = {(0, 0): 0.5, (1, 0): 0.9, (1, 1): 0.95, (2, 0): 0.7, (3, 0): 0.8, (3, 1): 0.6, (1, 2): 0.99}
    seen = []
    while (job := sched.ask()) is not None:
        seen.append((job.trial_id, job.rung, job.resource_from, job.resource_to))
        sched.tell(job.trial_id, job.rung, scores[job.trial_id, job.rung])
    assert seen == [(0, 0, 0, 1), (1, 0, 0, 1), (1, 1, 1, 2), (2, 0, 0, 1), (3, 0, 0, 1), (3, 1, 1, 2), (1, 2, 2, 4)]
    assert sched.is_finished()
    tid, config, score, rung = sched.best()
    assert (tid, score, rung) == (1, 0.99, 2)
    assert config == sched.trials()[1]["config"]
    status = {t["trial_id"]: t["status"] for t in sched.trials()}
    assert status == {0: "paused", 1: "completed", 2: "paused", 3: "paused"}


def test_higher_rung_promoted_first_and_min_mode():
    """With promotable trials in rung 1 and rung 0 at once, the higher rung wins; mode='min' ranks low first."""
    sched = ASHA(SPACE, min_resource=1, max_resource=4, eta=2, max_trials=10, mode="min")
    jobs = [sched.ask() for _ in range(4)]  # t0..t3 at rung 0, all pending
    assert [j.trial_id for j in jobs] == [0, 1, 2, 3] and len(sched.pending()) == 4
    sched.tell(0, 0, 1.0)
    sched.tell(1, 0, 0.1)  # best (min) -> promotable
    promo = sched.ask()
    assert (promo.trial_id, promo.rung, promo.resource_from, promo.resource_to) == (1, 1, 1, 2)
    sched.tell(2, 0, 3.0)
    sched.tell(3, 0, 0.5)  # rung0: 4 results, top-2 = {t1 (done), t3} -> t3 promotable
    sched.tell(1, 1, 0.2)  # rung1: 1 result -> nothing yet
    j = sched.ask()
    assert (j.trial_id, j.rung) == (3, 1)
    sched.tell(3, 1, 0.05)  # rung1: 2 results, top-1 = t3 -> promote from rung 1 before anything in rung 0
    j = sched.ask()
    assert (j.trial_id, j.rung, j.resource_from, j.resource_to) == (3, 2, 2, 4)


def test_tell_validation():
    sched = ASHA(SPACE, max_trials=2)
    job = sched.ask()
    with pytest.raises(AutofastError, match="rung"):
        sched.tell(job.trial_id, 3, 1.0)
    with pytest.raises(AutofastError, match="no pending job"):
        sched.tell(7, 0, 1.0)
    sched.tell(job.trial_id, job.rung, 1.0)
    with pytest.raises(AutofastError, match="no pending job"):
        sched.tell(job.trial_id, job.rung, 1.0)


# ---------------------------------------------------------------------------------------- resources
def test_no_epoch_trained_twice():
    sched = ASHA(SPACE, min_resource=1, max_resource=20, eta=2, max_trials=60, seed=3)
    asked, epochs = drive(sched, workers=4)
    assert sched.is_finished() and not sched.pending()
    trained = {}
    for job in asked:  # each job continues exactly where the trial stopped
        assert job.resource_from == trained.get(job.trial_id, 0)
        trained[job.trial_id] = job.resource_to
    summary = sched.trials()
    assert len(summary) == 60
    assert sum(epochs.values()) == sum(t["resource"] for t in summary)
    assert all(epochs[t["trial_id"]] == t["resource"] for t in summary)
    assert any(t["status"] == "completed" for t in summary)  # someone reached R = 20
    assert sched.best()[3] == len(sched.rungs) - 1


def test_failed_trials_never_promoted_and_search_finishes():
    failing = {1, 4, 5, 9}  # these crash on their first promoted job (or at once, for 5 and 9)

    def fail(job: Job) -> bool:
        return job.trial_id in failing and (job.rung >= 1 or job.trial_id in (5, 9))

    sched = ASHA(SPACE, min_resource=1, max_resource=8, eta=2, max_trials=30, seed=1)
    asked, _ = drive(sched, workers=2, fail=fail)
    assert sched.is_finished() and sched.ask() is None
    summary = {t["trial_id"]: t for t in sched.trials()}
    failed = {tid for tid, t in summary.items() if t["status"] == "failed"}
    assert failed <= failing and {5, 9} <= failed
    for tid in failed:
        assert summary[tid]["error"] == "CUDA out of memory"
        # a failed trial gets no job after the one that failed
        last_failed_job = max(i for i, j in enumerate(asked) if j.trial_id == tid)
        assert all(j.trial_id != tid for j in asked[last_failed_job + 1:])
    assert sched.best() is not None and sched.best()[0] not in {5, 9}


def test_a_job_the_budget_stopped_is_budget_cut_not_failed():
    """A trial whose promoted job the time budget stopped was listed 'failed' beside 'Best trial 5' (its lower rung
    won): the status now says what stopped it."""
    sched = ASHA(SPACE, min_resource=1, max_resource=4, eta=2, max_trials=4, seed=0)
    jobs = [sched.ask() for _ in range(2)]
    sched.tell(jobs[0].trial_id, 0, 0.9)
    sched.tell_failed(jobs[1].trial_id, "BudgetExhausted: stopped at epoch 1: the time budget ran out")
    nxt = sched.ask()
    sched.tell_failed(nxt.trial_id, "CUDA out of memory")
    status = {t["trial_id"]: t["status"] for t in sched.trials()}
    assert status[jobs[1].trial_id] == "budget-cut" and status[nxt.trial_id] == "failed"


# ---------------------------------------------------------------------------------------- space
def test_space_parsing_and_sampling():
    space = parse_space(SPACE | {"wd": {"uniform": [0, 0.1]}})
    assert space == {"lr": loguniform(1e-5, 0.5), "dropout": choice((0, 0.05, 0.1)), "width": randint(8, 65), "wd": uniform(0, 0.1)}
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        cfg = sample_config(space, rng)
        assert 1e-5 <= cfg["lr"] < 0.5 and cfg["dropout"] in (0, 0.05, 0.1)
        assert isinstance(cfg["width"], int) and 8 <= cfg["width"] < 65 and 0 <= cfg["wd"] < 0.1


@pytest.mark.parametrize(
    "data, match",
    [
        ({"lr": {"lognormal": [1, 2]}}, r"'lr'.*unknown distribution 'lognormal'.*loguniform, uniform"),
        ({"lr": {"loguniform": [0, 0.5]}}, r"'lr'.*> 0.*use uniform"),
        ({"lr": {"loguniform": [0.5, 1e-5]}}, r"'lr'.*lo < hi"),
        ({"wd": {"uniform": [1, 1]}}, r"'wd'.*lo < hi"),
        ({"w": {"randint": [8, 4]}}, r"'w'.*lo < hi"),
        ({"w": {"randint": [1.5, 4]}}, r"'w'.*integers"),
        ({"dropout": {"choice": []}}, r"'dropout'.*non-empty"),
        ({"dropout": [0, 0.1]}, r"'dropout'.*one-entry mapping"),
        ({"lr": {"uniform": [0]}}, r"'lr'.*\[lo, hi\]"),
        ([("lr", 1)], r"must be a mapping"),
        ({}, r"empty"),
    ],
)
def test_space_errors(data, match):
    with pytest.raises(AutofastError, match=match) as err:
        parse_space(data)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------- journal
def _final_state(sched: ASHA):
    return [(t["trial_id"], t["config"], t["status"], t["scores"]) for t in sched.trials()], sched.best()


def test_journal_resume_matches_uninterrupted_run(tmp_path):
    kw = dict(min_resource=1, max_resource=16, eta=2, max_trials=40, seed=11)
    ref = ASHA(SPACE, **kw)
    ref_asked, _ = drive(ref, workers=3)
    assert ref.is_finished()

    path = tmp_path / "search.sqlite"
    first = ASHA(SPACE, **kw).attach(Journal(path))
    asked1, _ = drive(first, workers=3, stop_after_tells=37)
    in_flight = {j.trial_id for j in first.pending()}
    assert len(in_flight) == 3  # killed with three jobs running
    del first  # drop the scheduler; only the SQLite file survives

    resumed = ASHA.resume(path)
    assert resumed.pending() and {j.trial_id for j in resumed.pending()} == in_flight
    asked2, _ = drive(resumed, workers=3)
    assert resumed.is_finished()
    # the in-flight jobs are re-issued first, then the search continues exactly like the reference
    assert [j.trial_id for j in asked2[:3]] == [j.trial_id for j in asked1[-3:]]
    assert asked1[: len(asked1) - 3] + asked2 == ref_asked
    assert _final_state(resumed) == _final_state(ref)

    # the journal is plain SQLite with JSON payloads; a second resume of a finished search is a no-op
    with sqlite3.connect(path) as con:
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM events")}
    assert {"search", "suggest", "start", "promote", "result"} <= kinds
    again = ASHA.resume(path, SPACE, seed=11)
    assert again.is_finished() and again.ask() is None and _final_state(again) == _final_state(ref)


def test_journal_records_failures_checkpoints_and_rejects_mismatch(tmp_path):
    path = tmp_path / "j.sqlite"
    sched = ASHA(SPACE, max_resource=4, max_trials=3).attach(Journal(path))
    a, b = sched.ask(), sched.ask()
    sched.tell(a.trial_id, 0, 1.0)
    sched.record_checkpoint(a.trial_id, 0, str(tmp_path / "t0_r0.pt"))
    sched.tell_failed(b.trial_id, "NaN loss")
    resumed = ASHA.resume(path)
    summary = {t["trial_id"]: t for t in resumed.trials()}
    assert summary[b.trial_id]["status"] == "failed" and summary[b.trial_id]["error"] == "NaN loss"
    assert summary[a.trial_id]["checkpoint"] == str(tmp_path / "t0_r0.pt")
    assert resumed.trials() == sched.trials()
    with pytest.raises(AutofastError, match="seed"):
        ASHA.resume(path, seed=5)
    with pytest.raises(AutofastError, match="already holds a search"):
        ASHA(SPACE).attach(Journal(path))
    with pytest.raises(AutofastError, match="holds no search"):
        ASHA.resume(tmp_path / "empty.sqlite")


# ---------------------------------------------------------------------------------------- determinism
def test_deterministic_for_a_seed():
    kw = dict(min_resource=1, max_resource=20, eta=3, max_trials=30)
    a, _ = drive(ASHA(SPACE, seed=7, **kw), workers=4)
    b, _ = drive(ASHA(SPACE, seed=7, **kw), workers=4)
    c, _ = drive(ASHA(SPACE, seed=8, **kw), workers=4)
    assert a == b
    assert [j.config for j in a] != [j.config for j in c]


def test_initial_configurations_come_first_and_survive_a_resume(tmp_path):
    first = [{"lr": 0.05, "dropout": 0, "width": 16}, {"lr": 0.01, "dropout": 0.1, "width": 32}]
    sched = ASHA(SPACE, 1, 4, eta=2, max_trials=5, seed=3, initial=first)
    sched.attach(Journal(tmp_path / "j.sqlite"))
    jobs = [sched.ask() for _ in range(3)]
    assert [j.config for j in jobs[:2]] == first
    assert jobs[2].config == ASHA(SPACE, 1, 4, eta=2, max_trials=5, seed=3).sampler.suggest(2)  # then the sampler's
    resumed = ASHA.resume(tmp_path / "j.sqlite")
    assert resumed.initial == first and [t["config"] for t in resumed.trials()][:2] == first
    with pytest.raises(AutofastError, match="grid"):
        ASHA(SPACE, 1, 4, sampler="grid", initial=first)


def test_best_latest_ranks_every_trials_last_result():
    """latest=True: each trial's highest-rung result competes (a trial promoted early can be beaten by a later
    one that never got promoted; a lone finisher keeps its improved score)."""
    sched = ASHA(SPACE, 1, 4, eta=2, max_trials=3, seed=0)
    a, b = sched.ask(), sched.ask()
    sched.tell(a.trial_id, 0, 0.6)
    sched.tell(b.trial_id, 0, 0.5)
    promo = sched.ask()
    assert (promo.trial_id, promo.rung) == (a.trial_id, 1)
    sched.tell(a.trial_id, 1, 0.7)
    late = sched.ask()
    assert late.rung == 0
    sched.tell(late.trial_id, 0, 0.95)
    assert sched.best()[0] == a.trial_id and sched.best()[3] == 1  # the highest rung
    assert sched.best(latest=True)[0] == late.trial_id and sched.best(latest=True)[3] == 0
    sched.tell(sched.ask().trial_id, 1, 0.97)  # trial a's rival promoted too and better there
    top = sched.best(latest=True)
    assert top[3] == 1 and top[2] == 0.97
