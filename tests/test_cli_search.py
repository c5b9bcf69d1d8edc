"""`python -m autofast search` (DASHA) end to end at tiny scale, and --resume of a finished run."""
import json
import re

from autofast.cli import main

TINY = ["--search-epochs", "1", "--search-width", "4", "--retrain-width", "8", "--n-configs", "4",
        "--max-epochs", "2", "--threads", "2", "--arch", "dash"]  # dash: the CNN family only (2 epochs of it and
# the random-convolution features score close on validation, so which wins would hang on conv-path numerics)


def test_search_splice_tiny_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--task", "splice", "--out", str(out), *TINY])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "test accuracy" in text
    for f in ("pattern.json", "result.json", "report.md", "report.html", "asha_rungs.png", "asha/asha.sqlite"):
        assert (out / f).exists(), f
    res = json.loads((out / "result.json").read_text())
    # DNA: the backbone gets a position channel (auto), in every stage, recorded for resume and AutoFT
    assert res["positional_input"] is True and json.loads((out / "pattern.json").read_text())["positional"] is True
    assert "position channel" in text
    assert len(res["asha"]["trials"]) == 4 and "validation accuracy (ASHA)" in res["selected_on"]
    report = (out / "report.md").read_text()
    assert "Test accuracy" in report and "Horizon = the ASHA maximum resource R = 2 epochs" in report
    assert res["schedule"]["kind"] == "cosine" and res["final"]["epochs"] == 2  # retrain length = R by default
    assert res["final"]["members"] == 3 and "mean prediction of 3 retrains" in res["selected_on"]  # default ensemble
    # the plan: derived values kept in result.json and printed before the run; the given options kept
    plan = res["plan"]
    assert plan["folds"] == 0 and plan["batch_size"] == 64 and plan["n_configs"] == 4 and plan["max_epochs"] == 2
    assert set(plan["given"]) == {"search_epochs", "n_configs", "max_epochs"} and "## Plan" in report
    top = sum(t["resource"] == 2 for t in res["asha"]["trials"])
    assert f"ASHA ran 4 of the 4 planned configurations; {top} reached the top rung of 2 epochs." in report
    assert re.search(r"\| measure_and_load \| [0-9.]+ \| [0-9.]+ \|", report)  # predicted and actual
    assert plan["arch"] == "dash" and not plan["rocket"]
    assert "plan: budget" in err and "plan: selection: hold-out" in err
    assert res["selection"]["winner"] == "dash" and set(res["selection"]["val_scores"]) == {"dash"}
    # the report lists which implementation ran each conv shape (mixed in DASH, fixed in ASHA and the retrain)
    kinds = {row["kind"] for row in res["conv_paths"]}
    assert kinds == {"mixed", "fixed"} and all(r["path"] in ("native", "tap", "fft") for r in res["conv_paths"])
    assert "## Convolution paths" in report
    assert "| lookback |" not in report and "| baseline |" not in report and "| seed |" in report  # DNA: no windows
    # resuming a finished run returns its result: no more ASHA (its budget would be given afresh), no second model
    # scored on the same test split (was: trained on, retrained, the test score replaced)
    stamp = (out / "result.json").stat().st_mtime_ns
    code = main(["search", "--resume", str(out), "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    again = json.loads(text)
    assert again["pattern"] == res["pattern"] and again["asha"]["best_trial"] == res["asha"]["best_trial"]
    assert again["test_score"] == res["test_score"] and "finished earlier; its result stands" in err
    assert (out / "result.json").stat().st_mtime_ns == stamp
    assert main(["search", "--task", "splice", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_the_python_api_resumes_and_a_resumed_run_says_so(tmp_path):
    """autofast.search had no resume (its error pointed at autofast.load, which failed on the unfinished run); a
    resumed run's record showed the last process only, as if it had run once (a user added 12 s + 42 s for a 40 s
    budget): now ``resume=True``, and ``resumed`` / ``processes`` / a report line."""
    import shutil

    import pytest

    import autofast
    from autofast.errors import AutofastError

    opts = dict(search_epochs=1, search_width=4, retrain_width=8, n_configs=2, max_epochs=1, threads=1, arch="dash",
                ensemble=1)
    out = tmp_path / "run"
    first = autofast.search("splice", out=out, **opts)
    assert first.result["resumed"] is False and len(first.result["processes"]) == 1
    (out / "result.json").unlink()  # as if killed after ASHA, before its result
    shutil.rmtree(out / "model")
    with pytest.raises(AutofastError, match=r"resume=True"):
        autofast.search("splice", out=out, **opts)
    with pytest.raises(AutofastError, match="the run started with --n-configs 2"):
        autofast.search("splice", out=out, resume=True, **{**opts, "n_configs": 3})
    again = autofast.search("splice", out=out, resume=True, **{**opts, "threads": 2})
    r = again.result
    assert r["resumed"] is True and [p["resumed"] for p in r["processes"]] == [False, True]
    assert [p["threads"] for p in r["processes"]] == [1, 2]
    assert r["asha"]["best_trial"] == first.result["asha"]["best_trial"]  # the journal's trials, not run again
    assert "**Resumed**: started" in (out / "report.md").read_text()
    assert autofast.search("splice", out=out, resume=True, **opts).test_score == again.test_score  # finished
