"""Reports of ``pretrain``, ``finetune`` and ``compare``: ``result.json``, ``report.md``, ``report.html`` and
plots (matplotlib, Agg), every file written atomically."""
from __future__ import annotations

import html
import math
import re
from pathlib import Path

from autofast.io import atomic_path, write_json_atomic, write_text_atomic


def _f(v, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _ms(d: dict, nd: int = 4) -> str:
    if not d or d.get("n", 0) == 0:
        return "-"
    return f"{d['mean']:.{nd}f} ± {d['std']:.{nd}f}"


def md_to_html(md: str, title: str) -> str:
    """A minimal Markdown -> HTML for our reports: headings, tables, images, paragraphs, bullet lists."""
    out, in_table, in_list = [], False, False

    def inline(text: str) -> str:
        t = html.escape(text)
        t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    for line in md.splitlines():
        if line.startswith("|---"):
            continue
        if in_table and not line.startswith("|"):
            out.append("</table>")
            in_table = False
        if in_list and not line.startswith("- "):
            out.append("</ul>")
            in_list = False
        if line.startswith("# "):
            out.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("|"):
            if not in_table:
                out.append("<table border=1 cellpadding=3 style='border-collapse:collapse'>")
                in_table = True
            cells = [inline(c.strip()) for c in line.strip().strip("|").split("|")]
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif (m := re.fullmatch(r"!\[(.*?)\]\((.+?)\)", line.strip())):
            out.append(f'<img src="{html.escape(m.group(2))}" alt="{html.escape(m.group(1))}">')
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    if in_table:
        out.append("</table>")
    if in_list:
        out.append("</ul>")
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>\n" + "\n".join(out) + "\n"


def _write_reports(run_dir: Path, result: dict, md: str, title: str) -> None:
    write_json_atomic(run_dir / "result.json", result)
    write_text_atomic(run_dir / "report.md", md)
    write_text_atomic(run_dir / "report.html", md_to_html(md, title))


def _savefig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
             "## Epochs", "", "| epoch | train loss | val loss | val acc | s |", "|---|---|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {h['val_acc']:.4f} | {h['seconds']:.1f} |"
              for h in r["history"]]
    return "\n".join(lines) + "\n"


def write_pretrain_report(run_dir: Path, result: dict) -> None:
    _write_reports(run_dir, result, pretrain_markdown(result), f"autofast pretrain {result['task']}")


