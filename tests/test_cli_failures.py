"""Issue 11: every expected failure of the CLI is ONE ``error:`` line on stderr and exit status 2 (a bug:
exit 1, the traceback only with --debug); nothing computed from bad input is reported; nothing half-written
is left behind. In-process through ``autofast.cli.main`` (fast); signals in ``test_cli_signals.py``."""
import errno
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autofast.cli import main

# --arch dash: no feature families (their fits on splice cost ~20 s per call and no fault here is in them)
TINY_SEARCH = ["--task", "splice", "--arch", "dash", "--search-epochs", "1", "--search-width", "4",
               "--search-batch-fraction", "0.2", "--retrain-width", "4", "--n-configs", "2", "--max-epochs", "1",
               "--threads", "1", "--json"]
TINY_DASH = ["--task", "splice", "--search-epochs", "1", "--search-width", "4", "--search-batch-fraction", "0.2",
             "--retrain-width", "4", "--retrain-epochs", "1", "--no-baseline", "--threads", "1", "--json"]
TINY_FORECAST = ["--horizon", "4", "--lookback", "16", "--max-order", "8", "--split", "ratio", "--json"]


def one_line_error(capsys, code, *needles, rc=2):
    """The failure ended in one ``error:`` line (no traceback; progress lines before it are fine) holding every
    needle; returns it."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == rc, err
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


def series_csv(path: Path, n: int = 300, **change) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="h").astype(str),
                       "a": rng.normal(size=n).cumsum(), "b": rng.normal(size=n)})
    for col, values in change.items():
        df[col] = values
    df.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------------- run folders
def _bad_outs(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {"under a file": afile / "run", "equal to a file": afile, "/dev/null/x": Path("/dev/null/x")}


@pytest.mark.parametrize("command", ["forecast", "dash", "search"])
@pytest.mark.parametrize("case", ["under a file", "equal to a file", "/dev/null/x"])
def test_out_that_cannot_be_created(command, case, tmp_path, capsys):
    out = _bad_outs(tmp_path)[case]
    extra = {"forecast": ["--data", str(series_csv(tmp_path / "s.csv")), *TINY_FORECAST], "dash": TINY_DASH,
             "search": TINY_SEARCH}[command]
    one_line_error(capsys, main([command, *extra, "--out", str(out)]), "--out", "choose another --out")
    assert sorted(p.name for p in tmp_path.iterdir()) in (["afile"], ["afile", "s.csv"])


@pytest.mark.parametrize("command", ["forecast", "dash", "search"])
def test_out_on_a_read_only_file_system(command, tmp_path, capsys, monkeypatch):
    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    extra = {"forecast": ["--data", str(series_csv(tmp_path / "s.csv")), *TINY_FORECAST], "dash": TINY_DASH,
             "search": TINY_SEARCH}[command]
    one_line_error(capsys, main([command, *extra, "--out", str(tmp_path / "ro" / "run")]), "Read-only file system",
                   "choose another --out")


def test_out_the_os_refuses(tmp_path, capsys):
    target = Path("/sys/autofast-issue11-test")
    try:
        target.mkdir()
        target.rmdir()
        pytest.skip("this machine lets us write /sys")
    except OSError:
        pass
    code = main(["forecast", "--data", str(series_csv(tmp_path / "s.csv")), *TINY_FORECAST, "--out", str(target / "x")])
    one_line_error(capsys, code, "--out", "cannot create")


# ----------------------------------------------------------------------------------------------- forecast input
FORECAST_CASES = {
    "repeated column": (lambda d: ["--data", str(series_csv(d / "s.csv")), "--columns", "a", "a"], "more than once"),
    "kpss on a constant column": None,  # succeeds: a constant channel is stationary
    "repeated last timestamp": (lambda d: ["--data", str(series_csv(
        d / "s.csv", date=list(pd.date_range("2020", periods=299, freq="h").astype(str)) + ["2020-01-13 10:00:00"]))],
        "repeats"),
    "shuffled dates": (lambda d: ["--data", str(series_csv(
        d / "s.csv", date=np.random.default_rng(1).permutation(pd.date_range("2020", periods=300, freq="D").astype(str))))],
        "sort the rows by date"),
    "integer dates out of order": (lambda d: ["--data", str(series_csv(d / "s.csv", date=np.arange(300)[::-1]))],
                                   "goes back in time"),
    "every value 1e300": (lambda d: ["--data", str(series_csv(d / "s.csv", a=1e300))], "cannot be standardised"),
    "one 1e300 cell": (lambda d: ["--data", str(series_csv(d / "s.csv", a=[1e300] + [1.0] * 299))],
                       "cannot be standardised"),
    "outlier in the test split": (lambda d: ["--data", str(series_csv(
        d / "s.csv", a=[0.5 * (i % 3) for i in range(285)] + [1e160] + [0.0] * 14))], "overflow"),
    "duplicate header": (lambda d: ["--data", str(_dup_header(d / "s.csv"))], "more than once in the header"),
    "object npy": (lambda d: ["--data", str(_npy(d / "o.npy", np.array([{"a": 1}] * 50, dtype=object)))],
                   "Python objects"),
    "random-bytes npy": (lambda d: ["--data", str(_bytes(d / "r.npy"))], "not a readable .npy"),
    "cuda without CUDA": (lambda d: ["--data", str(series_csv(d / "s.csv")), "--device", "cuda"], "CUDA"),
    "yaml ratios: 0.7": (lambda d: ["--data", str(series_csv(d / "s.csv")), "--split", "ratio",
                                    "--config", str(_text(d / "c.yaml", "ratios: 0.7\n"))], "ratios"),
}
del FORECAST_CASES["kpss on a constant column"]


def _dup_header(path):
    path.write_text("date,a,a\n" + "".join(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00,{i % 7},{i % 5}\n"
                                           for i in range(300)))
    return path


def _npy(path, arr):
    np.save(path, arr, allow_pickle=True)
    return path


def _bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(512))
    return path


def _text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(FORECAST_CASES))
def test_forecast_bad_input_is_one_line(case, tmp_path, capsys):
    make, needle = FORECAST_CASES[case]
    argv = ["forecast", *TINY_FORECAST, *make(tmp_path), "--out", str(tmp_path / "run")]
    if case == "cuda without CUDA":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    one_line_error(capsys, main(argv), needle)
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))


def test_forecast_triton_where_it_cannot_run(tmp_path, capsys, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("Triton runs on this machine's GPU")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    code = main(["forecast", *TINY_FORECAST, "--data", str(series_csv(tmp_path / "s.csv")), "--backend", "triton",
                 "--device", "cpu", "--out", str(tmp_path / "run")])
    one_line_error(capsys, code, "triton", "TRITON_INTERPRET=1")


def test_forecast_kpss_on_a_constant_column_runs(tmp_path, capsys):
    path = series_csv(tmp_path / "s.csv", c=1.0)
    code = main(["forecast", *TINY_FORECAST, "--data", str(path), "--diff-rule", "kpss", "--out", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["results"][0]["mse"] >= 0


# ----------------------------------------------------------------------------------------------- dash / search
@pytest.mark.parametrize("command", ["dash", "search"])
@pytest.mark.parametrize("flags,needle", [
    (["--kernel-sizes", "4"], "odd"), (["--kernel-sizes", "0"], "odd"), (["--dilations", "0"], "dilations"),
    (["--threads", "-1"], "--threads"), (["--task", "digits", "--backbone", "resnet1d"], "resnet1d"),
])
def test_dash_and_search_options(command, flags, needle, tmp_path, capsys):
    base = TINY_DASH if command == "dash" else TINY_SEARCH
    out = tmp_path / "run"
    one_line_error(capsys, main([command, *base, *flags, "--out", str(out)]), needle)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["dash", "search"])
@pytest.mark.parametrize("case,needle", [("folder", "not a file"), ("binary", "not a UTF-8"),
                                         ("wrong type", "kernel_sizes"), ("python tag", "tags")])
def test_config_files(command, case, needle, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    if case == "folder":
        cfg.mkdir()
    elif case == "binary":
        cfg.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    elif case == "wrong type":
        cfg.write_text("kernel_sizes: seven\n")
    else:
        cfg.write_text("kernel_sizes: !!python/object/apply:os.system ['true']\n")
    line = one_line_error(capsys, main([command, "--config", str(cfg), "--out", str(tmp_path / "run")]), needle)
    if case == "python tag":
        assert "not allowed" in line and "fix the syntax" not in line


def test_task_file_never_echoes_another_file(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET=hunter2 and more\n")
    for kind in ("dna", "auto"):
        task = tmp_path / "t.yaml"
        task.write_text(f"data: {secret}\nkind: {kind}\n")
        line = one_line_error(capsys, main(["search", "--task", str(task), "--out", str(tmp_path / "run")]))
        assert "TOPSECRET" not in line and "hunter2" not in line


def test_search_devices_refused_before_anything_is_written(tmp_path, capsys):
    import torch

    for devices, needle in ([["foo"], "unknown device"], [["cuda:0"] if not torch.cuda.is_available()
                                                          else [f"cuda:{torch.cuda.device_count()}"], "CUDA device"]):
        out = tmp_path / "run"
        one_line_error(capsys, main(["search", *TINY_SEARCH, "--devices", *devices, "--out", str(out)]), needle)
        assert not out.exists()
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--min-epochs", "8", "--max-epochs", "2", "--out",
                                 str(tmp_path / "run")]), "min_epochs")
    assert not (tmp_path / "run").exists()


def test_resume_of_a_corrupt_or_foreign_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    one_line_error(capsys, main(["search", "--resume", str(run)]), "not a search run folder")
    (run / "search_config.json").write_bytes(b'{"task": "spl\x00\xff')
    one_line_error(capsys, main(["search", "--resume", str(run)]), "corrupt")
    one_line_error(capsys, main(["search", "--resume", str(tmp_path / "missing")]), "not a folder")


def test_dash_diverged_is_a_failure_not_a_result(tmp_path, capsys):
    code = main(["dash", *TINY_DASH, "--lr", "1e6", "--out", str(tmp_path / "run")])
    one_line_error(capsys, code, "diverged", "lower the learning rate")
    assert not list(tmp_path.iterdir())  # no result.json with NaN, no hidden temp folder


# ----------------------------------------------------------------------------------------------- search faults
def test_search_full_disk_interrupt_and_every_trial_failing(tmp_path, capsys, monkeypatch):
    """One tiny DASH stage, then three faults after it: a full disk in the journal, Ctrl-C, every trial failing.
    Each is one line; the run folder is kept with its pattern, and the message says how to resume."""
    import autofast.asha.journal as journal
    import autofast.search.pipeline as pipeline
    from autofast.asha.local import TorchTrial

    run = tmp_path / "run"
    real_record = journal.Journal.record

    def full(self, kind, *a, **k):
        if kind == "result":
            raise sqlite3.OperationalError("database or disk is full")
        return real_record(self, kind, *a, **k)

    monkeypatch.setattr(journal.Journal, "record", full)
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(run)]), "disk", f"--resume {run}")
    assert (run / "pattern.json").exists()
    monkeypatch.setattr(journal.Journal, "record", real_record)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pipeline, "tune", interrupted)
        one_line_error(capsys, main(["search", "--resume", str(run)]), "interrupted", f"--resume {run}", rc=130)

    def damaged(*a, **k):
        raise sqlite3.DatabaseError("file is not a database")

    with monkeypatch.context() as m:
        m.setattr(pipeline, "tune", damaged)
        one_line_error(capsys, main(["search", "--resume", str(run)]), "journal is damaged")

    def boom(self, job, *a, **k):
        raise RuntimeError(f"boom in trial {job.trial_id}\nsecond line")

    with monkeypatch.context() as m:
        m.setattr(TorchTrial, "__call__", boom)
        one_line_error(capsys, main(["search", "--resume", str(run)]), "every ASHA trial failed",
                       "trial 0: RuntimeError: boom in trial 0")

    def interrupted_early(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "search_architecture", interrupted_early)
    fresh = tmp_path / "fresh"
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(fresh)]), "interrupted", "nothing was kept", rc=130)
    assert not fresh.exists()


def test_a_search_without_dash_interrupted_in_asha_keeps_its_folder(tmp_path, capsys, monkeypatch):
    """A plan without a DASH stage writes no pattern.json: Ctrl-C or SIGTERM in ASHA deleted the folder with every
    finished rung ('interrupted before the first stage finished; nothing was kept'); kill -9 kept it. Now the ASHA
    journal keeps it, and --resume finishes the search."""
    from autofast.asha.local import TorchTrial

    real, calls = TorchTrial.__call__, []

    def interrupted_second(self, job, *a, **k):
        calls.append(job)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(self, job, *a, **k)

    run = tmp_path / "plain"
    plain = [a if a != "dash" else "plain" for a in TINY_SEARCH]
    with monkeypatch.context() as m:
        m.setattr(TorchTrial, "__call__", interrupted_second)
        one_line_error(capsys, main(["search", *plain, "--out", str(run)]), "interrupted", f"--resume {run}", rc=130)
    assert (run / "asha" / "asha.sqlite").is_file() and not (run / "pattern.json").exists()
    assert main(["search", "--resume", str(run)]) == 0
    assert json.loads((run / "result.json").read_text())["test_score"] is not None


def test_a_search_stopped_after_its_test_score_is_completed_not_scored_again(tmp_path, capsys, monkeypatch):
    """Stopped between the final model's save and result.json: --resume reopened ASHA with a fresh budget, chose
    another trial and scored the test split a second time. Now it completes the run from the saved result and
    model (the report written then); other options given with --resume are refused (they were ignored)."""
    import autofast.search.pipeline as pipeline

    run = tmp_path / "run"
    plain = [a if a != "dash" else "plain" for a in TINY_SEARCH]

    def stopped(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pipeline, "write_search_report", stopped)
        one_line_error(capsys, main(["search", *plain, "--out", str(run)]), "interrupted", f"--resume {run}", rc=130)
    pending = json.loads((run / ".result.pending.json").read_text())
    assert not (run / "result.json").exists() and (run / "model" / "manifest.json").is_file()
    for flags, needle in ((["--task", "digits"], "the run started with --task splice"),
                          (["--time-budget", "60"], "resume without --time-budget"),
                          (["--out", str(tmp_path / "x")], "drop --out")):
        one_line_error(capsys, main(["search", "--resume", str(run), *flags]), needle)
    assert main(["search", "--resume", str(run), "--threads", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "completing it from them" in err and json.loads(out)["test_score"] == pending["test_score"]
    assert (run / "report.md").is_file() and not (run / ".result.pending.json").exists()


def test_run_folder_lock(tmp_path, capsys):
    from autofast.errors import AutofastError
    from autofast.io import run_lock

    run = tmp_path / "run"
    run.mkdir()
    (run / "search_config.json").write_text(json.dumps({"task": "splice"}))
    with run_lock(run):
        with pytest.raises(AutofastError, match="in use by another autofast process"):
            with run_lock(run):
                pass
        one_line_error(capsys, main(["search", "--resume", str(run)]), "in use")
    with run_lock(run):  # released on exit: a later run gets it
        pass


# ----------------------------------------------------------------------------------------------- the error path
def test_a_bug_is_exit_1_with_the_traceback_only_under_debug(tmp_path, capsys, monkeypatch):
    import autofast.commands.datasets as datasets

    def bug(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(datasets, "run", bug)  # add_parser binds the module's run when the parser is built
    assert main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ValueError: an internal bug" in err and "--debug" in err
    assert main(["datasets", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "an internal bug" in err



def test_diverged_trials_fail(tmp_path):
    """A trial whose training diverges (``Diverged``) or whose score is not finite is a failed trial: never
    ranked, never promoted, never the best; checkpoints are journaled relative to the checkpoint folder."""
    from autofast.asha import ASHA
    from autofast.asha.executor import LocalPool, drive
    from autofast.errors import Diverged

    def trial(job, ck_in, ck_out, device):
        Path(ck_out).write_text("state")
        if job.trial_id == 0:
            return float("nan")
        if job.trial_id == 1:
            raise Diverged("training diverged: the loss became nan at epoch 1")
        return float(job.trial_id)

    sched = ASHA({"x": {"uniform": [0, 1]}}, 1, 4, eta=2, max_trials=4)
    drive(sched, LocalPool(trial), tmp_path / "ck")
    status = {t["trial_id"]: t for t in sched.trials()}
    assert status[0]["status"] == status[1]["status"] == "failed"
    assert "nan" in status[0]["error"] and status[1]["error"].startswith("Diverged: training diverged")
    assert sched.best()[0] == 3
    assert all(not Path(t["checkpoint"]).is_absolute() for t in status.values() if t["checkpoint"])


def test_a_diverged_dash_stage_leaves_the_plain_pattern(tmp_path, capsys, monkeypatch):
    """A supernet that diverges costs the search its DASH pattern, not the run; with --arch dash it is the error."""
    from autofast.errors import Diverged
    from autofast.search import pipeline

    def diverged(*a, **k):
        raise Diverged("training diverged: the loss became nan at epoch 1 (learning rate 0.05); lower the "
                       "learning rate")

    monkeypatch.setattr(pipeline, "search_architecture", diverged)
    auto = ["--task", "JapaneseVowels", "--arch", "auto", "--folds", "0", *TINY_SEARCH[4:]]
    run = tmp_path / "auto"
    assert main(["search", *auto, "--out", str(run)]) == 0
    res = json.loads((run / "result.json").read_text())
    assert res["dash"]["diverged"].startswith("training diverged") and set(res["architectures"]) == {"plain"}
    assert "ASHA went on with the plain pattern only" in (run / "report.md").read_text()
    capsys.readouterr()
    one_line_error(capsys, main(["search", *TINY_SEARCH, "--out", str(tmp_path / "dash")]), "diverged")
