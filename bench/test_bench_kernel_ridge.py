"""RBF kernel ridge on the pixels (:class:`autofast.models.rbf_ridge.RBFKernelRidge`, the image family of
``search``), fit on digits' 1 257 training images and predict the other 540, against the anchors a scikit-learn
user would run on the same rows and threads, in the same run:

* ``sklearn-grid``: the same choice made the usual way, ``GridSearchCV(KernelRidge(kernel="rbf"))`` over the same
  RBF widths and penalties with 5-fold CV (ours: exact leave-one-out from one eigendecomposition per width);
* ``sklearn-svc``: ``SVC()`` (RBF, gamma "scale", C 1: one fit, no choice), the quality panel's peer for images.

Test accuracy goes to ``extra_info`` (one split: a speed benchmark; the quality panel measures accuracy).

Run: ``python -m pytest bench/test_bench_kernel_ridge.py --benchmark-only``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, train_size=1257, stratify=y, random_state=0)
    mean, std = xtr.mean(), xtr.std()  # one band: standardised as the task does it
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


def _ours(data):
    from autofast.models.rbf_ridge import RBFKernelRidge

    xtr, ytr, xte, yte = data
    clf = RBFKernelRidge(num_classes=10).fit(torch.tensor(xtr), torch.tensor(ytr))
    return float((clf.predict(torch.tensor(xte)).numpy() == yte).mean())


def _grid(data):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    from autofast.models.rbf_ridge import ALPHAS, GAMMAS

    xtr, ytr, xte, yte = data
    targets = -np.ones((len(ytr), 10))
    targets[np.arange(len(ytr)), ytr] = 1.0
    d = ((xtr[:, None] - xtr[None]) ** 2).sum(-1)
    scale = float(np.median(d[np.triu_indices(len(xtr), 1)]))
    grid = GridSearchCV(KernelRidge(kernel="rbf"), {"gamma": [g / scale for g in GAMMAS if g > 0], "alpha": ALPHAS},
                        cv=5, scoring="neg_mean_squared_error", n_jobs=1).fit(xtr, targets)
    return float((grid.predict(xte).argmax(1) == yte).mean())


def _svc(data):
    from sklearn.svm import SVC

    xtr, ytr, xte, yte = data
    return float(SVC().fit(xtr, ytr).score(xte, yte))


@pytest.mark.parametrize("impl", ["autofast", "sklearn-grid", "sklearn-svc"])
def test_fit_and_predict(benchmark, digits, impl):
    run = {"autofast": _ours, "sklearn-grid": _grid, "sklearn-svc": _svc}[impl]
    acc = benchmark.pedantic(lambda: run(digits), rounds=1 if impl == "sklearn-grid" else 3, iterations=1,
                             warmup_rounds=0 if impl == "sklearn-grid" else 1)
    benchmark.extra_info.update({"test_accuracy": acc, "threads": torch.get_num_threads()})
    assert acc > 0.9
