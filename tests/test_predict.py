"""The saved final model of a `search` run (RUN_DIR/model/), `python -m autofast predict` and the Python API
(`autofast.search`, `autofast.load`): predicting the run's own test split gives exactly its reported test
score (an ensemble of CNNs, cross-validation fold models, random-convolution features), the format loads
with weights_only, a moved run folder still works, and inputs that do not fit the model are one error line."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from autofast.errors import AutofastError
from autofast.cli import main
from motif_data import motif_rows

TINY = ["--search-epochs", "1", "--search-width", "4", "--retrain-width", "8", "--n-configs", "2",
        "--max-epochs", "2", "--threads", "1"]


def write_csv(path, rows, labels=True):
    path.write_text("seq" + (",label" if labels else "") + "\n"
                    + "".join(f"{s},{lab}\n" if labels else f"{s}\n" for s, lab in rows))
    return path


def error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def loss_of(result_obj, source) -> float:
    """The saved model's mean test loss on ``source``, as the run's one test evaluation computed it."""
    import torch

    from autofast.engine import task_loss

    inputs = result_obj.predictor.prepare(source)
    out = result_obj.predictor._outputs(inputs.x)
    return task_loss(out, torch.from_numpy(inputs.labels), reduction="sum").item() / len(inputs.labels)


def predict_json(capsys, run_dir, data, *extra) -> dict:
    code = main(["predict", str(run_dir), "--data", str(data), "--threads", "1", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def dna_run(tmp_path_factory):
    """One DNA file split by ratios (length rule: pad to the longest sequence), a 2-member retrain ensemble;
    trained with seed 1 on the split of seed 2 (``--split-seed``)."""
    d = tmp_path_factory.mktemp("dna")
    rows = motif_rows(160)
    write_csv(d / "motif.csv", rows)
    (d / "motif.yaml").write_text("name: motif\nkind: dna\ndata: motif.csv\nsequence_column: seq\n"
                                  "label_column: label\n")
    run = d / "run"
    assert main(["search", "--task", str(d / "motif.yaml"), "--out", str(run), "--arch", "plain", "--folds", "0",
                 "--ensemble", "2", "--seed", "1", "--split-seed", "2", *TINY, "--json"]) == 0
    return {"dir": d, "run": run, "rows": rows, "result": json.loads((run / "result.json").read_text())}


@pytest.fixture(scope="module")
def rocket_run(tmp_path_factory):
    """JapaneseVowels (12 channels, variable length resampled to 26, standardised) with the random-convolution
    family on the inputs as loaded (the model undoes the standardisation)."""
    run = tmp_path_factory.mktemp("vowels") / "run"
    assert main(["search", "--task", "JapaneseVowels", "--arch", "rocket", "--out", str(run), "--threads", "1",
                 "--json"]) == 0
    return {"run": run, "result": json.loads((run / "result.json").read_text())}


def test_cnn_ensemble_predicts_its_test_score(dna_run, capsys):
    run, res = dna_run["run"], dna_run["result"]
    capsys.readouterr()
    assert res["final"]["members"] == 2 and res["saved_model"]["format"] == "autofast-model/1"
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["container"] == "ensemble" and len(manifest["model"]["members"]) == 2
    assert manifest["input"]["dna"]["length_rule"] == "pad" and manifest["input"]["shape"] == [4, 40]
    assert res["split"]["seed"] == 2 and res["config"]["seed"] == 1
    out = predict_json(capsys, run, dna_run["dir"] / "motif.yaml")  # the task file: its test split (split seed 2)
    assert out["accuracy"] == res["test_score"] and out["rows"] == res["split"]["test"]
    with open(out["out"]) as f:
        table = list(csv.reader(f))
    assert table[0] == ["index", "predicted_label", "p_no", "p_yes"] and len(table) == out["rows"] + 1
    idx = [int(r[0]) for r in table[1:]]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)  # rows of the data file, in input order
    assert all(abs(float(r[2]) + float(r[3]) - 1) < 1e-5 and r[1] in ("no", "yes") for r in table[1:])
    # the whole file, labelled and unlabelled: the same predictions row by row
    full = predict_json(capsys, run, dna_run["dir"] / "motif.csv", "--out", str(dna_run["dir"] / "all.csv"))
    bare = predict_json(capsys, run, write_csv(dna_run["dir"] / "bare.csv", dna_run["rows"], labels=False))
    assert full["rows"] == bare["rows"] == 160 and full["labelled"] and bare["accuracy"] is None
    with open(full["out"]) as f1, open(bare["out"]) as f2:
        assert f1.read() == f2.read()
    assert bare["out"].endswith("predictions-bare.csv")


def test_fasta_without_labels_and_the_api(dna_run, capsys):
    import autofast

    d = dna_run["dir"]
    rows = dna_run["rows"][:5]
    (d / "new.fa").write_text("".join(f">seq{i}\n{s[:20]}\n{s[20:]}\n" for i, (s, _) in enumerate(rows)))
    out = predict_json(capsys, dna_run["run"], d / "new.fa")
    assert out["rows"] == 5 and out["accuracy"] is None
    # NCBI headers end in a description after the last '|': not a label (was "'Homo sapiens chr1' are not among
    # the model's classes")
    (d / "ncbi.fa").write_text("".join(f">gi|{i}|ref|NC_00000{i}.1| Homo sapiens chr{i}\n{s}\n"
                                       for i, (s, _) in enumerate(rows)))
    assert predict_json(capsys, dna_run["run"], d / "ncbi.fa")["accuracy"] is None
    # GENCODE's >ENST...|ENSG...|GENE: a last field that is no class of the model is a name, not a label (it was
    # "'GENE0' ... are not among the model's classes")
    (d / "gencode.fa").write_text("".join(f">ENST0{i}.2|ENSG0{i}.5|GENE{i}\n{s}\n" for i, (s, _) in enumerate(rows)))
    assert predict_json(capsys, dna_run["run"], d / "gencode.fa")["accuracy"] is None
    (d / "ids.csv").write_text("id,seq\n" + "".join(f"rec{i},{s}\n" for i, (s, _) in enumerate(rows)))
    with open(predict_json(capsys, dna_run["run"], d / "ids.csv")["out"]) as f:  # a table's id column: kept
        assert [r["id"] for r in csv.DictReader(f)] == [f"rec{i}" for i in range(5)]  # (it was dropped)
    res = autofast.load(dna_run["run"])
    with open(out["out"]) as f:
        written = list(csv.DictReader(f))
    cli_labels = [r["predicted_label"] for r in written]
    assert [r["id"] for r in written] == [f"seq{i}" for i in range(5)]  # each record's name beside its prediction
    assert list(res.predict([s for s, _ in rows])) == cli_labels
    import pandas as pd  # sequences as a numpy array or a pandas column too (was "dtype <U40 is not numeric")

    assert list(res.predict(np.array([s for s, _ in rows]))) == list(res.predict(pd.Series([s for s, _ in rows])))\
        == cli_labels
    proba = res.predict_proba(str(d / "new.fa"))
    assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert res.score(str(d / "motif.yaml")) == dna_run["result"]["test_score"]
    truth = np.asarray(res.classes)[res.predictor.prepare(str(d / "motif.yaml")).labels]
    assert res.score(str(d / "motif.yaml"), truth) == dna_run["result"]["test_score"]  # labels given with a path
    flipped = np.where(truth == res.classes[0], res.classes[1], res.classes[0])  # two classes: every label wrong
    assert res.score(str(d / "motif.yaml"), flipped) == pytest.approx(1 - dna_run["result"]["test_score"])
    with pytest.raises(AutofastError, match="'nope' are not among the model's classes"):
        res.score(str(d / "motif.yaml"), ["nope"] * len(truth))
    assert loss_of(res, str(d / "motif.yaml")) == pytest.approx(dna_run["result"]["final"]["test_loss"], rel=1e-6)
    assert len(set(res.predict(str(d / "motif.yaml")))) == 2  # not a constant prediction
    assert res.plan == dna_run["result"]["plan"] and res.report.name == "report.md" and res.report.exists()
    # one sequence as a bare string, longer than a file name may be: a path that does not exist (was an OSError)
    with pytest.raises(AutofastError, match="does not exist.*sequences as a list of strings"):
        res.predict("ACGT" * 100)
    for task in (np.zeros((4, 10)), ""):  # arrays go to the estimators; was an OSError / the cwd read as images
        with pytest.raises(AutofastError, match="task must be a bundled name.*AutofastClassifier"):
            autofast.search(task, time_budget=5)


def test_a_task_predicts_in_the_csv_order_from_python_and_the_cli(dna_run, capsys):
    """A task of a ratio split (its test rows drawn in shuffled order): `predict --data task.yaml` writes the
    test rows by their row in the data file, ascending; `Result.predict`/`predict_proba` gave them in the split's
    draw order (41% of splice's rows agreed position by position) -- now the CSV's order, row for row, with
    `prepare(task).index` naming each example's row in motif.csv."""
    import autofast
    from autofast.data.supervised import load_task

    run, d, rows = dna_run["run"], dna_run["dir"], dna_run["rows"]
    task = str(d / "motif.yaml")
    split = load_task(task, seed=2).split.test  # the run's split (split seed 2)
    assert list(split) != sorted(split)  # shuffled, so the order is at stake
    out = predict_json(capsys, run, task)
    with open(out["out"]) as f:
        written = list(csv.DictReader(f))
    idx = [int(r["index"]) for r in written]
    assert idx == sorted(split)
    res = autofast.load(run)
    proba = res.predict_proba(task)
    np.testing.assert_allclose(proba, [[float(r[f"p_{c}"]) for c in res.classes] for r in written], atol=2e-6)
    assert list(res.predict(task)) == [r["predicted_label"] for r in written]
    inputs = res.predictor.prepare(task)
    assert inputs.index.tolist() == idx  # each example's row in motif.csv: its label is that row's
    assert [res.classes[i] for i in inputs.labels] == [rows[i][1] for i in idx]
    assert res.score(task) == res.test_score == dna_run["result"]["test_score"]  # unchanged by the order
    csv_labels = np.asarray([r["predicted_label"] for r in written])
    truth = np.asarray([rows[i][1] for i in idx])
    assert res.score(task) == float(np.mean(csv_labels == truth))  # the user's own check lines up


def test_compressed_new_data(dna_run, capsys):
    """``predict --data new.fa.gz``: read as the FASTA inside, written to ``predictions-new.csv``."""
    import gzip

    d = dna_run["dir"]
    rows = dna_run["rows"][:6]
    text = "".join(f">seq{i}\n{s}\n" for i, (s, _) in enumerate(rows))
    (d / "plainnew.fa").write_text(text)
    (d / "new.fa.gz").write_bytes(gzip.compress(text.encode()))
    plain = predict_json(capsys, dna_run["run"], d / "plainnew.fa")
    out = predict_json(capsys, dna_run["run"], d / "new.fa.gz")
    assert out["out"].endswith("predictions-new.csv") and out["rows"] == 6
    with open(out["out"]) as f, open(plain["out"]) as g:
        assert f.read() == g.read()
    folder = d / "byclass"  # one FASTA file per class: labelled by the files' names, so scored
    folder.mkdir()
    for label in ("yes", "no"):
        (folder / f"{label}.fa").write_text("".join(f">s{i}\n{s}\n" for i, (s, lab) in enumerate(rows) if lab == label))
    scored = predict_json(capsys, dna_run["run"], folder)
    assert scored["rows"] == 6 and scored["accuracy"] is not None
    (folder / "maybe.fa").write_text(f">m\n{rows[0][0]}\n")
    assert "'maybe' are not among the model's classes" in error_line(capsys, ["predict", str(dna_run["run"]),
                                                                             "--data", str(folder)])


def test_rocket_predicts_its_test_score(rocket_run, capsys):
    import autofast
    from autofast.data.supervised import load_task

    run, res = rocket_run["run"], rocket_run["result"]
    capsys.readouterr()
    assert res["selection"]["winner"] == "rocket"
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "rocket" and manifest["input"]["series"]["length"] == 26
    assert len(manifest["input"]["standardise"]["mean"]) == 12
    by_name = predict_json(capsys, run, "JapaneseVowels")
    test_file = "autofast/data/bundled/JapaneseVowels/JapaneseVowels_TEST.ts"
    by_file = predict_json(capsys, run, test_file)  # the raw file: resampled and standardised as at training
    assert by_name["accuracy"] == by_file["accuracy"] == res["test_score"] and by_file["rows"] == 370
    assert any("resample" in n for n in by_file["notes"])
    # the API on raw arrays (as loaded, not standardised) gives the CLI's number
    api = autofast.load(run)
    task = load_task("JapaneseVowels", seed=0)
    raw = task.data.x[task.split.test]
    labels = [task.data.classes[i] for i in task.data.y[task.split.test]]
    assert api.score(raw, labels) == api.score(test_file) == by_file["accuracy"]  # a file's lengths: its rule
    longer = np.concatenate([raw.numpy() if hasattr(raw, "numpy") else raw, raw[..., :1]], axis=-1)
    with pytest.warns(UserWarning, match="of length 27 brought to 26"):  # arrays too (a label column left in)
        api.predict(longer)
    assert api.classes == [str(i) for i in range(1, 10)]
    assert loss_of(api, "JapaneseVowels") == pytest.approx(res["final"]["test_loss"], rel=1e-6)


def test_format_is_data_only_and_a_moved_run_loads(dna_run, tmp_path, capsys, monkeypatch):
    import torch

    import autofast
    from autofast.predictor import load_final

    weights = dna_run["run"] / "model" / "weights.pt"
    saved = torch.load(weights, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in saved["state_dict"].values())
    real = torch.load

    def weights_only(*a, **k):
        assert k.get("weights_only") is True
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", weights_only)
    assert load_final(dna_run["run"]).predict_proba(torch.zeros(3, 4, 40)).shape == (3, 2)
    monkeypatch.undo()
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(dna_run["run"], tmp_path / "copy")
    shutil.move(str(tmp_path / "copy"), str(moved))
    assert autofast.load(moved).score(str(dna_run["dir"] / "motif.yaml")) == dna_run["result"]["test_score"]
    (moved / "model" / "weights.pt").write_bytes(b"garbage")
    assert "checksum" in error_line(capsys, ["predict", str(moved), "--data", str(dna_run["dir"] / "motif.csv")])
    # a manifest or result.json damaged in other ways: one line each (a KeyError, an AttributeError on repr)
    manifest = json.loads((moved / "model" / "manifest.json").read_text())
    (moved / "model" / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "input"}))
    assert "damaged (no 'input')" in error_line(capsys, ["predict", str(moved), "--data",
                                                         str(dna_run["dir"] / "motif.csv")])
    (moved / "result.json").write_text("[1, 2]")
    with pytest.raises(AutofastError, match="not a JSON mapping"):
        autofast.load(moved)
    for nothing in (None, "", 3):  # was a TypeError from pathlib, or the current folder
        with pytest.raises(AutofastError, match="give the path of a run folder"):
            autofast.load(nothing)


