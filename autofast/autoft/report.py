"""Reports of ``pretrain``, ``finetune`` and ``compare``: ``result.json``, ``report.md``, ``report.html`` and
plots (matplotlib, Agg), every file written atomically."""
from __future__ import annotations

from pathlib import Path

from autofast.reporting import fmt, fmt_mean_std, plot_curves, plot_rungs, plt, savefig, set_log_x_ticks, write_reports


# ------------------------------------------------------------------------------------------ pretrain
def pretrain_markdown(r: dict) -> str:
    a = r["arch"]
    lines = [f"# autofast pretrain: {r['task']}", "",
             f"**Test accuracy {r['test_acc']:.4f}** (evaluated once); best validation accuracy {r['val_acc']:.4f} at "
             f"epoch {r['best_epoch']} of {r['epochs_run']}{' (early stop)' if r['stopped_early'] else ''}.", "",
             f"What was selected on what: {r['selected_on']}.", "",
             "## Model", "", "| backbone | ndim | in channels | classes | width | pattern |", "|---|---|---|---|---|---|",
             f"| {a['backbone']} | {a['ndim']} | {a['in_channels']} | {a['num_classes']} | {a['width']} | "
             f"{a['pattern'] or 'plain 3x1'} |", "",
             f"Classes: {', '.join(r['classes'])}; shift: {r['shift'] or 'none'}; split {r['split']} (seed "
             f"{r['split_seed']}). Checkpoint: `{r['checkpoint']}` ({r['seconds']:.1f} s).", "",
             "![learning curves](learning_curves.png)", "",
             "## Epochs", "", "| epoch | train loss | val loss | val acc | s |", "|---|---|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {h['val_acc']:.4f} | {h['seconds']:.1f} |"
              for h in r["history"]]
    return "\n".join(lines) + "\n"


def write_pretrain_report(run_dir: Path, result: dict) -> None:
    h = result["history"]
    plot_curves(run_dir / "learning_curves.png", [
        {"curves": {"train": [r["train_loss"] for r in h]}, "title": "training loss", "ylabel": "loss"},
        {"curves": {"val": [r["val_acc"] for r in h]}, "title": "validation accuracy", "ylabel": "accuracy"}])
    write_reports(run_dir, result, pretrain_markdown(result), f"autofast pretrain {result['task']}")


