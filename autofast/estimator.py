"""scikit-learn style estimators on arrays: :class:`AutofastClassifier` and :class:`AutofastRegressor` run
``autofast.search`` on ``fit(X, y)`` and apply the run's final model in ``predict``/``predict_proba``/``score``::

    from autofast import AutofastClassifier, AutofastRegressor
    clf = AutofastClassifier(time_budget=60).fit(X_train, y_train)     # X: (N, L), (N, C, L) or (N, C, H, W)
    clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)
    cross_val_score(AutofastClassifier(time_budget=30), X, y, cv=3)    # clone, Pipeline, pickle work too
    reg = AutofastRegressor(time_budget=60).fit(X_train, values)        # values (N,) or (N, T): a series regressor

It is the same engine as ``python -m autofast search`` (same run folder, same options and errors), so a fit
takes about ``time_budget`` seconds of wall clock and its result is not bit-for-bit reproducible (what a
time-budgeted search tries depends on the machine's speed): the estimator is tagged non-deterministic.

The regressor is the same search on values (``target: regression``): RMSE-selected networks and, for series,
the random-convolution features with a ridge regressor; its ``score`` is scikit-learn's R^2.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
import weakref
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError

from .errors import AutofastError

__all__ = ["AutofastClassifier", "AutofastRegressor", "EstimatorInputError"]

#: the estimator's own parameters; any other keyword is an option of ``autofast.search`` (SearchConfig)
OWN = ("time_budget", "seed", "threads", "out", "verbose")
#: what of a run folder the fitted model needs (kept inside a pickle): result.json and the model/ folder
MODEL_PARTS = ("result.json", "model")


class EstimatorInputError(AutofastError, ValueError):
    """Bad ``X``/``y`` or parameter of an estimator: an :class:`AutofastError` and a ``ValueError`` (what
    scikit-learn's tools expect), one line."""


def _option_names() -> list[str]:
    from .search.config import SearchConfig

    return [k for k in SearchConfig.model_fields if k not in ("task",) + OWN]


def _as_parameters(message: str) -> str:
    """A search's error line in the estimator's words: its options by their parameter names (``--time-budget
    17`` -> ``time_budget=17``)."""
    import re

    return re.sub(r"--([a-z][a-z0-9-]*) ?", lambda m: m.group(1).replace("-", "_") + "=", message)


def _image_layout(arr: np.ndarray) -> str:
    """``auto`` where the loaders' rule tells the band axis of ``(N, ., ., .)`` images (``(N, 32, 32, 13)`` is
    channels-last: it was read as 32 bands of 32 x 13), else ``NCHW`` (the documented layout)."""
    from .data.images import channels_first

    try:
        channels_first(np.zeros((1, *arr.shape[1:]), dtype=np.float32), "X", "auto")
    except AutofastError:
        return "NCHW"
    return "auto"


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class _SearchEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters (the estimator's own and every search option),
    the inputs ``X``, ``fit`` (a search on a task file of ``X`` and the targets :meth:`_check_y` gives), the run
    folder, pickling. Subclasses name ``_target`` (the task file's ``target:``) and check ``y``."""

    _target = "classification"

    def __init__(self, time_budget=60, seed=0, threads=None, out=None, verbose=False, **search_options):
        self.time_budget = time_budget
        self.seed = seed
        self.threads = threads
        self.out = out
        self.verbose = verbose
        self._search_options = dict(search_options)

    # ------------------------------------------------------------------------------------ parameters
    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._search_options)
        return params

    def set_params(self, **params):
        if not params:
            return self
        own = self._get_param_names()
        options = None
        for key, value in params.items():
            if key in own:
                setattr(self, key, value)
                continue
            options = options if options is not None else _option_names()
            if key not in options:
                raise EstimatorInputError(
                    f"invalid parameter {key!r} for {type(self).__name__}; valid: {', '.join(own)} and the search "
                    f"options {', '.join(options)}")
            self._search_options[key] = value
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # a time-budgeted search: what it tries depends on the machine's speed
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        return tags

    # ---------------------------------------------------------------------------------------- inputs
    def _check_x(self, X, fitting: bool) -> np.ndarray:
        name = type(self).__name__
        if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse (not imported: `import autofast` stays light)
            raise EstimatorInputError(f"X: sparse input is not supported by {name}; give a dense array "
                                      "(X.toarray())")
        if not fitting:
            self._check_names(X)
        try:
            arr = np.asarray(X)
            if arr.dtype == object:  # numbers held as objects (e.g. from pandas) are numbers; text is not, not
                # even "1.5" (astype(float64) parsed it silently: numbers stored as text are the caller's to convert)
                text = next((v for v in arr.reshape(-1) if isinstance(v, (str, bytes))), None)
                if text is not None:
                    raise TypeError(f"text {text!r} among its objects")
                arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise EstimatorInputError(f"X: cannot be read as a numeric array ({str(exc).splitlines()[0]}); give "
                                      "numbers (N, L), (N, C, L) or (N, C, H, W) of one shape") from None
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise EstimatorInputError("X: Complex data not supported; give real numbers")
        if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)):
            raise EstimatorInputError(f"X: dtype {arr.dtype} is not numeric; give numbers (N, L), (N, C, L) or "
                                      "(N, C, H, W)")
        if arr.ndim < 2:
            raise EstimatorInputError(f"Expected 2D array, got {arr.ndim}D array instead (shape {arr.shape}); "
                                      "Reshape your data: (N, L) series, (N, C, L) series or (N, C, H, W) images")
        if arr.ndim > 4:
            raise EstimatorInputError(f"X has shape {arr.shape}; {name} takes (N, L) series, (N, C, L) series "
                                      "or (N, C, H, W) images")
        if arr.shape[0] == 0 or 0 in arr.shape[1:]:  # scikit-learn's wording, which its checks match
            what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
            raise EstimatorInputError(f"Found array with 0 {what} (shape={arr.shape}) while a minimum of 1 is "
                                      "required; give at least one example of at least one value")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise EstimatorInputError("Input X contains NaN or infinity; fill in or drop those values")
        if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and np.abs(arr).max() > np.finfo(np.float32).max:
            raise EstimatorInputError("Input X holds values beyond float32's range (+-3.4e38), which the model "
                                      "computes in; rescale X")
        raw, arr = arr, arr.astype(np.float32)
        if not fitting:
            fitted_uint8 = getattr(self, "x_uint8_", None)  # None: pickled before it was recorded
            if fitted_uint8 is not None and fitted_uint8 != (raw.dtype == np.uint8):
                was, now = ("uint8", str(raw.dtype)) if fitted_uint8 else ("not uint8", "uint8")
                raise EstimatorInputError(f"X is {now} but {name} was fitted on X {was}; uint8 pixels are read as "
                                          "value / 255, others as they are: give X of the fitted dtype")
            shape = tuple(self.input_shape_)
            if arr.ndim == 2 and len(shape) == 1 and arr.shape[1] != shape[0]:
                raise EstimatorInputError(f"X has {arr.shape[1]} features, but {name} is expecting {shape[0]} "
                                          "features as input")
            if tuple(arr.shape[1:]) != shape:
                raise EstimatorInputError(f"X has examples of shape {tuple(arr.shape[1:])}, but {name} was fitted "
                                          f"on {shape}; give inputs of the fitted shape")
        # 8-bit pixels stay uint8: the loaders and autofast.load(run).predict scale them to [0, 1], so the run
        # folder reads them as fit and predict did
        return raw if raw.dtype == np.uint8 else arr

    @staticmethod
    def _names(X) -> np.ndarray | None:
        """A DataFrame's column names where all are strings (scikit-learn's ``feature_names_in_``), else None."""
        cols = getattr(X, "columns", None)
        if cols is None or not len(cols) or not all(isinstance(c, str) for c in cols):
            return None
        return np.asarray(cols, dtype=object)

    def _check_names(self, X) -> None:
        """scikit-learn's column-name rule: predicting with other names than fit's is an error, with names
        where fit had none (or none where it had) a warning."""
        names = self._names(X)
        fitted = getattr(self, "feature_names_in_", None)
        name = type(self).__name__
        if fitted is not None and names is not None and (len(fitted) != len(names) or (fitted != names).any()):
            raise EstimatorInputError("The feature names should match those that were passed during fit; give X "
                                      f"with the columns {', '.join(map(str, fitted[:6]))}"
                                      f"{', ...' if len(fitted) > 6 else ''} in that order")
        if fitted is not None and names is None:
            warnings.warn(f"X does not have valid feature names, but {name} was fitted with feature names",
                          UserWarning, stacklevel=3)
        if fitted is None and names is not None and hasattr(self, "input_shape_"):
            warnings.warn(f"X has feature names, but {name} was fitted without feature names", UserWarning,
                          stacklevel=3)

    @staticmethod
    def _layout(arr: np.ndarray) -> np.ndarray:
        """The loaders' channels-first layout: (N, L) -> (N, 1, L)."""
        return arr[:, None] if arr.ndim == 2 else arr

    # ------------------------------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Run a search on ``(X, y)`` (about ``time_budget`` seconds) and keep its final model; returns self."""
        arr = self._check_x(X, fitting=True)
        saved, fitted = self._check_y(y, len(arr))
        kind = "image" if arr.ndim == 4 else "series"
        options = dict(self._search_options)
        unknown = sorted(set(options) - set(_option_names()))
        if unknown:
            raise EstimatorInputError(f"unknown search option(s) {', '.join(unknown)} for {type(self).__name__}; "
                                      f"valid: {', '.join(_option_names())}")
        self._forget()  # (autofast.search sets up the threads as `python -m autofast` does, and gives them back)
        run_dir, owned = self._new_run_dir()
        work = tempfile.mkdtemp(prefix="autofast-fit-data-")
        try:
            # the training file is also the task's test file: see "The run's internal split" in the docstring
            np.savez(os.path.join(work, "train.npz"), x=self._layout(arr), y=saved)
            layout = _image_layout(arr) if kind == "image" else "NCL"
            Path(work, "task.yaml").write_text(
                f"name: {type(self).__name__}\nkind: {kind}\nlayout: {layout}\ntarget: {self._target}\n"
                "train: train.npz\ntest: train.npz\nsplit: {val_fraction: 0.1}\n")
            from .api import search

            result = search(str(Path(work, "task.yaml")), out=run_dir, verbose=bool(self.verbose),
                            time_budget=self.time_budget, seed=self.seed, threads=self.threads, **options)
        except BaseException as exc:
            if owned or not Path(run_dir, "pattern.json").exists():
                _remove(run_dir)
            if isinstance(exc, AutofastError) and not isinstance(exc, ValueError):
                raise EstimatorInputError(_as_parameters(str(exc))) from None  # scikit-learn expects ValueErrors
            raise
        finally:
            _remove(work)
        if owned:
            self._cleanup = weakref.finalize(self, _remove, run_dir)
        self._result = result
        for key, value in fitted.items():
            setattr(self, key, value)
        self.input_shape_ = tuple(int(s) for s in arr.shape[1:])
        self.x_uint8_ = arr.dtype == np.uint8  # predict must bring the same: uint8 is read as value / 255
        names = self._names(X)
        if names is not None:
            self.feature_names_in_ = names
        self.kind_ = kind
        self.run_dir_ = str(run_dir)
        self.training_score_ = result.test_score
        if arr.ndim == 2:
            self.n_features_in_ = int(arr.shape[1])
        return self

    def _new_run_dir(self) -> tuple[str, bool]:
        """``(run folder, owned)``: a fresh temporary folder (owned: deleted with the estimator) or a fresh
        ``out/fit-...`` folder (kept)."""
        if self.out is None:
            return tempfile.mkdtemp(prefix="autofast-estimator-"), True
        from .io import make_run_dir

        base = make_run_dir(Path(self.out).expanduser().resolve(), "out")
        return tempfile.mkdtemp(prefix=time.strftime("fit-%Y%m%d-%H%M%S-"), dir=base), False

    def _forget(self) -> None:
        """Drop an earlier fit: its fitted attributes and its temporary run folder."""
        for key in ("classes_", "n_targets_", "_y_one_d", "input_shape_", "kind_", "run_dir_", "training_score_",
                    "n_features_in_", "_result", "x_uint8_", "feature_names_in_"):
            self.__dict__.pop(key, None)
        cleanup = self.__dict__.pop("_cleanup", None)
        if cleanup is not None:
            cleanup()

    # --------------------------------------------------------------------------------------- predict
    def _fitted_result(self):
        if not hasattr(self, "input_shape_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")
        result = self.__dict__.get("_result")
        if result is None:
            from .api import load

            result = self._result = load(self.run_dir_)
        return result

    @property
    def result_(self):
        """The fitted run as an :class:`autofast.api.Result` (``plan``, ``report``, ``result``)."""
        if not hasattr(self, "input_shape_"):
            raise AttributeError("result_: the estimator is not fitted")
        return self._fitted_result()

    # ------------------------------------------------------------------------------------------ pickle
    def __getstate__(self):
        state = super().__getstate__()
        state = {k: v for k, v in state.items() if k not in ("_result", "_cleanup")}
        if "input_shape_" in state:
            root, files = Path(self.run_dir_), {}
            paths = [root / MODEL_PARTS[0]] + sorted(p for p in (root / MODEL_PARTS[1]).rglob("*") if p.is_file())
            for p in paths:
                try:
                    files[p.relative_to(root).as_posix()] = p.read_bytes()
                except OSError as exc:
                    raise AutofastError(f"cannot pickle {type(self).__name__}: {p}: {exc.strerror or exc}; the "
                                        "fitted run folder was removed or moved") from None
            state["_model_files"] = files
        return state

    def __setstate__(self, state):
        state = dict(state)
        files = state.pop("_model_files", None)
        super().__setstate__(state)
        if files is not None:  # a fitted estimator: its final model in a temporary folder of its own
            run_dir = tempfile.mkdtemp(prefix="autofast-estimator-")
            for rel, data in files.items():
                p = Path(run_dir, rel)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
            self.run_dir_ = run_dir
            self._cleanup = weakref.finalize(self, _remove, run_dir)