def test_mismatched_inputs_are_one_error_line(dna_run, rocket_run, capsys):
    d, run, vowels = dna_run["dir"], str(dna_run["run"]), str(rocket_run["run"])
    for own in ("result.json", "model/weights.pt", "model/new.csv"):  # were overwritten: the run broken
        assert "among its own files" in error_line(capsys, ["predict", run, "--data", str(d / "motif.csv"),
                                                            "--out", str(dna_run["run"] / own)])
    assert (dna_run["run"] / "result.json").read_text().startswith("{")
    longer = write_csv(d / "long.csv", [("ACGT" * 12, "no")])  # 48 nt; the model pads to 40 and never truncated
    assert "at most 40" in error_line(capsys, ["predict", run, "--data", str(longer)])
    protein = write_csv(d / "protein.csv", [("MKTAYIAKQR", "no")])
    assert "not a nucleotide code" in error_line(capsys, ["predict", run, "--data", str(protein)])
    unknown = write_csv(d / "unknown.csv", [("ACGT", "maybe")])
    assert "'maybe'" in error_line(capsys, ["predict", run, "--data", str(unknown)])
    assert "dna data" in error_line(capsys, ["predict", vowels, "--data", "splice"])  # another kind
    three = d / "three.ts"
    three.write_text("@problemName x\n@classLabel true 1 2\n@data\n" + "1,2,3:4,5,6:7,8,9:1\n" * 2)
    assert "trained on 12" in error_line(capsys, ["predict", vowels, "--data", str(three)])
    np.savez(d / "wrong.npz", x=np.zeros((2, 3, 26), dtype=np.float32))
    assert "trained on 12" in error_line(capsys, ["predict", vowels, "--data", str(d / "wrong.npz")])
    assert "no model/manifest.json" in error_line(capsys, ["predict", str(d), "--data", str(longer)])


