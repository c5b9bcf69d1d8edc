"""Hydra transform and classifier (autofast.models.hydra): the chunked float32 transform against its float64
reference written out tap by tap, the draws (seeding, normalised kernels, channels), the sparse scaling, a
separable task, state_dict round trip and input errors."""
from __future__ import annotations

import io

import pytest
import torch

from autofast.models.hydra import (HydraClassifier, HydraTransform, fit_hydra_parameters, hydra_dilations,
                                   hydra_features, hydra_transform_reference)
from autofast.models.ridge import FeatureInputError


def test_dilations_and_draws(seed):
    assert hydra_dilations(9) == [1] and hydra_dilations(7) == [1]
    assert hydra_dilations(427) == [1, 2, 4, 8, 16, 32] and hydra_dilations(1460)[-1] == 128
    p = fit_hydra_parameters(5, 100, k=4, g=6, seed=seed)
    w = p["weights"].double()
    assert w.shape == (4, 2, 3 * 4, 1, 9) and p["channels"].shape == (4, 2, 3, 2)
    assert torch.allclose(w.sum(-1), torch.zeros((), dtype=w.dtype), atol=1e-6)
    assert torch.allclose(w.abs().sum(-1), torch.ones((), dtype=w.dtype), atol=1e-6)
    # each group's channels are distinct
    assert all(len(set(c.tolist())) == len(c) for c in p["channels"].reshape(-1, 2))
    again = fit_hydra_parameters(5, 100, k=4, g=6, seed=seed)
    assert all(torch.equal(p[n], again[n]) for n in p)
    other = fit_hydra_parameters(5, 100, k=4, g=6, seed=seed + 1)
    assert not torch.equal(p["weights"], other["weights"])
    assert fit_hydra_parameters(1, 50, seed=seed)["channels"].shape[-1] == 1
    assert fit_hydra_parameters(40, 50, seed=seed)["channels"].shape[-1] == 8


@pytest.mark.parametrize("channels,length", [(1, 60), (4, 37), (1, 7)])
def test_transform_matches_float64_reference(seed, channels, length):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, channels, length, generator=g) * 1.5 + 0.3
    t = HydraTransform(k=4, g=6, seed=seed).fit(x)
    ours = t.transform(x)
    ref = hydra_transform_reference(x, t.params_, 4)
    assert ours.dtype == torch.float32 and ours.shape == ref.shape == (3, t.num_features_)
    assert t.num_features_ == len(hydra_dilations(length)) * 6 * 4 * 2
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4)
    # the min counts: one per group and time step (series of L, its difference of L - 1 steps)
    per_block = ours.reshape(3, -1, 2, 3, 4)  # (examples, dilation x input, [max, min], groups, kernels)
    steps = torch.tensor([max(length, 9), max(length, 9) - 1] * len(hydra_dilations(length)), dtype=torch.float32)
    assert torch.equal(per_block[:, :, 1].sum((-1, -2)), (3 * steps).expand(3, -1))


def test_chunks_do_not_change_the_features(monkeypatch, seed):
    import autofast.models.hydra as hydra

    x = torch.randn(7, 2, 50, generator=torch.Generator().manual_seed(seed))
    params = fit_hydra_parameters(2, 50, k=4, g=4, seed=seed)
    whole = hydra_features(x, params, 4)
    monkeypatch.setattr(hydra, "_CHUNK_ELEMENTS", 1)  # one example per chunk
    torch.testing.assert_close(hydra_features(x, params, 4), whole, rtol=0, atol=0)


def _waves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of noisy series: a sine and a square wave of random phase."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    t = torch.linspace(0, 6.28 * 3, 80)
    phase = torch.rand(n, 1, generator=g) * 6.28
    s = torch.sin(t + phase)
    x = torch.where(y.unsqueeze(1).bool(), torch.sign(s), s) + 0.3 * torch.randn(n, 80, generator=g)
    return x.unsqueeze(1), y


def test_classifier_separates_and_round_trips(seed):
    x, y = _waves(60, seed)
    xt, yt = _waves(40, seed + 100)
    clf = HydraClassifier(k=4, g=8, seed=seed).fit(x, y)
    assert clf.score(xt, yt) >= 0.9 and clf.num_classes == 2
    buf = io.BytesIO()
    torch.save(clf.state_dict(), buf)
    buf.seek(0)
    back = HydraClassifier.from_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(back.decision_function(xt), clf.decision_function(xt))
    assert type(back.transform) is HydraTransform and back.transform.k == 4


def test_sparse_scaling_keeps_zeros_and_standardises_the_rest(seed):
    clf = HydraClassifier(k=4, g=4, seed=seed)
    feats = torch.rand(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 9
    feats[::3, 0] = 0.0
    feats[:, 1] = 0.0  # a feature that is never counted
    clf._mean, clf._std = clf._fit_scaling(feats)
    scaled = clf._scaled(feats.clone())
    assert not scaled[::3, 0].any() and not scaled[:, 1].any()
    root = feats[:, 2:].sqrt()
    torch.testing.assert_close(scaled[:, 2:], (root - root.mean(0)) / (root.std(0) + 1e-8))


def test_input_errors(seed):
    x, y = _waves(10, seed)
    clf = HydraClassifier(k=4, g=4, seed=seed)
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(x)
    clf.fit(x, y)
    with pytest.raises(FeatureInputError, match="fitted on series of 1 channel"):
        clf.predict(torch.randn(2, 2, 80))
    with pytest.raises(FeatureInputError, match="even g"):
        HydraTransform(k=4, g=3).fit(x)
    with pytest.raises(FeatureInputError, match="integer class labels"):
        HydraClassifier(k=4, g=4).fit(x, y.bool())