# ------------------------------------------------------------------------------------------ finetune
def _plot_rungs(path: Path, r: dict) -> None:
    plt = _plt()
    a = r["asha"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for t in a["trials"]:
        keys = sorted(t["scores"], key=int)
        ax.plot([a["rungs"][int(k)] for k in keys], [t["scores"][k] for k in keys], marker="o", lw=0.8, ms=3,
                color="tab:red" if t["trial_id"] == a["best_trial"] else "0.6")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("inner fine-tuning epochs (rung resource)")
    ax.set_ylabel(f"OOD validation {r['metric']}")
    ax.set_title("AutoFT on ASHA: every trial's rung results (best in red)", fontsize=9)
    fig.tight_layout()
    _savefig(fig, path)


def finetune_markdown(r: dict) -> str:
    m, s = r["metric"], r["summary"]
    h = r["headline"]
    mo, ood = r["model"], r["ood"]
    cfg = r["config"]
    seeds = ", ".join(map(str, r["final_seeds"]))
    lines = [f"# autofast finetune (AutoFT): {r['task']}", "",
             f"**OOD test {m} (mean over the OOD test sets; mean ± std over final seeds {seeds}): AutoFT "
             f"{_ms(s['autoft']['ood_test_mean'][m])} vs CE-only fine-tuning {_ms(s['ce_only']['ood_test_mean'][m])}.**",
             "",
             f"ID test {m}: AutoFT {_ms(s['autoft']['id_test'][m])} vs CE-only {_ms(s['ce_only']['id_test'][m])}.", "",
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
             f"- Optimiser {cfg['optimizer']}, base lr {cfg['base_lr']:g}; lr = base lr x lr_mult, constant (no "
             f"scheduler, no warm-up); batch {cfg['batch_size']}, at least {cfg['min_steps_per_epoch']} step(s) per epoch.",
             f"- Control (CE-only): cross-entropy alone, weight decay 0, same optimiser, {r['final_epochs']} epochs; lr "
             f"{r['control']['lr']:.3g} selected from {', '.join(f'{x:.3g}' for x in r['control']['lr_grid'])} on "
             f"{r['control']['selected_on']} (one grid run, seed {r['control']['selection_seed']}).",
             f"- Both arms select once on OOD validation, then train afresh with seeds {seeds}: the same budget "
             f"({r['final_epochs']} epochs) per final model.",
             "- Contrastive term: not searched (autofast backbones have no label/text tower).", "",
             "## Results (mean ± std over final seeds)", "",
             f"| set | AutoFT {m} | CE-only {m} | AutoFT worst-group | CE-only worst-group |", "|---|---|---|---|---|"]
    for name in s["autoft"]:
        lines.append(f"| {name} | {_ms(s['autoft'][name][m])} | {_ms(s['ce_only'][name][m])} | "
                     f"{_ms(s['autoft'][name]['worst_group'])} | {_ms(s['ce_only'][name]['worst_group'])} |")
    lines += ["", "## Per seed", "", "| arm | seed | lr | OOD val | ID test | OOD test mean | diverged |",
              "|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        sc = run["scores"]
        lines.append(f"| {run['arm']} | {run['seed']} | {run['lr']:.3g} | {sc['ood_val'][m]:.4f} | {sc['id_test'][m]:.4f} | "
                     f"{sc['ood_test_mean'][m]:.4f} | {run['diverged'] or 'no'} |")
    ob = r["autoft_objective"]
    lines += ["", "## Selected objective", "", "| term | weight |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in ob["weights"].items()]
    lines += [f"| lr | {ob['lr']:.4g} |", f"| weight decay | {ob['weight_decay']:.4g} |", ""]
    a = r["asha"]
    lines += [f"## ASHA (eta {a['eta']}, rungs {a['rungs']}; resource: {a['resource']})", "",
              "![rungs](asha_rungs.png)", "",
              f"| trial | status | epochs | best OOD val {m} | lr | lr used | weight decay | seed |",
              "|---|---|---|---|---|---|---|---|"]
    for t in a["trials"]:
        best = max(t["scores"].values()) if t["scores"] else float("nan")
        used = ", ".join(f"{x:.3g}" for x in t["lr_used"]) if t.get("lr_used") else "-"
        c = t["config"]
        lines.append(f"| {t['trial_id']} | {t['status']} | {t['resource']} | {_f(best)} | {t['lr']:.3g} | {used} | "
                     f"{c.get('weight_decay', 0):.3g} | {c.get('seed', '-')} |")
    lines += ["", f"Best trial {a['best_trial']} (OOD validation {m} {a['best_val_score']:.4f} at rung "
              f"{a['best_rung']}).", "", "## Timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["timings"].items()]
    return "\n".join(lines) + "\n"


def write_finetune_report(run_dir: Path, result: dict) -> None:
    _plot_rungs(run_dir / "asha_rungs.png", result)
    _write_reports(run_dir, result, finetune_markdown(result), f"autofast finetune {result['task']}")


# ------------------------------------------------------------------------------------------- compare
def _plot_compare(path: Path, r: dict) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    colors = {"pretrained": "tab:blue", "baseline": "tab:orange"}
    labels = {"pretrained": "pretrained, fine-tuned", "baseline": "supervised baseline (DASHA recipe, from scratch)"}
    for arm in ("pretrained", "baseline"):
        rows = [t for t in r["table"] if t["arm"] == arm and t["test"]["n"]]
        xs = [t["n_train"] for t in rows]
        mu = [t["test"]["mean"] for t in rows]
        sd = [t["test"]["std"] for t in rows]
        ax.errorbar(xs, mu, yerr=sd, marker="o", capsize=3, color=colors[arm], label=labels[arm])
        ax.fill_between(xs, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], color=colors[arm],
                        alpha=0.15)
        for row in (x for x in r["rows"] if x["arm"] == arm):
            ax.scatter(row["n_train"], row["test_score"], s=6, color=colors[arm], alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples (log)")
    ax.set_ylabel(f"test {r['metric']}")
    ax.set_title(f"{r['task']}: mean ± std over seeds {r['seeds']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, path)


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
             f"| shots / class | labelled examples | pretrained test {m} | baseline test {m} | difference |",
             "|---|---|---|---|---|"]
    for shots in r["shots"]:
        p = next(t for t in r["table"] if t["shots"] == shots and t["arm"] == "pretrained")
        b = next(t for t in r["table"] if t["shots"] == shots and t["arm"] == "baseline")
        diff = p["test"]["mean"] - b["test"]["mean"]
        lines.append(f"| {shots} | {p['n_train']:.0f} | {_ms(p['test'])} | {_ms(b['test'])} | {diff:+.4f} |")
    lines += ["", "## Every run", "", f"| shots | seed | n | arm | val {m} | test {m} | chosen | s |",
              "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        if row["arm"] == "pretrained":
            chosen = f"lr {row['lr']:.3g}, epoch {row.get('best_epoch', '-')}"
        else:
            c = row["config"]
            chosen = f"lr {c['lr']:.3g}, wd {c['weight_decay']:.2g}, epoch {row.get('best_epoch', '-')}/{row['epochs']}"
        lines.append(f"| {row['shots']} | {row['seed']} | {row['n_train']} | {row['arm']} | {_f(row['val_score'])} | "
                     f"{row['test_score']:.4f} | {chosen} | {row['seconds']:.1f} |")
    lines += ["", f"Total time: {r['timings']['total']:.1f} s."]
    return "\n".join(lines) + "\n"


def write_compare_report(run_dir: Path, result: dict) -> None:
    _plot_compare(run_dir / "score_vs_size.png", result)
    _write_reports(run_dir, result, compare_markdown(result), f"autofast compare {result['task']}")
