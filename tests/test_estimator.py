"""autofast.AutofastClassifier: the search as a scikit-learn estimator on arrays -- fit/predict/score on series
and images, string and integer labels, clone/get_params/set_params, cross_val_score and Pipeline, pickling
(equal predictions, the model inside the pickle), the run folder's internal "test" split being the training
data, and the scikit-learn estimator checks that apply to a slow, stochastic deep model.

Fits are kept short: random-convolution features only (``arch="rocket"``, no CNN trials) for series, a tiny
CNN search for images; the time budget is a ceiling these runs stay under (the first fit of a session also
measures the machine's step cost)."""
from __future__ import annotations

import gc
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

FAST = dict(time_budget=30, arch="rocket", folds=0, retrain_width=8, search_width=4)  # series: features only
TINY_CNN = dict(time_budget=40, arch="plain", folds=0, search_epochs=1, search_width=4, retrain_width=8,
                n_configs=2, max_epochs=2, ensemble=1)


def bump_series(n, seed, length=30, channels=None, labels=("left", "right")):
    """Noisy series with a bump early (first label) or late (second label)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)[np.arange(n) % 2]
    shape = (n, length) if channels is None else (n, channels, length)
    x = rng.normal(size=shape) * 0.5
    for i in range(n):
        p = int(rng.integers(2, 8)) if i % 2 == 0 else int(rng.integers(18, 24))
        x[i, ..., p:p + 4] += 3.0
    return x, y


@pytest.mark.parametrize("labels", [(-1.0, 1.0), (1.0, 2.0)])
def test_float_class_labels_map_back_to_their_columns(labels):
    """Labels 1.0/2.0 or -1.0/1.0: the run names the classes '1', '2' ('-1', '1'), which the estimator read as
    column indices: -1.0/1.0 predicted 1.0 for every series (the majority's share as the score); 1.0/2.0/3.0 was an
    IndexError."""
    from autofast import AutofastClassifier

    x, y = bump_series(60, 0, labels=labels)
    clf = AutofastClassifier(**FAST).fit(x, y)
    xt, yt = bump_series(40, 1, labels=labels)
    assert clf.classes_.tolist() == list(labels) and clf.score(xt, yt) >= 0.85
    assert set(clf.predict(xt)) == set(labels)


@pytest.fixture(scope="module")
def fitted():
    from autofast import AutofastClassifier

    x, y = bump_series(60, 0)
    return AutofastClassifier(**FAST).fit(x, y), x, y


def test_fit_predict_score_with_string_labels(fitted):
    clf, x, y = fitted
    xt, yt = bump_series(60, 1)
    assert list(clf.classes_) == ["left", "right"] and clf.n_features_in_ == 30 and clf.kind_ == "series"
    pred = clf.predict(xt)
    assert pred.dtype == clf.classes_.dtype and set(pred) <= {"left", "right"}
    proba = clf.predict_proba(xt)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(xt, yt) >= 0.85  # chance: 0.5
    # the run's one "test" evaluation was on the training data itself: its score is the training accuracy
    assert clf.result_.result["split"]["test"] == 60
    assert clf.score(x, y) == pytest.approx(clf.training_score_)
    # ... and the run says so (its report read "Test accuracy" of a training score; a user quoted it)
    assert clf.result_.result["final"]["test_all_copies"] and "training-set accuracy" in repr(clf.result_)
    import re  # the score to 4 digits (0.9664804469273743 before)

    assert re.search(r"training-set accuracy [0-9.]{1,6}\)$", repr(clf.result_)), repr(clf.result_)
    report = Path(clf.run_dir_, "report.md").read_text()
    assert "**Training-set accuracy:" in report and "not held out" in report and "**Test accuracy" not in report
    assert Path(clf.run_dir_, "model", "manifest.json").is_file()
    import autofast  # the run folder keeps the user's labels (it named the classes 0, 1 before)

    res = autofast.load(clf.run_dir_)
    assert res.classes == ["left", "right"] and list(res.predict(xt)) == list(pred)


def test_wrong_inputs_are_one_line_value_errors(fitted):
    from autofast import AutofastClassifier
    from autofast.errors import AutofastError

    clf, x, y = fitted
    for bad, match in [(x[:, :20], "X has 20 features, but AutofastClassifier is expecting 30"),
                       (x[:, None, :], r"examples of shape \(1, 30\).*fitted on \(30,\)"),
                       (x[0], "Reshape your data"), (np.where(x > 2, np.nan, x), "NaN"),
                       (x.astype(complex), "Complex data"), (x * 1e300, "beyond float32's range")]:
        with pytest.raises(ValueError, match=match) as e:
            clf.predict(bad)
        assert isinstance(e.value, AutofastError) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="1 class"):
        AutofastClassifier(**FAST).fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="unknown search option.*budget"):
        AutofastClassifier(budget=3).fit(x, y)
    with pytest.raises(ValueError, match="labels for 60 examples"):
        AutofastClassifier(**FAST).fit(x, y[:10])
    # the search's own errors too, naming the estimator's parameters (they were AutofastErrors naming CLI flags)
    for params, match in [({"time_budget": "abc"}, "^time_budget='abc': give seconds"),
                          ({"arch": "bogus"}, "invalid option arch")]:
        with pytest.raises(ValueError, match=match) as e:
            AutofastClassifier(**{**FAST, **params}).fit(x, y)
        assert "--" not in str(e.value)


def test_labels_one_class_to_the_loaders_dtype_and_sparse_inputs_are_refused(fitted):
    """'1' and '1.0' were merged by the run's loader (three classes_, two in the run: the '1' column always 0, or
    'every example has the label' naming a temporary file); uint8 X is read as value / 255, so predicting with
    another dtype than fit's scored 0.49 for 1.0; sparse X got 'setting an array element with a sequence'."""
    import scipy.sparse

    from autofast import AutofastClassifier

    clf, x, y = fitted
    labels = np.asarray(["1", "1.0", "2"])[np.arange(len(x)) % 3]
    with pytest.raises(ValueError, match=r"labels '1' and '1.0' name one class"):
        AutofastClassifier(**FAST).fit(x, labels)
    with pytest.raises(ValueError, match=r"X is uint8 but AutofastClassifier was fitted on X not uint8"):
        clf.predict(np.clip(x * 40 + 128, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="sparse input is not supported"):
        clf.predict(scipy.sparse.csr_matrix(x))
    import pandas as pd

    with pytest.warns(UserWarning, match="fitted without feature names"):
        clf.predict(pd.DataFrame(x, columns=[f"t{i}" for i in range(x.shape[1])]))


def test_dataframe_column_names_are_kept_and_checked():
    """scikit-learn's feature_names_in_: kept from a DataFrame at fit, other names at predict an error."""
    import pandas as pd

    from autofast import AutofastClassifier

    x, y = bump_series(40, 0)
    frame = pd.DataFrame(x, columns=[f"t{i}" for i in range(x.shape[1])])
    clf = AutofastClassifier(**FAST).fit(frame, y)
    assert clf.feature_names_in_.tolist() == list(frame.columns)
    assert len(clf.predict(frame)) == len(x)
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(frame.rename(columns={"t0": "start"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(x)


def test_search_fit_and_load_give_the_callers_settings_back(fitted):
    """autofast.search set torch's threads, OMP_NUM_THREADS & co. and left them (also when it failed); fit and
    load drew from torch's global RNG (a network built outside a forked generator)."""
    import os

    import torch

    import autofast
    from autofast import AutofastClassifier
    from autofast.errors import AutofastError

    clf, x, y = fitted
    before = torch.get_num_threads()
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
    try:
        torch.set_num_threads(1)
        env = {k: os.environ.get(k) for k in keys}
        torch.manual_seed(5)
        want = torch.rand(3)
        torch.manual_seed(5)
        with pytest.raises(AutofastError, match="unknown task"):
            autofast.search("no_such_task", threads=2)
        AutofastClassifier(**FAST, threads=2).fit(x[:30], y[:30])
        autofast.load(clf.run_dir_)
        assert torch.get_num_threads() == 1 and {k: os.environ.get(k) for k in keys} == env
        assert torch.equal(torch.rand(3), want)
    finally:
        torch.set_num_threads(before)


def test_pickle_round_trip_keeps_the_model(fitted):
    from autofast import AutofastClassifier

    clf, x, _ = fitted
    xt, _ = bump_series(40, 2)
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.run_dir_ != clf.run_dir_  # the model travels inside the pickle, unpacked into its own folder
    assert np.array_equal(copy.predict(xt), clf.predict(xt))
    assert np.allclose(copy.predict_proba(xt), clf.predict_proba(xt))
    again = pickle.loads(pickle.dumps(copy))
    folder = Path(copy.run_dir_)
    del copy
    gc.collect()
    assert not folder.exists()  # a temporary run folder lives as long as its estimator
    assert np.array_equal(again.predict(xt), clf.predict(xt))
    unfitted = pickle.loads(pickle.dumps(AutofastClassifier(time_budget=5, arch="rocket")))
    assert unfitted.get_params()["arch"] == "rocket" and not hasattr(unfitted, "classes_")


def test_params_clone_and_set_params():
    from sklearn.base import clone

    from autofast import AutofastClassifier

    clf = AutofastClassifier(time_budget=20, arch="rocket", folds=0)
    params = clf.get_params()
    assert params == {"time_budget": 20, "seed": 0, "threads": None, "out": None, "verbose": False,
                      "arch": "rocket", "folds": 0}
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    assert twin.set_params(seed=3, folds=2, ensemble=2) is twin
    assert twin.get_params()["seed"] == 3 and twin.get_params()["ensemble"] == 2 and clf.get_params()["folds"] == 0
    with pytest.raises(ValueError, match="invalid parameter 'budget'"):
        twin.set_params(budget=3)
    assert "arch='rocket'" in repr(clf)


def test_images_with_integer_labels_print_nothing(tmp_path, capfd):
    """(N, C, H, W) 8-bit images, integer labels, a CNN search; nothing printed; ``out`` keeps the run folder,
    which reads the pixels and names the classes as the estimator does (it had named them 0, 1, 2 and read the
    pixels unscaled where ``autofast.load`` scales them to [0, 1])."""
    import autofast
    from autofast import AutofastClassifier

    def images(n, seed):
        r = np.random.default_rng(seed)
        y = np.array([3, 7, 11])[np.arange(n) % 3]
        x = r.normal(size=(n, 2, 8, 8))
        x[:, 0] += (y[:, None, None] - 7) * 0.75  # the class shifts band 0
        return np.clip(x * 20 + 128, 0, 255).astype(np.uint8), y

    x, y = images(90, 0)
    clf = AutofastClassifier(out=tmp_path, **TINY_CNN).fit(x, y)
    assert capfd.readouterr() == ("", "")
    assert list(clf.classes_) == [3, 7, 11] and clf.kind_ == "image" and not hasattr(clf, "n_features_in_")
    xt, yt = images(60, 1)
    pred = clf.predict(xt)
    assert pred.dtype.kind == "i" and set(pred) <= {3, 7, 11}
    assert clf.predict_proba(xt).shape == (60, 3)
    assert clf.score(x, y) == pytest.approx(clf.training_score_)
    assert capfd.readouterr() == ("", "")
    run = Path(clf.run_dir_)
    assert run.parent == tmp_path.resolve() and run.name.startswith("fit-")
    res = autofast.load(run)  # a kept run folder is an ordinary search run
    assert res.result["kind"] == "image" and res.result["split"]["test"] == 90
    assert res.classes == ["3", "7", "11"]
    assert res.predict(xt).dtype == np.int64 and list(res.predict(xt)) == list(pred)  # integers, as trained
    np.testing.assert_allclose(res.predict_proba(xt), clf.predict_proba(xt), rtol=1e-6, atol=1e-7)


def test_cross_val_score_with_a_pipeline_on_multichannel_series(tmp_path):
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from autofast import AutofastClassifier

    x, y = bump_series(48, 3, channels=2, labels=(0, 1))
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), AutofastClassifier(out=tmp_path, **FAST))
    scores = cross_val_score(pipe, x, y, cv=2)
    assert scores.shape == (2,) and scores.mean() >= 0.75
    assert len(list(tmp_path.glob("fit-*/model/manifest.json"))) == 2  # one run folder per fit, clones share out


# ------------------------------------------------------------------------- scikit-learn's estimator checks
# Run here: the API checks (no fit) and two that fit once on tiny data. Not run here, each a few seconds to a
# minute of searches, passed when run by hand with FAST (sklearn 1.9): check_n_features_in,
# check_fit_check_is_fitted, check_estimators_pickle, check_fit2d_predict1d, check_fit2d_1feature,
# check_supervised_y_2d, check_estimators_dtypes, check_estimators_overwrite_params, check_fit_score_takes_y,
# check_classifiers_train, check_classifiers_classes, check_methods_subset_invariance,
# check_methods_sample_order_invariance, check_readonly_memmap_input. Failing by design: check_dtype_object
# (non-numeric objects in X give the one-line ValueError of every bad input, not numpy's TypeError; numbers as
# objects are accepted) and check_do_not_raise_errors_in_init_or_set_params (it sets a parameter named after the
# **search_options catch-all, which is not a parameter, and set_params refuses unknown names).
NO_FIT = ["check_no_attributes_set_in_init", "check_estimators_unfitted", "check_get_params_invariance",
          "check_set_params", "check_parameters_default_constructible", "check_estimator_cloneable",
          "check_estimator_repr", "check_mixin_order", "check_valid_tag_types", "check_fit2d_1sample",
          "check_requires_y_none", "check_classifiers_one_label", "check_complex_data", "check_fit1d",
          "check_classifiers_regression_target", "check_supervised_y_no_nan", "check_estimators_empty_data_messages"]
ONE_FIT = ["check_n_features_in_after_fitting", "check_estimators_nan_inf"]


@pytest.mark.parametrize("check", NO_FIT + ONE_FIT)
def test_sklearn_estimator_check(check):
    import sklearn.utils.estimator_checks as ec

    from autofast import AutofastClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(ec, check)("AutofastClassifier", AutofastClassifier(**FAST))


def test_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, autofast; c = autofast.AutofastClassifier(time_budget=5); c.get_params(); "
            "assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_notebook_display_warns_nothing():
    """Jupyter's display parses the docstring as numpydoc: sections it does not know were three UserWarnings."""
    from sklearn.utils import estimator_html_repr

    from autofast import AutofastClassifier, AutofastRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for est in (AutofastClassifier(), AutofastRegressor()):
            assert type(est).__name__ in estimator_html_repr(est)
