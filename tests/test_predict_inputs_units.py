"""Predict's checks of new inputs (autofast/predictor/inputs.py): a spread in other units than the training one
(the mean barely moved) is a note and, from Python, a UserWarning; class names in a regression model's label
column are one error line with predict's fix."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from autofast.data.types import channel_standardizer
from autofast.errors import AutofastError
from autofast.predictor.inputs import InputReader


def _image_reader(x_train) -> InputReader:
    mean, std = channel_standardizer(x_train)
    return InputReader({"classes": [str(i) for i in range(10)], "kind": "image", "input": {
        "shape": list(x_train.shape[1:]), "uint8_input": False,
        "standardise": {"mean": mean.tolist(), "std": std.tolist()}}})


def _result(reader):
    from autofast.api import Result

    res = Result.__new__(Result)  # the Python API's path to the notes, without a run
    res.predictor = reader
    return res


def test_digits_divided_by_16_are_noted_and_warned_an_honest_split_is_not():
    """A model of pixels 0-16 (per-pixel std ~6) given the images / 16: the mean moved 0.8 standard deviations, so
    no note; accuracy 0.12 without a word. Now the spread (1/16 of the training one) is noted."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x.reshape(-1, 1, 8, 8).astype(np.float32)
    train, test = train_test_split(np.arange(len(x)), test_size=0.25, random_state=0, stratify=y)
    reader = _image_reader(x[train])
    assert reader.prepare(x[test]).notes == []
    notes = reader.prepare(x[test] / 16).notes
    assert notes == ["input channel 0 spreads 0.063 times the training standard deviation: check the units (the "
                     "predictions are of little use if they differ)"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _result(reader)._prepared(x[test])  # silent
    with pytest.warns(UserWarning, match="input channel 0 spreads 0.063 times the training standard deviation"):
        _result(reader)._prepared(x[test] / 16)
    assert "lies 12 training standard deviations" in reader.prepare(x[test] * 16).notes[0]  # one note, the mean's


def test_random_normal_data_and_few_examples_are_not_noted():
    rng = np.random.default_rng(0)
    z = rng.normal(3, 2, size=(400, 3, 50)).astype(np.float32)
    mean, std = channel_standardizer(z[:300])
    reader = InputReader({"classes": ["a", "b"], "kind": "series", "input": {
        "shape": [3, 50], "series": {"length_rule": "pad"},
        "standardise": {"mean": mean.tolist(), "std": std.tolist()}}})
    assert reader.prepare(z[300:]).notes == [] and reader.prepare(z[300:308]).notes == []
    assert re.match(r"input channel \d spreads 0.1 times|input channel \d spreads 0.099 times",
                    reader.prepare(z[300:] / 10).notes[0])
    levels = (rng.normal(0, 5, size=(3, 3, 1)) + rng.normal(0, 0.1, size=(3, 3, 50))).astype(np.float32)
    assert reader.prepare(levels + 3).notes == []  # three series of one level each: too few to judge a spread
    flat = z[300:].copy()
    flat[:, 1] = 3.0  # a constant channel: nothing to compare
    assert reader.prepare(flat).notes == []


def test_class_names_for_a_regression_model_name_predicts_fix(tmp_path):
    """'... regression needs numeric targets (or set 'target: classification' in the task file)': predict takes no
    task file."""
    reader = InputReader({"classes": ["target"], "regression": True, "kind": "series", "input": {
        "shape": [1, 3], "series": {"channels": 1, "length_rule": "pad", "label_column": "label"}}})
    (tmp_path / "new.csv").write_text("label,t0,t1,t2\n1.5,1,2,3\nIE,1,2,3\n")
    with pytest.raises(AutofastError) as err:
        reader.prepare(tmp_path / "new.csv")
    assert str(err.value) == (f"{tmp_path / 'new.csv'}: label 'IE' (example 2) is not a number; this model predicts "
                              "values, so the labels must be numbers (to get predictions without a score, drop or "
                              "rename the label column)")
    (tmp_path / "ok.csv").write_text("label,t0,t1,t2\n1.5,1,2,3\n2,1,2,3\n")
    assert reader.prepare(tmp_path / "ok.csv").labels.tolist() == [[1.5], [2.0]]
