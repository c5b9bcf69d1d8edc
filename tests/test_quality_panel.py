"""bench/quality_panel.py end to end with a fake ``search`` (the real one takes minutes): arms, resume, the
table (lower-is-better marked), README markers, and the peers on the small synthetic motif task."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "bench" / "quality_panel.py"

FAKE_SEARCH = r'''
import argparse, json, pathlib, sys
p = argparse.ArgumentParser()
for f in ("--task", "--out", "--arch", "--threads", "--time-budget", "--split-seed"):
    p.add_argument(f)
p.add_argument("--seed", type=int)
p.add_argument("--json", action="store_true")
a = p.parse_args()
log = pathlib.Path(sys.argv[0]).with_name("calls.txt")
with log.open("a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\n")
if "fail" in a.task:
    sys.exit("error: this task fails")
out = pathlib.Path(a.out)
out.mkdir(parents=True)
lower = a.task == "ETTh1"
score = 0.3 + 0.01 * a.seed if lower else 0.9 - 0.01 * a.seed - (0.05 if a.arch == "plain" else 0)
(out / "result.json").write_text(json.dumps({
    "test_score": score, "metric": "MSE (standardised, per target)" if lower else "accuracy",
    "lower_is_better": lower, "plan": {"batch_size": 16, "max_epochs": 30, "n_configs": 8, "folds": 3}}))
'''


def _run(tmp_path, *extra):
    fake = tmp_path / "fake_search.py"
    fake.write_text(FAKE_SEARCH)
    cmd = [sys.executable, str(PANEL), "--out", str(tmp_path / "panel"), "--search-cmd",
           f"{sys.executable} {fake}", "--readme", str(tmp_path / "README.md"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_quality_panel_fake_search(tmp_path):
    (tmp_path / "README.md").write_text("# Benchmarks\n\nintro\n")
    r = _run(tmp_path, "--tasks", "motif", "ETTh1", "--seeds", "0", "1", "--arms", "search", "plain",
             "--time-budget", "30", "--write-readme")
    assert r.returncode == 0, r.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(calls) == 8 and sum("--arch plain" in c for c in calls) == 4
    assert all("--time-budget 30" in c and "--json" in c and "--threads" in c for c in calls)
    assert any("motif.yaml" in c for c in calls)  # the generated task is given to search as a user's task file
    panel = json.loads((tmp_path / "panel" / "panel.json").read_text())
    assert abs(panel["runs"]["motif|1|plain"]["score"] - 0.84) < 1e-9 and panel["runs"]["motif|0|search"]["wall_s"] > 0
    md = (tmp_path / "panel" / "panel.md").read_text()
    assert "| motif | accuracy | 0.8950 ± 0.0071 | 0.8450 ± 0.0071 |" in md
    assert "MSE (standardised, per target) (lower is better)" in md
    assert "batch 16, configs 8, max epochs 30, folds 3" in md
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Benchmarks\n\nintro\n") and "## Quality panel" in readme
    assert readme.count("<!-- quality-panel:start -->") == 1 and "bench/quality_panel.py" in readme

    # motif data: 300 + 300 sequences of 40 nt, balanced, label == motif present
    data = tmp_path / "panel" / "data" / "motif"
    for part in ("train", "test"):
        rows = [line.split(",") for line in (data / f"{part}.csv").read_text().splitlines()[1:]]
        assert len(rows) == 300 and all(len(s) == 40 for s, _ in rows)
        assert all(("TGACGT" in s) == (lab == "present") for s, lab in rows)
        assert sum(lab == "present" for _, lab in rows) == 150

    # rerun: finished arms are skipped, a failing task is recorded and reported, the README section replaced
    r = _run(tmp_path, "--tasks", "motif", "fail.yaml", "--seeds", "0", "1", "--arms", "search", "plain",
             "--write-readme")
    assert r.returncode == 1
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(calls) == 12 and all("fail.yaml" in c for c in calls[8:])
    panel = json.loads((tmp_path / "panel" / "panel.json").read_text())
    assert panel["runs"]["fail.yaml|0|search"]["score"] is None
    assert "this task fails" in panel["runs"]["fail.yaml|0|search"]["error"]
    readme = (tmp_path / "README.md").read_text()
    assert readme.count("<!-- quality-panel:start -->") == 1 and "(2 failed)" in readme


def test_quality_panel_split_seed_reaches_every_search_arm(tmp_path):
    r = _run(tmp_path, "--tasks", "motif", "--seeds", "0", "1", "--arms", "search", "plain", "--split-seed", "5")
    assert r.returncode == 0, r.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(calls) == 4 and all("--split-seed 5" in c for c in calls)
    runs = json.loads((tmp_path / "panel" / "panel.json").read_text())["runs"]
    assert {rec["split_seed"] for rec in runs.values()} == {5}


def test_quality_panel_peer_on_motif(tmp_path):
    r = _run(tmp_path, "--tasks", "motif", "--seeds", "0", "--arms", "peer")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "panel" / "panel.json").read_text())["runs"]["motif|0|peer"]
    assert rec["n_train"] == 300 and rec["n_test"] == 300 and rec["metric"] == "accuracy"
    assert rec["score"] > 0.8 and rec["chosen"]["representation"] in ("kmer", "onehot")
    assert rec["wall_s"] == round(rec["fit_s"] + rec["predict_s"], 3)


def test_kmer_counts():
    sys.path.insert(0, str(ROOT / "bench"))
    from panel_peers import kmer_counts

    onehot = np.zeros((1, 4, 5))
    onehot[0, [0, 1, 2, 0], [0, 1, 2, 3]] = 1  # A C G A, then a padded position
    f = kmer_counts(onehot, ks=(1, 2))
    np.testing.assert_allclose(f[0, :4], [0.5, 0.25, 0.25, 0])  # 4 valid positions
    two = f[0, 4:].reshape(4, 4)  # AC, CG, GA: 3 valid 2-mers (the one over the padding is dropped)
    assert two[0, 1] == two[1, 2] == two[2, 0] == 1 / 3 and two.sum() == 1


def test_aeon_tasks_are_copied_with_a_task_file(tmp_path, monkeypatch):
    """``aeon:NAME``: the set's official .ts files copied from aeon's package folder beside a task file that
    ``search`` loads as a user's files (a fake ``aeon`` package here: the real one is an optional extra)."""
    import importlib.util

    from autofast.data.supervised import load_task

    data = tmp_path / "site" / "aeon" / "datasets" / "data" / "Toy"
    data.mkdir(parents=True)
    (data.parents[2] / "__init__.py").write_text("")
    head = "@problemName Toy\n@univariate true\n@equalLength true\n@seriesLength 6\n@classLabel true a b\n@data\n"
    rng = np.random.default_rng(0)
    for part, n in (("TRAIN", 20), ("TEST", 8)):
        rows = [",".join(f"{v:.3f}" for v in rng.normal(size=6) + i % 2) + f":{'ab'[i % 2]}" for i in range(n)]
        (data / f"Toy_{part}.ts").write_text(head + "\n".join(rows) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "aeon", raising=False)  # find_spec looks there first
    spec = importlib.util.spec_from_file_location("quality_panel", PANEL)
    panel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(panel)
    yaml = Path(panel.task_argument("aeon:Toy", tmp_path / "out"))
    assert yaml == tmp_path / "out" / "data" / "Toy" / "Toy.yaml"
    assert (yaml.parent / "Toy_TRAIN.ts").read_bytes() == (data / "Toy_TRAIN.ts").read_bytes()
    task = load_task(str(yaml), seed=0)
    assert len(task.y_train) + len(task.y_val) == 20 and len(task.y_test) == 8 and task.x_train.shape[1:] == (1, 6)
    with pytest.raises(SystemExit, match="Nope_TRAIN.ts not found; aeon's wheel ships: Toy"):
        panel.task_argument("aeon:Nope", tmp_path / "out")
    assert panel.task_argument("splice", tmp_path / "out") == "splice"
