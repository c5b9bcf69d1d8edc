"""Outputs of a DASH run: the pattern JSON, a heat map of the architecture weights, result JSON,
the retrained model's weights (``model.pt`` and the predictor folder ``model/``), and the per-layer table."""
from __future__ import annotations

from pathlib import Path

import torch

from autofast.io import atomic_path, write_json_atomic
from autofast.reporting import plot_curves, savefig
from autofast.reporting import plt as pyplot

from .supernet import receptive_field, save_pattern


def plot_heatmap(path: Path, result: dict) -> None:
    """Layers x candidates heat map of softmax(alpha); the chosen (argmax) cell is outlined."""
    import numpy as np

    plt = pyplot()
    probs = np.array(result["arch_probabilities"])
    cands = [tuple(c) for c in result["search_space"]["candidates"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(cands)), max(3, 0.35 * len(probs) + 1.5)))
    im = ax.imshow(probs, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cands)), [f"k{k}d{d}" for k, d in cands], rotation=90, fontsize=7)
    ax.set_yticks(range(len(probs)), [f"conv {i}" for i in range(len(probs))], fontsize=7)
    for i, row in enumerate(probs):
        j = int(row.argmax())
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.5))
    fig.colorbar(im, ax=ax, label="softmax(alpha)")
    ax.set_title(f"DASH on {result['task']} ({result['backbone']}): architecture weights per layer", fontsize=9)
    fig.tight_layout()
    savefig(fig, path)


def pattern_rows(result: dict) -> list[tuple[int, int, int, int, float]]:
    """(layer, k, d, receptive field, probability of the chosen candidate) per searchable layer."""
    rows = []
    for i, ((k, d), p) in enumerate(zip(result["pattern"], result["arch_probabilities"])):
        rows.append((i, k, d, receptive_field(k, d), max(p)))
    return rows


def plot_learning_curves(path: Path, result: dict) -> None:
    """Training loss of the supernet search and of each retrained model, per epoch."""
    fits = {name: result[name]["history"] for name in ("retrain", "baseline") if name in result}
    plot_curves(path, [
        {"curves": {"search": [h["train_loss"] for h in result["search"]["history"]]}, "title": "DASH search (supernet)",
         "ylabel": "training loss"},
        {"curves": {n: [h["train_loss"] for h in hs] for n, hs in fits.items()}, "highlight": "retrain",
         "title": "retrain (red) and fixed baseline (kernel 3, dilation 1)", "ylabel": "training loss", "log": True}])


def write_run(out: Path, result: dict) -> None:
    """The run folder's files; the retrained network also as ``model/`` (:mod:`autofast.predictor`), so
    ``predict`` and ``autofast.load`` apply it."""
    from autofast.predictor import save_model

    model, task = result.pop("final_model")
    cfg = result["config"]
    result["saved_model"] = save_model(out, model, task, "dash", {
        "backbone": result["backbone"], "positional": result.get("positional_input", False),
        "members": [{"pattern": result["pattern"], "width": cfg["retrain_width"], "dropout": cfg["dropout"]}]}, {
        "task_source": cfg["task"], "metric": result["metric"], "lower_is_better": result["lower_is_better"],
        "test_score": result["test_score"], "split_seed": result["split"]["seed"],
        "trained_on": "train (checkpoint: best validation epoch)"})
    state = model.state_dict()
    save_pattern(out / "pattern.json", [tuple(p) for p in result["pattern"]],
                 {"task": result["task"], "backbone": result["backbone"],
                  "positional": result.get("positional_input", False)})
    plot_heatmap(out / "pattern_heatmap.png", result)
    plot_learning_curves(out / "learning_curves.png", result)
    with atomic_path(out / "model.pt") as tmp:
        torch.save(state, tmp)  # a plain state dict: load with torch.load(..., weights_only=True)
    write_json_atomic(out / "result.json", result)
