"""A wide table's step columns read by the training names (one missing, a shorter or a longer series), a long
table's skipped time step, and the text-in-a-step error with an id column (autofast/data/series_table.py and
predict's notes on them, autofast/predictor/inputs.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autofast.data.series_table import TableColumns, read_series_table
from autofast.errors import AutofastError
from autofast.predictor.inputs import InputReader

NAMES = [f"t{i}" for i in range(150)]


def _wide(n=4, steps=150, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, steps)), columns=[f"t{i}" for i in range(steps)]).assign(
        label=["a", "b"] * (n // 2))


def _reader(**series) -> InputReader:
    return InputReader({"classes": ["a", "b"], "kind": "series", "input": {
        "shape": [1, series.pop("length", 150)], "series": {"channels": 1, "length_rule": "pad",
                                                          "label_column": "label", **series}}})


def test_a_training_step_missing_from_reordered_columns_is_one_error_line(tmp_path):
    """t10 dropped from the training names in sorted order was read by position: other series, silently."""
    df = _wide()
    df[["label", *sorted(n for n in NAMES if n != "t10")]].to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(AutofastError, match=r"new.csv: step column 't10' of the training file is missing; give every "
                                            r"step column it had .*none of their names \(columns are then read by "
                                            r"position\)"):
        read_series_table(tmp_path / "new.csv", TableColumns(steps=tuple(NAMES)))
    with pytest.raises(AutofastError, match="'t10' of the training file is missing"):
        _reader(step_columns=NAMES).prepare(tmp_path / "new.csv")
    ones = [str(i) for i in range(1, 151)]  # a model of steps 1..150 given pandas' 0..149: positions, not a
    frame = pd.DataFrame(np.ones((2, 150)), columns=[str(i) for i in range(150)])  # shorter series named 1..149
    frame.assign(label=["a", "b"]).to_csv(tmp_path / "zero.csv", index=False)
    with pytest.raises(AutofastError, match=r"step column '150' of the training file is missing \(column '0' is "
                                            r"not one of them\); give every step column it had \(a shorter series"):
        read_series_table(tmp_path / "zero.csv", TableColumns(steps=tuple(ones)))


def test_a_shorter_series_under_the_first_training_names_is_read_by_name(tmp_path):
    """t0..t99 of t0..t149, columns in another order: read by name (the length rule applies afterwards)."""
    df = _wide()
    df[["label", *sorted(NAMES[:100])]].to_csv(tmp_path / "short.csv", index=False)
    table = read_series_table(tmp_path / "short.csv", TableColumns(steps=tuple(NAMES)))
    assert table.steps == NAMES[:100] and table.extra == []
    np.testing.assert_array_equal(np.stack([s[0] for s in table.series]), df[NAMES[:100]].to_numpy())
    got = _reader(step_columns=NAMES).prepare(tmp_path / "short.csv")
    assert got.x.shape == (4, 1, 150)
    assert got.notes == ["series of lengths 100..100 brought to 150 (pad, as at training)"]
    other = df[["label", *NAMES]].rename(columns={n: f"s{i}" for i, n in enumerate(NAMES)})  # none of the names
    other.to_csv(tmp_path / "other.csv", index=False)
    table = read_series_table(tmp_path / "other.csv", TableColumns(steps=tuple(NAMES)))
    assert table.steps == [f"s{i}" for i in range(150)] and table.extra == []  # by position, as before


def test_numeric_columns_beyond_the_training_steps_are_returned_and_noted(tmp_path):
    """t0..t199 for a model of t0..t149 was read as its first 150 steps without a word."""
    df = _wide(steps=200)
    df.to_csv(tmp_path / "long.csv", index=False)
    table = read_series_table(tmp_path / "long.csv", TableColumns(steps=tuple(NAMES)))
    assert table.steps == NAMES and table.extra == [f"t{i}" for i in range(150, 200)]
    got = _reader(step_columns=NAMES).prepare(tmp_path / "long.csv")
    np.testing.assert_allclose(got.x[:, 0].numpy(), df[NAMES].to_numpy(), rtol=1e-6)
    assert got.notes == ["50 numeric column(s) beside the 150 training step columns left unread (first 't150'); a "
                         "longer series is read as those steps alone"]
    df[["label", *NAMES]].to_csv(tmp_path / "same.csv", index=False)
    assert _reader(step_columns=NAMES).prepare(tmp_path / "same.csv").notes == []


def _long_rows(skip=None):
    return [{"id": f"s{i}", "time": k, "x": float(k), "label": "ab"[i % 2]}
            for i in range(3) for k in range(60) if (f"s{i}", k) != skip]


def test_a_time_step_missing_inside_a_series_is_noted(tmp_path):
    """Time 5 deleted from 0..59 of series s1 was closed up silently, its later steps shifted one place."""
    pd.DataFrame(_long_rows(skip=("s1", 5))).sample(frac=1, random_state=0).to_csv(tmp_path / "gap.csv", index=False)
    table = read_series_table(tmp_path / "gap.csv")
    assert table.skip == ("s1", 5) and table.series[table.ids.index("s1")].shape == (1, 59)
    reader = _reader(length=60, channel_columns=["x"], timed=True)
    assert "series 's1' skips time 5: read closed up (its later steps one place early)" in \
        reader.prepare(tmp_path / "gap.csv").notes[0]
    pd.DataFrame(_long_rows()).to_csv(tmp_path / "whole.csv", index=False)  # no gap; a shorter series is no gap
    assert read_series_table(tmp_path / "whole.csv").skip is None
    pd.DataFrame(_long_rows(skip=("s2", 59))).to_csv(tmp_path / "end.csv", index=False)
    assert read_series_table(tmp_path / "end.csv").skip is None
    assert reader.prepare(tmp_path / "whole.csv").notes == []
    irregular = [{"id": f"s{i}", "time": k * k, "x": float(k), "label": "ab"[i % 2]}
                 for i in range(3) for k in range(9)]
    pd.DataFrame(irregular).to_csv(tmp_path / "irregular.csv", index=False)  # no regular step: nothing to say
    assert read_series_table(tmp_path / "irregular.csv").skip is None


def test_text_in_a_step_column_names_the_id_column_as_not_a_step(tmp_path):
    (tmp_path / "ids.csv").write_text("id,label,t0,t1,t2\nA,a,1,2,3\nB,b,1,x,3\nC,a,1,2,3\n")
    with pytest.raises(AutofastError, match=r"column 't1' is not a number \(row 3 holds 'x'\); every column but "
                                            r"'label' and 'id' is one step of the series"):
        read_series_table(tmp_path / "ids.csv")
    (tmp_path / "plain.csv").write_text("label,t0,t1,t2\na,1,2,3\nb,1,x,3\n")
    with pytest.raises(AutofastError, match=r"every column but 'label' is one step of the series"):
        read_series_table(tmp_path / "plain.csv")


def test_what_loading_did_to_the_training_rows_reaches_the_run(tmp_path):
    """Series shortened by trailing empty fields were resampled to the training length, and a skipped time step
    closed up, without a word at training (predict said both of new files): the loader's notes now reach the
    run's data notes, with the file they came from for an official split."""
    from autofast.data.series import load_series
    from autofast.data.types import merge_parts

    df = _wide(6, steps=20)
    df.loc[0, [f"t{i}" for i in range(14, 20)]] = np.nan  # a series of 14 steps
    df.to_csv(tmp_path / "train.csv", index=False)
    data = load_series(tmp_path / "train.csv")
    assert data.load_notes == ("series of lengths 14..20 brought to 20 (resample)",)
    _wide(4, steps=20, seed=1).to_csv(tmp_path / "test.csv", index=False)
    test = load_series(tmp_path / "test.csv")
    assert test.load_notes == ()
    merged = merge_parts({"train": data, "test": test}, "task.yaml")
    assert merged.load_notes == ("train file: series of lengths 14..20 brought to 20 (resample)",)
    pd.DataFrame(_long_rows(skip=("s1", 5))).to_csv(tmp_path / "gap.csv", index=False)
    notes = load_series(tmp_path / "gap.csv").load_notes
    assert any("series 's1' skips time 5" in n for n in notes) and any("brought to 60" in n for n in notes)


def test_a_search_run_reports_the_loading_notes(tmp_path):
    from autofast.cli import main
    import json

    df = _wide(40, steps=24)
    df.loc[:3, [f"t{i}" for i in range(18, 24)]] = np.nan
    df.to_csv(tmp_path / "s.csv", index=False)
    run = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "s.csv"), "--out", str(run), "--arch", "rocket", "--folds", "0",
                 "--threads", "1", "--time-budget", "30"]) == 0
    notes = json.loads((run / "result.json").read_text())["data_notes"]
    assert "series of lengths 18..24 brought to 24 (resample)" in notes
    assert "series of lengths 18..24 brought to 24" in (run / "report.md").read_text()
