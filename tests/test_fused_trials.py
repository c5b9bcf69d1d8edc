"""Fused trials: N runs of one architecture trained as one grouped model end with the weights, buffers,
optimiser states and records each run reaches alone (same seed: same init, batches and dropout masks),
each with its own lr, momentum, weight decay and dropout, for every backbone (ResNet1D with and without
the position channel, WRN, UNet); they go through the engine's step loop (loss scaler, hooks; a diverging
trial leaves the group, the others go on); a group that cannot fuse is trained alone and says so; and
fusion is not the CPU default."""
from __future__ import annotations

import logging
from dataclasses import replace
import math
from pathlib import Path

import pytest
import torch

from autofast.asha.executor import FusedPool
from autofast.asha.local import TorchTrial
from autofast.asha.scheduler import Job
from autofast.engine import Run, cosine, evaluate, read_run, seeded_init, sgd, train_epoch, val_score
from autofast.engine.fused import fuse_models, fusion_pays, train_fused_epoch
from autofast.errors import Diverged
from autofast.models import build_backbone, fixed_factory

CONFIGS = [  # DASHA's space: lr, momentum, weight decay, dropout, seed
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "dropout": 0.1, "seed": 3},
    {"lr": 0.2, "momentum": 0.95, "weight_decay": 1e-6, "dropout": 0.0, "seed": 11},
    {"lr": 0.01, "momentum": 0.99, "weight_decay": 2e-3, "dropout": 0.05, "seed": 7},
]
PATTERN = [(5, 3), (3, 1), (7, 2)] * 3 + [(3, 3)]


BACKBONES = ["resnet1d", "resnet1d_pos", "wrn16", "unet"]


def _model(backbone: str, dropout: float, width: int = 8):
    if backbone.startswith("resnet1d"):
        return build_backbone("resnet1d", 1, 4, 3, width, fixed_factory(PATTERN), dropout=dropout,
                              positional=backbone == "resnet1d_pos")
    if backbone == "unet":  # 1-D, depth 2, odd length: ceil-mode pooling and interpolation to the skip's size
        return build_backbone("unet", 1, 3, 3, width // 2, fixed_factory([(5, 1), (3, 2)]), dropout=dropout, depth=2)
    return build_backbone("wrn16", 2, 3, 3, 16, fixed_factory([(3, 2)] * 13), dropout=dropout)


def _run(cfg, backbone: str = "resnet1d", scaler: bool = False) -> Run:
    with seeded_init(cfg["seed"]):
        model = _model(backbone, cfg["dropout"])
    model = model.double()
    opt = sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])
    run = Run.create(model, opt, cfg["seed"], cosine(4))
    if scaler:  # fp16's loss scaling (a CPU scaler: the arithmetic is the same), growing every 2 steps
        run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    return run


def _data(backbone: str, seed: int, n: int = 40):
    g = torch.Generator().manual_seed(seed)
    shape = {"wrn16": (3, 8, 8), "unet": (3, 19)}.get(backbone, (4, 36))
    x = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n, 19) if backbone == "unet" else (n,), generator=g)  # UNet: a label per position
    return x, y


def _assert_same(f: Run, a: Run, what: str) -> None:
    """Weights, BatchNorm statistics, momentum buffers and counters of a fused run equal the alone run's."""
    assert f.epoch == a.epoch and f.step == a.step, what
    sa, sf = a.model.state_dict(), f.model.state_dict()
    for k in sa:  # weights and BatchNorm statistics
        torch.testing.assert_close(sf[k], sa[k], rtol=1e-9, atol=1e-11, msg=f"{what}: {k}")
    for pa, pf in zip(a.model.parameters(), f.model.parameters()):  # momentum buffers
        torch.testing.assert_close(f.optimizer.state[pf]["momentum_buffer"], a.optimizer.state[pa]["momentum_buffer"],
                                   rtol=1e-9, atol=1e-11, msg=what)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_fused_trials_equal_each_trial_alone(backbone, seed):
    x, y = _data(backbone, seed)
    alone = [_run(c, backbone) for c in CONFIGS]
    fused = [_run(c, backbone) for c in CONFIGS]
    for _ in range(2):
        recs_alone = [train_epoch(r, x, y, 16) for r in alone]
        recs_fused = train_fused_epoch(fused, x, y, 16)
    for i, (a, f) in enumerate(zip(alone, fused)):
        _assert_same(f, a, f"trial {i} (seed {seed})")
        assert recs_fused[i]["train_loss"] == pytest.approx(recs_alone[i]["train_loss"], rel=1e-9)
        assert recs_fused[i]["lr"] == recs_alone[i]["lr"] and recs_fused[i]["fused"] == 3


