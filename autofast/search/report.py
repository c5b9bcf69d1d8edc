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
    cut = _retrain_cut(r)
    if cut:  # the plan's retrain length is not what ran (it said "R = 16 = the retrain length" for 5 epochs)
        text += (f"**The time budget cut the retrain to {cut[0]} of its {cut[1]} planned epochs** (its cosine ended "
                 "there). ")
    if s["horizon_is_max_epochs"]:
        return text + (f"Horizon = the ASHA maximum resource R = {s['max_epochs']} epochs"
                       + (" = the planned retrain length." if cut else " = the retrain length."))
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


def plan_lines(r: dict) -> list[str]:
    """The plan (every derived value and why) and what the DASH space dropped."""
    out = ["## Plan", "", *[f"- {line}" for line in r.get("plan_summary", [])], ""]
    p = r.get("plan", {})
    if p.get("predicted"):
        out += ["| stage | predicted s | actual s |", "|---|---|---|"]
        timings = r.get("timings", {})
        actual = {"dash": timings.get("dash_search"),
                  "measure_and_load": (None if "load" not in timings else
                                       timings["load"] + timings.get("measure_and_plan", 0.0))}
        for k, v in p["predicted"].items():
            a = actual[k] if k in actual else timings.get(k)
            out.append(f"| {k} | {v:.1f} | {'' if a is None else f'{a:.1f}'} |")
        out.append("")
        out += asha_ran_lines(r)
    dash = r.get("dash") or {}
    if dash.get("diverged"):
        out += [f"DASH stage: {dash['diverged']}; ASHA went on with the plain pattern only.", ""]
    if dash.get("dropped"):
        out += ["DASH candidates dropped as wider than the layer's input (receptive field d(k-1)+1 > input size):", ""]
        out += [f"- layer {d['layer']} (input size {d['extent']}): "
                + ", ".join(f"k{k}d{dd}" for k, dd in d["dropped"]) for d in dash["dropped"]]
        out.append("")
    return out


def asha_ran_lines(r: dict) -> list[str]:
    """How many of the planned configurations ASHA ran, and how many reached its top rung (its deadline, not
    the plan's count, ends it: where trials run slower than the measured step cost, fewer run)."""
    p, trials = r.get("plan", {}), (r.get("asha") or {}).get("trials")
    if not trials or not p.get("n_configs"):
        return []
    ran = sum(1 for t in trials if t.get("scores"))
    top = sum(1 for t in trials if t.get("resource") == p.get("max_epochs") and t.get("scores"))
    return [f"ASHA ran {ran} of the {p['n_configs']} planned configurations; {top} reached the top rung of "
            f"{p.get('max_epochs')} epochs.", ""]