def test_python_api_search_cross_validated(dna_run, tmp_path, capsys):
    """`autofast.search` runs the CLI's pipeline quietly; the final fold models reproduce the test score."""
    import autofast
    from autofast.errors import AutofastError

    task = str(dna_run["dir"] / "motif.yaml")
    res = autofast.search(task, out=tmp_path / "cv", folds=3, arch="dash", search_epochs=1, search_width=4,
                          retrain_width=8, n_configs=2, max_epochs=2, threads=1)
    assert capsys.readouterr().out == ""
    assert res.result["final"]["members"] == 3 and "3-fold" in res.result["selected_on"]
    manifest = json.loads((tmp_path / "cv" / "model" / "manifest.json").read_text())
    assert manifest["model"]["container"] == "fold_ensemble" and len(manifest["model"]["members"]) == 3
    assert manifest["model"]["members"][0]["pattern"] == res.result["architectures"]["dash"]  # DASH's (k, d)
    assert res.score(task) == res.test_score
    assert loss_of(res, task) == pytest.approx(res.result["final"]["test_loss"], rel=1e-6)
    with pytest.raises(AutofastError, match="not empty"):
        autofast.search("splice", out=tmp_path / "cv")
    with pytest.raises(AutofastError, match="unknown option"):
        autofast.search("splice", out=tmp_path / "x", budget=3)


