"""`dash` and `finetune` runs save their final model in the predictor format (RUN_DIR/model/, the one that
`search` writes): `predict` on the run's own test split gives exactly the run's reported test score,
`autofast.load` opens the run, and an input that does not fit the model is one `error:` line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autofast.cli import main
from motif_data import motif_rows


def predict_json(capsys, run_dir, data) -> dict:
    capsys.readouterr()
    code = main(["predict", str(run_dir), "--data", str(data), "--threads", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def error_line(capsys, argv) -> str:
    capsys.readouterr()
    code = main(argv)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_dash_dna_run_predicts_its_test_score(tmp_path, capsys):
    import autofast

    rows = motif_rows(160)
    (tmp_path / "motif.csv").write_text("seq,label\n" + "".join(f"{s},{lab}\n" for s, lab in rows))
    task = tmp_path / "motif.yaml"
    task.write_text("name: motif\nkind: dna\ndata: motif.csv\nsequence_column: seq\nlabel_column: label\n")
    run = tmp_path / "run"
    assert main(["dash", "--task", str(task), "--out", str(run), "--no-baseline", "--search-epochs", "1",
                 "--retrain-epochs", "2", "--search-width", "4", "--retrain-width", "8", "--threads", "1",
                 "--json"]) == 0
    res = json.loads((run / "result.json").read_text())
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["command"] == "dash" and manifest["model"]["container"] == "single"
    assert manifest["model"]["members"][0]["pattern"] == res["pattern"] and manifest["model"]["positional"]
    assert res["saved_model"]["format"] == "autofast-model/1"
    out = predict_json(capsys, run, task)
    assert out["accuracy"] == res["test_score"] == res["retrain"]["test_acc"] and out["rows"] == res["split"]["test"]
    api = autofast.load(run)
    assert api.score(str(task)) == res["test_score"] == api.test_score
    assert api.report is None and not (run / "report.md").exists()  # dash writes none (was a path to nothing)
    longer = tmp_path / "long.csv"
    longer.write_text("seq\n" + "ACGT" * 12 + "\n")  # 48 nt; the model pads to 40 and never truncated
    assert "at most 40" in error_line(capsys, ["predict", str(run), "--data", str(longer)])


@pytest.fixture(scope="module")
def finetune_run(tmp_path_factory):
    """Pretrain on digits 0-4, AutoFT on digits 5-9 (the task cut to those classes before its split)."""
    d = tmp_path_factory.mktemp("ft")
    assert main(["pretrain", "--task", "digits", "--classes", "0-4", "--out", str(d / "pre"), "--width", "4",
                 "--epochs", "1", "--batch-size", "128", "--threads", "1"]) == 0
    run = d / "ft"
    assert main(["finetune", "--checkpoint", str(d / "pre" / "model.pt"), "--task", "digits", "--classes", "5-9",
                 "--ood-val", "noise:3", "--ood-test", "blur:2", "--n-configs", "2", "--max-epochs", "1",
                 "--final-epochs", "1", "--final-seeds", "0", "--control-lr-mults", "1", "--batch-size", "128",
                 "--threads", "1", "--out", str(run), "--json"]) == 0
    return {"dir": d, "run": run, "result": json.loads((run / "result.json").read_text())}


def test_finetune_image_run_predicts_its_test_score(finetune_run, capsys):
    import autofast

    run, res = finetune_run["run"], finetune_run["result"]
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["command"] == "finetune" and manifest["class_subset"] == ["5", "6", "7", "8", "9"]
    assert manifest["input"]["shape"] == [1, 8, 8] and manifest["input"]["standardise"] is not None
    score = res["saved_model"]["id_test"]["accuracy"]
    assert score == res["summary"]["autoft"]["id_test"]["accuracy"]["mean"]  # one final seed: that model
    out = predict_json(capsys, run, "digits")  # the bundled task: its test split, cut to 5-9 as at training
    assert out["accuracy"] == score and out["classes"] == ["5", "6", "7", "8", "9"]
    assert out["rows"] == res["split"]["test"]
    assert autofast.load(run).score("digits") == score == autofast.load(run).test_score


def test_finetune_model_refuses_mismatched_images(finetune_run, capsys):
    bad = finetune_run["dir"] / "big.npz"
    np.savez(bad, x=np.zeros((2, 1, 16, 16), dtype=np.float32))
    assert "trained on 8x8" in error_line(capsys, ["predict", str(finetune_run["run"]), "--data", str(bad)])