def test_fused_layers_keep_each_trials_channels_in_its_block():
    """The position channel and the UNet's skip concatenation, fused: block n of the output is trial n's
    own result (a plain cat would give the stem N * C + 1 channels, or put trial 0's skip in block 1)."""
    x = torch.randn(2, 3 * 4, 7, dtype=torch.float64)
    pos_alone = [_model("resnet1d_pos", 0.0).position(b) for b in x.chunk(3, 1)]
    pos_fused = fuse_models([_model("resnet1d_pos", 0.0) for _ in range(3)]).position(x)
    assert torch.equal(pos_fused, torch.cat(pos_alone, 1))
    unets = [_model("unet", 0.0) for _ in range(3)]
    skip = torch.randn(2, 3 * 2, 7, dtype=torch.float64)
    cat_fused = fuse_models(unets).decoders[0].cat(x, skip)
    assert torch.equal(cat_fused, torch.cat([torch.cat([a, b], 1) for a, b in zip(x.chunk(3, 1), skip.chunk(3, 1))], 1))


class _Poison:
    """Hooks: count the calls, and set the head of the runs with ``poisoned(run)`` to NaN after their 4th
    step (their next loss is non-finite: Diverged)."""

    def __init__(self, poisoned):
        self.poisoned, self.backward, self.steps = poisoned, {}, {}

    def after_backward(self, run):
        self.backward[id(run)] = self.backward.get(id(run), 0) + 1

    def after_step(self, run, lr):
        self.steps[id(run)] = self.steps.get(id(run), 0) + 1
        if self.poisoned(run) and run.step == 4:
            with torch.no_grad():
                run.model.head.weight.fill_(float("nan"))


def test_a_diverging_trial_leaves_the_group_and_the_others_go_on(seed):
    """One trial's loss becomes NaN in epoch 2: alone it raises Diverged at that epoch's end; fused it leaves the group
    at that epoch's end with the same Diverged (the check is read once per epoch, no host sync per step), the
    others finish epoch 2 and a third (as a group of two) equal to alone although the NaN trial trained
    beside them for two more steps; the hooks run per trial and step, as alone."""
    x, y = _data("resnet1d_pos", seed)
    alone = [_run(c, "resnet1d_pos") for c in CONFIGS]
    fused = [_run(c, "resnet1d_pos") for c in CONFIGS]
    ha, hf = _Poison(lambda r: r is alone[1]), _Poison(lambda r: r is fused[1])
    train_fused_epoch(fused, x, y, 16, hooks=hf)
    outs = train_fused_epoch(fused, x, y, 16, hooks=hf)
    assert isinstance(outs[1], Diverged) and isinstance(outs[0], dict) and isinstance(outs[2], dict)
    assert fused[1].epoch == 1 and len(fused[1].history) == 1  # its epoch 2 did not end
    survivors = [fused[0], fused[2]]
    train_fused_epoch(survivors, x, y, 16, hooks=hf)
    for i, a in enumerate(alone):
        train_epoch(a, x, y, 16, hooks=ha)
        if i == 1:
            with pytest.raises(Diverged) as info:
                train_epoch(a, x, y, 16, hooks=ha)
            assert str(info.value) == str(outs[1])
            continue
        for _ in range(2):
            train_epoch(a, x, y, 16, hooks=ha)
        _assert_same(fused[i], a, f"trial {i} (seed {seed})")
        assert hf.backward[id(fused[i])] == ha.backward[id(a)] == hf.steps[id(fused[i])] == a.step == 9
    # fused and alone the check is read once per epoch (engine.loop.train_epochs): the diverging trial takes
    # the epoch's remaining 2 steps (its weights end NaN), then stops with the same Diverged
    assert hf.steps[id(fused[1])] == ha.steps[id(alone[1])] == 6
    assert not torch.isfinite(fused[1].model.head.weight).any()