def test_import_stays_light():
    code = ("import sys, autofast; assert 'torch' not in sys.modules; s = autofast.search; "
            "assert callable(s) and 'torch' not in sys.modules; assert callable(autofast.load)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_image_model_bands_and_size(tmp_path, capsys):
    """A 2-band image model (WRN-16, one retrain): its test split reproduces the score; arrays channels-last
    are placed as at training; other band counts or sizes are one error line."""
    import autofast

    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = rng.normal(size=(90, 8, 8, 2)).astype(np.float32) * 5 + 10  # channels last, not standardised
    for i in range(90):
        x[i, :4, :, y[i] % 2] += 3 * (y[i] + 1)
    np.savez(tmp_path / "imgs.npz", x=x, y=np.array(["a", "b", "c"])[y])
    (tmp_path / "imgs.yaml").write_text("name: imgs\nkind: image\ndata: imgs.npz\nsplit: {ratios: [0.6, 0.2, 0.2]}\n")
    run = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "imgs.yaml"), "--out", str(run), "--arch", "plain", "--folds",
                 "0", "--ensemble", "1", *TINY, "--json"]) == 0
    res = json.loads((run / "result.json").read_text())
    capsys.readouterr()
    assert res["backbone"] == "wrn16"
    out = predict_json(capsys, run, tmp_path / "imgs.yaml")
    assert out["accuracy"] == res["test_score"] and out["rows"] == 18
    api = autofast.load(run)
    assert api.score(x, np.array(["a", "b", "c"])[y]) == predict_json(capsys, run, tmp_path / "imgs.npz")["accuracy"]
    np.savez(tmp_path / "rgb.npz", x=np.zeros((2, 8, 8, 3), dtype=np.float32))
    assert "3 band(s)" in error_line(capsys, ["predict", str(run), "--data", str(tmp_path / "rgb.npz")])
    # trained on values as they are: uint8 would be read as value / 255 (the same pixels, another scale, silently)
    np.savez(tmp_path / "u8.npz", x=np.zeros((2, 8, 8, 2), dtype=np.uint8))
    assert "inputs are uint8" in error_line(capsys, ["predict", str(run), "--data", str(tmp_path / "u8.npz")])
    np.savez(tmp_path / "big.npz", x=np.zeros((2, 2, 16, 16), dtype=np.float32))
    assert "16x16" in error_line(capsys, ["predict", str(run), "--data", str(tmp_path / "big.npz")])


