"""Series classification loaders (.ts, UCR, arrays), variable length, missing values, official splits and
their provenance, the bundled JapaneseVowels set."""
import numpy as np
import pytest

from autofast.data.supervised import load_task
from autofast.data.series import equal_length, load_series
from autofast.data.types import merge_parts, split_for
from autofast.errors import AutofastError


def _one_line(e, *parts):
    msg = str(e.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


TS_HEADER = "# comment\n@problemName toy\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n" \
            "@equalLength false\n@classLabel true a b\n@data\n"


def _ts(path, rows):
    path.write_text(TS_HEADER + "".join(rows))
    return path


def test_ts_multivariate_variable_length_resample_and_pad(tmp_path):
    f = _ts(tmp_path / "t.ts", ["1,2,3:4,5,6:a\n", "0,2:1,1:b\n", "5,5,5,5:1,2,3,4:a\n", "9:8:b\n"])
    d = load_series(f)
    assert d.kind == "series" and d.x.shape == (4, 2, 4) and d.x.dtype == np.float32 and d.classes == ["a", "b"]
    np.testing.assert_allclose(d.x[1, 0], [0, 2 / 3, 4 / 3, 2], rtol=1e-6)  # linear interpolation over its span
    np.testing.assert_allclose(d.x[3, 1], [8, 8, 8, 8])
    p = load_series(f, variable_length="pad")
    np.testing.assert_allclose(p.x[0, 0], [1, 2, 3, 3])  # the last value repeated
    t = load_series(f, length=2, variable_length="pad")
    np.testing.assert_allclose(t.x[2, 1], [1, 2])  # longer series truncated
    assert list(d.y) == [0, 1, 0, 1]


@pytest.mark.parametrize("row, match", [
    ("1,?,3:4,5,6:a\n", "missing values ('?')"),
    ("1,2,3:4,5:a\n", "channels have lengths [2, 3]"),
    ("1,x,3:4,5,6:a\n", "'x' is not a number"),
    ("1,2,3:4,5,6:\n", "empty class label"),
])
def test_ts_bad_rows(tmp_path, row, match):
    f = _ts(tmp_path / "bad.ts", ["1,2,3:4,5,6:a\n", row])
    with pytest.raises(AutofastError) as e:
        load_series(f)
    _one_line(e, "bad.ts", match)


def test_ts_percent_comments_as_in_archive_files(tmp_path):
    """ARFF-style '%' comment lines before the header (aeon's UnitTest files, older UCR exports) are comments."""
    f = tmp_path / "c.ts"
    f.write_text("%# cut down from ChinaTown\n%\n" + TS_HEADER + "1,2,3:4,5,6:a\n% a comment\n0,2,1:1,1,1:b\n")
    d = load_series(f)
    assert d.x.shape == (2, 2, 3) and list(d.y) == [0, 1]


def test_ts_bad_files(tmp_path):
    (tmp_path / "nodata.ts").write_text("@problemName x\n")
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "nodata.ts")
    _one_line(e, "nodata.ts", "no '@data' line")
    (tmp_path / "stamps.ts").write_text("@timeStamps true\n@data\n(1,2):a\n")
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "stamps.ts")
    _one_line(e, "stamps.ts", "time-stamped")
    (tmp_path / "mixed.ts").write_text(TS_HEADER + "1,2:3,4:a\n1,2:b\n")
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "mixed.ts")
    _one_line(e, "mixed.ts", "every series needs the same number of channels")


def test_ucr_tsv_with_trailing_nan_padding_and_missing(tmp_path):
    f = tmp_path / "u.tsv"
    f.write_text("1\t0.5\t1.5\t2.5\n2\t1.0\t2.0\tNaN\n1.0\t3\t3\t3\n")
    d = load_series(f)
    assert d.x.shape == (3, 1, 3) and d.classes == ["1", "2"] and list(d.y) == [0, 1, 0]
    np.testing.assert_allclose(d.x[1, 0], [1.0, 1.5, 2.0])  # a shorter series (UCR NaN padding), resampled
    f.write_text("1\t0.5\tNaN\t2.5\n2\t1\t2\t3\n")
    with pytest.raises(AutofastError) as e:
        load_series(f)
    _one_line(e, "u.tsv", "line 1", "missing values")
    f.write_text("label\tt0\tt1\tt2\n1\t0.5\t1.5\t2.5\n2\t1\t2\t3\n")  # was "'t0' is not a number"
    with pytest.raises(AutofastError) as e:
        load_series(f)
    _one_line(e, "u.tsv", "line 1 is a header row", "remove it")


