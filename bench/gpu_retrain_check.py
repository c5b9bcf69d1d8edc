"""The same retrain on the CPU and on a GPU: one configuration of splice's plain ResNet1D (the retrain width,
``search``'s recipe: SGD-Nesterov, cosine to the horizon; no dropout: a run draws its masks from a generator
on its device, and CUDA's draws differ from the CPU's), the same initial weights and batch order (the run's
own CPU generator), trained ``--epochs`` on each device through the engine's loop;
per epoch the training loss on both, then validation and test accuracy once each. The GPU runs cuDNN's
convolutions (TF32 where torch allows it, as ``search`` does), so the curves part slowly; a gap beyond that
(a stage on the wrong device, a kernel bug) shows in the first epochs.

    .venv/bin/python bench/gpu_retrain_check.py --device cuda:0 --out bench/results/retrain_check.json
    .venv/bin/python bench/gpu_retrain_check.py --device cpu --epochs 2      # the plumbing, on a CPU box
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from autofast.data.supervised import load_task
from autofast.engine import Run, cosine, evaluate, seeded_init, sgd, train_epoch
from autofast.models import build_backbone, fixed_factory


def train_on(task, device: str, epochs: int, seed: int) -> dict:
    with seeded_init(seed):
        model = build_backbone("resnet1d", 1, int(task.x_train.shape[1]), task.data.num_classes, 64,
                               fixed_factory([(3, 1)] * 10), dropout=0.0, positional=True)
    model.to(device)
    run = Run.create(model, sgd(model.parameters(), 0.05, 0.9, 5e-4), seed, cosine(epochs))
    x, y = task.x_train.to(device), task.y_train.to(device)
    t0 = time.perf_counter()
    losses = [train_epoch(run, x, y, 64)["train_loss"] for _ in range(epochs)]
    seconds = time.perf_counter() - t0
    val = evaluate(model, task.x_val.to(device), task.y_val.to(device))
    test = evaluate(model, task.x_test.to(device), task.y_test.to(device))
    return {"device": device, "train_loss": losses, "val_acc": val[1], "test_acc": test[1], "test_loss": test[0],
            "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    task = load_task("splice", seed=args.seed)
    cpu, dev = train_on(task, "cpu", args.epochs, args.seed), train_on(task, args.device, args.epochs, args.seed)
    gaps = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(cpu["train_loss"], dev["train_loss"])]
    out = {"cpu": cpu, "device": dev, "train_loss_rel_gap": gaps, "test_acc_gap": dev["test_acc"] - cpu["test_acc"],
           "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
           "torch": torch.__version__}
    print(json.dumps({k: v for k, v in out.items() if k not in ("cpu", "device")}
                     | {"test_acc": [cpu["test_acc"], dev["test_acc"]], "seconds": [cpu["seconds"], dev["seconds"]]}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
