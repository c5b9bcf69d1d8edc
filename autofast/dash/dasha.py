"""The DASHA workflow behind ``python -m autofast search``: DASH search -> ASHA over the training
hyperparameters of the found pattern -> retrain the best on train+val -> ONE test evaluation.

The run folder is the search's state: ``pattern.json`` (stage 1, written as soon as it is found),
``asha/asha.sqlite`` (every suggestion, rung result, promotion, checkpoint) and ``asha/checkpoints/``.
``resume=True`` skips what is finished and continues the journal, so a killed search loses no
finished rung.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Literal

import torch
from pydantic import Field

from autofast.io import atomic_path, write_json_atomic, write_text_atomic

from .pipeline import DashConfig, _load, search_architecture
from .supernet import load_pattern, save_pattern
from .tune import TuneSettings, retrain_best, trial_histories, tune


class SearchConfig(DashConfig):
    """DASH settings plus the ASHA stage (defaults sized for 2 CPU cores; DASHA's own: 120 configs)."""

    retrain_width: int = Field(32, ge=1)
    retrain_epochs: int = Field(20, ge=1, description="final retrain on train+val")
    n_configs: int = Field(32, ge=1)
    eta: float = Field(2, gt=1)
    min_epochs: int = Field(1, ge=1)
    max_epochs: int = Field(16, ge=1)
    sampler: Literal["random", "grid", "tpe"] = "random"
    executor: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: address of an existing cluster; none starts a local Ray")
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1)
    trials_per_device: int = Field(1, ge=1, description="local executor: concurrent trials per device")


