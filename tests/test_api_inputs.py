"""The estimators' reading of ``X`` held as objects (docs/model-format.md): numbers as objects (``X.astype(object)``,
a pandas frame of mixed dtypes) are read as numbers; text among the objects -- even text of a number, ``"1.5"``,
which numpy's ``astype(float)`` parsed silently -- and other objects are the one-line ``ValueError`` of every bad
input. No search runs: ``_check_x`` is what ``fit`` and ``predict`` read ``X`` with."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("cls", ["AutofastClassifier", "AutofastRegressor"])
def test_numbers_held_as_objects_are_numbers(cls):
    import autofast

    est = getattr(autofast, cls)()
    x = np.random.default_rng(0).normal(size=(4, 2, 10))
    got = est._check_x(x.astype(object), fitting=True)
    assert got.dtype == np.float32 and np.array_equal(got, x.astype(np.float32))
    mixed = x.astype(object)
    mixed[0, 0, 0], mixed[1, 1, 1] = int(3), np.float32(0.5)  # Python ints, numpy scalars: numbers too
    assert est._check_x(mixed, fitting=True)[0, 0, 0] == 3.0


@pytest.mark.parametrize("bad, why", [
    (np.array([["1.5", "2"], ["3", "4"]], dtype=object), "text '1.5' among its objects"),  # was accepted
    (np.array([[1.0, "a"], [2.0, 3.0]], dtype=object), "text 'a' among its objects"),
    (np.array([[1.0, b"7"], [2.0, 3.0]], dtype=object), "text b'7' among its objects"),
    (np.array([[1.0, {"a": 1}], [2.0, 3.0]], dtype=object), "cannot be read as a numeric array"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype <U1 is not numeric"),
])
def test_text_and_other_objects_are_one_line_value_errors(bad, why):
    from autofast import AutofastClassifier
    from autofast.estimator import EstimatorInputError

    with pytest.raises(ValueError, match=why) as exc:
        AutofastClassifier()._check_x(bad, fitting=True)
    assert isinstance(exc.value, EstimatorInputError) and "\n" not in str(exc.value)


def test_a_pandas_frame_of_mixed_numeric_columns_is_read():
    pd = pytest.importorskip("pandas")
    from autofast import AutofastClassifier

    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": pd.Series([1, 2, 3], dtype=object)})
    assert AutofastClassifier()._check_x(frame, fitting=True).tolist() == [[1, 0.5, 1], [2, 1.5, 2], [3, 2.5, 3]]
    frame["d"] = ["x", "y", "z"]
    with pytest.raises(ValueError, match="text 'x' among its objects"):
        AutofastClassifier()._check_x(frame, fitting=True)


def test_a_pretrain_run_says_it_has_no_final_model(tmp_path):
    """load / predict of a pretrain run said 'the model folder is missing ... rerun it with this version': a pretrain
    run never has one; it now says to fine-tune its checkpoint."""
    import json

    import autofast
    from autofast.errors import AutofastError

    (tmp_path / "result.json").write_text(json.dumps({"command": "pretrain"}))
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(AutofastError, match=r"a pretrain run has no final model .* finetune --checkpoint"):
        autofast.load(tmp_path)
