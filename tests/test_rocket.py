"""MiniRocket-style transform and ridge classifier (autofast.models.rocket): the fast transform against its
float64 F.conv1d reference, seeding, the closed-form leave-one-out ridge against brute force, a separable
synthetic task, state_dict round trip, and input errors."""
from __future__ import annotations

import io
import math

import pytest
import torch

import autofast.models.rocket as rocket
from autofast.models.rocket import (RocketClassifier, RocketTransform, fit_dilations, kernel_weights,
                                    ridge_gcv, ridge_loo_residuals, rocket_features, rocket_transform_reference)

# Float32 conv outputs differ from the float64 reference by ~1e-6 (sums of <= 9 C terms of size ~|x|, and the
# biases are quantiles of such outputs), so a PPV count can flip where an output lies within that of a bias.
# The reference evaluated at bias +- EPS brackets every such flip: ours must lie inside the bracket, and equal
# the reference at the bias itself almost everywhere.
EPS = 1e-4


def test_kernels_and_dilations():
    w = kernel_weights()
    assert w.shape == (84, 9) and torch.all(w.sum(1) == 0) and torch.all((w == 2).sum(1) == 3)
    assert len({tuple(r.tolist()) for r in w}) == 84
    d, nf = fit_dilations(1460, 10_000, 32)
    assert d[0] == 1 and d[-1] == (1460 - 1) // 8 and sum(nf) == 10_000 // 84 and len(d) <= 32
    assert all(a < b for a, b in zip(d, d[1:]))
    assert fit_dilations(7, 840, 32) == ([1], [10])  # shorter than a kernel: padded to 9, dilation 1 only


