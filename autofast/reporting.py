"""Reports and plots shared by every command (search, dash, pretrain, finetune, compare, forecast):
Markdown -> HTML, atomic PNG output with matplotlib's Agg backend, the ASHA rung plot and learning curves.

Every file is written atomically (temp file + rename), so a killed run never leaves half a report.
matplotlib is imported only when a plot is drawn.
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Sequence

from autofast.io import atomic_path, write_json_atomic, write_text_atomic


def plt():
    """``matplotlib.pyplot`` on the Agg backend (no display needed). matplotlib's font-fallback warnings are
    kept off the user's terminal: a font cache written by another matplotlib (a system package that ships no
    fonts of its own shares ``~/.cache/matplotlib``) made every plot print ~20 "findfont: ... not found" lines;
    the plots fall back to DejaVu Sans either way."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return pyplot


def savefig(fig, path: str | Path, dpi: int = 110) -> None:
    """Write ``fig`` as PNG to ``path`` atomically and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt().close(fig)


def fmt(v, nd: int = 4) -> str:
    """A float with ``nd`` decimals; ``-`` for None and non-finite values; other values as ``str``."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def fmt_mean_std(d: dict, nd: int = 4) -> str:
    """``mean ± std`` of a ``{"mean", "std", "n"}`` dict; ``mean (n = 1)`` for one value (no spread to
    show); ``-`` when empty."""
    if not d or d.get("n", 0) == 0:
        return "-"
    if d.get("n") == 1:
        return f"{d['mean']:.{nd}f} (n = 1)"
    return f"{d['mean']:.{nd}f} ± {d['std']:.{nd}f}"


def md_to_html(md: str, title: str) -> str:
    """A minimal Markdown -> HTML for our reports: headings, tables, images, paragraphs, bullet lists,
    ``**bold**`` and ```code```."""
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


def write_reports(run_dir: str | Path, result: dict, md: str, title: str) -> None:
    """``report.md``, ``report.html`` and ``result.json`` in ``run_dir``, each atomically; ``result.json`` last, as
    it marks a finished run (a kill between them left a finished run without its report)."""
    run_dir = Path(run_dir)
    write_text_atomic(run_dir / "report.md", md)
    write_text_atomic(run_dir / "report.html", md_to_html(md, title))
    write_json_atomic(run_dir / "result.json", result)


def plot_rungs(path: str | Path, trials: Sequence[dict], rungs: Sequence[float], best_trial: int | None,
               ylabel: str, title: str, xlabel: str = "epochs (rung resource)") -> None:
    """Every ASHA trial's score per rung reached (``trial["scores"]``: rung index -> score), best in red."""
    p = plt()
    fig, ax = p.subplots(figsize=(6, 3.5))
    for t in trials:
        keys = sorted(t["scores"], key=int)
        best = t["trial_id"] == best_trial
        ax.plot([rungs[int(k)] for k in keys], [t["scores"][k] for k in keys], marker="o", lw=1.2 if best else 0.8,
                ms=3, color="tab:red" if best else "0.6", zorder=3 if best else 1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    savefig(fig, path)


def set_log_x_ticks(ax, values: Sequence[float], labels: Sequence[str] | None = None,
                    min_gap: float = 0.1) -> list[float]:
    """A log x axis ticked exactly at ``values`` (e.g. the counts plotted), labelled plainly (``labels``, or the
    value as ``%g``) with no minor-tick labels: matplotlib's default log labels (``10^1``, ``2x10^1``, ...)
    overlap where the values sit close together. A tick closer than ``min_gap`` (a fraction of the ticks' log
    range) to the last labelled one keeps its mark but not its label. Returns the tick positions, sorted."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    pairs = sorted({float(v): (labels[i] if labels else f"{float(v):g}") for i, v in enumerate(values)}.items())
    span = math.log(pairs[-1][0] / pairs[0][0]) if len(pairs) > 1 else 1.0
    shown, last = [], None
    for v, lab in pairs:
        keep = last is None or math.log(v / last) >= min_gap * span
        shown.append(lab if keep else "")
        last = v if keep else last
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([v for v, _ in pairs]))
    ax.xaxis.set_major_formatter(FixedFormatter(shown))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return [v for v, _ in pairs]


def plot_curves(path: str | Path, panels: Sequence[dict]) -> None:
    """Learning curves, one panel per dict: ``curves`` (label -> per-epoch values), optional ``highlight``
    (a label drawn in red, on top), ``title``, ``ylabel``, ``log`` (log y axis), ``xlabel`` (default epoch)."""
    p = plt()
    fig, axes = p.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        many = len(panel["curves"]) > 1
        for label, ys in panel["curves"].items():
            hi = label == panel.get("highlight") or not many
            ax.plot(range(1, len(ys) + 1), ys, lw=1.4 if hi else 0.7, color="tab:red" if hi and many else
                    ("tab:blue" if hi else "0.6"), zorder=3 if hi else 1, marker="o" if not many else None, ms=3)
        ax.set_xlabel(panel.get("xlabel", "epoch"))
        ax.set_ylabel(panel.get("ylabel", ""))
        if panel.get("log") and all(v > 0 for ys in panel["curves"].values() for v in ys if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set_title(panel.get("title", ""), fontsize=9)
    fig.tight_layout()
    savefig(fig, path)


def conv_paths_markdown(rows: Sequence[dict]) -> list[str]:
    """Report lines: which implementation ran each convolution shape (``autofast.kernels.conv.path_summary``)."""
    if not rows:
        return []
    out = ["", "## Convolution paths", "",
           "Each conv shape runs on the fastest exact path, measured once and cached (`--conv-path` forces one).", "",
           "| kind | input | weight | taps | groups | stride | grads | path | how | ms per path |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = ", ".join(f"{p} {v:.2f}" for p, v in sorted(r.get("ms", {}).items(), key=lambda kv: kv[1]))
        out.append(f"| {r['kind']} | {r['x']} | {r['weight']} | {r['taps']} | {r['groups']} | {r['stride']} | "
                   f"{r['grad']} | **{r['path']}** | {r['how']} | {ms} |")
    return out
