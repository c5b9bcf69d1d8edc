"""The architecture pair: the mean class probability of the best configuration of each architecture ASHA
searched (the DASH pattern and the plain one), a CNN candidate of its own beside the two alone.

Two networks with different receptive fields err on different examples more often than two seeds of one
network do; ASHA already trained both, so scoring their average costs two validation passes. Measured before it
was built (splice, 3 seeds at commit ed08e9e, 470 s budgets, the ASHA top-rung checkpoints trained on the
training split, test accuracy read offline only to judge the rule): best DASH trial 0.950-0.966, best plain
trial 0.955-0.956, their average 0.964-0.973, and with the k-mer family blended in 0.964-0.977 against
0.962-0.970 for what the search returned. The pair is scored on the same validation predictions as every
candidate (hold-out plans only: a cross-validated plan's final models are fold models, and its budgets are
small enough that it rarely plans DASH) and is eligible only when its parts are comparable
(:func:`.blend.parts_comparable`); it wins only when strictly better than the best single CNN, and it is then
the CNN a feature family is blended with. Its final model is the two trials as they were scored: their
checkpoints, trained on the training split (:func:`final_from_checkpoints`; retraining both on train+val
would cost two members' time, which a default budget does not leave). The test split is never read here.
"""
from __future__ import annotations

from pathlib import Path

import torch

from autofast.engine import task_loss, val_score

from .blend import mean_log_probs, parts_comparable

#: the pair's name among the candidates (the best of each architecture: DASH and plain)
PAIR = "dash+plain"


def candidate(held_out: dict[str, torch.Tensor], per_arch: dict[str, dict], configs: dict[str, dict],
              y: torch.Tensor) -> dict | None:
    """The pair as a candidate: ``held_out`` arch -> ``(N, K)`` log class probabilities of that
    architecture's best trial on the validation split (``y`` ``(N,)``), ``per_arch`` arch -> its best trial's
    record (``score``, ``trial``, ``rung``), ``configs`` arch -> that trial's configuration. None unless both
    DASH and plain are there. Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``,
    ``val_loss``, ``held_out`` (the pair's log-probabilities, not JSON), ``configs`` (the better architecture
    first), ``parts`` and the comparability record (``eligible``, ``part_gap``: DASH minus plain)."""
    if not {"dash", "plain"} <= set(held_out):
        return None
    order = sorted(("dash", "plain"), key=lambda a: -per_arch[a]["score"])
    pair = mean_log_probs(held_out["dash"], held_out["plain"])
    loss = float(task_loss(pair.float(), y))
    acc = float((pair.argmax(1) == y).double().mean())
    return {"score": val_score(loss, acc, False), "val_acc": acc, "val_loss": loss, "held_out": pair,
            "configs": [configs[a] for a in order],
            "parts": {a: {"trial": per_arch[a]["trial"], "rung": per_arch[a]["rung"],
                          "val_acc": float((held_out[a].argmax(1) == y).double().mean())} for a in order},
            **parts_comparable(held_out["dash"], held_out["plain"], y)}


def held_out_per_arch(trial, trials: list, per_arch: dict[str, dict], checkpoint_dir: Path, x: torch.Tensor,
                      device: str = "cpu") -> tuple[dict, dict]:
    """(arch -> ``(N, K)`` log class probabilities on ``x`` of that architecture's best trial, read from its
    checkpoint at the rung it is ranked by; arch -> that trial's config). Architectures whose checkpoint is
    missing are left out."""
    from autofast.asha.executor import rung_checkpoint

    from .blend import cnn_val_log_probs

    by_id = {t["trial_id"]: t for t in trials}
    out, configs = {}, {}
    for arch, rec in per_arch.items():
        ckpt = rung_checkpoint(checkpoint_dir, rec["trial"], rec["rung"])
        if ckpt.exists():
            configs[arch] = by_id[rec["trial"]]["config"]
            out[arch] = cnn_val_log_probs(trial, configs[arch], ckpt, x, None, device)
    return out, configs


def final_from_checkpoints(trial, pair: dict, checkpoint_dir: Path, device: str = "cpu") -> tuple:
    """The pair's final model: the two trials exactly as they were scored on validation, read from their
    checkpoints (trained on the training split; no retrain: a retrain of both on train+val costs two members'
    time, which a default budget does not leave, and the pair is what was selected). Returns (the
    :class:`~autofast.models.ensemble.Ensemble` in eval mode on ``device``, each member's history, the
    ``final`` record)."""
    from autofast.asha.executor import rung_checkpoint
    from autofast.models.ensemble import Ensemble

    from .trial import checkpoint_model

    members, histories, epochs = [], [], []
    for config, part in zip(pair["configs"], (pair["parts"][c["arch"]] for c in pair["configs"])):
        model, saved = checkpoint_model(trial, config, rung_checkpoint(checkpoint_dir, part["trial"], part["rung"]),
                                        device)
        members.append(model)
        histories.append(saved["history"])
        epochs.append(len(saved["history"]))
    model = Ensemble(members, classify=True).eval()
    return model, histories, {"family": "cnn", "arch": PAIR, "config": pair["configs"][0],
                              "member_configs": list(pair["configs"]), "members": len(members),
                              "member_trials": [pair["parts"][c["arch"]]["trial"] for c in pair["configs"]],
                              "member_epochs": epochs, "epochs": max(epochs), "seconds": 0.0,
                              "trained_on": "train (the ASHA checkpoints scored on validation; no retrain)"}
