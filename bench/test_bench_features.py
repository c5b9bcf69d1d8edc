"""The random-feature classifiers, fit on a UCR training file and predict its test file, ours vs aeon's (the
anchor: the peer library a user would run, same data, same thread count, in the same run): MiniRocket
(:class:`autofast.models.rocket.RocketClassifier` vs ``MiniRocketClassifier``) and Hydra
(:class:`autofast.models.hydra.HydraClassifier` vs ``HydraClassifier``), on OSULeaf (200 + 242 series x 427
steps) and ACSF1 (100 + 100 x 1 460). The test accuracy of each is recorded in ``extra_info`` (one seed: a
speed benchmark, not an accuracy claim; the search's panel is that).

Run: ``python -m pytest bench/test_bench_features.py --benchmark-only`` (needs aeon:
``.venv/bin/pip install --no-deps aeon==1.6.0``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

aeon_datasets = pytest.importorskip("aeon.datasets")
aeon_conv = pytest.importorskip("aeon.classification.convolution_based")

SETS = ["OSULeaf", "ACSF1"]


@pytest.fixture(scope="module", params=SETS)
def ucr(request):
    xtr, ytr = aeon_datasets.load_classification(request.param, split="train")
    xte, yte = aeon_datasets.load_classification(request.param, split="test")
    classes = {c: i for i, c in enumerate(sorted(set(ytr)))}
    return {"name": request.param, "np": (xtr, ytr, xte, yte),
            "torch": (torch.tensor(xtr, dtype=torch.float32), torch.tensor([classes[c] for c in ytr]),
                      torch.tensor(xte, dtype=torch.float32), torch.tensor([classes[c] for c in yte]))}


def _ours(make, data):
    xtr, ytr, xte, yte = data["torch"]
    return make(seed=0).fit(xtr, ytr).score(xte, yte)


def _aeon(make, data):
    xtr, ytr, xte, yte = data["np"]
    clf = make(random_state=0, n_jobs=torch.get_num_threads()).fit(xtr, ytr)
    return float(np.mean(clf.predict(xte) == yte))


@pytest.mark.parametrize("impl", ["autofast", "aeon"])
@pytest.mark.parametrize("features", ["minirocket", "hydra"])
def test_fit_and_predict(benchmark, ucr, features, impl):
    from autofast.models.hydra import HydraClassifier
    from autofast.models.rocket import RocketClassifier

    ours = {"minirocket": RocketClassifier, "hydra": HydraClassifier}[features]
    theirs = {"minirocket": aeon_conv.MiniRocketClassifier, "hydra": aeon_conv.HydraClassifier}[features]
    run = (lambda: _ours(ours, ucr)) if impl == "autofast" else (lambda: _aeon(theirs, ucr))
    run()  # untimed: numba compiles aeon's kernels, torch warms its allocator
    acc = benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update({"set": ucr["name"], "test_accuracy": acc, "threads": torch.get_num_threads()})
    assert acc > 0.5
