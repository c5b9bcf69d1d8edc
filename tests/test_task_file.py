"""YAML task files: user data for `search` without code; validated with one-line errors."""
import json

import numpy as np
import pytest

from autofast.cli import main
from autofast.data.supervised import load_task
from autofast.errors import AutofastError


def _dna_csv(path, n=90, length=24, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["seq,cls"]
    for i in range(n):
        s = list(rng.choice(list("ACGT"), length))
        label = i % 3
        s[10:14] = ["GATA", "TTTT", "CCGG"][label]  # a class motif
        rows.append(f"{''.join(s)},c{label}")
    path.write_text("\n".join(rows) + "\n")


def _task_yaml(tmp_path, extra=""):
    _dna_csv(tmp_path / "mine.csv")
    f = tmp_path / "mine.yaml"
    f.write_text(f"name: motifs\ndata: mine.csv\nkind: dna\nsequence_column: seq\nlabel_column: cls\n"
                 f"split: {{ratios: [0.6, 0.2, 0.2], seed: 3}}\n{extra}")
    return f


def test_task_file_loads_with_its_split(tmp_path):
    task = load_task(_task_yaml(tmp_path))
    assert task.name == "motifs" and task.data.kind == "dna" and task.data.num_classes == 3
    assert tuple(task.x_train.shape[1:]) == (4, 24)
    assert len(task.y_train) == 54 and len(task.y_val) == 18 and len(task.y_test) == 18


@pytest.mark.parametrize("body, match", [
    ("data: mine.csv\ncolour: red\n", "field 'colour': unknown key"),
    # a misspelt split key listed the top-level keys
    ("data: mine.csv\nsplit: {ratio: [0.6, 0.2, 0.2]}\n",
     r"field 'split.ratio': unknown key \(did you mean 'ratios'\?\); valid keys: ratios, seed, val_fraction$"),
    ("data: missing.csv\n", "field 'data'.*does not exist"),
    ("data: [unclosed\n", "invalid YAML"),
    ("- a\n- b\n", "a task file is a mapping"),
    ("data: mine.csv\nkind: audio\n", "field 'kind'"),
    ("data: mine.csv\nlabel_column: nope\nsequence_column: seq\n", "nope"),
])
def test_bad_task_files_give_one_line_errors(tmp_path, body, match):
    _dna_csv(tmp_path / "mine.csv")
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(AutofastError, match=match) as e:
        load_task(f)
    assert "\n" not in str(e.value)


def test_search_on_a_task_file_with_grid_sampler_and_two_trials_at_once(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--task", str(_task_yaml(tmp_path)), "--out", str(out), "--search-epochs", "1",
                 "--search-width", "4", "--retrain-width", "8", "--n-configs", "4", "--max-epochs", "2",
                 "--retrain-epochs", "1", "--sampler", "grid", "--trials-per-device", "2", "--json"])
    text, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(text)
    assert res["task"] == "motifs" and res["asha"]["sampler"] == "grid"
    assert len(res["asha"]["trials"]) == 4 and 0 <= res["test_score"] <= 1
    for f in ("report.md", "report.html", "learning_curves.png", "asha_rungs.png"):
        assert (out / f).exists(), f
    md = (out / "report.md").read_text()
    assert "Rung diagram" in md and "Learning curves" in md and "## Configuration" in md and "| sampler | grid |" in md
    assert "the horizon is 1 epochs, not R = 2" in md  # a retrain length other than R moves the horizon: said
    assert all(len(c) >= 1 for c in res["asha"]["train_loss_curves"].values())


def test_bad_task_file_through_the_cli_is_one_error_line(tmp_path, capsys):
    f = tmp_path / "t.yaml"
    f.write_text("data: nowhere.csv\n")
    assert main(["search", "--task", str(f), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nowhere.csv" in err and "\n" not in err
    assert not (tmp_path / "r").exists()  # nothing half-written