def selection_lines(r: dict) -> list[str]:
    sel = r.get("selection") or {}
    if not sel:
        return []
    classify = r.get("metric") in (None, "accuracy")
    score_name = "best validation score" if classify else "best validation score (minus MSE, standardised targets)"
    measure = "accuracy" if classify else "MSE"
    out = ["## Which candidate won", "", f"| candidate | {score_name} |", "|---|---|"]
    out += [f"| {k}{' (winner)' if k == sel['winner'] else ''} | {v:.4f} |" for k, v in sel["val_scores"].items()]
    if sel.get("margin") is not None:
        if sel["winner"] in (sel.get("blends") or {}):
            out += ["", f"Winner: **{sel['winner']}**: a blend whose parts are comparable is the final model "
                        + (f"(validation score {sel['margin']:+.4f} against the best other candidate)."
                           if abs(sel["margin"]) >= 5e-5 else "(level on validation with the best other candidate).")]
        elif (sel.get("signal") or {}).get("instead") == sel["winner"]:
            out += ["", f"Winner: **{sel['winner']}**, {-sel['margin']:.4f} behind the best candidate on "
                        "validation, which did not beat predicting the training mean (below)."]
        elif len(sel["val_scores"]) == 1:
            out += ["", f"Winner: **{sel['winner']}**, the only candidate."]
        else:
            out += ["", f"Winner: **{sel['winner']}**, ahead of the runner-up by {sel['margin']:.4f} on validation."]
    from .blend import FAMILY_NAMES

    named = [f"{k}: {v}" for k, v in FAMILY_NAMES.items() if k in sel["val_scores"]]
    if named:
        out += ["", "Candidates: the CNN architectures (their best ASHA trial); " + "; ".join(named)
                + "; cnn+X: the CNN's (dash+plain when its parts are comparable, else the best trial) and X's "
                + ("class probabilities" if classify else "predictions")
                + f" averaged (a candidate only when its parts' {'accuracies' if classify else 'squared errors'} "
                "differ by at most two standard errors of their paired difference; such a blend is the final model)."]
    contest = sel.get("random_convolution_contest")
    if contest:
        what = "accuracy" if r.get("metric") == "accuracy" else "MSE (standardised targets)"
        out += ["", f"hydra vs rocket on the same validation predictions: {what} {contest['hydra']:.4f} vs "
                    f"{contest['rocket']:.4f}, paired difference {contest['gap']:+.4f} (standard error "
                    f"{contest['se']:.4f}): **{contest['kept']}** went on to the choice above (Hydra replaces "
                    "MiniRocket only when ahead by more than one standard error)."]
    pair = sel.get("pair")
    if pair:
        def part_score(p: dict) -> str:
            return (f"validation accuracy {p['val_acc']:.4f}" if classify and p.get("val_acc") is not None
                    else f"validation MSE {p['val_loss']:.4f}")

        parts = ", ".join(f"{a} trial {p['trial']} (rung {p['rung']}, {part_score(p)})" for a, p in pair["parts"].items())
        out += ["", f"dash+plain: the best DASH and the best plain trial averaged ({parts}): {part_score(pair)}"
                    + (f", loss {pair['val_loss']:.4f}; " if classify else "; ")
                    + ("a candidate, and the CNN of the cnn+X blends."
                       if pair["eligible"] else
                       f"not a candidate: its parts differ by {abs(pair['part_gap']):.4f} in {measure} "
                       f"(standard error {pair['part_gap_se']:.4f}).")]
    signal = sel.get("signal")
    if signal:
        gap = signal["gap"]
        out += ["", f"{signal['candidate']} against predicting the training mean on the same predictions: MSE "
                    f"{abs(gap):.4f} {'lower' if gap >= 0 else 'higher'} (paired standard error {signal['se']:.4f}): "
                    + (f"no signal beyond the mean, so the {signal['instead']} features went on instead (lower "
                       "variance where nothing can be selected)." if "instead" in signal else "ahead, kept.")]
    for k, b in (sel.get("blends") or {}).items():
        if not b.get("eligible", True) and "behind" in b:
            who = b["behind"]["part"]
            part = {"cnn": "its CNN", "features": "its features"}.get(who, f"the {FAMILY_NAMES.get(who, who)}")
            what = "accuracy" if b.get("val_acc") is not None else "MSE"
            verb = "are" if who == "features" else "is"
            out += ["", f"{k} not a candidate: {part} alone {verb} ahead of it by {b['behind']['gap']:.4f} in {what} "
                        f"on the same predictions (paired standard error {b['behind']['se']:.4f}); blend validation "
                        f"score {b['score']:.4f}."]
        elif not b.get("eligible", True):
            out += ["", f"{k} not a candidate: its parts differ by {abs(b['part_gap']):.4f} in {measure} "
                        f"(standard error {b['part_gap_se']:.4f}); blend validation score {b['score']:.4f}."]
    return out + [""]


