"""Issue 13's GPU session in one script: run it on a machine with a CUDA device, nothing else to prepare.

    .venv/bin/python bench/gpu_issue13.py                      # everything (~10 min on an H100/H200)
    .venv/bin/python bench/gpu_issue13.py --only mixed ar       # a subset: sync mixed compile ar search
    .venv/bin/python bench/gpu_issue13.py --search-configs 8    # a smaller ASHA budget

Writes ``bench/results/issue13-<date>-<gpu>.json`` (device name, torch / triton / CUDA / cuDNN versions,
every number) after each part, so a session cut short keeps what it measured. Parts:

* ``sync``: a DASH supernet and a retrain net, forward + backward on the Triton tap kernels under
  ``torch.cuda.set_sync_debug_mode("error")``: any host-device synchronisation in a call raises.
* ``mixed``: a DASH mixed layer forward + backward (1-D genomics/1-D/2-D spaces, dense and depthwise),
  autofast's tap kernels vs cuDNN with the dense aggregated kernel vs DASH's FFT mixture, fp32 and
  bf16 (autocast); the float64 error of each alongside.
* ``compile``: the supernet step eager vs ``torch.compile(fullgraph=True)`` (Inductor traces into
  the ``triton_op`` kernels), with the largest difference.
* ``ar``: ``forecast --data ETTh1`` on the triton backend, lookback and max order 720, the four
  horizons (96, 192, 336, 720), process wall time and the command's own stage timings.
* ``search``: ``search --task splice --devices cuda:0`` with 1, 4 and 8 trials per device, and 4 and 8
  fused (``--fuse-trials on``), each with the same ASHA budget; wall time and test accuracy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def versions() -> dict:
    import triton

    p = torch.cuda.get_device_properties(0)
    return {"device": torch.cuda.get_device_name(0), "sm": f"{p.major}.{p.minor}", "memory_gib": p.total_memory / 2**30,
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "triton": triton.__version__, "python": sys.version.split()[0],
            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def timed(fn, reps: int = 20) -> float:
    """Median ms of ``fn`` on the GPU (CUDA events), after warm-up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def _supernet(width=16, space=((3, 5, 7, 9, 11), (1, 3, 5, 7))):
    from autofast.dash.supernet import MixedFactory
    from autofast.models import build_backbone

    return build_backbone("resnet1d", 1, 4, 3, width, factory=MixedFactory(*space)).cuda()


def part_sync(out: dict) -> None:
    from autofast.models import build_backbone, fixed_factory

    os.environ["AUTOFAST_CONV_PATH"] = "tap"
    res = {}
    for name, model in [("supernet", _supernet()),
                        ("retrain", build_backbone("resnet1d", 1, 4, 3, 64, fixed_factory([(7, 3)] * 10)).cuda())]:
        x = torch.randn(64, 4, 60, device="cuda")
        model(x).sum().backward()  # first call: tables built, kernels compiled
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            model(x).sum().backward()
            res[name] = "no synchronisation"
        except RuntimeError as exc:
            res[name] = f"SYNC: {str(exc).splitlines()[0]}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
    os.environ.pop("AUTOFAST_CONV_PATH")
    out["sync"] = res


