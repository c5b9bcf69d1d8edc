"""The shared training engine: exact resume (a trial paused at a rung and resumed equals one trained straight
through, bit for bit, with dropout and Gumbel noise), thread isolation (two trials at once in a LocalPool equal
each run alone, with a third thread drawing from the global RNG meanwhile), one lr schedule for trials and retrain, and
checkpoints that load with ``weights_only=True``."""
import math
import threading
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from autofast.asha import Job
from autofast.asha.executor import LocalPool
from autofast.dash.supernet import MixedFactory
from autofast.dash.train import TrainSettings, make_run
from autofast.engine import (CONSTANT, Schedule, cosine, global_rng_lock, load_run, read_run, save_run, seeded_init, steps_per_epoch,
                             train_epoch)
from autofast.errors import AutofastError, Diverged
from autofast.models.dropout import Dropout
from autofast.search.trial import TuneSettings, make_trial

CFG = {"lr": 0.05, "dropout": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "seed": 7}


@pytest.fixture(scope="module")
def task():
    """A tiny 1-D classification task (random, 2 classes) shaped like a loaded task."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(72, 4, 16, generator=g)
    y = (x[:, 0, :8].sum(1) > 0).long()
    data = SimpleNamespace(ndim=1, num_classes=2, kind="dna")
    return SimpleNamespace(data=data, x_train=x[:48], y_train=y[:48], x_val=x[48:60], y_val=y[48:60],
                           x_test=x[60:], y_test=y[60:])


def _trial(task, max_epochs=3):
    s = TuneSettings(width=4, max_epochs=max_epochs, batch_size=16)
    return make_trial(task, "resnet1d", [(3, 1)] * 10, s), s


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_paused_and_resumed_trial_is_bit_identical_to_straight(task, tmp_path):
    trial, s = _trial(task)
    assert trial.schedule == s.schedule == cosine(3)
    score_a = trial(Job(0, CFG, 0, 0, 1), None, tmp_path / "a.pt")  # rung 0: 1 epoch, paused
    score_b = trial(Job(0, CFG, 1, 1, 3), str(tmp_path / "a.pt"), tmp_path / "b.pt")  # promoted: resumed
    score_c = trial(Job(1, CFG, 1, 0, 3), None, tmp_path / "c.pt")  # straight through
    b, c = read_run(tmp_path / "b.pt"), read_run(tmp_path / "c.pt")
    assert _same_state(b["model"], c["model"])  # weights and BatchNorm statistics, bit for bit
    assert _same_state(b["rng"], c["rng"]) and b["step"] == c["step"] == 3 * steps_per_epoch(48, 16)
    sb, sc = b["optimizers"]["main"]["state"], c["optimizers"]["main"]["state"]
    assert all(torch.equal(sb[k]["momentum_buffer"], sc[k]["momentum_buffer"]) for k in sb)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in b["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in c["history"]]
    assert score_b == score_c and math.isfinite(score_a)
    # the lr really decayed along the cosine to the horizon: last lr of epoch 3 is near 0
    assert [r["epoch"] for r in c["history"]] == [1, 2, 3] and c["history"][-1]["lr"] < 0.1 * CFG["lr"]


def test_dropout_draws_from_the_runs_generator(task):
    trial, _ = _trial(task)
    run = trial.new_run(CFG)
    drops = [m for m in run.model.modules() if isinstance(m, Dropout)]
    assert drops and all(m.generator is run.rng.noise for m in drops)
    x = torch.randn(5, 8)
    d = Dropout(0.5).train()
    d.generator = torch.Generator().manual_seed(3)
    y1 = d(x)
    d.generator = torch.Generator().manual_seed(3)
    assert torch.equal(y1, d(x)) and not torch.equal(y1, x)
    assert torch.equal(d.eval()(x), x)


def test_search_run_resumes_exactly_with_gumbel_noise(tmp_path):
    """DASH's search: weights and alpha, two optimisers, Gumbel noise from the run's generator."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = MixedFactory((3, 5), (1, 2), depthwise_proxy=False)(0, 2, 3, 1, 1)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(2))

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 2, 12, generator=g), torch.randint(0, 2, (40,), generator=g)
    s = TrainSettings(epochs=3, lr=0.1, arch_lr=0.05, batch_size=16, seed=4)

    def new():
        with seeded_init(0):
            return make_run(Net(), s, search=True)

    straight = new()
    for _ in range(3):
        train_epoch(straight, x, y, s.batch_size)
    paused = new()
    train_epoch(paused, x, y, s.batch_size)
    save_run(tmp_path / "p.pt", paused)
    resumed = new()
    assert resumed.model.conv.generator is resumed.rng.noise
    load_run(tmp_path / "p.pt", resumed)
    for _ in range(2):
        train_epoch(resumed, x, y, s.batch_size)
    assert _same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert not torch.equal(straight.model.conv.alpha, torch.zeros(4))  # alpha was trained