def _series_table(path, n=60, length=30, label="label", where="first", seed=0, sep=",", decimal="."):
    """Rows of a CSV table of series: a rising or falling noisy line per row, its label in column ``label``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        up = i % 2 == 0
        values = [f"{(t if up else -t) / 10 + rng.normal():.3f}".replace(".", decimal) for t in range(length)]
        rows.append((["up" if up else "down"], values))
    head = [f"t{t}" for t in range(length)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow([label] + head if where == "first" else head + [label] if where == "last" else head)
        for lab, values in rows:
            w.writerow(lab + values if where == "first" else values + lab if where == "last" else values)
    return path


def test_csv_table_of_series_searches_and_predicts(tmp_path, capsys):
    """A CSV with a label column and one numeric column per step is a table of series (kind auto), not DNA; new
    tables predict with the label column anywhere or absent, with semicolons and decimal commas too, and UCR
    rows (label first, no header) still read as before."""
    from autofast.data.files import guess_kind, load_file
    from autofast.data.supervised import load_task

    data = _series_table(tmp_path / "lines.csv")
    assert guess_kind(data) == "series"
    task = load_task(str(data), seed=0)
    assert task.data.kind == "series" and task.data.x.shape == (60, 1, 30) and task.data.classes == ["down", "up"]
    run = tmp_path / "run"
    assert main(["search", "--task", str(data), "--arch", "rocket", "--out", str(run), "--threads", "1",
                 "--json"]) == 0
    capsys.readouterr()
    res = json.loads((run / "result.json").read_text())
    assert json.loads((run / "model" / "manifest.json").read_text())["input"]["series"]["label_column"] == "label"
    full = predict_json(capsys, run, data, "--out", str(tmp_path / "all.csv"))
    assert full["rows"] == 60 and full["accuracy"] >= res["test_score"] - 1e-9
    want = [r["predicted_label"] for r in csv.DictReader(open(tmp_path / "all.csv"))]
    for name, kw in (("bare.csv", {"where": "none"}), ("last.csv", {"where": "last"}),
                     ("semi.csv", {"sep": ";", "decimal": ","}), ("tabs.csv", {"sep": "\t"})):
        p = _series_table(tmp_path / name, **kw)
        got = predict_json(capsys, run, p, "--out", str(tmp_path / f"pred-{name}"))
        assert (got.get("accuracy") is not None) == (kw.get("where") != "none")
        assert [r["predicted_label"] for r in csv.DictReader(open(tmp_path / f"pred-{name}"))] == want
    ucr = tmp_path / "ucr.csv"  # no header: UCR rows, label first
    ucr.write_text("".join(",".join(r) + "\n" for r in list(csv.reader(open(data)))[1:]))
    predict_json(capsys, run, ucr, "--out", str(tmp_path / "pred-ucr.csv"))
    assert [r["predicted_label"] for r in csv.DictReader(open(tmp_path / "pred-ucr.csv"))] == want
    # bad tables: one line each, naming the file and the fix
    bad = tmp_path / "bad.csv"
    bad.write_text("label,a,b,c\nup,1,2,3\ndown,1,,3\n")
    with pytest.raises(AutofastError, match=r"bad.csv: row 3 \(series 2\) has an empty or non-finite field inside"):
        load_file(bad)
    bad.write_text("label,a,b,c\nup,1,2,3\ndown,1,x,3\n")
    with pytest.raises(AutofastError, match=r"bad.csv: column 'b' is not a number \(row 3 holds 'x'\)"):
        load_file(bad)
    short = tmp_path / "short.csv"  # a shorter series: empty fields at its end
    short.write_text("label,a,b,c,d\nup,1,2,3,4\ndown,4,3,,NA\nup,1,2,3,4\ndown,4,3,2,1\n")  # R writes NA
    x = load_file(short).x
    np.testing.assert_allclose(x[1, 0], [4, 11 / 3, 10 / 3, 3], rtol=1e-6)  # resampled onto the 4 steps
    dna = tmp_path / "dna.csv"  # a sequence column: DNA, as before
    dna.write_text("label,sequence\na,ACGT\nb,ACCA\n")
    assert guess_kind(dna) == "dna"


def _long_table(path, n=40, length=24, seed=0, columns=("id", "time", "x", "y", "label"), labelled=True):
    """A long CSV table (one row per step, rows shuffled): 2-channel series, 'up' when channel x rises, 'down'
    when it falls; channel y is noise."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sign = 1 if i % 2 == 0 else -1
        for t in range(length):
            rows.append({"id": f"s{i:03d}", "time": t, "x": sign * t / 8 + rng.normal(), "y": rng.normal(),
                         "label": "up" if sign > 0 else "down"})
    df = pd.DataFrame(rows).sample(frac=1, random_state=seed)
    df[[c for c in columns if labelled or c != "label"]].to_csv(path, index=False)
    return path


