"""AutoFT loss terms: values on hand-checkable inputs, gradients (gradcheck, float64), the objective."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from autofast.asha.space import parse_space, sample_config
from autofast.autoft import (
    AUTOFT_SPACE,
    LOSS_TERMS,
    AutoFTObjective,
    autoft_space,
    contrastive,
    cross_entropy,
    dcm,
    entropy,
    hinge,
    objective_from_config,
    snapshot_params,
    weight_distance,
    weight_norm,
)
from autofast.errors import AutofastError

Z = np.array([[2.0, 1.0, 0.0], [0.5, 0.0, 1.5]])  # row 0 predicts 0, row 1 predicts 2
Y = np.array([0, 1])                               # row 0 correct, row 1 wrong


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def _logp(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------- values
def test_cross_entropy_value():
    lp = _logp(Z)
    want = -(lp[0, 0] + lp[1, 1]) / 2
    assert float(cross_entropy(_t(Z), torch.tensor(Y))) == pytest.approx(want, rel=1e-12)


def test_hinge_value_by_hand():
    # row 0: 1 + max(1, 0) - 2 = 0 ; row 1: 1 + max(0.5, 1.5) - 0 = 2.5  -> mean 1.25
    assert float(hinge(_t(Z), torch.tensor(Y))) == pytest.approx(1.25)
    # margin 0: row 0 -> max(0, -1) = 0 ; row 1 -> 1.5
    assert float(hinge(_t(Z), torch.tensor(Y), margin=0.0)) == pytest.approx(0.75)


def test_hinge_zero_with_large_margins():
    z = _t([[10.0, 0.0, -3.0], [0.0, 0.0, 9.0]])
    assert float(hinge(z, torch.tensor([0, 2]))) == 0.0


def test_entropy_value():
    p = np.exp(_logp(Z))
    want = float(-(p * np.log(p)).sum(axis=1).mean())
    assert float(entropy(_t(Z))) == pytest.approx(want, rel=1e-12)
    # uniform logits: log K
    assert float(entropy(torch.zeros(4, 5, dtype=torch.float64))) == pytest.approx(math.log(5))


def test_dcm_value_only_misclassified():
    lp = _logp(Z)
    want = -lp[1].mean()  # only row 1 is misclassified
    assert float(dcm(_t(Z), torch.tensor(Y))) == pytest.approx(want, rel=1e-12)
    assert want >= math.log(3)
    # uniform prediction on a misclassified sample: exactly log K (tie -> argmax 0, label 1 wrong)
    assert float(dcm(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([1]))) == pytest.approx(math.log(3))


def test_dcm_zero_and_connected_when_all_correct():
    z = _t(Z).requires_grad_()
    out = dcm(z, torch.tensor([0, 2]))
    assert float(out.detach()) == 0.0
    assert out.requires_grad
    out.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_weight_distance_and_norm_values():
    a = _t([[1.0, -2.0], [3.0, 0.0]])
    b = _t([0.5, 0.5, 0.5])
    a0 = _t([[0.0, 0.0], [1.0, 1.0]])
    b0 = _t([0.5, 1.5, -0.5])
    # |diffs|: 1 2 2 1 | 0 1 1  -> sum 8 over 7 elements ; squared: 1 4 4 1 0 1 1 = 12
    assert float(weight_distance([a, b], [a0, b0], 1)) == pytest.approx(8 / 7)
    assert float(weight_distance([a, b], [a0, b0], 2)) == pytest.approx(12 / 7)
    # norms: |.|: 1 2 3 0 .5 .5 .5 = 7.5 ; squares: 1 4 9 0 .25*3 = 14.75
    assert float(weight_norm([a, b], 1)) == pytest.approx(7.5 / 7)
    assert float(weight_norm([a, b], 2)) == pytest.approx(14.75 / 7)
    with pytest.raises(AutofastError, match="p must be 1 or 2"):
        weight_norm([a], 3)
    with pytest.raises(AutofastError, match="snapshot_params"):
        weight_distance([a, b], [a0], 1)
    with pytest.raises(AutofastError, match="shape"):
        weight_distance([a, b], [a0, a0], 1)


def test_contrastive_value():
    f = _t([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    e = _t([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 0])
    T = 0.5
    fn = f.numpy() / np.linalg.norm(f.numpy(), axis=1, keepdims=True)
    s = fn @ e.numpy().T / T                        # (3, 2)
    li = -_logp(s)[np.arange(3), y.numpy()].mean()
    lt_logits = s.T[y.numpy()]                       # (3, 3)
    pos = (y.numpy()[:, None] == y.numpy()[None, :]).astype(float)
    tgt = pos / pos.sum(1, keepdims=True)
    lt = -(tgt * _logp(lt_logits)).sum(1).mean()
    assert float(contrastive(f, e, y, temperature=T)) == pytest.approx(0.5 * (li + lt), rel=1e-12)


# ---------------------------------------------------------------------------------------- gradients
def _logits(seed, n=5, k=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * 2).requires_grad_()


def test_gradcheck_classification_terms():
    z = _logits(0)
    y = torch.tensor([0, 1, 2, 3, 1])
    assert torch.autograd.gradcheck(lambda t: cross_entropy(t, y), (z,))
    assert torch.autograd.gradcheck(lambda t: entropy(t), (z,))
    # hinge: away from kinks (margin terms far from 0, no ties among the competitors)
    zh = _t([[3.0, 0.2, -1.0], [0.1, 1.0, 2.5], [0.0, 4.0, 1.2]]).requires_grad_()
    yh = torch.tensor([0, 0, 1])                    # active, active, inactive
    assert 0 < float(hinge(zh, yh).detach()) and torch.autograd.gradcheck(lambda t: hinge(t, yh), (zh,))


def test_gradcheck_dcm_fixed_mask():
    z = _logits(1, n=6, k=3)
    with torch.no_grad():
        pred = z.argmax(1)
        top2 = z.topk(2, dim=1).values
    assert float((top2[:, 0] - top2[:, 1]).min()) > 1e-3  # no argmax ties: the mask is fixed under eps
    y = torch.where(torch.arange(6) % 2 == 0, pred, (pred + 1) % 3)  # half right, half wrong
    assert torch.autograd.gradcheck(lambda t: dcm(t, y), (z,))


def test_gradcheck_weight_terms_and_contrastive():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(3, 2, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_()
    a0, b0 = a.detach() + 0.5, b.detach() - 0.7  # |diff| well away from 0 (the L1 kink)
    assert torch.autograd.gradcheck(lambda x, z: weight_distance([x, z], [a0, b0], 1), (a, b))
    assert torch.autograd.gradcheck(lambda x, z: weight_distance([x, z], [a0, b0], 2), (a, b))
    assert torch.autograd.gradcheck(lambda x, z: weight_norm([x, z], 2), (a, b))
    f = torch.randn(5, 3, generator=g, dtype=torch.float64).requires_grad_()
    e = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.tensor([0, 1, 1, 0, 1])
    assert torch.autograd.gradcheck(lambda f_, e_: contrastive(f_, e_, y, 0.3), (f, e))


# ---------------------------------------------------------------------------------------- objective
class _Tiny(nn.Module):
    def __init__(self, tower=False):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        if tower:
            self.class_embeddings = nn.Parameter(torch.randn(2, 4))

    def features(self, x):
        return self.lin(x)

    def forward(self, x):
        if hasattr(self, "class_embeddings"):
            return self.features(x) @ self.class_embeddings.T
        return self.lin(x)[:, :2]


def test_objective_total_is_weighted_sum():
    torch.manual_seed(0)
    model = _Tiny()
    init = snapshot_params(model)
    assert all(not p.requires_grad for p in init)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    weights = {t: 0.1 * (i + 1) for i, t in enumerate(LOSS_TERMS) if t != "contrastive"}
    obj = AutoFTObjective(weights)
    logits = model(x)
    total, values = obj(model, logits, y, init)
    assert set(values) == set(weights)
    assert float(total.detach()) == pytest.approx(sum(weights[k] * values[k] for k in weights), rel=1e-6)
    assert values["l1_init"] == pytest.approx(0.1, rel=1e-5)
    assert values["l2_init"] == pytest.approx(0.01, rel=1e-4)
    assert values["ce"] == pytest.approx(float(cross_entropy(logits, y).detach()))
    total.backward()
    assert model.lin.weight.grad is not None


def test_objective_skips_zero_weights_and_contrastive():
    model = _Tiny()
    obj = AutoFTObjective({"ce": 1.0, "hinge": 0.0, "l2_init": 0})
    total, values = obj(model, model(torch.randn(4, 3)), torch.tensor([0, 1, 1, 0]), None)
    assert set(values) == {"ce"} and float(total.detach()) == pytest.approx(values["ce"])
    tower = _Tiny(tower=True)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    obj = AutoFTObjective({"ce": 0.5, "contrastive": 2.0})
    total, values = obj(tower, tower(x), y, snapshot_params(tower), features=tower.features(x))
    assert float(total.detach()) == pytest.approx(0.5 * values["ce"] + 2.0 * values["contrastive"], rel=1e-6)
    total.backward()
    assert tower.class_embeddings.grad is not None


def test_objective_validation_errors():
    with pytest.raises(AutofastError, match=r"unknown loss term 'focal'.*ce, hinge"):
        AutoFTObjective({"ce": 1.0, "focal": 1.0})
    with pytest.raises(AutofastError, match="'hinge'.*>= 0"):
        AutoFTObjective({"ce": 1.0, "hinge": -0.1})
    with pytest.raises(AutofastError, match="'ce'.*finite"):
        AutoFTObjective({"ce": float("nan")})
    with pytest.raises(AutofastError, match="finite"):
        AutoFTObjective({"ce": float("inf")})
    with pytest.raises(AutofastError, match="must be a number"):
        AutoFTObjective({"ce": "1"})
    with pytest.raises(AutofastError, match="every loss weight is 0"):
        AutoFTObjective({"ce": 0.0})
    model = _Tiny()
    z, y = model(torch.randn(2, 3)), torch.tensor([0, 1])
    with pytest.raises(AutofastError, match="class_embeddings"):
        AutoFTObjective({"contrastive": 1.0})(model, z, y, None)
    with pytest.raises(AutofastError, match="init_params"):
        AutoFTObjective({"l2_init": 1.0})(model, z, y, None)


def test_space_and_config():
    space = parse_space(AUTOFT_SPACE)
    assert set(AUTOFT_SPACE) == {f"w_{t}" for t in LOSS_TERMS if t != "contrastive"} | {
        "lr_mult", "weight_decay", "seed"}
    assert AUTOFT_SPACE["w_ce"] == {"loguniform": [1e-4, 10.0]}
    assert AUTOFT_SPACE["lr_mult"] == {"loguniform": [0.01, 100.0]}
    assert "w_contrastive" in autoft_space(contrastive=True)
    cfg = sample_config(space, np.random.default_rng(0))
    obj = objective_from_config(cfg)
    assert obj.weights == {k[2:]: v for k, v in cfg.items() if k.startswith("w_")}
    assert 0 <= cfg["seed"] < 1000 and 0 <= cfg["weight_decay"] < 1
    with pytest.raises(AutofastError, match="w_focal"):
        objective_from_config({"w_ce": 1.0, "w_focal": 1.0})
    with pytest.raises(AutofastError, match="no w_<term>"):
        objective_from_config({"lr_mult": 1.0})


def test_bad_shapes():
    with pytest.raises(AutofastError, match=r"\(N, K\)"):
        cross_entropy(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(AutofastError, match="int64"):
        hinge(torch.zeros(2, 3), torch.zeros(2, dtype=torch.int32))
