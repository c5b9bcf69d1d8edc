"""The Ray executor on a local 2-CPU Ray (started once for the module): promotions resume from
checkpoints shipped as bytes (no epoch trained twice), raising and crashing trials are failed while
the search goes on, and a one-slot Ray search equals the in-process LocalPool search."""
import os
import sys

import pytest
import torch
from torch import nn

from autofast.asha import ASHA, TorchTrial
from autofast.asha.executor import LocalPool, drive
from autofast.errors import AutofastError

SPACE = {"lr": {"loguniform": [1e-3, 1]}}
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1


def make_trial(marker_dir=None, fail_if=None, crash_if=None):
    """A 2-layer MLP trial; each trained (lr, epoch) appends a line to a marker file (Ray workers
    are other processes on this machine, so they share /tmp)."""

    def build(cfg):
        m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        return m, torch.optim.SGD(m.parameters(), lr=cfg["lr"], momentum=0.9)

    def train_epoch(run, cfg):
        m, opt, epoch = run.model, run.optimizer, run.epoch
        if fail_if is not None and fail_if(cfg):
            raise RuntimeError("CUDA out of memory (simulated)\nsecond line")
        if crash_if is not None and crash_if(cfg):
            os._exit(1)  # the worker process dies
        if marker_dir is not None:
            with open(os.path.join(marker_dir, f"{cfg['lr']!r}_{epoch}"), "a") as f:
                f.write("x\n")
        opt.zero_grad()
        nn.functional.mse_loss(m(X).squeeze(1), Y).backward()
        opt.step()

    def score(m, cfg):
        with torch.no_grad():
            return -nn.functional.mse_loss(m(X).squeeze(1), Y).item()

    return TorchTrial(build, train_epoch, score)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def new_sched(**kw):
    return ASHA(SPACE, min_resource=1, max_resource=4, eta=2, max_trials=6, seed=kw.pop("seed", 0), **kw)


def test_search_resumes_from_shipped_checkpoints(ray_local, tmp_path):
    from autofast.asha.ray_executor import RayExecutor

    markers = tmp_path / "markers"
    markers.mkdir()
    outs = []
    with RayExecutor(make_trial(str(markers))) as ex:
        assert ex.slots == 2
        sched = drive(new_sched(), ex, tmp_path / "ck", on_result=outs.append)
    assert sched.is_finished()
    trials = sched.trials()
    assert len(trials) == 6 and all(t["scores"] for t in trials)
    assert all(o.error is None and ":" in o.worker for o in outs)
    best = sched.best()
    assert best is not None and best[3] == len(sched.rungs) - 1  # a trial reached the last rung
    counts = [len(p.read_text().splitlines()) for p in markers.iterdir()]
    assert max(counts) == 1  # every (trial, epoch) trained exactly once
    assert sum(counts) == sum(t["resource"] for t in trials)
    promoted = [o.job for o in outs if o.job.rung > 0]
    assert promoted and all(j.checkpoint is not None for j in promoted)
    for t in trials:  # the driver wrote each trial's last checkpoint; it holds the trained epochs
        state = torch.load(tmp_path / "ck" / t["checkpoint"], weights_only=True)
        assert state["epoch"] == t["resource"] and len(state["history"]) == t["resource"]
    assert not list((tmp_path / "ck").glob("*.tmp"))


def test_raising_and_crashing_trials_are_failed_and_search_goes_on(ray_local, tmp_path):
    from autofast.asha.ray_executor import RayExecutor

    probe = new_sched(seed=1)
    lrs = sorted(probe.ask().config["lr"] for _ in range(6))  # the 6 trials' configs
    fail_lr, crash_lr = lrs[0], lrs[1]
    trial = make_trial(fail_if=lambda c: c["lr"] == fail_lr, crash_if=lambda c: c["lr"] == crash_lr)
    with RayExecutor(trial) as ex:
        sched = drive(new_sched(seed=1), ex, tmp_path)
    assert sched.is_finished() and sched.best() is not None
    by_lr = {t["config"]["lr"]: t for t in sched.trials()}
    assert by_lr[fail_lr]["status"] == "failed"
    assert by_lr[fail_lr]["error"] == "RuntimeError: CUDA out of memory (simulated)"
    assert by_lr[crash_lr]["status"] == "failed" and "\n" not in by_lr[crash_lr]["error"]
    assert by_lr[crash_lr]["error"]
    assert sum(t["status"] == "failed" for t in by_lr.values()) == 2
    assert all(t["scores"] for lr, t in by_lr.items() if lr not in (fail_lr, crash_lr))
    # the crashed worker's job folder was removed by a later job (its pid is gone)
    assert not _orphaned_job_dirs()


