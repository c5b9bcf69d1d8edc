"""AutoFT vs CE-only fine-tuning over whole-pipeline seeds (issue 20): the transfer demo's ``finetune`` stage
(``autofast.autoft.demo``: digits 0-4 pretrained -> digits 5-9, OOD validation blur:3 + rotation:3, OOD test
contrast:4 + noise:5) run once per ``--seed`` (split, shift, ASHA sampling and selection seeds all move), from one
pretrained checkpoint. Each run's score is the mean over its final seeds; the table gives, per evaluation set,
the mean ± std over pipeline seeds of both arms, the mean paired difference and in how many seeds AutoFT was
below CE-only, and how often the one-SE rule kept the searched objective.

    python bench/autoft_seeds.py --seeds 0 1 2 3 4 --jobs 2 --out runs/autoft-seeds

Writes ``OUT/autoft_seeds.md`` and ``OUT/autoft_seeds.json``; a finished seed (its ``result.json``) is reused.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autofast.autoft.demo import stage_commands


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "autofast", *cmd], stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - t0


def finetune_cmd(out: Path, seed: int, threads: int) -> list[str]:
    cmd = stage_commands(out, quick=False, threads=threads)["finetune"]
    at = cmd.index("--out")
    return [*cmd[:at], "--seed", str(seed), "--out", str(out / f"finetune-{seed}")]


def _ms(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f} (n = 1)" if values else "-"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def table(rows: list[dict], metric: str) -> str:
    lines = [f"| set ({metric}) | AutoFT | CE-only | AutoFT - CE-only (mean) | seeds AutoFT below |",
             "|---|---|---|---|---|"]
    names = list(rows[0]["summary"]["autoft"])
    for s in sorted(names, key=lambda n: (n != "ood_test_mean", not n.startswith("ood_test"), n)):
        a = [r["summary"]["autoft"][s][metric]["mean"] for r in rows]
        c = [r["summary"]["ce_only"][s][metric]["mean"] for r in rows]
        d = [x - y for x, y in zip(a, c)]
        lines.append(f"| {s} | {_ms(a)} | {_ms(c)} | {statistics.mean(d):+.4f} | "
                     f"{sum(x < -1e-12 for x in d)} of {len(d)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=int, default=2, help="finetune runs at once (each --threads threads)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/autoft-seeds"))
    args = p.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    pre = stage_commands(out, quick=False, threads=args.threads)["pretrain"]
    if not (out / "pretrain" / "result.json").exists():
        print("$ python -m autofast " + " ".join(pre), file=sys.stderr, flush=True)
        seconds["pretrain"] = run(pre, out / "pretrain.log")

    def one(seed: int) -> None:
        if (out / f"finetune-{seed}" / "result.json").exists():
            return
        cmd = finetune_cmd(out, seed, args.threads)
        print("$ python -m autofast " + " ".join(cmd), file=sys.stderr, flush=True)
        seconds[f"finetune-{seed}"] = run(cmd, out / f"finetune-{seed}.log")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, args.seeds))
    rows = []
    for seed in args.seeds:
        r = json.loads((out / f"finetune-{seed}" / "result.json").read_text())
        rows.append({"seed": seed, "summary": r["summary"], "metric": r["metric"],
                     "winner": r["selection"]["winner"], "reason": r["selection"].get("reason"),
                     "seconds": r["timings"].get("total")})
    metric = rows[0]["metric"]
    kept = [r["seed"] for r in rows if r["winner"] != "ce_only"]
    md = "\n".join([
        f"AutoFT vs CE-only fine-tuning, whole-pipeline seeds {', '.join(map(str, args.seeds))} (each run: mean over "
        "its final seeds 0, 1, 2); digits 0-4 -> 5-9, OOD validation blur:3 + rotation:3, OOD test contrast:4 + "
        "noise:5.", "", table(rows, metric), "",
        f"The searched objective was kept by the one-SE rule in {len(kept)} of {len(rows)} seeds"
        + (f" ({', '.join(map(str, kept))})" if kept else "") + "; otherwise the AutoFT arm is the CE-only run.",
        "Seconds per finetune run: " + ", ".join(f"{r['seconds']:.0f}" for r in rows if r["seconds"]) + "."])
    (out / "autoft_seeds.md").write_text(md + "\n")
    (out / "autoft_seeds.json").write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