def test_long_table_of_multichannel_series_searches_and_predicts_by_channel_name(tmp_path, capsys):
    """One row per step (id, time, channels, label) is a table of multichannel series; predict reads new long
    tables by the training channels' names (columns in any order) and writes each series' id."""
    from autofast.data.files import load_file

    data = _long_table(tmp_path / "rec.csv")
    assert load_file(data).x.shape == (40, 2, 24)
    run = tmp_path / "run"
    assert main(["search", "--task", str(data), "--arch", "rocket", "--out", str(run), "--threads", "1",
                 "--json"]) == 0
    capsys.readouterr()
    rule = json.loads((run / "model" / "manifest.json").read_text())["input"]["series"]
    assert rule["channel_columns"] == ["x", "y"] and rule["id_column"] == "id"
    full = predict_json(capsys, run, data, "--out", str(tmp_path / "all.csv"))
    rows = list(csv.DictReader(open(tmp_path / "all.csv")))
    assert full["rows"] == 40 and full["accuracy"] >= 0.9
    assert list(rows[0]) == ["index", "id", "predicted_label", "p_down", "p_up"]
    want = {r["id"]: r["predicted_label"] for r in rows}
    new = _long_table(tmp_path / "new.csv", seed=0, columns=("y", "time", "id", "x"), labelled=False)
    got = predict_json(capsys, run, new, "--out", str(tmp_path / "pred-new.csv"))
    assert got.get("accuracy") is None
    assert {r["id"]: r["predicted_label"] for r in csv.DictReader(open(tmp_path / "pred-new.csv"))} == want
    _long_table(tmp_path / "one.csv", columns=("id", "time", "x"), labelled=False)
    assert "no channel column 'y' (the training file's channels: x, y" in error_line(
        capsys, ["predict", str(run), "--data", str(tmp_path / "one.csv")])
