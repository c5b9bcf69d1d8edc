"""AutoFT fixes from a user audit: a splice checkpoint refused for the data set's own duplicates, OOD sets that
are copies of training rows or in other units passing without a word, and a baseline time budget refused with
"0.0s" and an unexplained minimum."""
import json

import numpy as np
import pytest

from autofast.autoft.finetune import FinetuneConfig, run_finetune
from autofast.autoft.model import load_pretrained
from autofast.autoft.pretrain import PretrainConfig, run_pretrain
from autofast.autoft.tasks import load_classification, ood_sets
from autofast.errors import AutofastError

TINY = dict(width=4, epochs=1, patience=1, batch_size=128, threads=1)


def test_splice_duplicates_are_not_leakage_but_another_seed_is(tmp_path):
    """Splice holds exact duplicate sequences: 54 of its 638 test rows (seed 0) have copies in its own train+val
    split, so a checkpoint pretrained on that very split was refused. Another split seed is a real leak."""
    res = run_pretrain(PretrainConfig(task="splice", **TINY), tmp_path)
    ckpt = tmp_path / res["checkpoint"]
    load_pretrained(str(ckpt), load_classification("splice", seed=0))  # same seed and classes: accepted
    with pytest.raises(AutofastError, match=r"\d+ of the 638 test examples of 'splice' are among the rows the "
                                            r"checkpoint trained on .*give the same --seed"):
        load_pretrained(str(ckpt), load_classification("splice", seed=1))


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """OOD files for digits 5-9: 40 ID training rows (copies), 40 test rows in other units (/16), 40 test rows."""
    d = tmp_path_factory.mktemp("ood")
    task = load_classification("digits", "5-9", seed=0)
    names = np.array(task.data.classes)

    def save(name, idx, scale=1.0):
        np.savez(d / name, x=task.data.x[idx][:, 0] * scale, y=names[task.data.y[idx]])
        return str(d / name)

    return task, {"copies": save("copies.npz", task.split.train[:40]),
                  "scaled": save("scaled.npz", task.split.test[:40], 1 / 16),
                  "clean": save("clean.npz", task.split.test[40:80])}


def test_ood_sets_note_copies_of_training_rows_and_other_units(digits_files):
    task, f = digits_files
    _, _, info = ood_sets(task, f["copies"], [f["scaled"], f["clean"]], 0)
    notes = info["notes"]
    assert f"40 of 40 rows of {f['copies']} are copies of training rows: that OOD score is partly a training " \
           "score" in notes
    assert any(n.startswith(f"OOD set {f['scaled']}: input channel 0 spreads") and "check the units" in n
               for n in notes)
    assert len(notes) == 2  # the clean file and the built-in shifts get none
    assert ood_sets(task, "blur:3", ["noise:3"], 0)[2]["notes"] == []


def test_finetune_records_ood_notes_in_result_and_report(digits_files, tmp_path):
    task, f = digits_files
    pre = tmp_path / "pre"
    pre.mkdir()
    ckpt = pre / run_pretrain(PretrainConfig(task="digits", classes="0-4", **TINY), pre)["checkpoint"]
    cfg = FinetuneConfig(checkpoint=str(ckpt), classes="5-9", ood_val="blur:3", ood_test=[f["copies"]],
                         n_configs=1, max_epochs=1, final_epochs=1, final_seeds=[0], selection_seeds=1,
                         control_lr_mults=[1.0], batch_size=128, threads=1)
    run = tmp_path / "ft"
    run_finetune(cfg, run)
    note = f"40 of 40 rows of {f['copies']} are copies of training rows: that OOD score is partly a training score"
    assert note in json.loads((run / "result.json").read_text())["ood"]["notes"]
    assert f"- Note: {note}." in (run / "report.md").read_text()


def test_a_too_small_baseline_budget_gives_the_epoch_time_and_why_the_minimum():
    from autofast.autoft.compare import CompareConfig, baseline_plan

    with pytest.raises(AutofastError) as e:  # measured by a user: 0.012 s epochs, 0.96 s spent measuring
        baseline_plan(CompareConfig(checkpoint="x"), 0.0123, 0.2, spent=0.96)
    line = str(e.value)
    assert "\n" not in line and "0.012 s each" in line and "0.96 s spent measuring" in line
    assert "two such epochs" in line and "10% margin" in line and line.endswith("--baseline-time-budget 2")
