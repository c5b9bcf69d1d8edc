"""`dash` and `finetune` runs save their final model in the predictor format (RUN_DIR/model/, the one that
`search` writes): `predict` on the run's own test split gives exactly the run's reported test score,
`autofast.load` opens the run, and an input that does not fit the model is one `error:` line."""
from __future__ import annotations

import json
import shutil
import warnings

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
    # its plan: no --time-budget, so the epochs it was given (was None: result.json has budget_plan, not plan)
    assert res["budget_plan"] is None
    assert api.plan == {"budget": None, "batch_size": res["config"]["batch_size"], "search_epochs": 1,
                        "retrain_epochs": 2}
    assert api.final_model == f"{res['backbone']} retrained on the DASH pattern"
    assert repr(api).endswith(f"final model {res['backbone']} retrained on the DASH pattern, test accuracy "
                              f"{res['test_score']})")  # was "final model None"
    budgeted = tmp_path / "budgeted"  # a run with --time-budget: its budget_plan is the plan
    shutil.copytree(run, budgeted)
    plan = {"budget": 20.0, "batch_size": 32, "search_epochs": 1, "retrain_epochs": 2, "predicted_seconds": 9.5,
            "given": [], "stage_ends": {"search": 3.0, "retrain": 9.0, "baseline": 18.0}}
    (budgeted / "result.json").write_text(json.dumps({**res, "budget_plan": plan}))
    assert autofast.load(budgeted).plan == plan
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


def test_finetune_result_names_its_model_and_score(finetune_run, tmp_path):
    """`autofast.load` on a finetune run: the repr read "final model ce_only, test accuracy None" (the objective
    selection's winner, and result.json has no test_score: the saved model's ID test score is the manifest's);
    test_score was None where result.json holds the key with None."""
    import autofast

    run, res = finetune_run["run"], finetune_run["result"]
    score = res["saved_model"]["id_test"]["accuracy"]
    api = autofast.load(run)
    assert api.test_score == score and api.plan is None and api.report == run / "report.md"
    assert "fine-tuned (autoft arm, seed 0, objective " in api.final_model
    assert repr(api).endswith(f"final model {api.final_model}, ID test accuracy {score:.4g})")
    assert "None" not in repr(api)
    copy = tmp_path / "ft"
    shutil.copytree(run, copy)
    (copy / "result.json").write_text(json.dumps({**res, "test_score": None}))
    assert autofast.load(copy).test_score == score  # was None


def test_python_predict_warns_of_inputs_in_other_units(finetune_run):
    """The model was trained on digits scaled to 0-1; pixels 0-16 given to Result.predict lowered the accuracy
    without a word while `predict` prints a note: now a UserWarning. The test split as loaded: no warning."""
    import torch

    import autofast

    api = autofast.load(finetune_run["run"])
    inputs = api.predictor.prepare("digits")
    st = api.predictor.input["standardise"]
    mean, std = (torch.tensor(st[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    raw = (inputs.x * std + mean).numpy()  # the test images as loaded (0-1)
    assert 0 <= raw.min() and raw.max() <= 1 + 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # normal inputs: silent
        normal = api.predict(raw)
        api.predict("digits")
    with pytest.warns(UserWarning, match=r"input channel 0 lies \d+ training standard deviations"):
        wrong = api.predict(raw * 16)  # pixels 0-16
    assert len(wrong) == len(normal)
    npz = finetune_run["dir"] / "raw16.npz"  # a file in the wrong units: predict's note, a warning too
    np.savez(npz, x=raw * 16)
    with pytest.warns(UserWarning, match="check the units"):
        api.predict_proba(str(npz))