def test_series_arrays_layouts_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "uni.npz", x=rng.random((6, 30)), y=np.array([0, 1] * 3))
    assert load_series(tmp_path / "uni.npz").x.shape == (6, 1, 30)
    x = rng.random((6, 3, 30))
    np.savez(tmp_path / "ncl.npz", x=x, y=np.array(["u", "v"] * 3))
    assert load_series(tmp_path / "ncl.npz").x.shape == (6, 3, 30)
    np.save(tmp_path / "nlc.npy", x.transpose(0, 2, 1))
    np.save(tmp_path / "lab.npy", np.array([0, 1] * 3))
    d = load_series(tmp_path / "nlc.npy", labels=tmp_path / "lab.npy")
    np.testing.assert_allclose(d.x, x, rtol=1e-6)
    np.savez(tmp_path / "square.npz", x=rng.random((6, 8, 8)), y=np.array([0, 1] * 3))
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "square.npz")
    _one_line(e, "square.npz", "layout: NCL")
    assert load_series(tmp_path / "square.npz", layout="NLC").x.shape == (6, 8, 8)
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "nlc.npy")
    _one_line(e, "nlc.npy", "labels")
    bad = x.copy()
    bad[4, 1, 7] = np.nan
    np.savez(tmp_path / "nan.npz", x=bad, y=np.array([0, 1] * 3))
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "nan.npz")
    _one_line(e, "nan.npz", "NaN in series 4")


def test_equal_length_refuses_bad_mode():
    with pytest.raises(AutofastError, match="variable_length"):
        equal_length([np.zeros((1, 3))], None, "stretch", "src")


def _official(tmp_path, val=False, test_rows=None):
    _ts(tmp_path / "tr.ts", [f"{i},{i + 1},{i + 2}:{i},{i},{i}:{'ab'[i % 2]}\n" for i in range(20)])
    _ts(tmp_path / "te.ts", test_rows or [f"{i},{i}:{i},{i}:{'ab'[i % 2]}\n" for i in range(7)])
    body = "kind: series\ntrain: tr.ts\ntest: te.ts\nsplit: {val_fraction: 0.2, seed: 5}\n"
    if val:
        _ts(tmp_path / "va.ts", ["1,1,1:2,2,2:a\n", "3,3,3:3,3,3:b\n"])
        body += "val: va.ts\n"
    f = tmp_path / "task.yaml"
    f.write_text(body)
    return f


def test_official_split_test_is_exactly_the_test_file_and_val_carved_from_train(tmp_path):
    t = load_task(_official(tmp_path), seed=0)
    assert len(t.y_test) == 7 and len(t.y_val) == 4 and len(t.y_train) == 16  # 20% of train, stratified
    assert sorted(t.split.test.tolist()) == list(range(20, 27))  # exactly the test file's rows
    assert set(t.split.val.tolist()) | set(t.split.train.tolist()) == set(range(20))
    assert t.x_test.shape[1:] == (2, 3)  # the test file's length-2 series resampled to the training length
    assert sorted(t.y_val.tolist()) == [0, 0, 1, 1]
    p = t.split.describe()["provenance"]
    assert "te.ts" in p["test"] and "all 7 rows" in p["test"]
    assert "carved from the official training file" in p["val"] and "seed 5" in p["val"]
    again = load_task(_official(tmp_path), seed=1)  # the task file's seed wins
    assert again.split.val.tolist() == t.split.val.tolist()


def test_official_split_with_a_val_file(tmp_path):
    t = load_task(_official(tmp_path, val=True))
    assert len(t.y_train) == 20 and len(t.y_val) == 2 and len(t.y_test) == 7
    assert "official validation file" in t.split.provenance["val"]
    # standardised with training statistics only: the train rows have mean 0 per channel
    np.testing.assert_allclose(t.x_train.mean(dim=(0, 2)).numpy(), 0, atol=1e-5)