def test_fused_trials_use_each_trials_loss_scaler(seed):
    """With loss scalers (fp16's), fused trials scale, unscale and step as alone: the same weights and
    the same grown scales."""
    x, y = _data("resnet1d", seed)
    alone = [_run(c, "resnet1d", scaler=True) for c in CONFIGS]
    fused = [_run(c, "resnet1d", scaler=True) for c in CONFIGS]
    for r in alone:
        train_epoch(r, x, y, 16)
    train_fused_epoch(fused, x, y, 16)
    for i, (a, f) in enumerate(zip(alone, fused)):
        _assert_same(f, a, f"trial {i} (seed {seed})")
        assert f.scaler.get_scale() == a.scaler.get_scale() == 2.0**9  # 3 steps, growth every 2


def test_fusion_is_a_gpu_only_default_and_needs_one_architecture():
    assert not fusion_pays("cpu") and fusion_pays("cuda:0")
    a, b = _run(CONFIGS[0]), _run(CONFIGS[1])
    wide = build_backbone("resnet1d", 1, 4, 3, 16, fixed_factory(PATTERN))
    with pytest.raises(ValueError, match="one architecture"):
        fuse_models([a.model, wide])
    assert sum(p.requires_grad for p in fuse_models([a.model, b.model]).parameters()) == 0


def test_a_layer_with_a_parameter_fusion_would_not_train_is_refused_before_any_sharing():
    class Scaled(torch.nn.Module):  # a conv + an extra parameter no fused forward reads
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(2, 2, 3, padding=1)
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.conv(x) * self.scale

    class Leafy(torch.nn.Conv1d):
        def __init__(self):
            super().__init__(2, 2, 3, padding=1)
            self.scale = torch.nn.Parameter(torch.ones(1))

    models = [torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), Leafy()) for _ in range(2)]
    ptrs = [p.data_ptr() for m in models for p in m.parameters()]
    with pytest.raises(ValueError, match=r"Leafy with parameters \['scale'\]"):
        fuse_models(models)
    assert [p.data_ptr() for m in models for p in m.parameters()] == ptrs  # nothing was shared
    with pytest.raises(ValueError, match=r"Scaled with parameters \['scale'\]"):
        fuse_models([Scaled(), Scaled()])


def _torch_trial(x, y, hooks=None) -> TorchTrial:
    """A TorchTrial of positional ResNet1Ds (float64); config ``poison``: its head becomes NaN after step 4."""

    def build(cfg):
        model = _model("resnet1d_pos", 0.1, cfg.get("width", 8)).double()
        model.poison = cfg.get("poison", False)
        return model, sgd(model.parameters(), cfg["lr"], 0.9, 1e-4)

    hooks = _Poison(lambda run: run.model.poison)

    def epoch(run, cfg):
        return train_epoch(run, x, y, 16, hooks=hooks)

    def score(model, cfg):
        return val_score(*evaluate(model, x, y), False)

    def fused_epoch(runs, cfgs):
        return train_fused_epoch(runs, x, y, 16, hooks=hooks)

    return TorchTrial(build, epoch, score, cosine(4), fused_epoch=fused_epoch)


def _outcomes(trial, per_device: int, jobs: list[Job], tmp: Path) -> dict:
    pool = FusedPool(trial, devices=["cpu"], per_device=per_device)
    try:
        for j in jobs:
            pool.submit(j, tmp / f"trial{j.trial_id}.pt")
        outs: dict = {}
        while len(outs) < len(jobs):
            outs.update({o.job.trial_id: o for o in pool.wait()})
        return outs
    finally:
        pool.close()