def asha_lines(r: dict) -> list[str]:
    a = r.get("asha")
    if not a:
        return []
    lines = ["", f"## ASHA (eta {a['eta']}, rungs {a['rungs']}, sampler {a.get('sampler', 'random')})", "",
             "Rung diagram: how many trials reached each rung (the top 1/eta of a rung is promoted)."
             + ("" if a.get("finished", True) else " **Stopped by the time budget before the last jobs.**"), "",
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
    if a.get("best_trial") is not None:
        lines += ["", f"Best trial {a['best_trial']} (validation {a['best_val_score']:.4f} at rung {a['best_rung']})."]
    return lines


WINDOW_OPTIONS = ("lookback", "horizon", "train_stride")  # forecasting windows only
DASH_ONLY = ("dropout", "baseline")  # options of `dash` that search does not use


def applicable_options(config: dict, kind: str | None) -> dict:
    """The search options that apply to a task of ``kind`` (no window options for a DNA task, ...)."""
    skip = set(DASH_ONLY) | (set() if kind == "timeseries" else set(WINDOW_OPTIONS))
    return {k: v for k, v in config.items() if k not in skip}


def report_options(r: dict) -> dict:
    """The report's options table: those that apply, the precision with what it resolved to (auto -> fp32)."""
    options = applicable_options(r["config"], r.get("kind"))
    if r.get("precision") and options.get("precision") not in (None, r["precision"]):
        options["precision"] = f"{options['precision']} (trained in {r['precision']})"
    return options


def score_text(v: float) -> str:
    """A score with 4 decimals, or 4 significant digits where it is smaller than 0.001 (an RMSE of 5e-07 on
    targets of 1e-6 printed as 0.0000)."""
    return f"{v:.4f}" if not isinstance(v, (int, float)) or v == 0 or abs(v) >= 1e-3 else f"{v:.4g}"


def resumed_line(r: dict) -> str:
    """A resumed run's processes (each start, on how many threads) and what its timings and budget are."""
    runs = "; ".join(f"{'resumed' if p.get('resumed') else 'started'} {p.get('started')} on {p.get('threads')} "
                     "thread(s)" for p in r.get("processes") or [])
    return (f"**Resumed**: {runs}. The timings and the budget below are the last process's (a resumed search gets "
            "its budget afresh and reuses every finished trial); the test split was scored once, in that process.")


def test_name(r: dict) -> str:
    """What the run's one test evaluation measured: "test", or "training-set" where every test row is a training
    row (the estimators' runs name their training file as the test file: a resubstitution score)."""
    return "training-set" if (r.get("final") or {}).get("test_all_copies") else "test"


def test_beside(f: dict) -> list[str]:
    """The one test evaluation's other figures, beside its metric: mean IoU, MAE, RMSE per target, balanced accuracy
    and the most frequent class's share (accuracy's floor)."""
    out = [f"{name} {score_text(f[key])}" for key, name in (("test_mean_iou", "mean IoU"), ("test_mae", "MAE"),
                                                     ("test_balanced_acc", "balanced accuracy"))
           if isinstance(f.get(key), (int, float))]
    if f.get("test_rmse_per_target"):
        out.append("RMSE per target " + ", ".join(score_text(v) for v in f["test_rmse_per_target"]))
    if isinstance(f.get("test_majority_share"), (int, float)):
        out.append(f"the most frequent class is {f['test_majority_share']:.4f} of the test split")
    if f.get("test_all_copies"):
        out.append(f"all {f['test_copies']} test examples are training rows: a training-set score, not held out")
    elif f.get("test_copies"):  # rows the model may have memorised: the score without them beside it
        unseen = (f"accuracy {f['test_acc_unseen']:.4f}" if "test_acc_unseen" in f else
                  f"RMSE {score_text(f['test_rmse_unseen'])}" if "test_rmse_unseen" in f else "")
        out.append(f"{f['test_copies']} test examples have an exact copy among the training rows ({unseen} on the "
                   "others)")
    return out


def skew_notes(r: dict) -> list[str]:
    """A line where the test accuracy is no better than always answering the most frequent class (imbalanced
    classes: every candidate tied at the majority's 0.95)."""
    f = r["final"]
    share, acc = f.get("test_majority_share"), f.get("test_acc")
    if not isinstance(share, (int, float)) or not isinstance(acc, (int, float)) or acc > share + 1e-9:
        return []
    return [f"the test accuracy {acc:.4f} is no better than always answering the most frequent class "
            f"({share:.4f}; balanced accuracy {f.get('test_balanced_acc', float('nan')):.4f}): the model has not "
            "learned the rarer classes -- more examples of them, or a budget for more training, may help"]


def _retrain_cut(r: dict) -> tuple[int, int] | None:
    """(epochs run, epochs planned) where the time budget shortened the final retrain, else None."""
    f, plan = r.get("final") or {}, r.get("plan") or {}
    ran, planned = f.get("epochs"), plan.get("retrain_epochs")
    if not str(f.get("family", "")).startswith("cnn") or plan.get("folds") or not isinstance(ran, int) \
            or not isinstance(planned, int):  # a CNN, or a blend of one ("cnn+kernel") whose retrain was cut
        return None
    return (ran, planned) if ran < planned else None


def report_markdown(r: dict) -> str:
    t = r["timings"]
    f = r["final"]
    cut = _retrain_cut(r)
    lines = [f"# autofast search: {r['task']}", "",
             f"**{test_name(r).capitalize()} {r['metric']}: {score_text(r['test_score'])}** "
             "(evaluated once, at the end)"
             + "".join(f"; {x}" for x in test_beside(f)), "",
             *[line for x in skew_notes(r) + r.get("data_notes", []) for line in (f"**Note**: {x}", "")],
             *([resumed_line(r), ""] if r.get("resumed") else []),
             f"What was selected on what: {r['selected_on']}.", "", schedule_note(r), "",
             *split_lines(r), *plan_lines(r), *selection_lines(r),
             "## Final model", "", f"Family {f.get('family')}" + (f", architecture {f['arch']}" if f.get("arch") else "")
             + f", trained on {f.get('trained_on')}, "
             + (f"{f['draws']} draw(s) of the random features" if f.get("draws") else f"{f.get('members', 1)} member(s)")
             + (f", {f['epochs']} epochs" if f.get("family") == "cnn" and isinstance(f.get("epochs"), int) else "")
             + (" (the time budget paid {} of {} planned)".format(*cut) if cut else "") + ".", "",
             "## Configuration", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report_options(r).items()]
    lines += ["", "## Stage timings (s)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in t.items()]
    changes = r.get("thread_changes") or []
    if changes:
        lines += ["", "Other processes kept some of this process's CPUs busy; training threads followed what they "
                  "left (threads from the time in s, CPUs the others kept busy): "
                  + ", ".join(f"{c['threads']} from {c['at']:.0f} ({c['others_busy']:.1f})" for c in changes) + "."]
    pos = ", input with a position channel" if r.get("positional_input") else ""
    for arch, pat in (r.get("architectures") or {}).items():
        lines += ["", f"## Kernel pattern '{arch}' ({r['backbone']}{pos})", "", "| layer | k | d |", "|---|---|---|"]
        lines += [f"| {i} | {k} | {d} |" for i, (k, d) in enumerate(pat)]
    lines += conv_paths_markdown(r.get("conv_paths", []))
    lines += asha_lines(r)
    return "\n".join(lines + [""])


def write_search_report(run_dir: Path, result: dict) -> None:
    a = result["asha"]
    if not a or a.get("best_trial") is None:
        write_reports(run_dir, result, report_markdown(result), f"autofast search {result['task']}")
        return
    plot_rungs(run_dir / "asha_rungs.png", a["trials"], a["rungs"], a["best_trial"],
               f"validation {result['metric']}", "ASHA: every trial's rung results (best in red)")
    plot_curves(run_dir / "learning_curves.png", [
        {"curves": a["train_loss_curves"], "highlight": str(a["best_trial"]), "title": "ASHA trials (best in red)",
         "ylabel": "training loss", "log": True},
        {"curves": {f"member {i + 1}": [h["train_loss"] for h in hist]
                    for i, hist in enumerate(result.get("final_member_histories") or [result["final_history"]])},
         "title": "final model's training", "ylabel": "training loss"}])
    write_reports(run_dir, result, report_markdown(result), f"autofast search {result['task']}")
