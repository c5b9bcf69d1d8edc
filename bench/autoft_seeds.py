"""AutoFT vs CE-only fine-tuning over whole-pipeline seeds (issue 20), on two shifts:

* ``--shift digits`` (synthetic corruptions): the transfer demo's ``finetune`` stage (``autofast.autoft.demo``:
  digits 0-4 pretrained -> digits 5-9, OOD validation blur:3 + rotation:3, OOD test contrast:4 + noise:5);
* ``--shift species`` (a natural shift, no corruption): the bundled splice junctions (UCI) by species. Human genes (instance names ``HUM...``, 3 042 sequences) are split by gene, half for
  pretraining, half as the fine-tuning task; the 148 sequences of other primates (63 genes: gibbon, baboon,
  chimpanzee, orang-utan, macaque, lemur, tarsier, ...) are split by gene into the OOD validation and OOD test
  files. A ResNet1D (width 16) is pretrained on the first human half; AutoFT fine-tunes it on the second.

Each pipeline ``--seed`` runs ``finetune`` once (split, shift, ASHA sampling and selection seeds all move) from
one pretrained checkpoint. Each run's score is the mean over its final seeds; the table gives, per evaluation
set, the mean ± std over pipeline seeds of both arms, the mean paired difference and in how many seeds AutoFT
was below CE-only, and how often the one-SE rule kept the searched objective.

    python bench/autoft_seeds.py --shift digits --seeds 0 1 2 3 4 --jobs 2 --out runs/autoft-seeds
    python bench/autoft_seeds.py --shift species --out runs/autoft-species

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

FT = ["--n-configs", "16", "--max-epochs", "8", "--final-epochs", "8", "--final-seeds", "0", "1", "2"]
TITLES = {"digits": "digits 0-4 -> 5-9, OOD validation blur:3 + rotation:3, OOD test contrast:4 + noise:5",
          "species": "splice, human genes (ResNet1D with the position channel pretrained on one half, fine-tuned on the other), OOD validation and OOD test: other "
                     "primates' genes (split by gene)"}


def species_files(out: Path) -> dict[str, Path]:
    """The species shift's four CSV files (``sequence``, ``label``) in ``OUT/data``; genes (the instance name
    before its first '-') never straddle two files; assignment by a seeded shuffle of the gene names."""
    import csv
    import random

    from autofast.data.registry import DATASETS

    rows = list(csv.DictReader(open(DATASETS["splice"].path, newline="")))  # the bundled copy
    gene = lambda r: r["instance_name"].strip().split("-")[0]  # noqa: E731
    human = sorted({gene(r) for r in rows if gene(r).startswith("HUM")})
    other = sorted({gene(r) for r in rows if not gene(r).startswith("HUM")})
    rng = random.Random(20261204)
    rng.shuffle(human)
    rng.shuffle(other)
    part = {**{g: "pretrain" if i % 2 == 0 else "id" for i, g in enumerate(human)},
            **{g: "ood_val" if i % 2 == 0 else "ood_test" for i, g in enumerate(other)}}
    folder = out / "data"
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.csv" for name in ("pretrain", "id", "ood_val", "ood_test")}
    handles = {name: open(path, "w", newline="") for name, path in files.items()}
    try:
        writers = {name: csv.writer(h) for name, h in handles.items()}
        for w in writers.values():
            w.writerow(["sequence", "label"])
        for r in rows:
            writers[part[gene(r)]].writerow([r["sequence"].strip(), r["label"].strip()])
    finally:
        for h in handles.values():
            h.close()
    return files


def commands(shift: str, out: Path, threads: int) -> tuple[list[str], callable]:
    """(the pretrain command, seed -> the finetune command)."""
    t = ["--threads", str(threads)]
    if shift == "digits":
        pre = stage_commands(out, quick=False, threads=threads)["pretrain"]
        return pre, lambda seed: finetune_cmd(out, seed, threads)
    files = species_files(out)
    # the plain 3x1 ResNet1D with the position channel (search's --positional auto for DNA: without it the
    # network cannot tell the junction's place, 0.76 instead of ~0.95 on splice), given as a pattern.json
    from autofast.models import build_backbone

    n = build_backbone("resnet1d", 1, 4, 3, 16, positional=True).num_searchable
    pattern = out / "data" / "plain_positional.json"
    pattern.write_text(json.dumps({"format": "autofast-dash-pattern/1", "backbone": "resnet1d", "positional": True,
                                   "layers": [{"kernel_size": 3, "dilation": 1}] * n}))
    pre = ["pretrain", "--task", str(files["pretrain"]), "--pattern", str(pattern), "--width", "16", "--epochs", "40",
           "--patience", "10", *t, "--out", str(out / "pretrain")]
    return pre, lambda seed: ["finetune", "--checkpoint", str(out / "pretrain" / "model.pt"), "--task",
                              str(files["id"]), "--ood-val", str(files["ood_val"]), "--ood-test", str(files["ood_test"]),
                              *FT, *t, "--seed", str(seed), "--out", str(out / f"finetune-{seed}")]


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
    p.add_argument("--shift", choices=sorted(TITLES), default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=int, default=2, help="finetune runs at once (each --threads threads)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/autoft-seeds"))
    args = p.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    pre, finetune_for = commands(args.shift, out, args.threads)
    if not (out / "pretrain" / "result.json").exists():
        print("$ python -m autofast " + " ".join(pre), file=sys.stderr, flush=True)
        seconds["pretrain"] = run(pre, out / "pretrain.log")

    def one(seed: int) -> None:
        if (out / f"finetune-{seed}" / "result.json").exists():
            return
        cmd = finetune_for(seed)
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
        f"its final seeds 0, 1, 2); {TITLES[args.shift]}.", "", table(rows, metric), "",
        f"The searched objective was kept by the one-SE rule in {len(kept)} of {len(rows)} seeds"
        + (f" ({', '.join(map(str, kept))})" if kept else "") + "; otherwise the AutoFT arm is the CE-only run.",
        "Seconds per finetune run: " + ", ".join(f"{r['seconds']:.0f}" for r in rows if r["seconds"]) + "."])
    (out / "autoft_seeds.md").write_text(md + "\n")
    (out / "autoft_seeds.json").write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
