"""A self-contained transfer demo that needs no download: ``python -m autofast.autoft.demo [--out runs/demo]``.

1. ``pretrain``: a WRN-16 (width 16, plain 3x3) on the bundled ``digits`` task, classes 0-4 only.
2. ``finetune``: AutoFT on digits 5-9 (other classes: the head is re-initialised). OOD validation: the ID val
   split blurred and rotated (severity 3, two copies concatenated); OOD test: the ID test split with other
   families, contrast (severity 4) and gaussian noise (severity 5). AutoFT (16 configs, ASHA up to 8 epochs; the
   searched objective kept only if it beats CE-only by more than one SE on OOD validation) vs plain CE
   fine-tuning (lr grid), both selected once on OOD validation, then 8 epochs with final seeds 0, 1, 2.
3. ``compare``: the pretrained checkpoint vs the supervised baseline trained from scratch (DASHA recipe) on
   digits 5-9 at 1, 5, 10, 20, 100 shots per class and the full training set, 3 seeds; every choice on a
   validation set of the same number of shots (``--selection kshot``).

``SUMMARY.md`` in the output folder collects the headline numbers and the wall time of each stage. Each stage is
the ordinary CLI command, printed before it runs, so the demo doubles as a usage example. ``--quick`` shrinks
every budget (a smoke test, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from autofast.io import write_text_atomic
from autofast.reporting import fmt_mean_std


def stage_commands(out: Path, quick: bool, threads: int) -> dict[str, list[str]]:
    t = ["--threads", str(threads)]
    ck = str(out / "pretrain" / "model.pt")
    if quick:
        pre = ["--width", "4", "--epochs", "1"]
        ft = ["--n-configs", "2", "--max-epochs", "2", "--final-epochs", "1", "--final-seeds", "0", "1",
              "--control-lr-mults", "1"]
        cmp = ["--shots", "1", "5", "--seeds", "0", "1", "--ft-epochs", "1", "--ft-lr-mults", "1",
               "--baseline-configs", "2", "--baseline-max-epochs", "1", "--baseline-epochs", "1"]
    else:
        pre = ["--width", "16", "--epochs", "20", "--patience", "20"]
        ft = ["--n-configs", "16", "--max-epochs", "8", "--final-epochs", "8", "--final-seeds", "0", "1", "2"]
        cmp = ["--shots", "1", "5", "10", "20", "100", "full", "--seeds", "0", "1", "2"]
    return {
        "pretrain": ["pretrain", "--task", "digits", "--classes", "0-4", *pre, *t, "--out", str(out / "pretrain")],
        "finetune": ["finetune", "--checkpoint", ck, "--task", "digits", "--classes", "5-9", "--ood-val", "blur:3",
                     "rotation:3", "--ood-test", "contrast:4", "noise:5", *ft, *t,
                     "--out", str(out / "finetune")],
        "compare": ["compare", "--checkpoint", ck, "--task", "digits", "--classes", "5-9", *cmp, *t,
                    "--out", str(out / "compare")],
    }


def summary_markdown(out: Path, seconds: dict) -> str:
    lines = ["# autofast transfer demo (digits 0-4 -> digits 5-9, no download)", ""]
    pre = json.loads((out / "pretrain" / "result.json").read_text())
    lines += [f"- Pretrained {pre['arch']['backbone']} width {pre['arch']['width']} on {pre['task']}: test accuracy "
              f"{pre['test_acc']:.4f} ({seconds['pretrain']:.0f} s).", ""]
    ft_path = out / "finetune" / "result.json"
    if ft_path.exists():
        ft = json.loads(ft_path.read_text())
        s, m = ft["summary"], ft["metric"]

        lines += [f"## AutoFT vs CE-only fine-tuning ({m}, mean ± std over final seeds "
                  f"{', '.join(map(str, ft['final_seeds']))}; {seconds['finetune']:.0f} s)", "",
                  f"OOD validation: {ft['ood']['val_source']}. Final budget {ft['final_epochs']} epochs for both "
                  f"arms; CE-only lr picked from {', '.join(f'{x:.3g}' for x in ft['control']['lr_grid'])} on the "
                  f"same OOD validation set.", "",
                  "| set | AutoFT | CE-only |", "|---|---|---|"]
        for name in s["autoft"]:
            lines.append(f"| {name} | {fmt_mean_std(s['autoft'][name][m])} | {fmt_mean_std(s['ce_only'][name][m])} |")
        lines += ["", "Selected objective: " + ", ".join(f"{k}={v:.3g}" for k, v in
                                                           ft["autoft_objective"]["weights"].items())
                  + f"; lr {ft['autoft_objective']['lr']:.3g}, weight decay "
                    f"{ft['autoft_objective']['weight_decay']:.3g} ({ft['selection']['reason']}).", ""]
    cmp_path = out / "compare" / "result.json"
    if cmp_path.exists():
        c = json.loads(cmp_path.read_text())
        lines += [f"## Pretrained vs supervised baseline over training-set size (test {c['metric']}, mean ± std over "
                  f"seeds {', '.join(map(str, c['seeds']))}; {seconds['compare']:.0f} s)", "",
                  "![score vs size](compare/score_vs_size.png)", "",
                  f"Selection protocol `{c['selection']}`: {c['selected_on']}.", "",
                  "| train shots / class | val shots / class | train + val examples | pretrained | baseline |",
                  "|---|---|---|---|---|"]
        for shots in c["shots"]:
            p = next(t for t in c["table"] if t["shots"] == shots and t["arm"] == "pretrained")
            b = next(t for t in c["table"] if t["shots"] == shots and t["arm"] == "baseline")
            val = "val split" if p["val_shots"] == "full" else p["val_shots"]
            lines.append(f"| {shots} | {val} | {p['n_train']:.0f} + {p['n_val']:.0f} | "
                         f"{fmt_mean_std(p['test'])} | {fmt_mean_std(b['test'])} |")
        lines.append("")
    lines += ["## Stage wall times (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in seconds.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autofast.autoft.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/demo", help="demo folder (must not exist or be empty)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test, not a measurement")
    ap.add_argument("--skip-compare", action="store_true")
    args = ap.parse_args(argv)
    from autofast.cli import main as cli

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: demo folder {str(out)!r} exists and is not empty; choose another --out", file=sys.stderr)
        return 2
    seconds: dict[str, float] = {}
    for name, cmd in stage_commands(out, args.quick, args.threads).items():
        if name == "compare" and args.skip_compare:
            continue
        print(f"$ python -m autofast {shlex.join(cmd)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        code = cli(cmd)
        seconds[name] = time.perf_counter() - t0
        if code != 0:
            return code
    seconds["total"] = sum(seconds.values())
    write_text_atomic(out / "SUMMARY.md", summary_markdown(out, seconds))
    print(f"demo summary: {out / 'SUMMARY.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
