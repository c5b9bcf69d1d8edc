"""Fused trials: N runs of one architecture trained as one grouped model end with the weights, buffers,
optimiser states and records each run reaches alone (same seed: same init, batches and dropout masks),
each with its own lr, momentum, weight decay and dropout; and fusion is not the CPU default."""
from __future__ import annotations

import pytest
import torch

from autofast.engine import Run, cosine, seeded_init, sgd, train_epoch
from autofast.engine.fused import fuse_models, fusion_pays, train_fused_epoch
from autofast.models import build_backbone, fixed_factory

CONFIGS = [  # DASHA's space: lr, momentum, weight decay, dropout, seed
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "dropout": 0.1, "seed": 3},
    {"lr": 0.2, "momentum": 0.95, "weight_decay": 1e-6, "dropout": 0.0, "seed": 11},
    {"lr": 0.01, "momentum": 0.99, "weight_decay": 2e-3, "dropout": 0.05, "seed": 7},
]
PATTERN = [(5, 3), (3, 1), (7, 2)] * 3 + [(3, 3)]


def _run(cfg, backbone: str = "resnet1d") -> Run:
    with seeded_init(cfg["seed"]):
        if backbone == "resnet1d":
            model = build_backbone("resnet1d", 1, 4, 3, 8, fixed_factory(PATTERN), dropout=cfg["dropout"])
        else:
            model = build_backbone("wrn16", 2, 3, 3, 16, fixed_factory([(3, 2)] * 13), dropout=cfg["dropout"])
    model = model.double()
    opt = sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])
    return Run.create(model, opt, cfg["seed"], cosine(4))


@pytest.mark.parametrize("backbone", ["resnet1d", "wrn16"])
def test_fused_trials_equal_each_trial_alone(backbone, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (4, 36) if backbone == "resnet1d" else (3, 8, 8)
    x = torch.randn(40, *shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    alone = [_run(c, backbone) for c in CONFIGS]
    fused = [_run(c, backbone) for c in CONFIGS]
    for _ in range(2):
        recs_alone = [train_epoch(r, x, y, 16) for r in alone]
        recs_fused = train_fused_epoch(fused, x, y, 16)
    for i, (a, f) in enumerate(zip(alone, fused)):
        assert f.epoch == a.epoch == 2 and f.step == a.step
        sa, sf = a.model.state_dict(), f.model.state_dict()
        for k in sa:  # weights and BatchNorm statistics
            torch.testing.assert_close(sf[k], sa[k], rtol=1e-9, atol=1e-11, msg=f"trial {i} {k} (seed {seed})")
        for pa, pf in zip(a.model.parameters(), f.model.parameters()):  # momentum buffers
            torch.testing.assert_close(f.optimizer.state[pf]["momentum_buffer"], a.optimizer.state[pa]["momentum_buffer"],
                                       rtol=1e-9, atol=1e-11)
        assert recs_fused[i]["train_loss"] == pytest.approx(recs_alone[i]["train_loss"], rel=1e-9)
        assert recs_fused[i]["lr"] == recs_alone[i]["lr"]


def test_fusion_is_a_gpu_only_default_and_needs_one_architecture():
    assert not fusion_pays("cpu") and fusion_pays("cuda:0")
    a, b = _run(CONFIGS[0]), _run(CONFIGS[1])
    wide = build_backbone("resnet1d", 1, 4, 3, 16, fixed_factory(PATTERN))
    with pytest.raises(ValueError, match="one architecture"):
        fuse_models([a.model, wide])
    assert sum(p.requires_grad for p in fuse_models([a.model, b.model]).parameters()) == 0


def test_asha_with_fused_trials_on_splice_tiny(tmp_path, monkeypatch):
    """The search's executor with fusion forced on (the CPU default is off): trials that wait together
    train as one model, each trial's checkpoint is its own and equals that trial trained alone. (Small
    learning rates: in float32 a large-lr, high-momentum run amplifies the grouped kernels' different
    summation order; the float64 test above shows the exactness. The convs run natively alone too, as
    the fused model's grouped convs do: another exact path would differ by its own rounding.)"""
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "native")
    from autofast.data.classification import load_task
    from autofast.engine import read_run
    from autofast.search.trial import TuneSettings, fuses, make_trial
    from autofast.search.tune import tune

    task = load_task("splice", seed=0)
    pattern = [(5, 1), (3, 3)] + [(3, 1)] * 8
    from autofast.search.trial import DASHA_SPACE

    space = {**DASHA_SPACE, "lr": {"loguniform": [1e-4, 1e-2]}, "momentum": {"uniform": [0.9, 0.95]}}
    s = TuneSettings(width=4, n_configs=4, max_epochs=2, batch_size=256, trials_per_device=2, fuse_trials="on",
                     space=space)
    assert fuses(s) and not fuses(TuneSettings(trials_per_device=2))  # auto on the CPU: no fusion
    sched = tune(task, "resnet1d", pattern, s, tmp_path)
    assert sched.is_finished()
    states = [read_run(tmp_path / "checkpoints" / t["checkpoint"]) for t in sched.trials() if t["checkpoint"]]
    fused = [st for st in states if any(r.get("fused") == 2 for r in st["history"])]
    assert fused, "no trial was trained fused"
    trial = make_trial(task, "resnet1d", pattern, s)
    for st in fused:
        run = trial.new_run(st["meta"]["config"])
        while run.epoch < st["epoch"]:
            trial.train_epoch(run, st["meta"]["config"])
        # float32 after ~20 steps amplifies the grouped convs' other summation order, most in small tensors
        # (BN biases): the whole model within 1e-3 (norm-relative), every tensor within 5e-2; a trial mixed up
        # with another, or a missed update, is off by O(1)
        diff, ref = 0.0, 0.0
        for k, v in run.model.state_dict().items():
            if not v.is_floating_point():
                assert torch.equal(st["model"][k], v), k
                continue
            d, r = (st["model"][k].double() - v.double()).norm(), v.double().norm()
            assert d <= 5e-2 * r + 1e-6, f"{k}: relative error {d / r:.2e}"
            diff, ref = diff + float(d) ** 2, ref + float(r) ** 2
        assert diff ** 0.5 <= 1e-3 * ref ** 0.5, f"whole model: relative error {(diff / ref) ** 0.5:.2e}"