def test_fused_pool_a_diverging_trial_fails_alone_and_a_fusion_failure_is_reported(tmp_path, caplog, seed):
    """FusedPool on the CPU: positional ResNet1Ds train fused (before, the position channel broke the fused
    stem and every job silently re-ran alone); the trial that diverges fails alone, the others' checkpoints
    equal each trial trained alone. A group that cannot fuse (two architectures under one fusion key) is
    trained alone with a logged warning and a ``note`` on each outcome."""
    x, y = _data("resnet1d_pos", seed, n=24)
    trial = _torch_trial(x, y)
    cfgs = [{"lr": 0.05, "seed": 1}, {"lr": 0.1, "seed": 2, "poison": True}, {"lr": 0.02, "seed": 3}]
    jobs = [Job(i, c, 0, 0, 3) for i, c in enumerate(cfgs)]
    outs = _outcomes(trial, 3, jobs, tmp_path)
    assert {o.worker for o in outs.values()} == {"cpu#fused3"} and all(o.note is None for o in outs.values())
    assert outs[1].score is None and outs[1].error.startswith("Diverged: training diverged")
    assert not (tmp_path / "trial1.pt").exists()
    for i in (0, 2):
        assert math.isfinite(outs[i].score) and outs[i].error is None
        ref = trial.new_run(cfgs[i])
        while ref.epoch < 3:
            trial.train_epoch(ref, cfgs[i])
        st = read_run(tmp_path / f"trial{i}.pt")
        for k, v in ref.model.state_dict().items():
            torch.testing.assert_close(st["model"][k], v, rtol=1e-9, atol=1e-11, msg=f"trial {i} {k}")
        assert outs[i].score == pytest.approx(trial.score(ref.model, cfgs[i]), rel=1e-9)

    mixed = [Job(10, {"lr": 0.05, "seed": 1}, 0, 0, 1), Job(11, {"lr": 0.05, "seed": 2, "width": 4}, 0, 0, 1)]
    with caplog.at_level(logging.WARNING, logger="autofast.asha.executor"):
        outs = _outcomes(trial, 2, mixed, tmp_path)
    assert any("fusion failed" in r.getMessage() and "10, 11" in r.getMessage() for r in caplog.records)
    for o in outs.values():
        assert o.error is None and math.isfinite(o.score) and o.worker == "cpu#0"
        assert o.note.startswith("fusion failed (ValueError") and "one architecture" in o.note


def test_asha_with_fused_trials_on_splice_tiny(tmp_path, monkeypatch):
    """The search's executor with fusion forced on (the CPU default is off): trials that wait together
    train as one model, each trial's checkpoint is its own and equals that trial trained alone. (Small
    learning rates: in float32 a large-lr, high-momentum run amplifies the grouped kernels' different
    summation order; the float64 test above shows the exactness. The convs run natively alone too, as
    the fused model's grouped convs do: another exact path would differ by its own rounding.)"""
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "native")
    from autofast.data.supervised import load_task
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