class AutofastClassifier(ClassifierMixin, _SearchEstimator):
    """``autofast.search`` as a scikit-learn classifier of series and images given as numpy arrays.

    Parameters
    ----------
    time_budget : seconds (or ``"90s"``, ``"2m"``) of wall clock for one ``fit``, as ``search --time-budget``;
        None: the search's default from the data size (2 to 7 minutes).
    seed : the search's seed (split, initialisations, sampler).
    threads : CPU threads of the run (None: autofast's default from the usable CPUs). A fit in a process that
        has not imported torch yet first sets up the thread pools as ``python -m autofast`` does
        (:func:`autofast.runtime.configure`: this thread count, passive OpenMP waiting -- without it a busy
        neighbour on the cores can slow training many times over); the caller's thread settings and torch's
        global RNG state are given back after the fit (:func:`autofast.runtime.callers_settings_kept`).
    out : None (default): each ``fit`` runs in a fresh temporary folder, deleted when the estimator is garbage
        collected (or the interpreter exits). A folder: each ``fit`` makes its own run folder
        ``out/fit-<date>-<time>-<random>/`` in it and keeps it (``python -m autofast predict`` and
        ``autofast.load`` read it; clones in ``cross_val_score`` can share one ``out``).
    verbose : print the search's stage messages; otherwise nothing is printed.
    **search_options : any option of ``autofast.search`` / ``python -m autofast search`` by its
        SearchConfig name (``arch``, ``folds``, ``ensemble``, ``max_epochs``, ``devices``, ...); they are
        parameters like the others (``get_params``, ``set_params``, ``clone``) and are checked at ``fit``.

    Attributes
    ----------
    classes_ : the sorted unique labels, the columns of ``predict_proba``.
    n_features_in_ : L, for a 2-D ``X`` only (as scikit-learn's tabular estimators set it).
    input_shape_ : ``X.shape[1:]``.
    kind_ : ``"series"`` or ``"image"``.
    run_dir_ : the run folder; after unpickling, a temporary folder holding the final model only.
    result_ : the :class:`autofast.api.Result` (``plan``, ``report``, ``result``).
    training_score_ : the run's "test" score, which is on ``X`` itself (Notes).

    Notes
    -----
    **Inputs.** ``X``: a numeric array ``(N, L)`` (univariate series), ``(N, C, L)`` (series with C channels; a
    3-D array is always read as series, so give grey images as ``(N, 1, H, W)``) or ``(N, C, H, W)`` (images with
    C bands; ``(N, H, W, C)`` where the band axis is the one that differs from two equal ones, or a last axis of
    1, 3 or 4, as the loaders tell it), without NaN or inf; ``predict`` takes the shape seen in ``fit``. Inputs are
    used as given (``uint8`` pixels scaled to [0, 1], as every loader reads them): the model standardises each
    channel with the training statistics itself. ``y``: one label per example of any sortable type (strings,
    integers); at least two classes. A kept run folder (``out``) names its classes by the labels' text.

    **The run's internal split -- read this before quoting a score from its folder.** A search always evaluates
    its final model once on a test split. Your test data are not given to ``fit``, so the run's task names the
    training file as BOTH its training and its test file: the search carves its validation rows (10%,
    stratified) from ``X``, trains the final model on all of ``X``, and its one "test" evaluation is on ``X``
    itself. The ``test_score`` in the run folder (``result.json``, ``report.md``) is therefore the training
    (resubstitution) accuracy -- NOT a held-out score; it is kept as ``training_score_``. Measure generalisation
    with ``score`` on data the estimator has not seen, or with ``cross_val_score``. (The training rows are held
    twice in memory during the search for this.)

    Pickling keeps the final model (``result.json`` and ``model/``, a few MB) inside the pickle, so an
    unpickled estimator predicts exactly as the original even when the original's run folder is gone.
    """

    def _check_y(self, y, n: int) -> tuple[np.ndarray, dict]:
        """``(the labels to save, {"classes_": sorted labels})``: integers and booleans as they are, anything else
        as its text, so the run folder's classes are the user's (``autofast.load``, ``predict``)."""
        from sklearn.utils.multiclass import check_classification_targets, type_of_target

        if y is None:
            raise EstimatorInputError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        from sklearn.utils.validation import column_or_1d

        try:
            y = column_or_1d(y, warn=True)  # (N, 1): a DataConversionWarning, as scikit-learn's estimators give
        except ValueError as exc:
            raise EstimatorInputError(str(exc).splitlines()[0]) from None
        if len(y) != n:
            raise EstimatorInputError(f"y has {len(y)} labels for {n} examples in X; give one label per example")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            raise EstimatorInputError("Input y contains NaN or infinity; give one class label per example")
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise EstimatorInputError(f"y: {str(exc).splitlines()[0]} (type {type_of_target(y)!r}); "
                                      f"{type(self).__name__} needs class labels") from None
        try:
            classes, idx = np.unique(y, return_inverse=True)
        except TypeError:
            raise EstimatorInputError("y: labels of mixed types cannot be sorted; give labels of one type "
                                      "(all strings or all integers)") from None
        if len(classes) < 2:
            raise EstimatorInputError(f"y has 1 class ({classes[0]!r} for every example); a classifier needs at "
                                      "least two classes")
        names = classes if classes.dtype.kind in "iub" else np.asarray([str(c) for c in classes])
        from .data.types import integral_text

        seen: dict[str, str] = {}
        for c in names:  # the loaders read '1.0' as the class '1' (a float column's whole numbers)
            other = seen.setdefault(integral_text(str(c)), str(c))
            if other != str(c):
                raise EstimatorInputError(f"y: labels {other!r} and {str(c)!r} name one class to autofast (whole "
                                          "numbers written as floats are read as integers); give distinct labels")
        return names[idx.reshape(-1)], {"classes_": classes}

    def predict_proba(self, X) -> np.ndarray:
        """``(N, n_classes)`` float64 class probabilities, columns in ``classes_`` order."""
        result = self._fitted_result()
        arr = self._check_x(X, fitting=False)
        proba = np.asarray(result.predict_proba(self._layout(arr)), dtype=np.float64)
        out = np.zeros((len(arr), len(self.classes_)), dtype=np.float64)
        out[:, self._columns(result.classes)] = proba
        return out

    def _columns(self, run_classes: list[str]) -> list[int]:
        """The ``classes_`` index of each of the run's classes: by name (the run's classes are the labels' text),
        or, for a run saved before it kept the labels, the class indices it was given."""
        from .data.types import integral_text

        def key(c) -> str:  # the run's loader writes a float label 1.0 as "1" (integral_text), as here
            return integral_text(str(c))

        by_name = {key(c): i for i, c in enumerate(self.classes_)}
        run = [key(c) for c in run_classes]
        if set(run) == set(by_name):
            return [by_name[c] for c in run]
        if all(c.isdigit() and int(c) < len(self.classes_) for c in run):  # an older run: class indices
            return [int(c) for c in run]
        raise EstimatorInputError(f"the run's classes {run_classes[:6]} do not match classes_ "
                                  f"{list(self.classes_)[:6]}; fit the estimator again")

    def predict(self, X) -> np.ndarray:
        """``(N,)`` predicted labels (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class AutofastRegressor(RegressorMixin, _SearchEstimator):
    """``autofast.search`` as a scikit-learn regressor of series and images given as numpy arrays: one value
    (``y`` ``(N,)``) or T values (``(N, T)``) per example, e.g. a series' extrinsic target (the Monash
    extrinsic-regression archive's tasks). Parameters, inputs ``X``, the run folder, the run's internal split
    (its ``test_score``, kept as ``training_score_``, is the RMSE on ``X`` itself, not a held-out score) and
    pickling: as :class:`AutofastClassifier`. ``predict`` gives values in ``y``'s units (the search
    standardises the targets with the training statistics and maps back); ``score`` is scikit-learn's R^2.

    Fitted attributes: ``n_targets_``, ``n_features_in_`` (2-D ``X`` only), ``input_shape_``, ``kind_``,
    ``run_dir_``, ``result_``, ``training_score_``.
    """

    _target = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (N, T): T values per example
        return tags

    def _check_y(self, y, n: int) -> tuple[np.ndarray, dict]:
        """``(float64 values (N, T) to save, {"n_targets_": T})``; ``y`` ``(N,)`` or ``(N, T)`` numbers."""
        if y is None:
            raise EstimatorInputError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise EstimatorInputError("y: cannot be read as numbers; a regressor needs numeric targets") from None
        if arr.ndim not in (1, 2) or len(arr) != n:
            raise EstimatorInputError(f"y has shape {arr.shape} for {n} examples in X; give (N,) or (N, T) values")
        if not np.all(np.isfinite(arr)):
            raise EstimatorInputError("Input y contains NaN or infinity; give finite target values")
        return arr.reshape(n, -1), {"n_targets_": int(arr.reshape(n, -1).shape[1]), "_y_one_d": arr.ndim == 1}

    def predict(self, X) -> np.ndarray:
        """``(N,)`` float64 values (``(N, T)`` for a fit on ``(N, T)`` targets), in ``y``'s units."""
        result = self._fitted_result()
        arr = self._check_x(X, fitting=False)
        out = np.asarray(result.predict(self._layout(arr)), dtype=np.float64)  # (N,) for one target
        return out if self._y_one_d else out.reshape(len(arr), -1)
