"""`kind: series` through `dash`, `search`, `pretrain` -> `finetune` and `compare` at tiny scale, on an
official train/test split whose provenance reaches result.json and the report."""
import json

import numpy as np
import pytest

from autofast.cli import main


def _write_ts(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c = i % 3
        length = int(rng.integers(20, 33))  # variable length
        t = np.linspace(0, 1, length)
        chans = [np.sin(2 * np.pi * (c + 1) * t + k) + 0.1 * rng.normal(size=length) for k in range(2)]
        rows.append(":".join(",".join(f"{v:.4f}" for v in ch) for ch in chans) + f":cls{c}\n")
    path.write_text("@problemName toy\n@timeStamps false\n@univariate false\n@classLabel true cls0 cls1 cls2\n"
                    "@data\n" + "".join(rows))


@pytest.fixture(scope="module")
def series_task(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    _write_ts(d / "toy_TRAIN.ts", 36, 0)
    _write_ts(d / "toy_TEST.ts", 15, 1)
    (d / "toy.yaml").write_text("name: toy\nkind: series\ntrain: toy_TRAIN.ts\ntest: toy_TEST.ts\n"
                                "split: {val_fraction: 0.25}\n")
    return d / "toy.yaml"


def test_series_dash_and_search(series_task, tmp_path, capsys):
    assert main(["dash", "--task", str(series_task), "--out", str(tmp_path / "dash"), "--search-epochs", "1",
                 "--search-width", "4", "--retrain-width", "4", "--retrain-epochs", "1", "--threads", "1",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "series" and d["backbone"] == "resnet1d" and d["split"]["test"] == 15
    assert d["search_space"]["kernel_sizes"] == [3, 7, 11, 15, 19]  # the 1-D DASH space
    assert "toy_TEST.ts" in d["split"]["provenance"]["test"]
    assert main(["search", "--task", str(series_task), "--backbone", "wrn16", "--out", str(tmp_path / "s"),
                 "--search-epochs", "1", "--search-width", "4", "--retrain-width", "4", "--n-configs", "2",
                 "--max-epochs", "1", "--threads", "1", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["backbone"] == "wrn16" and s["kind"] == "series"  # the 1-D WRN
    assert s["split"]["train"] == 27 and s["split"]["val"] == 9 and s["split"]["test"] == 15
    md = (tmp_path / "s" / "report.md").read_text()
    assert "## Splits" in md and "carved from the official training file" in md


def test_series_finetune_and_compare(series_task, tmp_path, capsys):
    pre = tmp_path / "pre"
    assert main(["pretrain", "--task", str(series_task), "--out", str(pre), "--width", "4", "--epochs", "1",
                 "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["finetune", "--checkpoint", str(pre / "model.pt"), "--task", str(series_task), "--ood-val",
                 "level:2", "--ood-test", "scale:3", "--n-configs", "2", "--max-epochs", "1", "--final-epochs", "1",
                 "--final-seeds", "0", "--control-lr-mults", "1", "--threads", "1", "--out", str(tmp_path / "ft"),
                 "--json"]) == 0
    ft = json.loads(capsys.readouterr().out)
    assert ft["kind"] == "series" and "official test file" in ft["split"]["provenance"]["test"]
    assert main(["compare", "--checkpoint", str(pre / "model.pt"), "--task", str(series_task), "--shots", "2",
                 "--seeds", "0", "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-configs", "2",
                 "--baseline-max-epochs", "1", "--baseline-epochs", "1", "--threads", "1", "--out",
                 str(tmp_path / "cmp"), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert cmp["kind"] == "series" and {r["arm"] for r in cmp["rows"]} == {"pretrained", "baseline"}
