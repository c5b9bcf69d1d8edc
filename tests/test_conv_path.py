"""The conv path dispatcher (autofast.kernels.conv.conv_path): every path (native, tap, fft, measured auto)
equals the float64 reference for fixed and mixed convs, 1-D and 2-D, dense and depthwise, strided; the
on-disk cache is used on the second run; an override forces a path; measuring leaves the RNG alone."""
import time
from itertools import product

import pytest
import torch
import torch.nn.functional as F

from autofast.kernels.conv import DilatedConv, MixedDilatedConv, dilated_conv, mixed_dilated_conv
from autofast.kernels.conv import conv_path
from autofast.kernels.conv.conv_path import PathCache, choose

PATHS = ["native", "tap", "fft", "auto"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test measures into its own cache file (never the user's ~/.cache)."""
    monkeypatch.setenv("AUTOFAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOFAST_CONV_PATH", raising=False)
    monkeypatch.setattr(conv_path, "CACHE", PathCache())


def ref_fixed(x, w, d, groups, stride):
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x.double(), w.double(), None, stride, d * (w.shape[-1] - 1) // 2, d, groups)


def ref_mixed(x, ws, a, cands, groups, stride):
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return sum(a[c].double() * conv(x.double(), w.double(), None, stride, d * (k - 1) // 2, d, groups)
               for c, ((k, d), w) in enumerate(zip(cands, ws)))


def rel_err(a, b):
    return float((a.detach().double() - b.detach()).norm() / b.detach().norm().clamp_min(1e-300))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("ndim,shape,k,d,groups,stride", [
    (1, (3, 5, 41), 7, 3, 1, 1), (1, (2, 6, 40), 9, 2, 6, 2), (1, (2, 4, 13), 5, 7, 1, 3),
    (2, (2, 3, 11, 9), 5, 2, 1, 2), (2, (2, 4, 12, 12), 3, 3, 4, 1), (2, (1, 5, 10, 7), 7, 1, 5, 2),
])
def test_fixed_conv_every_path_matches_float64_reference(path, dtype, ndim, shape, k, d, groups, stride, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype, requires_grad=True)
    cin = shape[1]
    cout = cin if groups > 1 else cin + 2
    w = torch.randn((cout, cin // groups) + (k,) * ndim, generator=g, dtype=dtype, requires_grad=True)
    y = dilated_conv(x, w, None, d, groups, stride=stride, path=path)
    ref = ref_fixed(x, w, d, groups, stride)
    assert y.dtype == dtype and y.shape == ref.shape
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    assert rel_err(y, ref) < tol
    go = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(y, (x, w), go.to(dtype))
    want = torch.autograd.grad(ref, (x, w), go)
    for name, u, v in zip("xw", got, want):
        assert rel_err(u, v) < tol, f"grad {name} ({path}, seed {seed})"


DASH_1D = list(product((3, 7, 11), (1, 3, 7)))
DASH_2D = list(product((3, 5), (1, 3)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("ndim,shape,cands,groups,stride", [
    (1, (2, 4, 37), DASH_1D, 4, 1), (1, (2, 3, 30), DASH_1D[::2], 1, 2),
    (2, (2, 3, 10, 9), DASH_2D, 3, 2), (2, (1, 2, 9, 8), DASH_2D, 1, 1),
])
def test_mixed_conv_every_path_matches_float64_reference(path, dtype, ndim, shape, cands, groups, stride, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype, requires_grad=True)
    C = shape[1]
    ws = [torch.randn((C, C // groups) + (k,) * ndim, generator=g, dtype=dtype, requires_grad=True) for k, _ in cands]
    a = torch.softmax(torch.randn(len(cands), generator=g, dtype=torch.float64), 0).to(dtype).requires_grad_()
    y = mixed_dilated_conv(x, ws, a, cands, groups, stride=stride, path=path)
    ref = ref_mixed(x, ws, a, cands, groups, stride)
    tol = 1e-12 if dtype == torch.float64 else 5e-6
    assert y.shape == ref.shape and rel_err(y, ref) < tol
    go = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(y, [x, a, *ws], go.to(dtype))
    want = torch.autograd.grad(ref, [x, a, *ws], go)
    for i, (u, v) in enumerate(zip(got, want)):
        assert rel_err(u, v) < 10 * tol, f"grad #{i} ({path}, seed {seed})"


def recording_runner(calls: list):
    """A ``choose`` runner whose path functions only record that they were run."""
    def runner(p):
        def run():
            calls.append(p)
        return run
    return runner


def test_cache_is_used_on_the_second_run_and_survives_a_new_process(tmp_path):
    x = torch.randn(2, 3, 20)
    w = torch.randn(4, 3, 5, requires_grad=True)
    calls = []
    runner = recording_runner(calls)

    first = choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    assert set(calls) == {"native", "tap"} and first in ("native", "tap")
    calls.clear()
    assert choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner) == first and calls == []
    conv_path.CACHE = PathCache()  # a new process: reads the file the first one wrote
    assert conv_path.cache_file().exists()
    assert choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner) == first and calls == []
    used = conv_path.path_choices()
    assert len(used) == 1 and used[0]["path"] == first and used[0]["x"] == [2, 3, 20]
    choose("fixed", x[:1], w, "k5d1", 1, 1, ("native", "tap"), runner)  # batch 1 -> its own key
    assert set(calls) == {"native", "tap"}
    calls.clear()
    # another shape (or grad mode) is another key: measured again
    with torch.no_grad():
        choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    assert set(calls) == {"native", "tap"}


def test_a_corrupt_cache_file_is_measured_again(tmp_path):
    f = conv_path.cache_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("{not json")
    m = DilatedConv(1, 3, 3, 5, 2, bias=False)
    y = m(torch.randn(2, 3, 16))
    assert y.shape == (2, 3, 16) and conv_path.path_choices()[0].get("measured")


@pytest.mark.parametrize("forced", ["native", "tap", "fft"])
def test_environment_override_forces_the_path(monkeypatch, forced):
    monkeypatch.setenv("AUTOFAST_CONV_PATH", forced)
    ran = []
    import importlib

    dc_mod = importlib.import_module("autofast.kernels.conv.dilated_conv")

    real_native = dc_mod.native_conv
    monkeypatch.setattr(dc_mod, "native_conv", lambda *a, **k: ran.append("native") or real_native(*a, **k))
    m = DilatedConv(1, 3, 3, 5, 2, bias=False)
    m(torch.randn(2, 3, 16)).sum().backward()
    assert (ran == ["native"]) == (forced == "native")
    used = conv_path.path_choices()
    assert used[0]["path"] == forced and used[0]["forced"]
    # depthwise has no fft path: a forced fft falls back to the tap kernels
    dw = MixedDilatedConv(1, 4, 4, (3, 5), (1, 2), groups=4)
    dw(torch.randn(1, 4, 12))
    assert conv_path.path_choices()[-1]["path"] == ("tap" if forced == "fft" else forced)


def test_unknown_override_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "cudnn")
    with pytest.raises(ValueError, match=r"unknown conv path 'cudnn' \(from \$AUTOFAST_CONV_PATH\)"):
        dilated_conv(torch.randn(1, 2, 8), torch.randn(2, 2, 3))
    monkeypatch.delenv("AUTOFAST_CONV_PATH")  # a bad argument was blamed on the unset variable
    with pytest.raises(ValueError, match=r"unknown conv path 'cudnn' \(from the path argument\)"):
        dilated_conv(torch.randn(1, 2, 8), torch.randn(2, 2, 3), path="cudnn")


def test_measuring_does_not_move_the_global_rng():
    m = DilatedConv(1, 3, 3, 5, 2, bias=False)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    m(torch.randn(2, 3, 16, generator=torch.Generator()))
    assert conv_path.path_choices()[0].get("measured")
    assert torch.equal(before, torch.get_rng_state())


def test_the_preferred_path_keeps_near_ties():
    import time

    x = torch.randn(2, 3, 20)
    w = torch.randn(4, 3, 5)

    def sleeper(seconds):
        return lambda p: (lambda: time.sleep(seconds[p]))

    tie = choose("fixed", x, w, "tie", 1, 1, ("native", "tap"), sleeper({"native": 0.010, "tap": 0.0095}))
    clear = choose("fixed", x, w, "clear", 1, 1, ("native", "tap"), sleeper({"native": 0.010, "tap": 0.004}))
    assert (tie, clear) == ("native", "tap")


def test_a_one_time_cost_in_the_warm_up_does_not_lose_the_path():
    """A first call that compiles (Triton on a GPU: ~1 s, then ~1 ms a call) is not taken as the path's
    speed; a path that stays slow is still given up after its second call."""
    from autofast.kernels.conv.conv_path import _time

    calls = []

    def compiles_once():
        calls.append(1)
        time.sleep(0.6 if len(calls) == 1 else 0.001)

    assert _time(compiles_once, give_up=0.2) < 0.2
    slow = []
    assert _time(lambda: (slow.append(1), time.sleep(0.3)), give_up=0.2) >= 0.3
    assert len(slow) == 2


def test_autocast_dtype_is_part_of_the_key():
    """Issue 21: a conv called with fp32 tensors under bf16 autocast computes in bf16; its timings (and path)
    are not reused for the same call without autocast, nor the other way round."""
    x = torch.randn(2, 3, 20)
    w = torch.randn(4, 3, 5, requires_grad=True)
    calls = []
    runner = recording_runner(calls)

    choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    assert set(calls) == {"native", "tap"}
    calls.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    assert set(calls) == {"native", "tap"}  # measured again under autocast
    calls.clear()
    conv_path.CACHE = PathCache()  # a new process, the file only: the fp32 entry still does not serve bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), runner)
    assert calls == []
    assert sorted(c["autocast"] for c in conv_path.path_choices()) == ["bfloat16", "off"]