def _orphaned_job_dirs():
    import tempfile
    from pathlib import Path

    from autofast.asha.ray_executor import _alive

    dirs = Path(tempfile.gettempdir()).glob("autofast-asha-*")
    return [d for d in dirs if not (d.name.split("-")[2].isdigit() and _alive(int(d.name.split("-")[2])))]


def test_one_slot_search_equals_local_pool(ray_local, tmp_path):
    from autofast.asha.ray_executor import RayExecutor

    ref = drive(new_sched(seed=4), LocalPool(make_trial()), tmp_path / "local")
    with RayExecutor(make_trial(), max_concurrent=1) as ex:
        assert ex.slots == 1
        got = drive(new_sched(seed=4), ex, tmp_path / "ray")
    assert got.best()[:2] == ref.best()[:2] and got.best()[2] == pytest.approx(ref.best()[2], rel=1e-6)
    strip = lambda ts: [(t["trial_id"], t["status"], t["rung"]) for t in ts]  # noqa: E731
    assert strip(got.trials()) == strip(ref.trials())


def test_missing_ray_is_one_clear_error(monkeypatch):
    from autofast.asha.ray_executor import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AutofastError, match=r"pip install 'autofast\[ray\]'"):
        RayExecutor(make_trial())


def test_cli_search_runs_on_ray(ray_local, tmp_path, capsys):
    import json

    from autofast.cli import main

    out = tmp_path / "run"
    code = main(["search", "--task", "splice", "--arch", "dash", "--out", str(out), "--executor", "ray", "--search-epochs", "1",
                 "--search-width", "4", "--retrain-width", "8", "--n-configs", "3", "--max-epochs", "2",
                 "--retrain-epochs", "1", "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(text)
    assert res["asha"]["executor"] == "ray" and len(res["asha"]["trials"]) == 3
    assert all(t["status"] in ("completed", "paused") for t in res["asha"]["trials"])
    assert 0 <= res["test_score"] <= 1


def test_workers_run_the_drivers_conv_record_and_send_new_shapes_back(ray_local, tmp_path, monkeypatch):
    """A Ray job's convs take the paths of the run's record (where the worker's own measurement would choose
    another), the path of a shape the record lacks comes back into the driver's record file, and a command's
    --conv-path and --precision are in force in the workers."""
    from autofast.asha.ray_executor import RayExecutor
    from autofast.engine.precision import asked, requested
    from autofast.kernels.conv import conv_path
    from autofast.kernels.conv.run_record import FILE, read_record, recorded_run

    monkeypatch.delenv("AUTOFAST_CONV_PATH", raising=False)
    monkeypatch.delenv("AUTOFAST_PRECISION", raising=False)

    def conv(kind, grad=True):
        x, w = torch.randn(2, 3, 20), torch.randn(4, 3, 5, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            return conv_path.choose(kind, x, w, "k5d1", 1, 1, ("native", "tap", "fft"), lambda p: (lambda: None))

    def trial_fn(job, checkpoint_in, checkpoint_out, device):
        cache = conv_path.CACHE  # the worker's measurement would choose native for every shape
        cache.select = lambda key, runners, describe: "native"
        try:
            recorded, new = conv("ray-record-test-a"), conv("ray-record-test-b")
        finally:
            del cache.select
        return float(recorded == "fft" and new == "native")

    monkeypatch.setattr(conv_path.CACHE, "select", lambda key, runners, describe: "fft")  # the driver's choice
    record = tmp_path / FILE
    with recorded_run(record):
        assert conv("ray-record-test-a") == "fft"
        with RayExecutor(trial_fn, max_concurrent=1) as ex:
            sched = drive(ASHA(SPACE, 1, 1, eta=2, max_trials=1, seed=0), ex, tmp_path / "ck")
    assert sched.trials()[0]["scores"] == {0: 1.0}  # the worker ran the recorded path
    kinds = {e["kind"]: e["path"] for e in read_record(record).values()}
    assert kinds == {"ray-record-test-a": "fft", "ray-record-test-b": "native"}

    def forced_fn(job, checkpoint_in, checkpoint_out, device):
        from autofast.engine.precision import requested

        return float(conv("ray-forced-test") == "tap" and requested() == "bf16")

    with conv_path.forced_path("tap"), asked("bf16"):  # a command's --conv-path tap --precision bf16
        with RayExecutor(forced_fn, max_concurrent=1) as ex:
            sched = drive(ASHA(SPACE, 1, 1, eta=2, max_trials=1, seed=0), ex, tmp_path / "ck2")
    assert sched.trials()[0]["scores"] == {0: 1.0}  # both in force in the worker
    assert conv_path.requested_path() == "auto" and requested() is None  # and only inside the with block