def test_two_trials_in_threads_equal_each_run_alone(task, tmp_path):
    trial, _ = _trial(task, max_epochs=2)
    cfgs = [CFG, {**CFG, "seed": 8, "dropout": 0.05, "lr": 0.1}]
    jobs = [Job(i, c, 0, 0, 2) for i, c in enumerate(cfgs)]
    alone = []
    for j in jobs:
        trial(j, None, tmp_path / f"alone{j.trial_id}.pt")
        alone.append(read_run(tmp_path / f"alone{j.trial_id}.pt"))
    stop = threading.Event()

    def hammer():  # someone else drawing from the global RNG all along (holding the lock seeded_init holds):
        while not stop.is_set():  # a trial that drew from it while training would see other numbers
            with global_rng_lock():
                torch.rand(64)

    noise = threading.Thread(target=hammer)
    noise.start()
    try:
        with LocalPool(trial, devices=["cpu"], per_device=2) as pool:
            assert pool.slots == 2
            for j in jobs:
                pool.submit(j, tmp_path / f"pool{j.trial_id}.pt")
            outs = []
            while len(outs) < 2:
                outs += pool.wait()
    finally:
        stop.set()
        noise.join()
    assert all(o.error is None for o in outs), [o.error for o in outs]
    assert {o.worker for o in outs} == {"cpu#0", "cpu#1"}
    for j, ref in zip(jobs, alone):
        got = read_run(tmp_path / f"pool{j.trial_id}.pt")
        assert _same_state(got["model"], ref["model"]) and _same_state(got["rng"], ref["rng"])


def test_one_schedule_for_trials_and_retrain():
    s = TuneSettings(max_epochs=8, warmup_epochs=1)
    sched = s.schedule
    assert sched == cosine(8, 1) and TuneSettings(max_epochs=8, horizon_epochs=12).schedule == cosine(12)
    # a function of epoch progress only: train (10 steps/epoch) and train+val (13) follow one curve
    for e in range(1, 9):  # (after the warm-up, which ramps per step)
        assert sched.factor(e * 10, 10) == pytest.approx(sched.factor(e * 13, 13), abs=1e-12)
    assert sched.factor(0, 10) == pytest.approx(0.1) and sched.factor(9, 10) == 1.0  # warm-up
    assert sched.factor(80, 10) == 0.0 and sched.factor(200, 10) == 0.0  # flat after the horizon
    assert all(CONSTANT.factor(i, 3) == 1.0 for i in range(20))
    with pytest.raises(AutofastError, match="warmup"):
        Schedule("cosine", 2, 2)
    from autofast.search.config import SearchConfig

    assert SearchConfig().given() == {} and SearchConfig(retrain_epochs=30).given() == {"retrain_epochs": 30}
    with pytest.raises(ValueError, match="warmup"):
        SearchConfig(max_epochs=2, warmup_epochs=2)


def test_checkpoint_loads_weights_only_and_refuses_other_schedules(task, tmp_path):
    trial, _ = _trial(task)
    trial(Job(0, CFG, 0, 0, 1), None, tmp_path / "a.pt")
    state = torch.load(tmp_path / "a.pt", weights_only=True)  # plain data: no code runs on load
    assert state["format"] == "autofast-run/1" and state["epoch"] == 1 and len(state["history"]) == 1
    assert state["meta"]["config"] == CFG
    other = trial.new_run(CFG)
    other.schedule = cosine(5)
    with pytest.raises(AutofastError, match="schedule"):
        load_run(tmp_path / "a.pt", other)
    torch.save({"model": {}}, tmp_path / "bare.pt")
    with pytest.raises(AutofastError, match="not an autofast run checkpoint"):
        read_run(tmp_path / "bare.pt")
    with pytest.raises(RuntimeError, match="holds 1 epochs"):
        trial(Job(0, CFG, 1, 2, 3), str(tmp_path / "a.pt"), tmp_path / "b.pt")


