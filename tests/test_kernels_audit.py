"""Fixes from the kernel audit: the reference AR backend honours ``order`` and checks its windows as numba
does; the conv API refuses non-integer dilation/stride, integer tensors and bad layer arguments up front,
with one-line errors naming the argument. Every result is compared against a plain float64 computation
on fresh random inputs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autofast.kernels.ar_grid import get_backend
from autofast.kernels.ar_grid.reference import window_moments_ref
from autofast.kernels.conv import (
    DilatedConv1d, DilatedConv2d, MixedDilatedConv, dilated_conv, mixed_dilated_conv,
)

# ------------------------------------------------------------------------------------------ AR helpers


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _direct(psi_row, q, c, history, H):
    """The AR recursion ``y_t = c + sum_{j<q} psi_j y_{t-j}`` run forward H steps in float64 from
    ``history`` (forward time order); returns the H forecasts."""
    y = [float(v) for v in history]
    for _ in range(H):
        y.append(float(c) + sum(float(psi_row[j]) * y[-1 - j] for j in range(q)))
    return np.array(y[len(history):])


def _candidates(rng, B, Q):
    """psi with NON-zero coefficients beyond each order (they must be ignored), orders 0..Q (0 and Q present)."""
    psi = rng.standard_normal((B, Q)) * 0.35
    orders = rng.integers(0, Q + 1, B)
    orders[0], orders[-1] = 0, Q
    return psi, rng.standard_normal(B), orders


@pytest.fixture
def backends():
    return get_backend("numba", "cpu"), get_backend("reference", "cpu")


def _order_variants(orders):
    return [orders, torch.as_tensor(orders), list(orders)]


def test_reference_forecast_weights_honour_order_like_numba(backends, seed):
    nb, rf = backends
    rng = np.random.default_rng(seed)
    B, Q, H = 9, 7, 6
    psi, c, orders = _candidates(rng, B, Q)
    want_nb = nb.ar_forecast_weights(psi, c, H, orders)
    windows = rng.standard_normal((5, Q))  # lag order: windows[:, 0] is y_T
    for order in _order_variants(orders):
        got = _np(rf.ar_forecast_weights(rf.asarray(psi), rf.asarray(c), H, order))
        assert got.shape == (B, Q + 1, H), f"seed {seed}"
        np.testing.assert_allclose(got, want_nb, rtol=1e-10, atol=1e-12, err_msg=f"seed {seed}")
        for b in range(B):
            assert not got[b, orders[b] + 1:].any(), f"rows beyond order {orders[b]} must be zero, seed {seed}"
            for v in windows:
                direct = _direct(psi[b], orders[b], c[b], v[::-1], H)
                np.testing.assert_allclose(got[b, 0] + v @ got[b, 1:], direct, rtol=1e-10, atol=1e-12,
                                           err_msg=f"candidate {b} order {orders[b]}, seed {seed}")
    # no order: the last non-zero coefficient, as numba reads it
    tail = psi * (np.arange(Q)[None, :] < orders[:, None])
    np.testing.assert_allclose(_np(rf.ar_forecast_weights(rf.asarray(tail), rf.asarray(c), H)),
                               nb.ar_forecast_weights(tail, c, H), rtol=1e-10, atol=1e-12, err_msg=f"seed {seed}")


def _lag_moments(z, L, H):
    """Explicit lag-ordered moments of every window of one series: S, Sxy, syy, count and the windows."""
    N = z.shape[0] - L - H + 1
    V = np.stack([np.concatenate([[1.0], z[n:n + L][::-1]]) for n in range(N)])  # [1, y_T, ..., y_{T-L+1}]
    Y = np.stack([z[n + L:n + L + H] for n in range(N)])
    return V.T @ V, V.T @ Y, (Y ** 2).sum(0), N, V, Y


def test_reference_grid_scores_honour_order_like_numba(backends, seed):
    nb, rf = backends
    rng = np.random.default_rng(seed)
    B, Q, L, H = 8, 6, 8, 5
    psi, c, orders = _candidates(rng, B, Q)
    z = np.cumsum(rng.standard_normal(70)) * 0.2
    S, Sxy, syy, N, V, Y = _lag_moments(z, L, H)
    direct = np.empty((B, H))
    for b in range(B):
        err = [_direct(psi[b], orders[b], c[b], V[n, 1:][::-1], H) - Y[n] for n in range(N)]
        direct[b] = (np.array(err) ** 2).mean(0)
    want_nb = nb.ar_grid_scores(psi, c, S, Sxy, syy, N, orders)
    np.testing.assert_allclose(want_nb, direct, rtol=1e-8, atol=1e-10, err_msg=f"numba, seed {seed}")
    for order in _order_variants(orders):
        got = _np(rf.ar_grid_scores(*(rf.asarray(a) for a in (psi, c, S, Sxy, syy)), N, order))
        assert got.shape == (B, H), f"seed {seed}"
        np.testing.assert_allclose(got, direct, rtol=1e-8, atol=1e-10, err_msg=f"reference, seed {seed}")


def test_reference_forecast_error_sums_honour_order_like_numba(backends, seed):
    nb, rf = backends
    rng = np.random.default_rng(seed)
    C, Q, L, H, start, count = 6, 5, 7, 4, 3, 40
    psi, c, orders = _candidates(rng, C, Q)
    z = np.cumsum(rng.standard_normal((C, start + count + L + H + 2)), axis=1) * 0.2
    direct = np.zeros((C, 2, H))
    for ch in range(C):
        for n in range(start, start + count):
            e = _direct(psi[ch], orders[ch], c[ch], z[ch, n:n + L], H) - z[ch, n + L:n + L + H]
            direct[ch, 0] += e ** 2
            direct[ch, 1] += np.abs(e)
    np.testing.assert_allclose(nb.forecast_error_sums(z, psi, c, start, count, L, H, orders), direct,
                               rtol=1e-9, atol=1e-10, err_msg=f"numba, seed {seed}")
    for order in _order_variants(orders):
        got = _np(rf.forecast_error_sums(rf.asarray(z), rf.asarray(psi), rf.asarray(c), start, count, L, H, order,
                                         chunk=16))
        assert got.shape == (C, 2, H), f"seed {seed}"
        np.testing.assert_allclose(got, direct, rtol=1e-9, atol=1e-10, err_msg=f"reference, seed {seed}")


def test_reference_refuses_bad_orders_like_numba(backends):
    nb, rf = backends
    psi, c = np.ones((3, 4)) * 0.1, np.zeros(3)
    for bad in ([1, 2, 5], [1, -1, 2], [1, 2]):
        for be in (nb, rf):
            with pytest.raises(ValueError, match=r"order must hold 3 values in 0\.\.4"):
                be.ar_forecast_weights(be.asarray(psi), be.asarray(c), 3, np.array(bad))


@pytest.mark.parametrize("start,count", [(10, 10), (-3, 4), (0, -1), (16, 1)])
def test_reference_window_moments_refuse_windows_past_the_series(backends, start, count):
    z = np.random.default_rng().standard_normal((1, 20))
    for be in backends:
        with pytest.raises(ValueError, match="do not fit a series of length 20") as info:
            be.window_moments(be.asarray(z), 5, start, count)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="do not fit"):
        window_moments_ref(torch.from_numpy(z), 5, start, count)


def test_reference_window_moments_still_match_numba_at_the_edge(backends, seed):
    nb, rf = backends
    z = np.random.default_rng(seed).standard_normal((2, 20))
    for start, count in [(10, 6), (0, 16), (4, 0)]:  # the last window ends at the series end
        want = np.zeros((2, 6, 6))
        for n in range(start, start + count):
            v = np.concatenate([np.ones((2, 1)), z[:, n:n + 5]], axis=1)
            want += v[:, :, None] * v[:, None, :]
        np.testing.assert_allclose(_np(rf.window_moments(rf.asarray(z), 5, start, count)), want, rtol=1e-12,
                                   atol=1e-12, err_msg=f"seed {seed}")
        np.testing.assert_allclose(nb.window_moments(z, 5, start, count), want, rtol=1e-10, atol=1e-10)


def test_reference_forecast_error_sums_refuse_windows_past_the_series(backends):
    rng = np.random.default_rng()
    z, psi, c = rng.standard_normal((2, 30)), rng.standard_normal((2, 3)) * 0.2, np.zeros(2)
    for be in backends:
        with pytest.raises(ValueError, match="exceed the series"):
            be.forecast_error_sums(be.asarray(z), be.asarray(psi), be.asarray(c), 20, 5, 4, 3)


# ------------------------------------------------------------------------------------------ conv


def _ref(x, w, b, d, g, s=1):
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x.double(), w.double(), None if b is None else b.double(), s, d * (w.shape[-1] - 1) // 2, d, g)


def _one_line(info) -> str:
    msg = str(info.value)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("kw,name", [({"dilation": 2.5}, "dilation"), ({"dilation": 2.0}, "dilation"),
                                     ({"dilation": True}, "dilation"), ({"stride": 1.5}, "stride"),
                                     ({"stride": 2.0}, "stride"), ({"groups": 1.0}, "groups")])
@pytest.mark.parametrize("path", ["auto", "native", "tap"])
def test_non_integer_dilation_or_stride_is_refused_not_truncated(kw, name, path):
    x, w = torch.randn(2, 4, 20), torch.randn(3, 4, 5)
    with pytest.raises(TypeError, match=f"{name} must be an integer") as info:
        dilated_conv(x, w, None, path=path, **kw)
    _one_line(info)
    # as torch itself: F.conv refuses a float dilation / stride, even an integral one
    if name != "groups" and not isinstance(kw[name], bool):
        with pytest.raises(TypeError):
            F.conv1d(x, w, None, **{name: kw[name]})


def test_integer_scalars_of_numpy_and_torch_are_accepted(seed):
    g = torch.Generator().manual_seed(seed)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((2, 4, 23), (3, 4, 5), (3,)))
    for d, s in [(np.int64(3), np.int32(2)), (torch.tensor(2), torch.tensor(1))]:
        torch.testing.assert_close(dilated_conv(x, w, b, dilation=d, stride=s), _ref(x, w, b, int(d), 1, int(s)),
                                   rtol=1e-12, atol=1e-12, msg=f"seed {seed}")


def test_non_integer_candidates_and_mixed_stride_are_refused():
    x = torch.randn(1, 4, 12)
    with pytest.raises(TypeError, match=r"candidates\[0\] dilation must be an integer"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3)], torch.ones(1), [(3, 2.5)])
    with pytest.raises(TypeError, match="stride must be an integer"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3)], torch.ones(1), [(3, 1)], stride=1.5)
    with pytest.raises(TypeError, match=r"candidates\[1\] kernel size must be an integer"):
        MixedDilatedConv(1, 4, 4, candidates=[(3, 1), (5.0, 1)])


@pytest.mark.parametrize("path", ["auto", "native", "tap"])
def test_integer_tensors_get_a_dtype_error_before_the_timing_pass(path):
    x, w = torch.randn(2, 4, 20), torch.randn(3, 4, 5)
    for xx, ww, name in [(x.long(), w.long(), "x"), (x.long(), w, "x"), (x, w.int(), "weight")]:
        with pytest.raises(TypeError, match=f"needs floating-point tensors; {name} is torch.int") as info:
            dilated_conv(xx, ww, path=path)
        _one_line(info)
    with pytest.raises(TypeError, match="needs floating-point tensors; bias is torch.int64"):
        dilated_conv(x, w, torch.zeros(3, dtype=torch.long), path=path)
    with pytest.raises(TypeError, match="needs floating-point tensors; x is torch.int64"):
        mixed_dilated_conv(x.long(), [torch.randn(4, 1, 3)], torch.ones(1), [(3, 1)], groups=4, path=path)
    with pytest.raises(TypeError, match=r"needs floating-point tensors; weights\[1\] is torch.int64"):
        mixed_dilated_conv(x, [torch.randn(4, 1, 3), torch.ones(4, 1, 5, dtype=torch.long)], torch.ones(2),
                           [(3, 1), (5, 2)], groups=4, path=path)
    with pytest.raises(TypeError, match="needs floating-point tensors; x is torch.int64"):
        MixedDilatedConv(1, 4, 4, kernel_sizes=(3,), dilations=(1, 2), groups=4, path=path)(x.long())


def _mixed_ref(x, ws, a, cands, g):
    return sum(float(a[i]) * _ref(x, w, None, d, g) for i, (w, (k, d)) in enumerate(zip(ws, cands)))


@pytest.mark.parametrize("groups", [1, 4])
def test_mixed_layer_checks_its_input(groups, seed):
    m = MixedDilatedConv(1, 4, 4, kernel_sizes=(3, 5), dilations=(1, 3), groups=groups).double()
    for bad, why in [(torch.randn(1, 3, 8), "x has 3 channels but this MixedDilatedConv takes in_channels=4"),
                     (torch.randn(1, 4, 8, 8), r"x must be \(B, C, L\) for a 1-D MixedDilatedConv"),
                     (torch.randn(4, 8), r"x must be \(B, C, L\)")]:
        with pytest.raises(ValueError, match=why) as info:
            m(bad.double())
        _one_line(info)
    with pytest.raises(ValueError, match=r"x must be \(B, C, H, W\) for a 2-D MixedDilatedConv"):
        MixedDilatedConv(2, 4, 4, candidates=[(3, 1)], groups=groups)(torch.randn(1, 4, 8))
    # a good input still gives the float64 reference
    g = torch.Generator().manual_seed(seed)
    x, a = torch.randn(2, 4, 17, generator=g, dtype=torch.float64), torch.rand(4, generator=g, dtype=torch.float64)
    want = _mixed_ref(x, list(m.weights), a, m.candidates, groups) + m.bias.view(1, -1, 1)
    torch.testing.assert_close(m(x, a), want, rtol=1e-10, atol=1e-10, msg=f"seed {seed}")


def test_mixed_function_checks_its_lists():
    x = torch.randn(1, 4, 10)
    with pytest.raises(ValueError, match="needs at least one candidate") as info:
        mixed_dilated_conv(x, [], torch.ones(0), [])
    _one_line(info)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(3, 4, 5\) but weights\[0\] \(4, 4, 3\)"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3), torch.randn(3, 4, 5)], torch.ones(2), [(3, 1), (5, 1)])
    with pytest.raises(ValueError, match=r"candidates\[1\] has kernel size 7 but weights\[1\]"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3), torch.randn(4, 4, 5)], torch.ones(2), [(3, 1), (7, 1)])
    with pytest.raises(ValueError, match=r"x must be \(B, C, L\) or \(B, C, H, W\)"):
        mixed_dilated_conv(x[0], [torch.randn(4, 4, 3)], torch.ones(1), [(3, 1)])


@pytest.mark.parametrize("args,kw,exc,why", [
    ((4, 4, 3), {"dilation": -1}, ValueError, "dilation must be >= 1, got -1"),
    ((4, 4, 3), {"dilation": 0}, ValueError, "dilation must be >= 1, got 0"),
    ((4, 4, 3), {"dilation": 2.0}, TypeError, "dilation must be an integer"),
    ((4, 4, 3), {"stride": 0}, ValueError, "stride must be >= 1"),
    ((4, 4, 3), {"path": "gpu"}, ValueError, "unknown conv path 'gpu' for DilatedConv1d"),
    ((4, 4, 3), {"backend": "gpu"}, ValueError, "unknown conv backend 'gpu' for DilatedConv1d"),
    ((4, 4, 3), {"groups": 3}, ValueError, "groups must be 1 .* got groups=3 for 4 -> 4 channels"),
    ((4, 8, 3), {"groups": 4}, ValueError, "groups must be 1 .* got groups=4 for 4 -> 8 channels"),
    ((4, 4, 3), {"groups": 0}, ValueError, "groups must be >= 1"),
    ((4, 4, -1), {}, ValueError, "kernel_size must be >= 1, got -1"),
    ((4, 4, 4), {}, ValueError, "kernel_size must be odd"),
    ((4, 4, 3.0), {}, TypeError, "kernel_size must be an integer"),
    ((0, 4, 3), {}, ValueError, "in_channels must be >= 1"),
])
def test_dilated_conv_layer_validates_in_its_constructor(args, kw, exc, why):
    for cls in (DilatedConv1d, DilatedConv2d):
        with pytest.raises(exc, match=why.replace("DilatedConv1d", cls.__name__)) as info:
            cls(*args, **kw)
        _one_line(info)


def test_mixed_layer_validates_in_its_constructor():
    for kw, why in [({"groups": 3}, "groups must be 1"), ({"path": "gpu"}, "unknown conv path 'gpu'"),
                    ({"backend": "gpu"}, "unknown conv backend 'gpu'"), ({"stride": 0}, "stride must be >= 1")]:
        with pytest.raises(ValueError, match=why):
            MixedDilatedConv(1, 4, 4, kernel_sizes=(3,), dilations=(1,), **kw)


@pytest.mark.parametrize("groups", [1, 4])
def test_valid_layers_still_match_the_float64_reference(groups, seed):
    g = torch.Generator().manual_seed(seed)
    for cls, shape in ((DilatedConv1d, (2, 4, 19)), (DilatedConv2d, (1, 4, 9, 8))):
        m = cls(4, 4, 5, dilation=np.int64(2), groups=groups, stride=2).double()
        assert isinstance(m.dilation, int) and m.dilation == 2
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(m(x), _ref(x, m.weight, m.bias, 2, groups, 2), rtol=1e-10, atol=1e-10,
                                   msg=f"seed {seed}")
        with pytest.raises(ValueError, match="x has 3 channels"):
            m(x[:, :3])
