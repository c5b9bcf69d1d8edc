"""The report of ``python -m autofast search``: ``result.json``, ``report.md``/``report.html``, the ASHA
rung plot and the learning curves (shared helpers of :mod:`autofast.reporting`)."""
from __future__ import annotations

from pathlib import Path

from autofast.reporting import conv_paths_markdown, plot_curves, plot_rungs, write_reports


def rung_table(r: dict) -> list:
    """Per rung: resource, trials that reached it, best validation score."""
    a = r["asha"]
    rows = []
    for k, res in enumerate(a["rungs"]):
        scores = [t["scores"][k] for t in a["trials"] if k in t["scores"]]
        rows.append({"rung": k, "epochs": res, "trials": len(scores), "best": max(scores) if scores else None})
    return rows


def schedule_note(r: dict) -> str:
    s = r["schedule"]
    text = (f"Learning-rate schedule of every ASHA trial and of the retrain: {s['description']} (a function of "
            f"the global step only, so a trial paused at a rung and resumed follows the curve of one trained "
            f"straight through; the retrain follows the same curve over its epochs). ")
    if s["horizon_is_max_epochs"]:
        return text + f"Horizon = the ASHA maximum resource R = {s['max_epochs']} epochs = the retrain length."
    return text + (f"**The retrain length was set to {s['retrain_epochs']} epochs, so the horizon is "
                   f"{s['retrain_epochs']} epochs, not R = {s['max_epochs']}**: trials at the top rung "
                   f"{'stopped before the end of' if s['retrain_epochs'] > s['max_epochs'] else 'ran past the end of'} "
                   f"the decay.")


def split_lines(r: dict) -> list[str]:
    """Where each split came from (result["split"]["provenance"])."""
    s = r.get("split")
    if not s:
        return []
    out = ["## Splits", "", "| split | rows | from |", "|---|---|---|"]
    out += [f"| {k} | {s.get(k, '')} | {s.get('provenance', {}).get(k, '')} |" for k in ("train", "val", "test")]
    return out + [""]


def report_markdown(r: dict) -> str:
    t = r["timings"]
    lines = [f"# autofast search: {r['task']}", "",
             f"**Test {r['metric']}: {r['test_score']:.4f}** (evaluated once, at the end)", "",
             f"What was selected on what: {r['selected_on']}.", "", schedule_note(r), "",
             *split_lines(r),
             "## Configuration", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in r["config"].items()]
    lines += ["", "## Stage timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in t.items()]
    pos = ", input with a position channel" if r.get("positional_input") else ""
    lines += ["", f"## Kernel pattern ({r['backbone']}{pos})", "", "| layer | k | d |", "|---|---|---|"]
    lines += [f"| {i} | {k} | {d} |" for i, (k, d) in enumerate(r["pattern"])]
    lines += conv_paths_markdown(r.get("conv_paths", []))
    a = r["asha"]
    lines += ["", f"## ASHA (eta {a['eta']}, rungs {a['rungs']}, sampler {a.get('sampler', 'random')})", "",
              "Rung diagram: how many trials reached each rung (the top 1/eta of a rung is promoted).", "",
              "| rung | epochs | trials | best validation |", "|---|---|---|---|"]
    for row in rung_table(r):
        best = "" if row["best"] is None else f"{row['best']:.4f}"
        lines.append(f"| {row['rung']} | {row['epochs']} | {row['trials']} {'#' * row['trials']} | {best} |")
    lines += ["", "![rungs](asha_rungs.png)", "", "## Learning curves", "", "![curves](learning_curves.png)", "",
              "## Trials", "", "| trial | status | rung | epochs | best score | config |", "|---|---|---|---|---|---|"]
    for tr in a["trials"]:
        best = max(tr["scores"].values()) if tr["scores"] else float("nan")
        cfg = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in tr["config"].items())
        lines.append(f"| {tr['trial_id']} | {tr['status']} | {tr['rung']} | {tr['resource']} | {best:.4f} | {cfg} |")
    lines += ["", f"Best trial {a['best_trial']} (validation {a['best_val_score']:.4f} at rung {a['best_rung']}), "
              f"retrained on train+val for {r['final']['epochs']} epochs"
              + (f", {r['final']['members']} times with seeds {r['final']['member_seeds']}; the final model is "
                 "their mean prediction (a deep ensemble; no member was selected)." if r['final'].get('members', 1) > 1
                 else "."), ""]
    return "\n".join(lines)


def write_search_report(run_dir: Path, result: dict) -> None:
    a = result["asha"]
    plot_rungs(run_dir / "asha_rungs.png", a["trials"], a["rungs"], a["best_trial"],
               f"validation {result['metric']}", "ASHA: every trial's rung results (best in red)")
    plot_curves(run_dir / "learning_curves.png", [
        {"curves": a["train_loss_curves"], "highlight": str(a["best_trial"]), "title": "ASHA trials (best in red)",
         "ylabel": "training loss", "log": True},
        {"curves": {f"member {i + 1}": [h["train_loss"] for h in hist]
                    for i, hist in enumerate(result.get("final_member_histories") or [result["final_history"]])},
         "title": "final retrain on train+val", "ylabel": "training loss"}])
    write_reports(run_dir, result, report_markdown(result), f"autofast search {result['task']}")