BACKENDS = ["numba", "torch"] if rocket._numba_kernel() is not None else ["torch"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("channels,length", [(1, 101), (3, 77), (2, 7), (12, 40)])
def test_transform_matches_float64_reference(seed, channels, length, backend):
    g = torch.Generator().manual_seed(seed)
    x_fit = torch.randn(6, channels, length, generator=g)
    x = torch.randn(5, channels, length, generator=g) * 2 + 0.5
    t = RocketTransform(num_features=840, seed=seed, backend=backend).fit(x_fit)
    assert t.backend_ == backend
    ours = t.transform(x).double()
    ref, ref_biases = rocket_transform_reference(x_fit, x, 840, seed)
    assert ours.shape == ref.shape == (5, 840) and ours.dtype == torch.float64
    # biases: float32 quantiles of float32 convs vs float64 ones
    torch.testing.assert_close(t.params_["biases"].double(), ref_biases, rtol=1e-5, atol=1e-5)
    # features: inside the rounding bracket everywhere, equal to the reference almost everywhere
    lo, _ = rocket_transform_reference(x_fit, x, 840, seed, biases=ref_biases, margin=EPS)
    hi, _ = rocket_transform_reference(x_fit, x, 840, seed, biases=ref_biases, margin=-EPS)
    assert torch.all(ours >= lo - 1e-6) and torch.all(ours <= hi + 1e-6)
    assert (ours - ref).abs().gt(1e-6).float().mean() <= 1e-3
    # the same with our own biases fed to the reference: only conv rounding can differ
    same, _ = rocket_transform_reference(x_fit, x, 840, seed, biases=t.params_["biases"])
    assert (ours - same).abs().gt(1e-6).float().mean() <= 1e-3
    assert torch.all((ours - same).abs() <= 1e-6 + (hi - lo))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeding_is_deterministic_and_chunking_does_not_matter(seed, backend, monkeypatch):
    x = torch.randn(9, 2, 64, generator=torch.Generator().manual_seed(seed))
    a = RocketTransform(num_features=1000, seed=seed, backend=backend).fit(x)
    b = RocketTransform(num_features=1000, seed=seed, backend=backend).fit(x)
    c = RocketTransform(num_features=1000, seed=seed + 1, backend=backend).fit(x)
    for k in a.params_:
        assert torch.equal(a.params_[k], b.params_[k]), k
    assert not torch.equal(a.params_["biases"], c.params_["biases"])
    fa, fb = a.transform(x), b.transform(x)
    assert torch.equal(fa, fb) and fa.shape == (9, 84 * (1000 // 84)) and fa.dtype == torch.float32
    assert float(fa.min()) >= 0.0 and float(fa.max()) <= 1.0
    if backend == "torch":  # example chunks of 1 vs all at once: the same convolution (rare rounding flips)
        one = rocket_features(x, a.params_, chunk_size=1, backend="torch")  # one matmul per example
        assert (one - fa).abs().gt(1e-6).float().mean() <= 1e-3
    else:  # one thread or three: every row computed by the same fixed-order sums
        monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
        assert torch.equal(a.transform(x), fa)


@pytest.mark.parametrize("backend", BACKENDS)
def test_transform_is_exact_on_flat_stretches(backend):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 1, 200, generator=g)
    x[:, :, 50:150] = 0.1  # a flat stretch of a value float32 cannot hold exactly: the kernels sum to zero
    if backend == "numba":
        t = RocketTransform(num_features=840, seed=0, backend="numba").fit(x)
        numba_cpu = rocket._numba_kernel()
        for i, d in enumerate(t.params_["dilations"].tolist()):
            y = numba_cpu.combination_outputs(x.numpy(), d, t.params_["channel_mask"][i].numpy(),
                                              rocket.KERNEL_INDICES.numpy(), torch.zeros(84, dtype=torch.int64).numpy())
            assert (y[:, 50 + 4 * d:150 - 4 * d] == 0).all()
    # so the features agree with the float64 reference (exact there too) on the flat stretches; float32 convs
    # whose flat outputs are rounding noise around biases of 0 differ in ~4% of the features, by up to 0.48
    x[10:, :, 50:150] = 0.3
    t = RocketTransform(num_features=840, seed=0, backend=backend).fit(x)
    assert int((t.params_["biases"] == 0).sum()) > 100
    ref, _ = rocket_transform_reference(x, x, 840, 0, biases=t.params_["biases"])
    assert (t.transform(x).double() - ref).abs().gt(1e-6).float().mean() <= 1e-3


def test_backend_choice_and_fallback(monkeypatch):
    x = torch.randn(8, 1, 30)
    with pytest.raises(ValueError, match="backend must be one of"):
        RocketTransform(backend="cuda")
    grad = x.clone().requires_grad_()  # a tensor that requires grad: features of its values, on either backend
    for backend in BACKENDS:
        assert RocketTransform(num_features=168, backend=backend).fit(grad).transform(grad).shape == (8, 168)
    t = RocketTransform(num_features=168, backend="torch").fit(x)
    state = t.state_dict()
    assert state["backend"] == "torch"
    del state["backend"]  # a file written before the numba kernel: fitted on the torch path
    assert RocketTransform.from_state_dict(state).backend_ == "torch"
    monkeypatch.setattr(rocket, "_numba_kernel", lambda: None)
    assert RocketTransform(num_features=168).fit(x).backend_ == "torch"  # auto without numba
    with pytest.raises(ValueError, match="needs numba"):
        RocketTransform(num_features=168, backend="numba").fit(x)
    with pytest.warns(RuntimeWarning, match="does not load here"):
        back = RocketTransform.from_state_dict({**state, "backend": "numba"})
    assert back.backend_ == "torch" and back.transform(x).shape == (8, 168)


def _brute_force_loo(x, y, alpha):
    """Leave each example out, fit ridge with an unpenalised intercept on the rest, predict it."""
    n, f = x.shape
    res = torch.empty_like(y)
    for i in range(n):
        keep = torch.arange(n) != i
        xm, ym = x[keep].mean(0), y[keep].mean(0)
        xc, yc = x[keep] - xm, y[keep] - ym
        w = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(f, dtype=x.dtype), xc.T @ yc)
        res[i] = y[i] - (ym + (x[i] - xm) @ w)
    return res


@pytest.mark.parametrize("n,f", [(12, 30), (30, 8)])  # dual (N < F, kernel eigenproblem) and primal (N >= F)
def test_ridge_loo_equals_brute_force(seed, n, f):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g, dtype=torch.float64) * torch.rand(f, generator=g, dtype=torch.float64) * 3 + 1
    if n < f:
        x[-1] = x[0]  # a duplicated example: the kernel gets a second (near-)zero eigenvalue besides the intercept's
    y = torch.where(torch.randn(n, 3, generator=g, dtype=torch.float64) > 0, 1.0, -1.0).double()
    alphas = torch.logspace(-3, 3, 10, dtype=torch.float64)
    closed = ridge_loo_residuals(x, y, alphas)
    brute = torch.stack([_brute_force_loo(x, y, float(a)) for a in alphas])
    torch.testing.assert_close(closed, brute, rtol=1e-8, atol=1e-8)
    fit = ridge_gcv(x, y, alphas)
    mse = (brute ** 2).mean(dim=(1, 2))
    assert fit.alpha == float(alphas[int(mse.argmin())])
    torch.testing.assert_close(fit.loo_mse, mse, rtol=1e-8, atol=1e-10)
    # coefficients at the chosen alpha: the direct centred solve
    xm, ym = x.mean(0), y.mean(0)
    w = torch.linalg.solve((x - xm).T @ (x - xm) + fit.alpha * torch.eye(f, dtype=x.dtype), (x - xm).T @ (y - ym))
    torch.testing.assert_close(fit.coef, w, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(fit.intercept, ym - xm @ w, rtol=1e-7, atol=1e-9)


def _shapelet_task(n, length, seed, channels=1):
    """Class 0: a sine bump, class 1: a square pulse with a notch, each at a random position (and channel)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, math.pi, 16)
    shapes = [torch.sin(t) * 2.0, torch.cat([torch.full((6,), 1.5), torch.full((4,), -1.5), torch.full((6,), 1.5)])]
    y = torch.randint(2, (n,), generator=g)
    x = torch.randn(n, channels, length, generator=g) * 0.5
    pos = torch.randint(length - 16, (n,), generator=g)
    ch = torch.randint(channels, (n,), generator=g)
    for i in range(n):
        x[i, ch[i], pos[i]:pos[i] + 16] += shapes[int(y[i])]
    return x, y


# Measured: 1 channel / 80 training series (60 seeds): mean 0.9998, min 0.9875; 3 channels (the shapelet in a
# random one of them) / 160 training series (150 seeds): mean 0.993, std 0.009, min 0.96. Bounds ~4 std below.
@pytest.mark.parametrize("channels,n_train,bound", [(1, 80, 0.95), (3, 160, 0.93)])
def test_classifier_separates_shapelets(seed, channels, n_train, bound):
    x, y = _shapelet_task(n_train + 100, 120, seed, channels)
    clf = RocketClassifier(seed=seed).fit(x[:n_train], y[:n_train])
    assert clf.num_classes == 2 and clf.alpha_ in [float(a) for a in clf.alphas]
    x_test, y_test = x[n_train:], y[n_train:]
    scores = clf.decision_function(x_test)
    assert scores.shape == (100, 2) and scores.dtype == torch.float32
    proba = clf.predict_proba(x_test)
    torch.testing.assert_close(proba.sum(1), torch.ones(100))
    assert torch.equal(clf.predict(x_test), scores.argmax(1)) and clf.predict(x_test).dtype == torch.int64
    assert clf.score(x_test, y_test) >= bound


def test_state_dict_round_trip(seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(30, 2, 40, generator=g), torch.arange(30) % 3
    clf = RocketClassifier(num_features=600, seed=seed).fit(x, y)
    state = clf.state_dict()
    assert all(isinstance(v, (torch.Tensor, int, float, str)) for v in state.values())
    assert state["transform.backend"] == clf.transform.backend_
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    back = RocketClassifier.from_state_dict(torch.load(buf, weights_only=True))
    xt = torch.randn(11, 2, 40, generator=g)
    assert torch.equal(back.decision_function(xt), clf.decision_function(xt))
    assert back.alpha_ == clf.alpha_ and back.num_classes == 3


def test_bad_inputs_raise_value_error():
    clf = RocketClassifier(num_features=200)
    x, y = torch.randn(10, 1, 30), torch.arange(10) % 2
    with pytest.raises(ValueError, match="3-D"):
        clf.fit(torch.randn(10, 30), y)
    with pytest.raises(ValueError, match="one label per example"):
        clf.fit(x, y[:9])
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(x, torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer class labels"):
        clf.fit(x, y - 5)  # float labels are values to regress (tests/test_series_regression.py)
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(torch.full((10, 1, 30), float("nan")), y)
    big = torch.randn(10, 1, 30, dtype=torch.float64)
    big[0, 0, 10] = 1e300  # finite in float64, inf in the float32 the transform computes in
    with pytest.raises(ValueError, match="beyond float32's range"):
        clf.fit(big, y)
    with pytest.raises(ValueError, match="num_features"):
        RocketClassifier(num_features=50)
    clf.fit(x, y)
    with pytest.raises(ValueError, match="fitted on series of 1 channel"):
        clf.predict(torch.randn(4, 2, 30))
    with pytest.raises(ValueError, match="fitted on series"):
        clf.predict(torch.randn(4, 1, 31))
    with pytest.raises(RuntimeError, match="not fitted"):
        RocketClassifier().predict(x)