def test_non_finite_loss_raises(task):
    trial, _ = _trial(task)
    run = trial.new_run({**CFG, "lr": 1e30})
    with pytest.raises(Diverged, match="training diverged: the loss became") as info:  # one CLI error line
        for _ in range(3):
            train_epoch(run, task.x_train, task.y_train, 16)
    assert isinstance(info.value, FloatingPointError)  # what fit(stop_on_divergence=True) catches


def test_val_score_breaks_accuracy_ties_by_loss_and_keeps_the_order_of_accuracies():
    from autofast.engine import val_score

    assert val_score(0.2, 1.0, False) > val_score(0.3, 1.0, False)  # tie on accuracy: lower loss wins
    assert val_score(50.0, 0.5 + 1 / 999_999, False) > val_score(0.0, 0.5, False)  # one sample more wins always
    assert val_score(float("nan"), 0.7, False) < val_score(9.0, 0.7, False)
    assert val_score(0.25, float("nan"), True) == -0.25
    assert val_score(5.0, 0.0, False) == 0.0


def _linear_run(lr: float = 0.1):
    from autofast.engine import Run, sgd

    with seeded_init(0):
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 16, 2))
    return Run.create(model, sgd(model.parameters(), lr, 0.9, 0.0), 0, CONSTANT)


def test_a_run_alone_is_read_once_per_epoch_and_still_stops_at_its_first_non_finite_step(task, monkeypatch):
    """Issue 21: no host synchronisation per step. A run alone reads its losses and its finiteness check
    once, after the epoch; a NaN at step 2 still ends the run with Diverged naming that step's loss, epoch
    and lr, and the epoch is not counted (the trade-off: the remaining steps of that epoch were taken)."""
    from autofast.engine import plain_loss

    reads = {"item": 0, "__bool__": 0, "tolist": 0}
    for name in reads:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            reads[_name] += 1
            return _real(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, counted)
    run = _linear_run()
    rec = train_epoch(run, task.x_train, task.y_train, 8)  # 6 steps
    assert rec["steps"] == 6 and reads == {"item": 0, "__bool__": 0, "tolist": 1}

    calls = []

    def poisoned(model, out, y):
        calls.append(1)
        total, terms = plain_loss(model, out, y)
        return (total * float("nan") if len(calls) >= 3 else total), terms  # steps 3.. of epoch 2

    with pytest.raises(Diverged, match=r"the loss became nan at epoch 2 \(learning rate 0.1\)"):
        train_epoch(run, task.x_train, task.y_train, 8, loss_fn=poisoned)
    assert run.epoch == 1 and len(run.history) == 1 and run.step == 12  # not ended; its steps were taken
    assert reads["tolist"] == 2 and reads["item"] == 0 and reads["__bool__"] == 0


def test_evaluate_sums_on_the_device_as_the_batches_did(task):
    """evaluate's on-device float64 sum equals the sum of the batches' float32 sums read one by one."""
    from autofast.engine import evaluate, task_loss

    run = _linear_run()
    loss, acc = evaluate(run.model, task.x_train, task.y_train, batch_size=7)
    with torch.no_grad():
        want = sum(task_loss(run.model(task.x_train[i:i + 7]), task.y_train[i:i + 7], reduction="sum").item()
                   for i in range(0, 48, 7)) / 48
        right = int((run.model(task.x_train).argmax(1) == task.y_train).sum())
    assert loss == want and acc == right / 48


def test_on_device_moves_the_tensors_once_per_device():
    from autofast.engine import OnDevice

    x, y = torch.randn(4, 3), torch.arange(4)
    data = OnDevice(x, y)
    cpu_model = torch.nn.Linear(3, 2)
    assert all(a is b for a, b in zip(data.for_model(cpu_model), (x, y)))  # already there: the originals
    meta_model = torch.nn.Linear(3, 2, device="meta")
    moved = data.for_model(meta_model)
    assert [t.device.type for t in moved] == ["meta", "meta"] and [t.shape for t in moved] == [x.shape, y.shape]
    assert all(a is b for a, b in zip(data.for_model(meta_model), moved))  # moved once, then shared
