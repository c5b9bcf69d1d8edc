"""The host-CPU feature families beside the device stages (:mod:`autofast.search.host`): the worker process
computes exactly what the in-line call computes, a search with the families beside (forced here on the CPU;
by default only where every device is a GPU) selects and scores as the in-line search does, a dead worker
falls back to the in-line call, and closing the worker stops a running fit."""
from __future__ import annotations

import json
import os
import time

import pytest
import torch

from autofast.cli import main
from autofast.search import host
from autofast.search.host import HostWorker, runs_beside

from motif_data import motif_task


def test_runs_beside_only_where_every_device_is_a_gpu():
    assert runs_beside(["cuda:0"]) and runs_beside(("cuda:0", "cuda:1"))
    assert not runs_beside(["cpu"]) and not runs_beside(["cuda:0", "cpu"]) and not runs_beside([])


@pytest.mark.parametrize("name, options, chosen", [("wd", {}, ("degree", "shift", "c")),
                                                  ("wd", {"shifts": (0,)}, ("degree", "shift", "c", "shifts")),
                                                  ("kmer", {"order": 2}, ("c", "order"))])
def test_worker_computes_what_the_inline_call_computes(tmp_path, name, options, chosen):
    from autofast.search.config import SearchConfig
    from autofast.search.pipeline import FAMILIES
    from autofast.tasks import load_from_config

    task = load_from_config(SearchConfig(task=str(motif_task(tmp_path, n_train=160, length=30, val_fraction=0.25))))
    family = FAMILIES[name]
    inline = family.candidate(task, None, 3, "cpu", **options)
    with HostWorker(threads=1) as worker:
        beside = worker.result(worker.candidate(name, task, None, 3, options), lambda: pytest.fail("worker died"))
        model, seconds, rec = worker.result(worker.final(name, task, beside, 3, 1.7), lambda: pytest.fail("died"))
    assert torch.equal(beside["held_out"], inline["held_out"])
    assert {k: beside[k] for k in ("val_acc", "val_loss", *chosen)} == {k: inline[k] for k in ("val_acc", "val_loss", *chosen)}
    ref, _, ref_rec = family.final(task, inline, 3, 1.7, "cpu")
    assert rec == ref_rec and model.temperature == 1.7 and seconds > 0
    assert torch.equal(model(task.x_test), ref(task.x_test))
    assert worker.waited > 0


def test_a_dead_worker_falls_back_to_the_inline_call():
    with HostWorker(threads=1) as worker:
        died = worker.submit(os._exit, 3)  # the process ends without a result, as a killed one would
        assert worker.result(died, lambda: "computed here") == "computed here"


def test_a_family_error_is_raised_as_in_line():
    with HostWorker(threads=1) as worker:
        with pytest.raises(KeyError):  # no such family: the worker's own exception, not the fallback
            worker.result(worker.candidate("nope", None, None, 0, {}), lambda: "fallback")


def test_closing_the_worker_stops_a_running_fit():
    worker = HostWorker(threads=1)
    busy = worker.submit(time.sleep, 60)
    time.sleep(0.5)
    t0 = time.perf_counter()
    worker.close()
    assert worker._proc.poll() is not None and time.perf_counter() - t0 < 10
    with pytest.raises(host.WorkerDied):
        busy.result(timeout=10)


def test_ctrl_c_in_the_terminal_does_not_reach_the_worker():
    """The worker runs in a session of its own (no traceback of its own on Ctrl-C: the search stops it)."""
    with HostWorker(threads=1) as worker:
        assert os.getsid(worker._proc.pid) != os.getsid(0)
        assert worker.result(worker.submit(os.getsid, 0), lambda: "died") == worker._proc.pid


def test_what_the_worker_prints_does_not_reach_the_channel():
    with HostWorker(threads=1) as worker:
        assert worker.result(worker.submit(print, "noise on stdout"), lambda: "died") is None
        assert worker.result(worker.submit(os.getpid), lambda: "died") != os.getpid()


def _search(tmp_path, capsys, task, name):
    fixed = ["--arch", "plain", "--folds", "0", "--n-configs", "2", "--min-epochs", "1", "--max-epochs", "2",
             "--retrain-epochs", "2", "--ensemble", "1", "--retrain-width", "8", "--time-budget", "600",
             "--seed", "1", "--threads", "1", "--json"]
    code = main(["search", "--task", str(task), *fixed, "--out", str(tmp_path / name)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


@pytest.mark.parametrize("blend", [False, True])
def test_search_with_the_families_beside_selects_and_scores_as_in_line(tmp_path, capsys, monkeypatch, blend):
    """The plain network (one architecture, no DASH stage: a fast run) with the random-convolution family (in
    line) and the kernel SVM (the host family) forced into the plan, as ``--arch auto`` plans them; ``blend``:
    the CNN + kernel SVM blend forced as the winner (its refit runs in the worker beside the retrain)."""
    import autofast.search.pipeline as pipeline
    from autofast.search.plan import make_plan

    task = motif_task(tmp_path, n_train=160, length=30, val_fraction=0.25)
    if blend:
        monkeypatch.setattr(pipeline, "choose_family", lambda *a: "cnn+wd")

    def with_wd(*a, **k):  # both families, as --arch auto plans them on this DNA task
        from dataclasses import replace

        plan = make_plan(*a, **k)
        return replace(plan, wd=True, rocket=True, beside=k.get("beside", False))

    monkeypatch.setattr(pipeline, "make_plan", with_wd)
    alone, _ = _search(tmp_path, capsys, task, "inline")
    monkeypatch.setattr(pipeline, "runs_beside", lambda devices: True)
    beside, err = _search(tmp_path, capsys, task, "beside")
    assert not alone["plan"]["beside"] and beside["plan"]["beside"]
    assert "kernel SVM on the host CPU beside the device stages" in beside["plan_summary"][3]
    assert beside["selection"]["val_scores"] == alone["selection"]["val_scores"]
    assert beside["selection"]["winner"] == alone["selection"]["winner"]
    assert beside["test_score"] == alone["test_score"]
    assert "host_wait" in beside["timings"] and "host_wait" not in alone["timings"]
    assert list(beside["selection"]["features"]) == list(alone["selection"]["features"]) == ["rocket", "wd"]
    def unclocked(final):
        return {k: unclocked(v) if isinstance(v, dict) else v for k, v in final.items() if k != "seconds"}

    assert unclocked(beside["final"]) == unclocked(alone["final"])
    assert (beside["final"]["family"] == "cnn+wd") == blend
