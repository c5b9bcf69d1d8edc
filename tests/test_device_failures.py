"""Issue 21, part 4: expected failures on a device are one ``error:`` line (exit 2) naming the fix, raised
before any data is loaded where they can be (fp16 on a CPU, a CUDA device that is not there); a device out of
memory fails one ASHA trial only; run folders: a lock loser leaves the holder's folder alone and
``--overwrite`` replaces only autofast run folders. All on the CPU (out of memory is a fake
``torch.OutOfMemoryError``)."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from autofast.cli import main
from test_cli_failures import TINY_DASH, TINY_FORECAST, TINY_SEARCH, one_line_error, series_csv

OOM = "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 139.8 GiB of which 1 GiB is free"


@pytest.fixture(autouse=True)
def restore_env(monkeypatch):
    """``main`` writes ``--precision`` / ``--conv-path`` into the environment: undone after each test."""
    monkeypatch.setenv("AUTOFAST_PRECISION", "auto")
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "auto")


def _never(what):
    def fn(*a, **k):
        raise AssertionError(f"{what} ran: the failure should have been raised before it")
    return fn


# ----------------------------------------------------------------------------------------------- precision, devices
@pytest.mark.parametrize("command", ["dash", "search", "pretrain", "finetune", "compare"])
def test_fp16_on_the_cpu_is_one_line_before_any_data_load(command, tmp_path, capsys, monkeypatch):
    import autofast.autoft.compare as compare
    import autofast.autoft.finetune as finetune
    import autofast.autoft.pretrain as pretrain
    import autofast.dash.pipeline as dash
    import autofast.search.pipeline as search

    for mod, name in [(dash, "run_dash"), (search, "run_search"), (pretrain, "run_pretrain"),
                      (finetune, "FinetuneContext"), (compare, "CompareContext")]:
        monkeypatch.setattr(mod, name, _never(name))
    out = tmp_path / "run"
    extra = {"dash": TINY_DASH, "search": [*TINY_SEARCH, "--devices", "cpu"]}.get(command, ["--task", "digits"])
    if command in ("finetune", "compare"):
        extra += ["--checkpoint", str(tmp_path / "model.pt")]
    line = one_line_error(capsys, main([command, *extra, "--precision", "fp16", "--out", str(out)]), "fp16",
                          "CUDA", "bf16")
    assert "internal error" not in line and not out.exists()


def test_fp16_from_the_environment_is_refused_too(tmp_path, capsys, monkeypatch):
    import autofast.search.pipeline as search

    monkeypatch.setattr(search, "run_search", _never("run_search"))
    monkeypatch.setenv("AUTOFAST_PRECISION", "fp16")
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(tmp_path / "run")]), "fp16", "bf16")
    assert not (tmp_path / "run").exists()


def test_precision_check_in_the_library():
    from autofast.engine.precision import PrecisionError, check
    from autofast.errors import AutofastError

    check(["cpu"], "bf16")
    check(["cpu"], "fp32")
    with pytest.raises(PrecisionError, match="bf16 or fp32") as err:
        check(["cpu"], "fp16")
    assert isinstance(err.value, AutofastError) and isinstance(err.value, ValueError)
    with pytest.raises(AutofastError, match="unknown precision"):
        check(["cpu"], "fp8")


def test_a_cuda_device_that_is_not_there_is_refused_before_any_data_load(tmp_path, capsys, monkeypatch):
    import autofast.search.pipeline as search

    monkeypatch.setattr(search, "run_search", _never("run_search"))
    missing = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--devices", missing, "--out", str(tmp_path / "run")]),
                   missing, "--devices cpu")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------- out of memory
@pytest.mark.parametrize("command", ["dash", "search"])
def test_out_of_memory_is_one_line_naming_the_fix(command, tmp_path, capsys, monkeypatch):
    import autofast.dash.pipeline as dash
    import autofast.search.pipeline as search

    def oom(*a, **k):
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(dash, "run_dash", oom)
    monkeypatch.setattr(search, "run_search", oom)
    out = tmp_path / "run"
    extra = TINY_DASH if command == "dash" else TINY_SEARCH
    line = one_line_error(capsys, main([command, *extra, "--out", str(out)]), "out of memory",
                          "Tried to allocate 20.00 GiB", "--batch-size", "--search-width", "--trials-per-device")
    assert "total capacity" not in line  # the first sentences only
    assert not out.exists()  # failed before any work: nothing left behind


def test_out_of_memory_fails_one_asha_trial_only(tmp_path):
    """Through the executor the search uses: the trial that ran out of memory is failed (its error names the
    class), the others are scored and promoted, the search ends."""
    from autofast.asha import ASHA
    from autofast.asha.executor import LocalPool, drive

    def trial(job, ck_in, ck_out, device):
        Path(ck_out).write_text("state")
        if job.trial_id == 1:
            raise torch.OutOfMemoryError(OOM)
        return float(job.trial_id)

    for per_device in (1, 2):  # in the driver's thread and in worker threads
        sched = ASHA({"x": {"uniform": [0, 1]}}, 1, 4, eta=2, max_trials=4)
        with LocalPool(trial, per_device=per_device) as pool:
            drive(sched, pool, tmp_path / f"ck{per_device}")
        status = {t["trial_id"]: t for t in sched.trials()}
        assert status[1]["status"] == "failed" and status[1]["error"].startswith("OutOfMemoryError: CUDA out of")
        assert all(status[i]["status"] != "failed" for i in (0, 2, 3)) and sched.best()[0] == 3
        assert sched.is_finished()


def test_out_of_memory_in_a_fused_group_fails_only_the_trial_that_does_not_fit(tmp_path):
    """A fused group that runs out of memory is trained trial by trial; a trial that does not fit alone either
    is the only one failed."""
    from autofast.asha import ASHA
    from autofast.asha.executor import FusedPool, drive

    class Trial:  # trial 1 does not fit alone; no two trials fit together
        def __call__(self, job, ck_in, ck_out, device):
            Path(ck_out).write_text("state")
            if job.trial_id == 1:
                raise torch.OutOfMemoryError(OOM)
            return float(job.trial_id)

        def start(self, job, device):
            return SimpleNamespace(job=job, epoch=int(job.resource_from))

        def epoch_together(self, runs, configs):
            if len(runs) > 1 or runs[0].job.trial_id == 1:
                raise torch.OutOfMemoryError(OOM)
            runs[0].epoch += 1
            return [{}]

        def finish(self, run, job, ck_out):
            Path(ck_out).write_text("state")
            return float(job.trial_id)

    sched = ASHA({"x": {"uniform": [0, 1]}}, 1, 4, eta=2, max_trials=4)
    pool = FusedPool(Trial(), devices=["cpu"], per_device=2)
    try:
        drive(sched, pool, tmp_path / "ck")
    finally:
        pool.close()
    status = {t["trial_id"]: t for t in sched.trials()}
    assert status[1]["status"] == "failed" and status[1]["error"].startswith("OutOfMemoryError")
    assert all(status[i]["status"] != "failed" for i in (0, 2, 3)) and sched.best()[0] == 3


def test_every_trial_out_of_memory_names_the_fix(tmp_path, capsys, monkeypatch):
    from autofast.asha.local import TorchTrial

    def oom(self, job, *a, **k):
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(TorchTrial, "__call__", oom)
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--arch", "plain", "--out", str(tmp_path / "run")]),
                   "every ASHA trial failed", "OutOfMemoryError", "--batch-size", "--trials-per-device")


# ----------------------------------------------------------------------------------------------- run folders
def _winner_takes(run: Path, stack):
    """A ``make_run_dir`` under which another process wins the race: it locks the folder and writes to it
    right after this one created it."""
    from autofast.io import make_run_dir, run_lock

    def racing(path, *a, **k):
        made = make_run_dir(path, *a, **k)
        stack.enter_context(run_lock(run))  # another open file: flock refuses this process's second lock too
        (run / "winner.txt").write_text("the other search's work")
        return made
    return racing


def test_lock_loser_leaves_the_winners_folder_alone(tmp_path, capsys, monkeypatch):
    import contextlib

    import autofast.commands.search as search_cmd
    import autofast.search.pipeline as search

    monkeypatch.setattr(search, "run_search", _never("run_search"))
    run = tmp_path / "run"
    with contextlib.ExitStack() as stack:
        monkeypatch.setattr(search_cmd, "make_run_dir", _winner_takes(run, stack))
        one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(run)]), "in use by another autofast process")
        assert (run / "winner.txt").read_text() == "the other search's work"


def test_lock_loser_in_the_python_api(tmp_path, monkeypatch):
    import contextlib

    import autofast.io as io
    import autofast.search.pipeline as search
    from autofast.api import search as api_search
    from autofast.io import RunFolderInUse

    monkeypatch.setattr(search, "run_search", _never("run_search"))
    run = tmp_path / "run"
    with contextlib.ExitStack() as stack:
        monkeypatch.setattr(io, "make_run_dir", _winner_takes(run, stack))
        with pytest.raises(RunFolderInUse, match="in use"):
            api_search("splice", out=run, search_width=4)
        assert (run / "winner.txt").exists()


def test_a_fresh_search_that_fails_early_leaves_nothing_and_is_marked(tmp_path, capsys, monkeypatch):
    import autofast.search.pipeline as search
    from autofast.io import RUN_MARKER

    seen = {}

    def fails(cfg, run_dir, **k):
        seen["marked"] = (Path(run_dir) / RUN_MARKER).is_file()
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(search, "run_search", fails)
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(tmp_path / "run")]), "out of memory")
    assert seen == {"marked": True} and not (tmp_path / "run").exists()


def test_overwrite_refuses_a_folder_autofast_did_not_make(tmp_path, capsys):
    data = series_csv(tmp_path / "s.csv")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    one_line_error(capsys, main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(out), "--overwrite"]),
                   "not an autofast run folder", "left alone")
    assert (out / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "s.csv"]  # no staged folder left either


def test_overwrite_replaces_an_autofast_run_folder(tmp_path, capsys):
    from autofast.io import RUN_MARKER

    data = series_csv(tmp_path / "s.csv")
    out = tmp_path / "run"
    assert main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(out)]) == 0
    assert (out / RUN_MARKER).is_file() and (out / "result.json").is_file()
    (out / "stale.txt").write_text("from the first run")
    assert main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(out), "--overwrite"]) == 0
    assert (out / RUN_MARKER).is_file() and not (out / "stale.txt").exists()
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(empty), "--overwrite"]) == 0
    assert json.loads((empty / RUN_MARKER).read_text())["format"] == "autofast-run/1"


def test_overwrite_leaves_a_running_or_another_commands_run_folder_alone(tmp_path, capsys):
    """forecast/dash/pretrain/compare --overwrite deleted whatever run folder --out named: a search still running
    in it (its lock ignored; the two runs' files mixed) or a finished search (its model and journal)."""
    from autofast.io import mark_run_dir, run_lock

    data = series_csv(tmp_path / "s.csv")
    live = tmp_path / "live"
    live.mkdir()
    mark_run_dir(live, "search")
    (live / "search_config.json").write_text("{}")
    with run_lock(live):  # as a running search holds it
        one_line_error(capsys, main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(live),
                                     "--overwrite"]), "in use by a running autofast process", "left alone")
    assert (live / "search_config.json").is_file()
    one_line_error(capsys, main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", str(live), "--overwrite"]),
                   "is a search run folder, which forecast does not replace")
    assert (live / "search_config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live", "s.csv"]  # no staged folder left either


