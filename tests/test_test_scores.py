"""The one test evaluation's figures beside the metric (autofast/tasks.py test_scores, autofast/search/report.py):
balanced accuracy and the most frequent class's share where accuracy hides skewed classes, RMSE per target where
several targets in their own units were pooled into one number; DNA classes told apart by length alone."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import autofast.search.report as report  # (modules, not their test_* names: pytest would collect those)
import autofast.tasks as tasks


class Always(nn.Module):
    """Logits that always answer class ``k`` of ``classes``."""

    def __init__(self, k: int, classes: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.full((classes,), -5.0))
        with torch.no_grad():
            self.bias[k] = 5.0

    def forward(self, x):
        return self.bias.expand(len(x), -1)


def _task(y, regression=False, values=None):
    data = SimpleNamespace(kind="series", regression=regression, num_classes=0 if regression else 2)
    return SimpleNamespace(x_test=torch.zeros(len(y), 1, 4), y_test=y, data=data, values=values or (lambda v: v))


def test_a_majority_answer_is_said_beside_its_accuracy():
    """5% positives: a model answering the majority class scored 0.95 'accuracy' with every candidate tied there."""
    y = torch.tensor([1] * 5 + [0] * 95)
    f = tasks.test_scores(Always(0, 2), _task(y))
    assert f["test_acc"] == pytest.approx(0.95) and f["test_balanced_acc"] == pytest.approx(0.5)
    assert f["test_majority_share"] == pytest.approx(0.95)
    assert "balanced accuracy 0.5000" in report.test_beside(f)
    assert report.skew_notes({"final": f}) and "no better than always answering" in report.skew_notes({"final": f})[0]
    assert not report.skew_notes({"final": {**f, "test_acc": 0.97}})


def test_several_targets_get_their_own_rmse():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))

        def forward(self, x):
            return torch.tensor([[1.0, 0.0]]).expand(len(x), -1) + self.w

    y = torch.tensor([[0.0, 0.0], [2.0, 0.5]])  # errors: target 1 (1, -1), target 2 (0, -0.5)
    f = tasks.test_scores(Two(), _task(y, regression=True))
    assert f["test_rmse_per_target"] == pytest.approx([1.0, 0.5 / 2 ** 0.5])
    assert f["test_rmse"] == pytest.approx(((1 + 1 + 0 + 0.25) / 4) ** 0.5)
    assert any(x.startswith("RMSE per target 1.0000, 0.3536") for x in report.test_beside(f))


def test_classes_of_lengths_that_do_not_overlap_are_said():
    """Positives 150-300 nt beside negatives 80-150 nt, random bases: 1.0 on length alone, with nothing said."""
    from autofast.data.dna import encode_dna
    from autofast.search.pipeline import length_note

    rng = np.random.default_rng(0)
    lengths = [int(rng.integers(150, 300)) for _ in range(10)] + [int(rng.integers(80, 150)) for _ in range(10)]
    x = torch.as_tensor(encode_dna(["".join(rng.choice(list("ACGTN"), n)) for n in lengths]))
    y = torch.tensor([1] * 10 + [0] * 10)
    task = SimpleNamespace(x_train=x, y_train=y, data=SimpleNamespace(kind="dna", regression=False,
                                                                      classes=["neg", "pos"]))
    note = length_note(task)
    assert note and f"neg {min(lengths[10:])}-{max(lengths[10:])} nt" in note and "length:" in note
    y_mixed = torch.tensor([0, 1] * 10)
    assert length_note(SimpleNamespace(x_train=x, y_train=y_mixed, data=task.data)) is None


def test_test_rows_with_an_exact_copy_in_training_are_counted_and_left_out_of_a_second_score():
    """UCI splice holds 62 test sequences (of 638, seed 0) that also sit among its training rows: a score there
    measures memory. Their count and the accuracy on the other rows come from the same predictions."""
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    x = torch.randn(12, 1, 4, generator=g).numpy()
    x[10] = x[2]  # test rows 10, 11 copy training rows 2 and 5
    x[11] = x[5]
    split = SimpleNamespace(train=np.arange(0, 6), val=np.arange(6, 8), test=np.arange(8, 12))
    y = torch.tensor([0, 1, 1, 1])  # the test labels: Always(1) is right on rows 9, 10, 11
    data = SimpleNamespace(kind="series", regression=False, num_classes=2, x=x)
    task = SimpleNamespace(x_test=torch.from_numpy(x[8:]), y_test=y, data=data, split=split, values=lambda v: v)
    assert tasks.copies_in_training(task).tolist() == [False, False, True, True]
    f = tasks.test_scores(Always(1, 2), task)
    assert f["test_acc"] == pytest.approx(0.75) and f["test_copies"] == 2 and f["test_acc_unseen"] == pytest.approx(0.5)
    line = "; ".join(report.test_beside(f))
    assert "2 test examples have an exact copy among the training rows (accuracy 0.5000 on the others)" in line
    del data.x  # forecasting windows keep no rows: nothing said
    assert "test_copies" not in tasks.test_scores(Always(1, 2), task)


def test_small_scores_keep_their_digits():
    """Targets of 1e-6: the report and the console printed 'Test RMSE: 0.0000 (MAE 0.0000)' for 5.04e-07."""
    assert report.score_text(5.04e-07) == "5.04e-07" and report.score_text(0.9734) == "0.9734"
    assert report.score_text(0.0) == "0.0000" and report.score_text(598667.8345) == "598667.8345"
    assert "MAE 1.234e-06" in report.test_beside({"test_mae": 1.234e-06})
