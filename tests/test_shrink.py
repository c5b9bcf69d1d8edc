"""Value models shrunk toward the training mean (:mod:`autofast.search.shrink`): the factor against a float64
least-squares reference, its held-out guarantee, which held-out predictions the search fits it on, and the
saved model's round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autofast.search.shrink import Shrunk, shrink_factors, shrunk_mse


def _reference(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per target: argmin over lambda in [0, 1] of sum((lambda p - y)^2), by a dense grid refined with the
    closed form checked against it."""
    out = []
    for j in range(p.shape[1]):
        grid = np.linspace(0.0, 1.0, 20001)
        err = ((grid[:, None] * p[None, :, j] - y[None, :, j]) ** 2).sum(1)
        out.append(grid[int(np.argmin(err))])
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_factors_are_the_least_squares_multiplier_in_the_unit_interval(seed):
    rng = np.random.default_rng(seed)
    n, t = 60, 4
    signal = rng.normal(size=(n, t))
    y = signal + rng.normal(scale=[0.2, 1.0, 3.0, 1.0], size=(n, t))
    p = np.stack([signal[:, 0], 2.5 * signal[:, 1], signal[:, 2], -signal[:, 3]], 1)  # good, too wide, noisy, wrong
    got = shrink_factors(torch.tensor(p, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).numpy()
    assert got.dtype == np.float64 and got.shape == (t,)
    np.testing.assert_allclose(got, _reference(p, y), atol=1e-4)
    assert got[3] == 0.0 and 0.0 < got[1] < 1.0
    # held out, the shrunk predictions are never worse than the model's or the mean's
    f = torch.tensor(got)
    pt, yt = torch.tensor(p), torch.tensor(y)
    for j in range(t):
        one = lambda w: shrunk_mse(pt[:, j:j + 1], yt[:, j:j + 1], torch.tensor([w]))  # noqa: E731
        assert one(float(f[j])) <= min(one(1.0), one(0.0)) + 1e-12


def test_all_zero_predictions_keep_factor_one_and_1d_inputs_are_one_target():
    y = torch.randn(10)
    assert shrink_factors(torch.zeros(10), y).tolist() == [1.0]
    assert shrink_factors(3 * y, y).tolist() == pytest.approx([1 / 3])


class _Const(nn.Module):
    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out[: len(x)]


def test_shrunk_multiplies_each_target_and_keeps_the_dtype():
    out = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    m = Shrunk(_Const(out), [0.5, 0.25])
    y = m(torch.zeros(2, 1))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, torch.tensor([[0.5, -0.5], [1.5, 1.0]]))


def test_the_search_fits_the_factors_on_the_winners_held_out_predictions():
    from autofast.search.pipeline import _shrunk

    torch.manual_seed(0)
    y = torch.randn(40, 1)
    cnn, rocket = 0.5 * y + 0.1 * torch.randn(40, 1), -y  # the CNN's are too narrow, the family's wrong
    features = {"rocket": {"held_out": rocket.double()}}
    model = nn.Identity()
    read = []

    def read_cnn():
        read.append(1)
        return cnn.double()

    # a family wins: its own predictions (anti-correlated: shrunk to the mean), the CNN never read
    m, rec = _shrunk(model, "rocket", features, {}, None, y, lambda msg: None, read_cnn)
    assert isinstance(m, Shrunk) and rec["factors"] == [0.0] and not read
    assert rec["shrunk_mse"] == pytest.approx(rec["mean_mse"]) and rec["shrunk_mse"] <= rec["held_out_mse"]
    # the CNN wins: read once when no blend read it; factors capped at 1
    _, rec = _shrunk(model, "plain", features, {}, None, y, lambda msg: None, read_cnn)
    assert read and rec["factors"] == [1.0]
    # a blend: the mean of the two held-out predictions, the CNN's as the blend read them
    _, rec = _shrunk(model, "cnn+rocket", features, {"cnn+rocket": {}}, cnn.double(), y, lambda msg: None, read_cnn)
    blend = (cnn.double() - y.double()) / 2
    assert rec["factors"] == pytest.approx(shrink_factors(blend, y).tolist())
    assert len(read) == 1
    # the window ridge has no held-out predictions: left as it is
    m, rec = _shrunk(model, "linear", {"linear": {}}, {}, None, y, lambda msg: None, read_cnn)
    assert m is model and rec is None


def test_a_shrunk_model_round_trips_through_the_saved_record():
    from autofast.errors import AutofastError
    from autofast.predictor.families import build_model, model_record
    from autofast.search.linear_family import LinearModel

    inner = LinearModel(torch.randn(6, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64), 1.0)
    m = Shrunk(inner, [0.25, 0.75]).eval()
    rec, tensors = model_record(m)
    assert rec["shrink"] == [0.25, 0.75] and rec["family"] == "linear" and "factors" not in tensors
    back = build_model({"model": rec}, tensors, "model/weights.pt")
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(back(x), m(x))
        torch.testing.assert_close(back(x), inner(x) * torch.tensor([0.25, 0.75]))
    with pytest.raises(AutofastError, match="shrink"):
        build_model({"model": {**rec, "shrink": ["a"]}}, tensors, "model/weights.pt")