def test_out_as_the_current_folder_is_refused(tmp_path, capsys, monkeypatch):
    """'--out .': its temporary folder was made inside it and the run ended 'written by another run while this one
    ran'; with --overwrite the folder's files were deleted first. Now one line before any work."""
    data = series_csv(tmp_path / "s.csv")
    here = tmp_path / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    for extra in ([], ["--overwrite"]):
        one_line_error(capsys, main(["forecast", "--data", str(data), *TINY_FORECAST, "--out", ".", *extra]),
                       "is or holds the current folder")
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt"]


def test_a_refused_write_names_the_file_asked_for_not_its_temporary(tmp_path, monkeypatch):
    """predict --out on a read-only file system named '.p.csv.ghfjxbby.csv', a file the user never gave."""
    import errno
    import tempfile

    from autofast.io import write_text_atomic

    def read_only(*a, dir=None, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(Path(dir) / ".p.csv.ghfjxbby.csv"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as exc:
        write_text_atomic(tmp_path / "p.csv", "x")
    assert exc.value.filename == str(tmp_path / "p.csv") and exc.value.errno == errno.EROFS
    assert list(tmp_path.iterdir()) == []


def test_staged_run_leaves_a_folder_written_meanwhile_alone(tmp_path):
    """Two staged runs (dash, forecast, pretrain, compare) racing for one --out: the second to finish does not
    delete the first's folder; without --overwrite it also does not replace a run folder."""
    from autofast.errors import AutofastError
    from autofast.io import mark_run_dir, staged_run_dir

    out = tmp_path / "run"
    with pytest.raises(AutofastError, match="written by another run while this one ran"):
        with staged_run_dir(out) as tmp:
            (tmp / "result.json").write_text("{}")
            out.mkdir()
            mark_run_dir(out)
            (out / "result.json").write_text('{"winner": true}')
    assert json.loads((out / "result.json").read_text()) == {"winner": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(AutofastError, match="not an autofast run folder"):  # --overwrite, a foreign folder appears
        with staged_run_dir(tmp_path / "b", overwrite=True):
            (tmp_path / "b").mkdir()
            (tmp_path / "b" / "notes.txt").write_text("x")
    assert (tmp_path / "b" / "notes.txt").exists()


def test_a_killed_runs_staging_folder_is_swept_by_the_next_run_a_live_ones_is_not(tmp_path):
    """kill -9 of a staged run (compare, dash, forecast, pretrain) left its .<out>.tmp-* folder behind for good; the
    next run of that --out removes it once no process holds its lock, and leaves a live run's alone."""
    import fcntl
    import os

    from autofast.io import mark_run_dir, staged_run_dir

    out = tmp_path / "run"
    dead, live = tmp_path / ".run.tmp-dead", tmp_path / ".run.tmp-live"
    for d in (dead, live):
        d.mkdir()
        mark_run_dir(d)
        (d / ".lock").write_text("12345\n")
    fd = os.open(live / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run, still going
    try:
        with staged_run_dir(out) as tmp:
            assert (tmp / ".lock").is_file()  # held while it runs
            (tmp / "result.json").write_text("{}")
    finally:
        os.close(fd)
    assert not dead.exists() and live.exists() and (out / "result.json").is_file()
    assert not (out / ".lock").exists()


def test_closing_a_fused_pool_mid_search_stops_its_device_after_the_epoch(tmp_path):
    """An interrupted search (the driver closes the pool while a long job trains) does not wait for that job's
    remaining epochs: the device thread stops after its current epoch and the job is reported failed."""
    import time

    from autofast.asha.executor import FusedPool
    from autofast.asha.scheduler import Job

    class Trial:
        def start(self, job, device):
            return SimpleNamespace(job=job, epoch=int(job.resource_from))

        def epoch_together(self, runs, configs):
            time.sleep(0.01)
            for r in runs:
                r.epoch += 1
            return [{} for _ in runs]

        def finish(self, run, job, ck_out):
            return float(job.trial_id)

    pool = FusedPool(Trial(), devices=["cpu"], per_device=2)
    pool.submit(Job(0, {}, 0, 0, 1), tmp_path / "a.pt")
    pool.submit(Job(1, {}, 0, 0, 1000), tmp_path / "b.pt")  # 10 s of epochs
    assert [o.job.trial_id for o in pool.wait()] == [0]
    t0 = time.perf_counter()
    pool.close()
    assert time.perf_counter() - t0 < 2.0
    (out,) = pool.wait()
    assert out.job.trial_id == 1 and out.error.startswith("AutofastError: stopped")
