"""ASHA's ask/tell API around a plain PyTorch training loop (no autofast pipeline, no framework).

A promotion hands back the trial's checkpoint and the epoch range still to train, so a promoted
trial RESUMES: no epoch is trained twice. Every event goes to a SQLite journal; after a crash,
``ASHA.resume("asha.sqlite")`` continues where the search stopped.

    python examples/asha_plain_loop.py [run_dir]
"""
import argparse
from pathlib import Path

import torch
from torch import nn

from autofast.asha import ASHA, Journal

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run_dir", nargs="?", default="runs/asha-example", help="folder of the journal and checkpoints")
run_dir = Path(parser.parse_args().run_dir)
run_dir.mkdir(parents=True, exist_ok=True)

g = torch.Generator().manual_seed(0)
x = torch.randn(512, 8, generator=g)
y = (x[:, :2].sum(1) > 0).long()
x_train, y_train, x_val, y_val = x[:384], y[:384], x[384:], y[384:]

space = {"lr": {"loguniform": [1e-3, 1.0]}, "hidden": {"choice": [8, 32]}, "momentum": {"uniform": [0.0, 0.95]}}
journal = run_dir / "asha.sqlite"
if journal.exists():
    sched = ASHA.resume(journal)
else:
    sched = ASHA(space, min_resource=1, max_resource=9, eta=3, max_trials=12, seed=0).attach(Journal(journal))

while (job := sched.ask()) is not None:  # one worker: ask() returns None once the search is finished
    torch.manual_seed(job.trial_id)
    model = nn.Sequential(nn.Linear(8, job.config["hidden"]), nn.ReLU(), nn.Linear(job.config["hidden"], 2))
    opt = torch.optim.SGD(model.parameters(), lr=job.config["lr"], momentum=job.config["momentum"])
    if job.checkpoint:  # a promotion: resume the paused trial
        state = torch.load(job.checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    for epoch in range(int(job.resource_from), int(job.resource_to)):
        for i in range(0, len(x_train), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_train[i:i + 64]), y_train[i:i + 64]).backward()
            opt.step()
    with torch.no_grad():
        acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    ckpt = run_dir / f"trial{job.trial_id}_rung{job.rung}.pt"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, ckpt)
    sched.record_checkpoint(job.trial_id, job.rung, str(ckpt))
    sched.tell(job.trial_id, job.rung, acc)

trial_id, config, score, rung = sched.best()
print(f"best trial {trial_id}: validation accuracy {score:.3f} at rung {rung} ({sched.rungs[rung]:g} epochs), {config}")