def test_fused_pool_trains_jobs_at_different_epochs_together_and_reports_each_when_done(tmp_path, seed):
    """Jobs of one architecture at different rungs (a new trial for 1 epoch, one for 3, a promoted one resuming
    at epoch 1) train as one fused model; the short job is reported while the others still train, and every
    checkpoint equals that trial trained alone (float64)."""
    x, y = _data("resnet1d_pos", seed, n=24)
    trial = _torch_trial(x, y)
    cfgs = [{"lr": 0.05, "seed": 1}, {"lr": 0.1, "seed": 2}, {"lr": 0.02, "seed": 3}]
    first = trial.new_run(cfgs[2])  # trial 2's rung 0, trained alone
    trial.one_epoch(first, cfgs[2])
    from autofast.engine import save_run

    save_run(tmp_path / "trial2_rung0.pt", first)
    jobs = [Job(0, cfgs[0], 0, 0, 1), Job(1, cfgs[1], 0, 0, 3), Job(2, cfgs[2], 1, 1, 3, str(tmp_path / "trial2_rung0.pt"))]
    pool = FusedPool(trial, devices=["cpu"], per_device=3)
    try:
        for j in jobs:
            pool.submit(j, tmp_path / f"trial{j.trial_id}.pt")
        order = [o for o in pool.wait()]
        while len(order) < 3:
            order += pool.wait()
    finally:
        pool.close()
    assert order[0].job.trial_id == 0  # done after one epoch, reported before the others' next epochs
    assert {o.worker for o in order} == {"cpu#fused3"} and all(o.error is None for o in order)
    for o in order:
        i, cfg = o.job.trial_id, cfgs[o.job.trial_id]
        st = read_run(tmp_path / f"trial{i}.pt")
        assert st["epoch"] == o.job.resource_to and any(r.get("fused") for r in st["history"])
        ref = trial.new_run(cfg)
        while ref.epoch < o.job.resource_to:
            trial.one_epoch(ref, cfg)
        for k, v in ref.model.state_dict().items():
            torch.testing.assert_close(st["model"][k], v, rtol=1e-9, atol=1e-11, msg=f"trial {i} {k}")
        assert o.score == pytest.approx(trial.score(ref.model, cfg), rel=1e-9)


def test_default_parallelism_fuses_eight_trials_per_gpu_told_as_they_arrive():
    """No --trials-per-device: 8 fused trials on GPUs (told in arrival order), 1 on the CPU, with folds, with
    fusion off or on Ray (submission order); what the user asks wins."""
    from autofast.search.trial import FUSED_PER_DEVICE, TuneSettings, fuses, with_parallelism

    gpu = TuneSettings(devices=("cuda:0", "cuda:1"))
    s = with_parallelism(gpu, None)
    assert s.trials_per_device == FUSED_PER_DEVICE == 8 and fuses(s) and not s.ordered
    for other in (TuneSettings(), TuneSettings(devices=("cpu", "cuda:0")), replace(gpu, folds=5),
                  replace(gpu, fuse_trials="off"), replace(gpu, executor="ray")):
        s = with_parallelism(other, None)
        assert s.trials_per_device == 1 and not fuses(s) and s.ordered, other
    s = with_parallelism(gpu, 3, "submission")
    assert s.trials_per_device == 3 and fuses(s) and s.ordered
    s = with_parallelism(TuneSettings(), 2)  # two CPU threads, not fused: submission order
    assert s.trials_per_device == 2 and not fuses(s) and s.ordered
    assert not with_parallelism(TuneSettings(fuse_trials="on"), 2).ordered


def test_retrain_members_train_fused_as_alone(monkeypatch):
    """Where trials fuse, the final retrain's members (one configuration, their own seeds) train as one fused
    model and end as each member trained alone (float32, close; the float64 test above shows exactness)."""
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "native")
    from autofast.data.supervised import load_task
    from autofast.search.trial import TuneSettings
    from autofast.search.tune import retrain_best

    task = load_task("splice", seed=0)
    pattern = [(5, 1), (3, 3)] + [(3, 1)] * 8
    cfg = {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "dropout": 0.05, "seed": 5}
    s = TuneSettings(width=4, batch_size=256, max_epochs=2)
    alone = retrain_best(task, "resnet1d", pattern, s, cfg, 2, members=2)
    fused = retrain_best(task, "resnet1d", pattern, replace(s, fuse_trials="on", trials_per_device=2), cfg, 2,
                         members=2)
    assert fused["fused"] and not alone["fused"] and fused["member_seeds"] == alone["member_seeds"]
    assert all(r.get("fused") == 2 for h in fused["member_histories"] for r in h)
    for ma, mf in zip(alone["model"].members, fused["model"].members):
        for (k, a), f in zip(ma.state_dict().items(), mf.state_dict().values()):
            if a.is_floating_point():
                assert (f - a).norm() <= 1e-3 * a.norm() + 1e-6, k
            else:
                assert torch.equal(f, a), k