def part_mixed(out: dict) -> None:
    from itertools import product

    from conv_anchors import fft_mixture

    from autofast.kernels.conv import mixed_dilated_conv

    cases = [  # (name, ndim, batch, channels, spatial, K, D, groups)
        ("genomics 1-D dense", 1, 64, 64, (1000,), (3, 5, 7, 9, 11), (1, 3, 5, 7), 1),
        ("genomics 1-D depthwise", 1, 64, 64, (1000,), (3, 5, 7, 9, 11), (1, 3, 5, 7), 64),
        ("1-D space dense", 1, 64, 64, (1000,), (3, 7, 11, 15, 19), (1, 3, 7, 15), 1),
        ("2-D space depthwise 32x32", 2, 64, 64, (32, 32), (3, 5, 7, 9), (1, 3, 7, 15), 64),
        ("2-D space dense 32x32", 2, 64, 64, (32, 32), (3, 5, 7, 9), (1, 3, 7, 15), 1),
    ]
    rows = []
    for name, ndim, B, C, S, K, D, groups in cases:
        cands = list(product(K, D))
        x = torch.randn(B, C, *S, device="cuda", requires_grad=True)
        ws = [torch.randn((C, C // groups) + (k,) * ndim, device="cuda", requires_grad=True) for k, _ in cands]
        a = torch.softmax(torch.randn(len(cands), device="cuda"), 0).requires_grad_()
        impls = {
            "autofast tap (triton)": lambda: mixed_dilated_conv(x, ws, a, cands, groups, path="tap"),
            "cuDNN dense aggregated": lambda: mixed_dilated_conv(x, ws, a, cands, groups, path="native"),
            "FFT mixture (DASH)": lambda: fft_mixture(x, ws, a, cands, groups),
        }
        with torch.no_grad():
            ref = fft_mixture(x.double(), [w.double() for w in ws], a.double(), cands, groups)
        for dtype in ("fp32", "bf16"):
            for impl, fn in impls.items():
                def step():
                    with torch.autocast("cuda", torch.bfloat16, enabled=dtype == "bf16"):
                        y = fn()
                    y.float().sum().backward()
                row = {"case": name, "impl": impl, "dtype": dtype}
                try:
                    with torch.autocast("cuda", torch.bfloat16, enabled=dtype == "bf16"), torch.no_grad():
                        row["rel_err_vs_fp64"] = float((fn().double() - ref).abs().max() / ref.abs().max())
                    row["fwd_bwd_ms"] = timed(step)
                except Exception as exc:  # e.g. the FFT anchor out of memory
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                rows.append(row)
                print(row, flush=True)
    out["mixed"] = rows


def part_compile(out: dict) -> None:
    os.environ["AUTOFAST_CONV_PATH"] = "tap"
    model = _supernet(width=32).eval()
    x = torch.randn(64, 4, 60, device="cuda")

    def step(m):
        m.zero_grad(set_to_none=True)
        y = m(x)
        y.square().sum().backward()
        return y.detach()

    y0 = step(model)
    t0 = time.perf_counter()
    compiled = torch.compile(model, fullgraph=True)
    y1 = step(compiled)
    compile_s = time.perf_counter() - t0
    out["compile"] = {"compile_s": compile_s, "eager_ms": timed(lambda: step(model)),
                      "compiled_ms": timed(lambda: step(compiled)),
                      "max_abs_diff": float((y1 - y0).abs().max())}
    os.environ.pop("AUTOFAST_CONV_PATH")


def _command(args: list[str], run_dir: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autofast", *args, "--out", str(run_dir), "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    row = {"args": args, "wall_s": time.perf_counter() - t0, "rc": proc.returncode}
    if proc.returncode != 0:
        row["stderr_tail"] = proc.stderr[-2000:]
        return row
    try:
        row["result"] = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        row["stdout_tail"] = proc.stdout[-2000:]
    return row


def part_ar(out: dict, tmp: Path) -> None:
    row = _command(["forecast", "--data", "ETTh1", "--horizon", "96", "192", "336", "720", "--backend", "triton",
                    "--device", "cuda", "--lookback", "720", "--max-order", "720", "--no-plot", "--overwrite"],
                   tmp / "forecast")
    res = row.pop("result", None)
    if isinstance(res, dict):  # keep the figures, not the forecasts
        row["summary"] = {k: res[k] for k in ("timings", "horizons", "chosen", "test") if k in res}
    out["ar"] = row


def part_search(out: dict, tmp: Path, n_configs: int, max_epochs: int, variants: list[str]) -> None:
    rows = []
    for variant in variants:  # N:FUSE[:CONV_PATH]
        per_device, fuse, *path = variant.split(":")
        extra = ["--conv-path", path[0]] if path else []
        row = _command(["search", "--task", "splice", "--devices", "cuda:0", "--trials-per-device", per_device,
                        "--fuse-trials", fuse, "--n-configs", str(n_configs), "--max-epochs", str(max_epochs), *extra],
                       tmp / f"search-{variant.replace(':', '-')}")
        res = row.pop("result", None)
        if isinstance(res, dict):
            row["summary"] = {k: res.get(k) for k in ("test_score", "metric", "timings", "pattern", "final",
                                                      "final_history", "conv_paths")}
            row["summary"]["asha_scores"] = [(t["trial_id"], t["scores"]) for t in res.get("asha", {}).get("trials", [])]
        row.update(trials_per_device=per_device, fused=fuse)
        rows.append(row)
        print(row, flush=True)
        out["search"] = rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=["sync", "mixed", "compile", "ar", "search"])
    ap.add_argument("--search-configs", type=int, default=16)
    ap.add_argument("--search-max-epochs", type=int, default=8)
    ap.add_argument("--search-variants", nargs="+", default=["1:off", "4:off", "8:off", "4:on", "8:on"],
                    metavar="N:FUSE[:PATH]", help="trials per device, --fuse-trials and --conv-path of each search run")
    ap.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this script is for a GPU session", file=sys.stderr)
        return 2
    out = {"versions": versions()}
    dev = out["versions"]["device"].replace(" ", "_")
    path = args.results_dir / f"issue13-{datetime.now(timezone.utc):%Y%m%d-%H%M}-{dev}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"autofast-issue13-{os.getpid()}"
    parts = {"sync": lambda: part_sync(out), "mixed": lambda: part_mixed(out), "compile": lambda: part_compile(out),
             "ar": lambda: part_ar(out, tmp),
             "search": lambda: part_search(out, tmp, args.search_configs, args.search_max_epochs,
                                           args.search_variants)}
    for name in args.only or parts:
        t0 = time.perf_counter()
        try:
            parts[name]()
        except Exception as exc:  # keep going: the other parts still run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out.setdefault("part_seconds", {})[name] = time.perf_counter() - t0
        path.write_text(json.dumps(out, indent=1, default=str))
        print(f"{name}: done in {out['part_seconds'][name]:.0f}s -> {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
