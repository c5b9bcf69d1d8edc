"""`python -m autofast dash` end to end at tiny scale (splice and digits), and its error lines."""
import json

import torch

from autofast.cli import main
from autofast.dash.supernet import load_pattern

TINY = ["--search-epochs", "1", "--retrain-epochs", "1", "--search-width", "4", "--retrain-width", "8",
        "--search-batch-fraction", "0.3", "--threads", "2"]


def test_dash_splice_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["dash", "--task", "splice", "--out", str(out), *TINY])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "test accuracy" in text and "fixed baseline (kernel 3, dilation 1)" in text
    res = json.loads((out / "result.json").read_text())
    assert res["backbone"] == "resnet1d" and len(res["pattern"]) == 10
    sp = res["split"]
    assert sp["seed"] == 0 and sp["stratified"] and sum(sp[k] for k in ("train", "val", "test")) == 3190
    assert abs(sp["test"] - 638) <= 3 and abs(sp["val"] - 319) <= 3
    assert 0.0 <= res["retrain"]["test_acc"] <= 1.0 and "validation" in res["selected_on"]
    assert load_pattern(out / "pattern.json", 10) == [tuple(p) for p in res["pattern"]]
    assert (out / "pattern_heatmap.png").stat().st_size > 5000
    state = torch.load(out / "model.pt", weights_only=True)
    assert any(k.endswith("weight") for k in state)


def test_dash_digits_tiny_json(tmp_path, capsys):
    code = main(["dash", "--task", "digits", "--out", str(tmp_path / "d"), "--json", "--no-baseline", *TINY])
    text, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(text)
    assert res["backbone"] == "wrn16" and res["kind"] == "image" and len(res["pattern"]) == 13
    assert all(k in (3, 5, 7, 9) and d in (1, 3, 7, 15) for k, d in res["pattern"])
    assert "baseline" not in res
    assert res["run_dir"] == str(tmp_path / "d") and res["saved_model"]["folder"] == "model"


def test_dash_errors(tmp_path, capsys):
    assert main(["dash", "--task", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serch_epochs: 3\n")
    assert main(["dash", "--config", str(cfg)]) == 2
    assert "unknown option(s) serch_epochs" in capsys.readouterr().err
    assert main(["dash", "--search-epochs", "0", "--out", str(tmp_path / "y")]) == 2
    assert "search_epochs" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_dash_on_time_series_windows_is_a_regression(tmp_path, capsys):
    code = main(["dash", "--task", "ETTh1", "--lookback", "48", "--horizon", "8", "--train-stride", "64",
                 "--out", str(tmp_path / "ts"), "--json", "--no-baseline", *TINY])
    text, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(text)
    assert res["kind"] == "timeseries" and res["metric"].startswith("MSE")
    assert res["split"]["protocol"] == "ett-hourly" and res["split"]["test"] == 2880 - 8 + 1
    assert res["search_space"]["kernel_sizes"] == [3, 7, 11, 15, 19]
    assert 0 < res["retrain"]["test_loss"] < 10 and "validation MSE" in res["selected_on"]