# ------------------------------------------------------------------------------------------ finetune
def finetune_markdown(r: dict) -> str:
    m, s = r["metric"], r["summary"]
    mo, ood = r["model"], r["ood"]
    cfg = r["config"]
    seeds = ", ".join(map(str, r["final_seeds"]))
    lines = [f"# autofast finetune (AutoFT): {r['task']}", "",
             f"**OOD test {m} (mean over the OOD test sets; mean ± std over final seeds {seeds}): AutoFT "
             f"{fmt_mean_std(s['autoft']['ood_test_mean'][m])} vs CE-only fine-tuning {fmt_mean_std(s['ce_only']['ood_test_mean'][m])}.**",
             "",
             f"ID test {m}: AutoFT {fmt_mean_std(s['autoft']['id_test'][m])} vs CE-only {fmt_mean_std(s['ce_only']['id_test'][m])}.", "",
             f"What was selected on what: {r['selected_on']}.", "",
             "## Set-up", "",
             f"- Checkpoint `{mo['checkpoint']}`: {mo['arch']['backbone']} width {mo['arch']['width']}, pattern "
             f"{mo['arch']['pattern'] or 'plain 3x1'}, {mo['parameters']} parameters, pretrained on "
             f"{mo.get('checkpoint_task') or 'unknown task'}.",
             f"- Head: {'**re-initialised**' if mo['head_reinitialised'] else 'kept'} ({mo['head_reason']}).",
             f"- Task {r['task']} ({r['kind']}), classes {', '.join(r['classes'])}; split {r['split']}.",
             f"- OOD validation: {ood['val_source']}.",
             *[f"- OOD test `{n}`: {src}." for n, src in ood["test_sources"].items()],
             *([f"- Note: OOD test set(s) {', '.join(ood['same_family_in_val_and_test'])} use the same shift family as "
                f"the OOD validation set (other examples and seed)."] if ood["same_family_in_val_and_test"] else []),
             *[f"- Note: {n}." for n in ood.get("notes", [])],
             f"- Trained on {(cfg.get('devices') or ['cpu'])[0]} in precision {cfg.get('precision') or 'auto'} (auto: "
             "fp32).",
             f"- Optimiser {cfg['optimizer']}, base lr {cfg['base_lr']:g}; lr = base lr x lr_mult, constant (no "
             f"scheduler, no warm-up); batch {cfg['batch_size']}, at least {cfg['min_steps_per_epoch']} step(s) per epoch.",
             f"- Control (CE-only): cross-entropy alone, weight decay 0, same optimiser, {r['final_epochs']} epochs; lr "
             f"{r['control']['lr']:.3g} selected from {', '.join(f'{x:.3g}' for x in r['control']['lr_grid'])} on "
             f"{r['control']['selected_on']} (one grid run, seed {r['control']['selection_seed']}).",
             f"- AutoFT's objective: CE-only or the search's best, by the one-standard-error rule (below); then both "
             f"arms train afresh with seeds {seeds}: the same budget ({r['final_epochs']} epochs) per final model.",
             "- Contrastive term: not searched (autofast backbones have no label/text tower).", "",
             "## Results (mean ± std over final seeds)", "",
             f"| set | AutoFT {m} | CE-only {m} | AutoFT worst-group | CE-only worst-group |", "|---|---|---|---|---|"]
    for name in s["autoft"]:
        lines.append(f"| {name} | {fmt_mean_std(s['autoft'][name][m])} | {fmt_mean_std(s['ce_only'][name][m])} | "
                     f"{fmt_mean_std(s['autoft'][name]['worst_group'])} | {fmt_mean_std(s['ce_only'][name]['worst_group'])} |")
    lines += ["", "## Per seed", "", "| arm | seed | lr | OOD val | ID test | OOD test mean | diverged |",
              "|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        sc = run["scores"]
        lines.append(f"| {run['arm']} | {run['seed']} | {run['lr']:.3g} | {sc['ood_val'][m]:.4f} | {sc['id_test'][m]:.4f} | "
                     f"{sc['ood_test_mean'][m]:.4f} | {run['diverged'] or 'no'} |")
    lines += ["", *selection_markdown(r), ""]
    a = r["asha"]
    lines += [f"## ASHA (eta {a['eta']}, rungs {a['rungs']}; resource: {a['resource']})", "",
              "![rungs](asha_rungs.png)", "",
              f"| trial | status | epochs | best OOD val {m} | lr | lr used | weight decay | seed |",
              "|---|---|---|---|---|---|---|---|"]
    for t in a["trials"]:
        best = max(t["scores"].values()) if t["scores"] else float("nan")
        used = ", ".join(f"{x:.3g}" for x in t["lr_used"]) if t.get("lr_used") else "-"
        c = t["config"]
        lines.append(f"| {t['trial_id']} | {t['status']} | {t['resource']} | {fmt(best)} | {t['lr']:.3g} | {used} | "
                     f"{c.get('weight_decay', 0):.3g} | {c.get('seed', '-')} |")
    lines += ["", f"Best trial {a['best_trial']} (OOD validation {m} {a['best_val_score']:.4f} at rung "
              f"{a['best_rung']}).", "", "## Timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["timings"].items()]
    return "\n".join(lines) + "\n"


def _weights(w: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in w.items())


def selection_markdown(r: dict) -> list[str]:
    """The objective-selection section: both candidates on the OOD validation units, the winner and why."""
    sel, m = r["selection"], r["metric"]
    ce, so = r["control"], r["search_objective"]
    lines = [f"## Objective selection ({sel['rule']})", "",
             f"**{sel['reason']}.**", "",
             f"Both candidates trained with seed {ce['selection_seed']} for {r['final_epochs']} epochs and scored on "
             f"{sel['unit_name']} of the OOD validation set; difference and SE paired over those units.", "",
             f"| candidate | objective | lr | weight decay | OOD val {m} | difference vs CE-only ± 1 SE |",
             "|---|---|---|---|---|---|"]
    c = sel["candidates"]
    lines.append(f"| CE-only{' (selected)' if sel['winner'] == 'ce_only' else ''} | ce 1 | {ce['lr']:.3g} | 0 | "
                 f"{c['ce_only']['mean']:.4f} | - |")
    srch = c.get("search")
    lines.append(f"| searched{' (selected)' if sel['winner'] == 'search' else ''} | {_weights(so['weights'])} | "
                 f"{so['lr']:.3g} | {so['weight_decay']:.3g} | "
                 + (f"{srch['mean']:.4f} | {srch['diff_vs_simplest']:+.4f} ± {srch['se_vs_simplest']:.4f} |" if srch
                    else "diverged | - |"))
    return lines


def write_finetune_report(run_dir: Path, result: dict) -> None:
    a = result["asha"]
    plot_rungs(run_dir / "asha_rungs.png", a["trials"], a["rungs"], a["best_trial"],
               f"OOD validation {result['metric']}", "AutoFT on ASHA: every trial's rung results (best in red)",
               xlabel="inner fine-tuning epochs (rung resource)")
    write_reports(run_dir, result, finetune_markdown(result), f"autofast finetune {result['task']}")


# ------------------------------------------------------------------------------------------- compare
def labelled(row: dict) -> float:
    """Labelled examples a compare cell (or table row) used: training shots plus the selection set."""
    return row["n_train"] + row.get("n_val", 0)


def _val_label(t: dict) -> str:
    return "full val split" if t["val_shots"] == "full" else str(t["val_shots"])


def compare_figure(r: dict):
    """The score-vs-size figure of a compare result: ``(fig, ax)``, x ticked at each shot count's examples."""
    fig, ax = plt().subplots(figsize=(6, 3.8))
    colors = {"pretrained": "tab:blue", "baseline": "tab:orange"}
    labels = {"pretrained": "pretrained, fine-tuned", "baseline": "supervised baseline (DASHA recipe, from scratch)"}
    for arm in ("pretrained", "baseline"):
        rows = [t for t in r["table"] if t["arm"] == arm and t["test"]["n"]]
        xs = [labelled(t) for t in rows]
        mu = [t["test"]["mean"] for t in rows]
        sd = [t["test"]["std"] for t in rows]
        ax.errorbar(xs, mu, yerr=sd, marker="o", capsize=3, color=colors[arm], label=labels[arm])
        ax.fill_between(xs, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], color=colors[arm],
                        alpha=0.15)
        for row in (x for x in r["rows"] if x["arm"] == arm):
            ax.scatter(labelled(row), row["test_score"], s=6, color=colors[arm], alpha=0.5)
    ticks = {labelled(t): f"{labelled(t):g}\n{t['shots']}/class" for t in r["table"] if t["test"]["n"]}
    set_log_x_ticks(ax, list(ticks), list(ticks.values()))
    ax.set_xlabel("labelled examples, training + validation (log); shots per class")
    ax.set_ylabel(f"test {r['metric']}")
    ax.set_title(f"{r['task']}: mean ± std over seeds {r['seeds']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, ax


def _plot_compare(path: Path, r: dict) -> None:
    fig, _ = compare_figure(r)
    savefig(fig, path)


def compare_markdown(r: dict) -> str:
    m = r["metric"]
    lines = [f"# autofast compare: {r['task']}", "",
             f"Test {m} vs labelled training-set size, mean ± std over seeds {', '.join(map(str, r['seeds']))}.", "",
             f"What was selected on what: {r['selected_on']}.", "",
             f"- Pretrained: {r['pretrained_arm']}; head {'re-initialised' if r['model']['head_reinitialised'] else 'kept'}"
             f" ({r['model']['head_reason']}).",
             f"- Baseline: {r['baseline_arm']}.",
             f"- Task {r['task']}, classes {', '.join(r['classes'])}; split {r['split']}.", "",
             "![score vs size](score_vs_size.png)", "",
             f"Both arms see the same data per cell: the training shots, and the validation examples every choice "
             f"is made on (selection protocol `{r['selection']}`).", "",
             f"| train shots / class | val shots / class | train + val examples | pretrained test {m} | "
             f"baseline test {m} | difference |",
             "|---|---|---|---|---|---|"]
    for shots in r["shots"]:
        p = next(t for t in r["table"] if t["shots"] == shots and t["arm"] == "pretrained")
        b = next(t for t in r["table"] if t["shots"] == shots and t["arm"] == "baseline")
        diff = p["test"]["mean"] - b["test"]["mean"]
        lines.append(f"| {shots} | {_val_label(p)} | {p['n_train']:.0f} + {p['n_val']:.0f} | {fmt_mean_std(p['test'])} | "
                     f"{fmt_mean_std(b['test'])} | {diff:+.4f} |")
    lines += ["", "## Every run", "", f"| shots | seed | train n | val n | arm | val {m} | test {m} | chosen | s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        if row["arm"] == "pretrained":
            chosen = f"lr {row['lr']:.3g}, epoch {row.get('best_epoch', '-')}"
        else:
            c = row["config"]
            chosen = f"lr {c['lr']:.3g}, wd {c['weight_decay']:.2g}, epoch {row.get('best_epoch', '-')}/{row['epochs']}"
        lines.append(f"| {row['shots']} | {row['seed']} | {row['n_train']} | {row['n_val']} | {row['arm']} | "
                     f"{fmt(row['val_score'])} | "
                     f"{row['test_score']:.4f} | {chosen} | {row['seconds']:.1f} |")
    t = r["timings"]
    cells = t.get("cells", 0.0)
    lines += ["", f"Total time: {t['total']:.1f} s" + (f" (the cells took {cells:.1f} s in all: some were finished by "
                                                       "an earlier, interrupted run)." if cells > t["total"] else ".")]
    return "\n".join(lines) + "\n"


def write_compare_report(run_dir: Path, result: dict) -> None:
    _plot_compare(run_dir / "score_vs_size.png", result)
    write_reports(run_dir, result, compare_markdown(result), f"autofast compare {result['task']}")
