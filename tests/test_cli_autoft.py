"""`python -m autofast pretrain / finetune / compare` end to end at tiny scale, --resume, and bad input (one
`error:` line, exit status 2, no output folder)."""
import json
import os
import pickle

import pytest
import numpy as np
import torch

from autofast.cli import main

PRE = ["--width", "4", "--epochs", "1", "--batch-size", "128", "--threads", "1"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "pre"
    assert main(["pretrain", "--task", "digits", "--classes", "0-4", "--out", str(out), *PRE]) == 0
    return out / "model.pt"


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_pretrain_outputs(ckpt):
    out = ckpt.parent
    for f in ("model.pt", "result.json", "report.md", "report.html"):
        assert (out / f).exists(), f
    res = json.loads((out / "result.json").read_text())
    assert res["classes"] == ["0", "1", "2", "3", "4"] and res["arch"]["width"] == 4
    meta = torch.load(ckpt, weights_only=True)["autofast"]
    for key in ("backbone", "ndim", "in_channels", "num_classes", "width", "pattern", "task", "classes"):
        assert key in meta, key


def test_finetune_autoft_end_to_end_and_resume(ckpt, tmp_path, capsys):
    out = tmp_path / "ft"
    args = ["finetune", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--ood-val", "noise:3",
            "--ood-test", "blur:2", "contrast:3", "--n-configs", "3", "--max-epochs", "2", "--final-epochs", "1",
            "--final-seeds", "0", "1", "--control-lr-mults", "1", "--batch-size", "128", "--threads", "1",
            "--out", str(out)]
    code = main(args)
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "AutoFT" in text and "CE-only" in text
    for f in ("result.json", "report.md", "report.html", "asha_rungs.png", "finetuned.pt", "asha/asha.sqlite",
              "finetune_config.json"):
        assert (out / f).exists(), f
    r = json.loads((out / "result.json").read_text())
    assert len(r["asha"]["trials"]) == 3 and r["asha"]["rungs"] == [1, 2]
    # every trial trained with exactly base_lr * lr_mult; the final fine-tune with the best one
    for t in r["asha"]["trials"]:
        assert t["lr_used"] == [pytest.approx(1e-3 * t["config"]["lr_mult"], rel=1e-12)]
    # the AutoFT arm trains the objective the one-SE rule kept: the search's best or CE-only
    assert r["search_objective"]["lr"] == pytest.approx(1e-3 * r["asha"]["best_config"]["lr_mult"])
    assert r["autoft_objective"]["source"] == r["selection"]["winner"] and "why:" in text
    best_lr = r["autoft_objective"]["lr"]
    autoft_runs = [x for x in r["runs"] if x["arm"] == "autoft"]
    assert [x["seed"] for x in autoft_runs] == [0, 1]
    assert all(x["lr_used"] == [pytest.approx(best_lr)] for x in autoft_runs)
    ce_runs = [x for x in r["runs"] if x["arm"] == "ce_only"]
    assert all(x["lr_used"] == [pytest.approx(1e-3)] for x in ce_runs)
    assert set(r["summary"]["autoft"]) == {"ood_val", "id_test", "ood_test:blur:2", "ood_test:contrast:3",
                                           "ood_test_mean"}
    assert r["summary"]["autoft"]["ood_test_mean"]["accuracy"]["n"] == 2
    assert r["model"]["head_reinitialised"]
    md = (out / "report.md").read_text()
    assert "re-initialised" in md and "OOD test accuracy" in md and "CE-only" in md
    assert "Trained on cpu in precision auto (auto: fp32)" in md
    assert json.loads((out / "finetune_config.json").read_text())["precision"] == "auto"  # what --resume reads
    # the fine-tuned model loads again and keeps its head for the same task
    meta = torch.load(out / "finetuned.pt", weights_only=True)["autofast"]
    assert meta["classes"] == ["5", "6", "7", "8", "9"]
    # resume a finished run: nothing left to search, same best trial
    code = main(["finetune", "--resume", str(out), "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    again = json.loads(text)
    assert again["asha"]["best_trial"] == r["asha"]["best_trial"]
    assert main(args) == 2 and "--resume" in _err(capsys)


def test_compare_sweep_end_to_end(ckpt, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--shots", "2", "5",
                 "--seeds", "0", "1", "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-configs", "2",
                 "--baseline-max-epochs", "1", "--baseline-epochs", "1", "--min-steps-per-epoch", "2", "--threads", "1", "--out", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "pretrained" in text and "baseline" in text
    for f in ("result.json", "report.md", "report.html", "score_vs_size.png"):
        assert (out / f).exists(), f
    r = json.loads((out / "result.json").read_text())
    assert len(r["rows"]) == 2 * 2 * 2
    assert {(x["shots"], x["seed"], x["arm"]) for x in r["rows"]} == {
        (s, seed, a) for s in (2, 5) for seed in (0, 1) for a in ("pretrained", "baseline")}
    # the default protocol: every choice on a validation set of the same size, carved from the training pool
    assert all(x["n_train"] == 5 * x["shots"] == x["n_val"] and x["val_shots"] == x["shots"] for x in r["rows"])
    assert r["selection"] == "kshot" and "val shots / class" in (out / "report.md").read_text()
    assert [(t["shots"], t["arm"], t["test"]["n"]) for t in r["table"]] == [
        (2, "pretrained", 2), (2, "baseline", 2), (5, "pretrained", 2), (5, "baseline", 2)]
    assert "mean ± std" in (out / "report.md").read_text()
    # the pretrained arm fine-tuned with AutoFT, the old protocol (the whole ID val split), options from YAML
    cfg = tmp_path / "cmp.yaml"
    cfg.write_text("shots: [3]\nseeds: [1]\nselection: full-val\nautoft_configs: 2\nautoft_max_epochs: 1\nft_epochs: 1\n"
                   "baseline_configs: 1\nbaseline_max_epochs: 1\nbaseline_epochs: 1\nthreads: 1\n")
    code = main(["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5", "6", "7", "--autoft",
                 "--config", str(cfg), "--out", str(tmp_path / "cmp2"), "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    r2 = json.loads(text)
    assert r2["classes"] == ["5", "6", "7"] and len(r2["rows"]) == 2
    assert "autoft_config" in next(x for x in r2["rows"] if x["arm"] == "pretrained")
    assert all(x["val_shots"] == "full" and x["n_val"] > 3 * 3 for x in r2["rows"]) and "flatters" in r2["selected_on"]
    assert r2["model"]["head_reinitialised"]  # 3 classes vs the checkpoint's 5


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_checkpoint",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_input_one_line_errors(ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["--task", "digits", "--classes", "5-9", "--threads", "1"]

    def fails(argv, match):
        out = tmp_path / "never"
        assert main([*argv, "--out", str(out)]) == 2
        line = _err(capsys)
        assert match in line, line
        assert not out.exists()

    fails(["finetune", "--checkpoint", str(tmp_path / "missing.pt"), *base], "not found")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--ood-val", "fog:3"], "unknown shift family")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--ood-test", "noise:7"], "severity")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--width", "8"], "shape")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--arch", "resnet1d"], "1-D")
    fails(["finetune", "--checkpoint", str(ckpt), "--task", "splice"], "trained on image data")
    fails(["finetune", "--task", "digits"], "--checkpoint")
    fails(["compare", "--checkpoint", str(ckpt), *base, "--shots", "1", "1000"], "at most")
    fails(["compare", "--checkpoint", str(ckpt), *base, "--shots", "few"], "positive integer")
    fails(["pretrain", "--task", "nope_task"], "unknown task")
    cfg = tmp_path / "space.yaml"
    cfg.write_text("space:\n  w_ce: {loguniform: [0.1, 1]}\n  w_magic: {uniform: [0, 1]}\n")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--config", str(cfg)], "unknown search-space key")
    cfg.write_text("base_lr: [1, 2\n")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--config", str(cfg)], "invalid YAML")
    # a checkpoint whose unpickling would run code is refused, and the code never runs
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": _Evil()}}, evil)
    fails(["finetune", "--checkpoint", str(evil), *base], "refusing")
    with open(evil, "wb") as f:  # a raw pickle (protocol 4) with the same payload
        pickle.dump({"state_dict": {"w": _Evil()}}, f, protocol=4)
    fails(["compare", "--checkpoint", str(evil), *base], "a raw pickle, not torch.save's format: not unpickled")
    assert "Warning" not in capsys.readouterr().err  # torch's own warning beside the one line
    assert not (tmp_path / "pwned_by_checkpoint").exists()


def test_checkpoints_and_options_that_would_make_an_unfair_or_empty_comparison(ckpt, tmp_path, capsys):
    """Found by a user audit: the checkpoint pretrained on digits 0-4 (split seed 0) compared on digits 0-4 with
    seed 1 saw 150 of the 180 test images (pretrained arm 1.0 at 1 shot); NaN weights were fine-tuned, diverged at
    every lr and still scored; meta fields that are not numbers were internal errors; negative lr multipliers an
    internal error leaving a folder; the same file as OOD validation and OOD test passed as 'other examples'."""
    from autofast.models.checkpoint import load_checkpoint, save_checkpoint

    def fails(argv, match):
        out = tmp_path / "never"
        assert main([*argv, "--threads", "1", "--out", str(out)]) == 2
        line = _err(capsys)
        assert match in line, line
        assert not out.exists()

    fails(["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "0-4", "--seed", "1"],
          "test examples of 'digits[0,1,2,3,4]' are among the rows the checkpoint trained on")
    state, meta = load_checkpoint(ckpt)
    first = next(iter(state))
    save_checkpoint(tmp_path / "nan.pt", {**state, first: state[first].clone().fill_(float("nan"))}, meta)
    base = ["--task", "digits", "--classes", "5-9"]
    fails(["compare", "--checkpoint", str(tmp_path / "nan.pt"), *base], "holds NaN or infinite values")
    save_checkpoint(tmp_path / "meta.pt", state, {**meta, "ndim": "two"})
    fails(["compare", "--checkpoint", str(tmp_path / "meta.pt"), *base], "meta field 'ndim' is 'two'")
    fails(["compare", "--checkpoint", str(ckpt), *base, "--ft-lr-mults", "-1"], "ft_lr_mults")
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--control-lr-mults", "-1"], "control_lr_mults")
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = d.target >= 5
    np.savez(tmp_path / "ood.npz", x=(d.images[keep][:40, None] / 16.0).astype(np.float32),
             y=d.target[keep][:40].astype(str))
    fails(["finetune", "--checkpoint", str(ckpt), *base, "--ood-val", str(tmp_path / "ood.npz"), "--ood-test",
           str(tmp_path / "ood.npz")], "40 of its 40 examples are in the OOD validation set")


def test_demo_quick(tmp_path):
    """The no-download demo (pretrain digits 0-4 -> finetune / compare on digits 5-9) at smoke-test budgets."""
    from autofast.autoft.demo import main as demo

    out = tmp_path / "demo"
    assert demo(["--out", str(out), "--quick"]) == 0
    text = (out / "SUMMARY.md").read_text()
    assert "AutoFT vs CE-only" in text and "ood_test_mean" in text and "| 5 |" in text
    assert demo(["--out", str(out), "--quick"]) == 2  # never overwrites a demo folder


def test_finetune_sigkill_mid_search_then_resume(ckpt, tmp_path, capsys):
    """A `finetune` process killed with SIGKILL mid-ASHA continues with --resume to the same trials as an
    uninterrupted run, and no (trial, rung) result is recorded twice."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    common = ["--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--ood-val", "noise:3",
              "--ood-test", "blur:2", "--n-configs", "6", "--max-epochs", "4", "--final-epochs", "1",
              "--final-seeds", "0", "--control-lr-mults", "1", "--batch-size", "128", "--threads", "1", "--json"]
    killed = tmp_path / "killed"
    journal = killed / "asha" / "asha.sqlite"

    def results():
        try:
            with sqlite3.connect(journal) as con:
                return con.execute("SELECT COUNT(*) FROM events WHERE kind = 'result'").fetchone()[0]
        except sqlite3.Error:
            return 0

    proc = subprocess.Popen([sys.executable, "-m", "autofast", "finetune", "--out", str(killed), *common],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and results() < 3:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"finetune ended (rc {proc.returncode}) before it could be killed mid-ASHA")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert results() >= 3 and not (killed / "result.json").exists()

    assert main(["finetune", "--resume", str(killed)]) == 0
    capsys.readouterr()
    resumed = json.loads((killed / "result.json").read_text())
    assert main(["finetune", "--out", str(tmp_path / "straight"), *common]) == 0
    capsys.readouterr()
    straight = json.loads((tmp_path / "straight" / "result.json").read_text())

    def finished(r):
        return [(t["trial_id"], t["status"], t["rung"], {k: round(v, 6) for k, v in t["scores"].items()})
                for t in r["asha"]["trials"]]

    assert finished(resumed) == finished(straight)
    assert resumed["asha"]["best_trial"] == straight["asha"]["best_trial"]
    with sqlite3.connect(journal) as con:
        rows = con.execute("SELECT trial_id, rung, COUNT(*) FROM events WHERE kind = 'result' GROUP BY 1, 2").fetchall()
    assert rows and all(n == 1 for _, _, n in rows)


def test_compare_continues_from_finished_cells(ckpt, tmp_path, capsys, monkeypatch):
    """A killed compare keeps every finished (shots, seed, arm) cell in `.<out>.cells.jsonl`; the same command
    again runs only the missing cells, and a torn last line (killed mid-write) is ignored."""
    from autofast.autoft import compare

    args = ["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--shots", "2",
            "--seeds", "0", "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-configs", "1",
            "--baseline-max-epochs", "1", "--baseline-epochs", "1", "--threads", "1", "--json"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    full = json.loads(capsys.readouterr().out)
    assert not (tmp_path / ".full.cells.jsonl").exists()  # removed after success
    cfg = compare.CompareConfig(**full["config"])
    cells = tmp_path / ".again.cells.jsonl"
    pre = next(r for r in full["rows"] if r["arm"] == "pretrained")
    compare._append_cell(cells, cfg, pre)
    with open(cells, "a") as f:
        f.write('{"shots": 2, "seed": 0, "arm": "basel')  # torn line
    monkeypatch.setattr(compare, "_run_pretrained", lambda *a, **k: pytest.fail("a finished cell ran again"))
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["arm"] for r in again["rows"]] == ["pretrained", "baseline"]
    assert again["rows"][0]["test_score"] == pre["test_score"]
    assert not cells.exists()
    compare._append_cell(tmp_path / ".fifth.cells.jsonl", cfg, pre)  # --threads changes speed, not cells
    threads2 = [("2" if a == "1" and args[i - 1] == "--threads" else a) for i, a in enumerate(args)]
    assert main([*threads2, "--out", str(tmp_path / "fifth")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["test_score"] == pre["test_score"]
    compare._append_cell(tmp_path / ".sixth.cells.jsonl", cfg.model_copy(update={"ft_epochs": 2}), pre)
    assert main([*args, "--out", str(tmp_path / "sixth")]) == 2
    assert "other options (ft_epochs)" in _err(capsys)
    (tmp_path / ".third.cells.jsonl").write_text('{"other": "options"}\n')
    assert main([*args, "--out", str(tmp_path / "third")]) == 2
    assert "other options" in _err(capsys)
    monkeypatch.undo()  # --overwrite starts afresh: the stale cells file is not gone on from, nor in the way
    assert main([*args, "--out", str(tmp_path / "third"), "--overwrite"]) == 0
    assert not (tmp_path / ".third.cells.jsonl").exists()
    capsys.readouterr()
    # the same options, the checkpoint file replaced at the same path (pretrain --overwrite): its cells are not
    # another checkpoint's (a continued run mixed the two in one table)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(ckpt.read_bytes() + b"\0")  # the file the cells were made with
    compare._append_cell(tmp_path / ".fourth.cells.jsonl", cfg.model_copy(update={"checkpoint": str(copy)}), pre)
    copy.write_bytes(ckpt.read_bytes())  # replaced
    assert main([*[str(copy) if a == str(ckpt) else a for a in args], "--out", str(tmp_path / "fourth")]) == 2
    assert "another checkpoint file" in _err(capsys)


def test_compare_baseline_arm_ends_within_its_time_budget(ckpt, tmp_path, capsys):
    """--baseline-time-budget: options that cannot fit (R = 500 epochs, 50 configurations) are cut, per cell, to
    end within the budget; a budget below one measured epoch is one error line with the minimum."""
    out = tmp_path / "cmp"
    code = main(["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--shots", "10",
                 "--seeds", "0", "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-configs", "50",
                 "--baseline-max-epochs", "500", "--baseline-time-budget", "6", "--threads", "1", "--out", str(out),
                 "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    row = next(r for r in json.loads(text)["rows"] if r["arm"] == "baseline")
    assert row["seconds"] <= 6 * 1.1 and row["budget"]["seconds"] == 6
    assert row["epochs"] < 500 and row["budget"]["asha_top_rung"] <= row["epochs"] and row["trials"] < 50
    assert row["epochs_trained"] <= row["epochs"] and "within 6s per cell" in json.loads(text)["baseline_arm"]
    code = main(["compare", "--checkpoint", str(ckpt), "--task", "digits", "--classes", "5-9", "--shots", "10",
                 "--seeds", "0", "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-time-budget", "0.001",
                 "--threads", "1", "--out", str(tmp_path / "tiny"), "--json"])
    line = _err(capsys)
    assert code == 2 and "--baseline-time-budget 0.001s" in line and "give at least --baseline-time-budget" in line
    assert not (tmp_path / "tiny").exists()
    assert not (tmp_path / ".tiny.cells.jsonl").exists()  # refused before the pretrained arm ran (it wrote its cell)


def test_baseline_plan_is_a_function_of_the_epoch_cost_and_the_budget():
    from autofast.autoft.compare import CompareConfig, baseline_plan
    from autofast.errors import AutofastError

    cfg = CompareConfig(checkpoint="x", baseline_max_epochs=16)
    assert baseline_plan(cfg, 1.0, None) == {"epochs": 16, "max_epochs": 16, "asha_seconds": None}
    roomy = baseline_plan(cfg, 0.1, 100.0)  # 16 epochs fit: kept; ASHA gets the rest less the margin
    assert roomy["epochs"] == 16 and roomy["max_epochs"] == 16 and roomy["asha_seconds"] == pytest.approx(90 - 1.6)
    tight = baseline_plan(cfg, 1.0, 20.0, spent=2.0)  # 40% of 20 s = 8 epochs; rung R cut to the horizon
    assert tight["epochs"] == 8 and tight["max_epochs"] == 8 and tight["asha_seconds"] == pytest.approx(2 + 16 - 8)
    given = baseline_plan(CompareConfig(checkpoint="x", baseline_epochs=30, baseline_max_epochs=16), 1.0, 20.0)
    assert given["epochs"] == 30 and given["max_epochs"] == 16  # a given length is kept (fit() stops at the budget)
    assert CompareConfig(checkpoint="x", baseline_time_budget="2m").baseline_time_budget == 120
    with pytest.raises(AutofastError, match="give at least --baseline-time-budget 3$"):
        baseline_plan(cfg, 1.0, 2.0)