@pytest.mark.parametrize("body, match", [
    ("train: tr.ts\nkind: series\n", "both 'train' and 'test'"),
    ("data: tr.ts\ntest: te.ts\n", "either 'data'"),
    ("train: tr.ts\ntest: gone.ts\n", "field 'test'"),
    ("labels: l.npy\ntrain: tr.ts\ntest: te.ts\n", "'labels' goes with 'data'"),
])
def test_official_split_bad_task_files(tmp_path, body, match):
    _official(tmp_path)
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(AutofastError) as e:
        load_task(f)
    _one_line(e, "bad.yaml", match)


def test_official_split_unknown_test_class(tmp_path):
    f = _official(tmp_path, test_rows=["1,2:3,4:a\n", "1,2:3,4:zz\n"])
    with pytest.raises(AutofastError) as e:
        load_task(f)
    _one_line(e, "te.ts", "'zz'", "does not name")  # the header declares a b (the training file: no zz either)


def test_merge_parts_and_split_without_origin_keep_ratio_behaviour(tmp_path):
    d = load_series(_ts(tmp_path / "x.ts", [f"{i},1:{i},2:{'ab'[i % 2]}\n" for i in range(10)]))
    s = split_for(d, seed=0)
    assert s.sizes() == {"train": 6, "val": 2, "test": 2} and "stratified" in s.provenance["test"]
    m = merge_parts({"train": d, "test": d}, "here")
    assert m.origin.tolist() == [0] * 10 + [2] * 10 and m.origin_files == {"train": d.source, "test": d.source}


def test_bundled_japanese_vowels_official_split():
    t = load_task("JapaneseVowels", seed=0)
    assert t.data.kind == "series" and t.data.num_classes == 9
    assert len(t.y_test) == 370 and len(t.y_train) + len(t.y_val) == 270
    assert tuple(t.x_train.shape[1:]) == (12, 26)
    assert "JapaneseVowels_TEST.ts" in t.split.provenance["test"]


@pytest.mark.parametrize("name, n_train, n_test, classes, shape", [
    ("ACSF1", 100, 100, 10, (1, 1460)),                     # equal length
    ("PickupGestureWiimoteZ", 50, 50, 10, (1, 361)),        # variable length 29-361, padded to the longest
])
def test_bundled_ucr_official_split(name, n_train, n_test, classes, shape):
    t = load_task(name.lower(), seed=0)
    assert t.name == name and t.data.kind == "series" and t.data.num_classes == classes
    assert len(t.y_test) == n_test and len(t.y_train) + len(t.y_val) == n_train
    assert len(t.y_val) == max(n_train // 10, classes)  # 10% of the training file, stratified, >= 1 per class
    assert tuple(t.x_train.shape[1:]) == shape and tuple(t.x_test.shape[1:]) == shape
    assert f"{name}_TEST.ts" in t.split.provenance["test"]
    assert np.bincount(t.data.y[t.split.test], minlength=classes).min() > 0  # every class in the test file


def test_arrays_beyond_float32_are_one_error_line(tmp_path, recwarn):
    """float64 values past float32's range were cast to inf with numpy's overflow warning on the user's screen."""
    np.savez(tmp_path / "big.npz", x=np.array([[1.0, 2.0, 3.0], [1e300, 0.0, 1.0]]), y=np.array([0, 1]))
    with pytest.raises(AutofastError) as e:
        load_series(tmp_path / "big.npz")
    _one_line(e, "big.npz", "beyond float32's range", "rescale")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_ts_class_label_the_header_does_not_declare_is_refused(tmp_path):
    """'@classLabel true 1 2' above a series labelled 3: the undeclared class was taken without a word."""
    from autofast.data.series import read_ts

    f = tmp_path / "x.ts"
    f.write_text("@problemName x\n@classLabel true 1 2\n@data\n1,2,3:1\n3,2,1:2\n1,1,1:3\n")
    with pytest.raises(AutofastError, match=r"line 6 \(series 3\) has class '3', which the header's '@classLabel true 1 2'"):
        read_ts(f)
    f.write_text("@problemName x\n@classLabel true 1 2\n@data\n1,2,3:1\n3,2,1:2\n")
    assert read_ts(f)[1] == ["1", "2"]