def run_search(cfg: SearchConfig, run_dir: Path, resume: bool = False,
               say: Callable[[str], None] = lambda m: None,
               on_start: Callable | None = None, on_result: Callable | None = None) -> dict:
    """Run (or, with ``resume``, continue) the DASHA workflow in ``run_dir``; return the result dict.

    ``say(message)`` reports stage progress; ``on_start(job)``/``on_result(outcome)`` every ASHA job.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    task = _load(cfg)
    timings["load"] = time.perf_counter() - t0
    pattern_file = run_dir / "pattern.json"
    if resume and pattern_file.exists():
        meta = json.loads(pattern_file.read_text())
        pattern, backbone = load_pattern(pattern_file), meta["backbone"]
        say("resume: pattern from the earlier run")
    else:
        found = search_architecture(task, cfg, say)
        pattern, backbone = found["pattern"], found["backbone"]
        save_pattern(pattern_file, pattern, {"backbone": backbone, "task": task.name, "seconds": found["seconds"]})
        timings["dash_search"] = found["seconds"]
    s = TuneSettings(width=cfg.retrain_width, n_configs=cfg.n_configs, eta=cfg.eta, min_epochs=cfg.min_epochs,
                     max_epochs=cfg.max_epochs, batch_size=cfg.batch_size, seed=cfg.seed, sampler=cfg.sampler,
                     executor=cfg.executor, address=cfg.address, devices=tuple(cfg.devices),
                     trials_per_device=cfg.trials_per_device)
    say(f"ASHA: {cfg.n_configs} configurations, epochs {cfg.min_epochs}..{cfg.max_epochs}, eta {cfg.eta}")
    t0 = time.perf_counter()
    sched = tune(task, backbone, pattern, s, run_dir / "asha", resume=resume, on_start=on_start, on_result=on_result)
    timings["asha"] = time.perf_counter() - t0
    curves = trial_histories(sched)
    best_id, best_cfg, best_score, best_rung = sched.best()
    say(f"retrain trial {best_id} on train+val for {cfg.retrain_epochs} epochs")
    final = retrain_best(task, backbone, pattern, s, best_cfg, cfg.retrain_epochs, say)
    timings["retrain"] = final["seconds"]
    reg = task.data.kind == "timeseries"
    result = {
        "task": task.name, "kind": task.data.kind, "backbone": backbone, "pattern": [list(p) for p in pattern],
        "asha": {"rungs": sched.rungs, "trials": sched.trials(), "best_trial": best_id, "best_val_score": best_score,
                 "best_rung": best_rung, "eta": cfg.eta, "sampler": cfg.sampler, "executor": cfg.executor,
                 "train_loss_curves": {str(k): v for k, v in curves.items()}},
        "final": {k: v for k, v in final.items() if k != "history"}, "final_history": final["history"],
        "metric": "MSE" if reg else "accuracy",
        "test_score": final["test_loss"] if reg else final["test_acc"],
        "config": cfg.model_dump(mode="json"), "timings": timings,
        "selected_on": "pattern: training loss (DASH, single level); hyperparameters: validation "
                       f"{'MSE' if reg else 'accuracy'} (ASHA); final model: trained on train+val; "
                       "test split evaluated once",
    }
    write_json_atomic(run_dir / "result.json", result)
    _plot_rungs(run_dir / "asha_rungs.png", result)
    _plot_curves(run_dir / "learning_curves.png", result)
    write_text_atomic(run_dir / "report.md", report_markdown(result))
    write_text_atomic(run_dir / "report.html", _html(report_markdown(result)))
    return result


def _plot_rungs(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rungs = result["asha"]["rungs"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for t in result["asha"]["trials"]:
        xs = [rungs[int(k)] for k in sorted(t["scores"], key=int)]
        ys = [t["scores"][k] for k in sorted(t["scores"], key=int)]
        ax.plot(xs, ys, marker="o", lw=0.8, ms=3, color="tab:red" if t["trial_id"] == result["asha"]["best_trial"] else "0.6")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("epochs (rung resource)")
    ax.set_ylabel(f"validation {result['metric']}")
    ax.set_title("ASHA: every trial's rung results (best in red)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _plot_curves(path: Path, result: dict) -> None:
    """Learning curves: every ASHA trial's training loss per epoch (best in red) and the final retrain's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = result["asha"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for tid, ys in a["train_loss_curves"].items():
        best = int(tid) == a["best_trial"]
        ax1.plot(range(1, len(ys) + 1), ys, lw=1.4 if best else 0.7, color="tab:red" if best else "0.6",
                 zorder=3 if best else 1)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax1.set_title("ASHA trials (best in red)", fontsize=9)
    h = result["final_history"]
    ax2.plot([r["epoch"] for r in h], [r["train_loss"] for r in h], marker="o", ms=3)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss")
    ax2.set_title("final retrain on train+val", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def rung_table(r: dict) -> list:
    """Per rung: resource, trials that reached it, failed there, best validation score."""
    a = r["asha"]
    rows = []
    for k, res in enumerate(a["rungs"]):
        scores = [t["scores"][k] for t in a["trials"] if k in t["scores"]]
        rows.append({"rung": k, "epochs": res, "trials": len(scores), "best": max(scores) if scores else None})
    return rows


def report_markdown(r: dict) -> str:
    t = r["timings"]
    lines = [f"# autofast search: {r['task']}", "",
             f"**Test {r['metric']}: {r['test_score']:.4f}** (evaluated once, at the end)", "",
             f"What was selected on what: {r['selected_on']}.", "",
             "## Configuration", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in r["config"].items()]
    lines += ["", "## Stage timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in t.items()]
    lines += ["", f"## Kernel pattern ({r['backbone']})", "", "| layer | k | d |", "|---|---|---|"]
    lines += [f"| {i} | {k} | {d} |" for i, (k, d) in enumerate(r["pattern"])]
    a = r["asha"]
    lines += ["", f"## ASHA (eta {a['eta']}, rungs {a['rungs']}, sampler {a.get('sampler', 'random')})", "",
              "Rung diagram: how many trials reached each rung (the top 1/eta of a rung is promoted).", "",
              "| rung | epochs | trials | best validation |", "|---|---|---|---|"]
    for row in rung_table(r):
        best = "" if row["best"] is None else f"{row['best']:.4f}"
        bar = "#" * row["trials"]
        lines.append(f"| {row['rung']} | {row['epochs']} | {row['trials']} {bar} | {best} |")
    lines += ["", "![rungs](asha_rungs.png)", "", "## Learning curves", "", "![curves](learning_curves.png)", "",
              "## Trials", "", "| trial | status | rung | epochs | best score | config |", "|---|---|---|---|---|---|"]
    for tr in a["trials"]:
        best = max(tr["scores"].values()) if tr["scores"] else float("nan")
        cfg = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in tr["config"].items())
        lines.append(f"| {tr['trial_id']} | {tr['status']} | {tr['rung']} | {tr['resource']} | {best:.4f} | {cfg} |")
    lines += ["", f"Best trial {a['best_trial']} (validation {a['best_val_score']:.4f} at rung {a['best_rung']}), "
              f"retrained on train+val for {r['final']['epochs']} epochs.", ""]
    return "\n".join(lines)


def _html(md: str) -> str:
    import html

    body = []
    for line in md.splitlines():
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}">')
        elif line:
            body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    out, in_table = [], False
    for b in body:
        if b.startswith("<tr>") and not in_table:
            out.append("<table border=1 cellpadding=3>")
            in_table = True
        if not b.startswith("<tr>") and in_table:
            out.append("</table>")
            in_table = False
        out.append(b)
    if in_table:
        out.append("</table>")
    return "<!doctype html><meta charset=utf-8><title>autofast search</title>\n" + "\n".join(out) + "\n"
