"""Mixed precision: the convs under CPU autocast (bf16) and with half-precision inputs, against the float64
reference with dtype-appropriate bounds -- at most twice the error of torch's own conv computed the same
way (F.conv under the same autocast) plus a few bf16 roundings of the largest value -- forward and both
gradients; x/weight dtype mismatches; and the training engine's precision setting."""
from __future__ import annotations

from itertools import product

import pytest
import torch
import torch.nn.functional as F

from autofast.dash.supernet import MixedFactory
from autofast.engine import Run, save_run, load_run, sgd, train_epoch
from autofast.errors import AutofastError
from autofast.kernels.conv import dilated_conv, mixed_dilated_conv
from autofast.models import build_backbone

BF16_EPS = torch.finfo(torch.bfloat16).eps


def _relerr(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a.double() - ref).abs().max() / ref.abs().max()).item()


def _fwd_grads(fn, x, ws, go):
    """Output and the gradients of ``<fn(x, *ws), go>`` for x and every weight (as float64)."""
    x = x.detach().requires_grad_()
    ws = [w.detach().requires_grad_() for w in ws]
    y = fn(x, *ws)
    grads = torch.autograd.grad((y.double() * go).sum(), [x, *ws])
    return [y.detach().double(), *[g.double() for g in grads]]


def _check_against_torch(ours, torch_lp, ref, what, seed):
    for name, a, t, r in zip(("y", "dx", *[f"dw{i}" for i in range(len(ref) - 2)]), ours, torch_lp, ref):
        err, bound = _relerr(a, r), 2 * _relerr(t, r) + 4 * BF16_EPS
        assert err <= bound, f"{what} {name}: rel err {err:.2e} > {bound:.2e} (seed {seed})"


@pytest.mark.parametrize("path,groups", [("native", 1), ("tap", 1), ("fft", 1), ("native", 6), ("tap", 6)])
@pytest.mark.parametrize("ndim", [1, 2])
def test_dilated_conv_under_cpu_autocast(path, groups, ndim, seed):
    g = torch.Generator().manual_seed(seed)
    k, d = 5, 2
    S = (50,) if ndim == 1 else (12, 11)
    x = torch.randn(3, 6, *S, generator=g)
    w = torch.randn((6, 6 // groups) + (k,) * ndim, generator=g)
    go = torch.randn(3, 6, *S, generator=g, dtype=torch.float64)
    conv = F.conv1d if ndim == 1 else F.conv2d
    pad = d * (k - 1) // 2

    def plain(x_, w_):
        return conv(x_, w_, None, 1, pad, d, groups)

    ref = _fwd_grads(plain, x.double(), [w.double()], go)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch_bf16 = _fwd_grads(plain, x, [w], go)
        ours = _fwd_grads(lambda x_, w_: dilated_conv(x_, w_, None, d, groups, path=path), x, [w], go)
        y = dilated_conv(x, w, None, d, groups, path=path)
    assert y.dtype == torch.bfloat16
    _check_against_torch(ours, torch_bf16, ref, f"dilated {path} groups={groups} {ndim}-D", seed)


@pytest.mark.parametrize("path,groups", [("tap", 1), ("native", 1), ("fft", 1), ("tap", 4)])
def test_mixed_conv_under_cpu_autocast(path, groups, seed):
    g = torch.Generator().manual_seed(seed)
    cands = list(product((3, 5, 7), (1, 3)))
    x = torch.randn(2, 4, 40, generator=g)
    ws = [torch.randn(4, 4 // groups, k, generator=g) for k, _ in cands]
    a = torch.softmax(torch.randn(len(cands), generator=g), 0)
    go = torch.randn(2, 4, 40, generator=g, dtype=torch.float64)

    def explicit(x_, a_, *ws_):
        return sum(a_[c].to(x_.dtype) * F.conv1d(x_, w_, padding=dd * (k - 1) // 2, dilation=dd, groups=groups)
                   for c, ((k, dd), w_) in enumerate(zip(cands, ws_)))

    def ours_fn(x_, a_, *ws_):
        return mixed_dilated_conv(x_, list(ws_), a_, cands, groups, path=path)

    ref = _fwd_grads(explicit, x.double(), [a.double(), *[w.double() for w in ws]], go)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch_bf16 = _fwd_grads(explicit, x, [a, *ws], go)
        ours = _fwd_grads(ours_fn, x, [a, *ws], go)
    _check_against_torch(ours, torch_bf16, ref, f"mixed {path} groups={groups}", seed)


@pytest.mark.parametrize("path", ["native", "tap", "fft"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_on_the_cpu_fall_back_and_mismatched_weights_are_cast(path, dtype, seed):
    """Half-precision inputs without autocast run (the tap paths compute in fp32); float32 weights with a
    half input are cast to the input's dtype (differentiably: the weight gradient is float32)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 30, generator=g).to(dtype)
    w = torch.randn(4, 4, 5, generator=g, requires_grad=True)
    y = dilated_conv(x, w, None, 3, path=path)
    assert y.dtype == dtype
    ref = F.conv1d(x.double(), w.detach().to(dtype).double(), padding=6, dilation=3)
    assert _relerr(y, ref) <= 4 * torch.finfo(dtype).eps, f"seed {seed}"
    y.float().sum().backward()
    assert w.grad.dtype == torch.float32 and torch.isfinite(w.grad).all()


def _tiny_supernet(seed: int):
    torch.manual_seed(seed)
    return build_backbone("resnet1d", 1, 4, 3, 8, factory=MixedFactory((3, 5), (1, 3)))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_engine_trains_under_the_requested_precision(precision, seed, tmp_path):
    """A DASH supernet epoch in bf16 ends near the fp32 epoch (same seed, same batches); the checkpoint
    records the precision and refuses a resume in another one."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 4, 32, generator=g), torch.randint(0, 3, (64,), generator=g)

    def epoch(prec):
        model = _tiny_supernet(seed)
        run = Run.create(model, sgd(model.parameters(), 0.05), seed, precision=prec)
        rec = train_epoch(run, x, y, 16)
        return run, rec

    run, rec = epoch(precision)
    assert run.precision == precision and run.scaler is None
    _, rec32 = epoch("fp32")
    assert abs(rec["train_loss"] - rec32["train_loss"]) <= (1e-6 if precision == "fp32" else 0.05) * rec32["train_loss"]
    save_run(tmp_path / "run.pt", run)
    other = "fp32" if precision == "bf16" else "bf16"
    model = _tiny_supernet(seed)
    with pytest.raises(AutofastError, match="precision"):
        load_run(tmp_path / "run.pt", Run.create(model, sgd(model.parameters(), 0.05), seed, precision=other))


def test_precision_setting_from_the_environment(monkeypatch):
    from autofast.engine.precision import resolve

    monkeypatch.setenv("AUTOFAST_PRECISION", "bf16")
    assert resolve(None, torch.device("cpu")) == "bf16"
    monkeypatch.setenv("AUTOFAST_PRECISION", "auto")
    assert resolve(None, torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="CUDA"):
        resolve("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown precision"):
        resolve("fp8", torch.device("cpu"))


def test_cli_takes_precision_and_fuse_trials():
    from autofast.cli import build_parser
    from autofast.search.config import SearchConfig

    args = build_parser().parse_args(["search", "--precision", "bf16", "--fuse-trials", "on"])
    assert args.precision == "bf16" and args.fuse_trials == "on"
    assert build_parser().parse_args(["dash", "--precision", "fp32"]).precision == "fp32"
    assert SearchConfig(fuse_trials="on").fuse_trials == "on"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--precision", "fp8"])
