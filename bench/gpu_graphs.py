"""Does a CUDA graph pay for ``search``'s small networks? One training step (forward, cross-entropy, backward,
SGD-Nesterov step: the engine's recipe at a constant lr) of splice's plain ResNet1D, eager vs captured once
in a CUDA graph and replayed (the batch copied into the graph's static input), per width; the weights of
both after the same steps from the same initial weights are compared.

The eager step of a small network on a GPU is bound by the host launching its ~110 operators
(``bench/test_bench_fused.py``); a replayed graph launches them as one. torch.compile's figures are in
bench/README.md (1.9x on the supernet's step, after a 30 s compile). What the engine would need to use graphs:
the lr as a tensor (it changes every step), static batch buffers, conv paths chosen before the capture.

    .venv/bin/python bench/gpu_graphs.py --out bench/results/graphs.json      # on a CUDA machine
    .venv/bin/python bench/gpu_graphs.py --device cpu --steps 5              # eager only: the plumbing
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from autofast.data.supervised import load_task
from autofast.engine import seeded_init, sgd
from autofast.models import build_backbone, fixed_factory


def _model(task, width: int, device: str):
    with seeded_init(0):
        model = build_backbone("resnet1d", 1, int(task.x_train.shape[1]), task.data.num_classes, width,
                               fixed_factory([(3, 1)] * 10), dropout=0.0, positional=True)
    return model.to(device).train()


def _timed(step, n: int, device: str) -> float:
    """Median ms of ``step()`` over ``n`` calls after 3 warm-up calls (CUDA events on a GPU:
    :func:`gpu_issue13.timed`)."""
    if device.startswith("cuda"):
        from gpu_issue13 import timed

        return timed(step, n)
    for _ in range(3):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2]


def measure(task, width: int, device: str, steps: int, batch: int = 64) -> dict:
    x, y = task.x_train.to(device), task.y_train.to(device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: batch * steps].view(steps, batch)
    order = order.to(device)
    eager = _model(task, width, device)
    graphed = copy.deepcopy(eager)
    opt_e = sgd(eager.parameters(), 0.01, 0.9, 5e-4)
    i = [0]

    def eager_step():
        idx = order[i[0] % steps]
        i[0] += 1
        opt_e.zero_grad(set_to_none=True)
        F.cross_entropy(eager(x[idx]), y[idx]).backward()
        opt_e.step()

    row = {"width": width, "batch": batch, "device": device, "eager_ms": _timed(eager_step, steps, device)}
    if not device.startswith("cuda"):
        row["graph"] = "skipped: CUDA graphs need a CUDA device"
        return row
    try:
        opt_g = sgd(graphed.parameters(), 0.01, 0.9, 5e-4)
        static_x, static_y = x[order[0]].clone(), y[order[0]].clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture: conv paths, allocator, optimizer state
            for _ in range(3):
                opt_g.zero_grad(set_to_none=True)
                F.cross_entropy(graphed(static_x), static_y).backward()
                opt_g.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        opt_g.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            F.cross_entropy(graphed(static_x), static_y).backward()
            opt_g.step()
        j = [0]

        def graph_step():
            idx = order[j[0] % steps]
            j[0] += 1
            static_x.copy_(x[idx])
            static_y.copy_(y[idx])
            graph.replay()

        row["graph_ms"] = _timed(graph_step, steps, device)
        row["speedup"] = row["eager_ms"] / row["graph_ms"]
        # the same k updates from the same start: the graphed model reset in place (its buffers are the graph's),
        # its momentum zeroed (a zero buffer's first Nesterov step equals a fresh one's), vs a fresh eager model
        k = min(steps, 10)
        fresh = _model(task, width, device)
        with torch.no_grad():
            for mine, start in zip(graphed.state_dict().values(), fresh.state_dict().values()):
                mine.copy_(start)
            for state in opt_g.state.values():
                state["momentum_buffer"].zero_()
        opt_f = sgd(fresh.parameters(), 0.01, 0.9, 5e-4)
        for n in range(k):
            idx = order[n]
            static_x.copy_(x[idx])
            static_y.copy_(y[idx])
            graph.replay()
            opt_f.zero_grad(set_to_none=True)
            F.cross_entropy(fresh(x[idx]), y[idx]).backward()
            opt_f.step()
        torch.cuda.synchronize()
        gap = max(float((p - q).abs().max() / q.abs().max().clamp(min=1e-12))
                  for p, q in zip(graphed.parameters(), fresh.parameters()))
        row["after_steps"], row["max_rel_weight_gap"] = k, gap
    except Exception as exc:  # record and go on: the eager figure still stands
        row["graph"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    task = load_task("splice", seed=0)
    rows = []
    for width in args.widths:
        rows.append(measure(task, width, args.device, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
