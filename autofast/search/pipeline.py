"""The DASHA workflow behind ``python -m autofast search``, planned from the data and a time budget:

load -> measure a step -> plan (:mod:`.plan`: batch, epochs, configurations, folds, DASH budget, ensemble)
-> [random-convolution features scored like a configuration] -> DASH search -> ASHA over the training
hyperparameters and the architecture (DASH pattern or plain) -> the final model (retrain ensemble on
train+val, or the best configuration's fold models) -> ONE test evaluation. On a GPU the host-CPU families
(k-mer model, kernel SVM) fit in a worker process beside DASH and ASHA, and the chosen one's refit beside the
retrain (:mod:`.host`).

The run folder is the search's state: ``plan.json``, ``pattern.json`` (stage 1, written as soon as it is
found), ``asha/asha.sqlite`` (every suggestion, rung result, promotion, checkpoint) and ``asha/checkpoints/``.
``resume=True`` keeps the plan and skips what is finished, so a killed search loses no finished rung; a
resumed run gets its budget afresh.
"""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from autofast.budget import Clock
from autofast.dash.pipeline import check_options, conv_record, search_architecture
from autofast.dash.supernet import load_pattern, save_pattern
from autofast.engine.numerics import in_force
from autofast.engine.rng import seeded_init
from autofast.engine.precision import resolve as resolve_precision
from autofast.errors import OOM_FIX, AutofastError, Diverged
from autofast.io import PENDING_RESULT, write_json_atomic
from autofast.kernels.conv import path_summary
from autofast.kernels.conv.run_record import FILE as RECORD
from autofast.models.wdkernel import SHIFTS
from autofast.runtime import configure as configure_runtime
from autofast.runtime import thread_history
from autofast.tasks import backbone_for, load_from_config, plain_network, task_metric, test_rows, test_scores

from . import arch_pair, hydra_family, kernel_family, kmer_family, linear_family, rocket_family, wd_family
from .arch_pair import PAIR
from .blend import FAMILY_NAMES, calibrated
from .config import SearchConfig
from .host import HOST_FAMILIES, HostWorker, runs_beside
from .plan import FINAL_SHARE, MARGIN, DataSize, Plan, default_budget, final_refit_seconds, make_plan
from .report import write_search_report
from .trial import TuneSettings, cv_pool, fused_group, fuses, initial_configs, with_parallelism
from .tune import fold_models, retrain_best, trial_histories, tune

#: the feature families, each a module with ``candidate(task, folds, seed, device, **options) -> dict`` (scored
#: like a CNN configuration) and ``final(task, cand, seed, temperature, device, time_left) -> (model, seconds,
#: record)`` (``time_left``: the seconds to the budget's end, which a family of several fits stops its draws by:
#: :func:`.rocket_family.final`; the default budgets end their searches seconds early, so they keep every draw)
FAMILIES = {"rocket": rocket_family, "hydra": hydra_family, "kmer": kmer_family, "wd": wd_family,
            "linear": linear_family, "kernel": kernel_family}


def split_record(task) -> dict:
    """Sizes, seed and where each split came from (official files, carved, or ratios)."""
    split = task.split
    if hasattr(split, "describe"):
        return split.describe()
    return {"train": len(task.y_train), "val": len(task.y_val), "test": len(task.y_test), "seed": split.seed,
            "provenance": {"train": split.protocol, "val": split.protocol, "test": split.protocol}}


def length_note(task) -> str | None:
    """DNA whose classes' sequence lengths do not overlap on the training rows (peaks of 150-300 nt beside 80-150 nt
    background): a model reads the padding and scores on length alone (test accuracy 1.0 on random sequences).
    A note naming each class's range, else None."""
    if task.data.kind != "dna" or task.data.regression:
        return None
    x, y = task.x_train, task.y_train
    present = x.abs().sum(1) > 0  # (N, L): a base (or an ambiguity code) there; padding is zeros
    pos = torch.arange(x.shape[-1], device=x.device)
    lengths = torch.where(present, pos + 1, torch.zeros_like(pos)).amax(1)
    ranges = [(c, int(lengths[y == k].min()), int(lengths[y == k].max()))
              for k, c in enumerate(task.data.classes) if bool((y == k).any())]
    overlap = any(lo2 <= hi1 and lo1 <= hi2 for i, (_, lo1, hi1) in enumerate(ranges) for _, lo2, hi2 in ranges[i + 1:])
    if overlap or len(ranges) < 2:
        return None
    return ("the classes' sequence lengths do not overlap (" + ", ".join(f"{c} {lo}-{hi} nt" for c, lo, hi in ranges)
            + f"; all padded to {x.shape[-1]}): a model can tell them by length alone -- cut or pad them to one "
            "length ('length:' in a task file) if length is not the signal")


def text_note(task) -> str | None:
    """A table's columns of text (names, dates, notes) that were not read as steps or channels, said."""
    cols = getattr(task.data, "text_columns", ())  # (forecasting windows have none)
    if not cols:
        return None
    return (f"column(s) {', '.join(map(repr, cols))} of {task.data.source} hold text, not numbers: read as metadata, "
            "not as steps or channels (a numeric metadata column goes under 'ignore_columns:' in a task file)")


def mask_note(task) -> str | None:
    """Segmentation masks whose largest value is 255 (or -1) beside small class ids: the usual mark of pixels to
    ignore (no data, borders), learned here as a class of its own and averaged into the mean IoU -- said."""
    data = task.data
    if data.kind != "dense" or data.regression or len(data.classes) < 3:
        return None
    try:
        values = sorted(int(c) for c in data.classes)
    except ValueError:
        return None
    odd = [v for v in values if v in (255, -1)]
    rest = [v for v in values if v not in (255, -1)]
    if not odd or not rest or max(rest) > 50:
        return None
    index = data.classes.index(str(odd[0]))
    share = float((task.y_train == index).double().mean())
    return (f"mask value {odd[0]} ({share:.1%} of the training pixels) sits beside classes {min(rest)}-{max(rest)}: "
            "if it marks pixels to ignore (no data, borders), autofast learns it as a class and averages its IoU into "
            f"the mean; set 'ignore_label: {odd[0]}' in a task file to leave them out of training and scores")


def outlier_note(task) -> str | None:
    """Values whose training targets hold outliers (over :data:`OUTLIER_MADS` scaled median absolute deviations
    from the median): squared-error training follows them (8 of 400 targets at 1000 beside values near 20: test
    RMSE 24.2 where the training mean gave 20.0) -- said, with the count."""
    y = getattr(task, "y_train", None)
    if getattr(task, "target_mean", None) is None or y is None or not y.is_floating_point() or y.dim() != 2:
        return None
    values = task.values(y.double())  # the targets' own units
    med = values.median(dim=0).values
    mad = (values - med).abs().median(dim=0).values * 1.4826
    far = ((values - med).abs() > OUTLIER_MADS * mad.clamp_min(1e-12)) & (mad > 0)
    n = int(far.any(dim=1).sum())
    if n == 0:
        return None
    return (f"{n} of the {len(values)} training targets lie over {OUTLIER_MADS:g} robust standard deviations from "
            "the median: squared-error training follows them; check them (a data-entry error?) or drop those rows")


#: robust standard deviations (1.4826 x the median absolute deviation) beyond which a training target is an outlier
OUTLIER_MADS = 8.0


def data_size(task) -> DataSize:
    """What the plan reads of a loaded task (train and validation only)."""
    y = torch.cat([task.y_train, task.y_val])
    regression = y.is_floating_point()
    smallest = 0
    if not regression and y.dim() == 1 and len(y):
        counts = torch.bincount(y)
        smallest = int(counts[counts > 0].min())
    return DataSize(n_train=len(task.y_train), n_val=len(task.y_val), example_shape=tuple(task.x_train.shape[1:]),
                    num_classes=0 if regression else int(task.data.num_classes), kind=task.data.kind,
                    min_class_count=smallest, target_values=int(y[0].numel()) if regression and len(y) else 0,
                    padded=task.x_train.dim() == 3 and rocket_family.looks_padded(task.x_train),
                    val_file=_has_val_file(task.data), n_test=test_rows(task))


def _has_val_file(data) -> bool:
    """Whether the task's validation rows are its own validation file (``origin``; forecasting windows: none)."""
    from autofast.data.types import ORIGIN_CODES

    origin = getattr(data, "origin", None)
    return origin is not None and bool((origin == ORIGIN_CODES["val"]).any())


def family_options(name: str, plan: Plan, size: DataSize) -> dict:
    """What a feature family's ``candidate`` takes from the plan and the data beyond the task itself."""
    return {"rocket": {"padded": size.padded}, "hydra": {"padded": size.padded}, "kmer": {"order": plan.kmer},
            "wd": {"shifts": SHIFTS if plan.wd_shifts else (0,)}, "kernel": {"pool": plan.kernel_pool}}.get(name, {})


def test_reserve(plan: Plan) -> float:
    """Seconds kept back from ASHA and the retrain for the one test evaluation: its prediction (a budget that
    cannot pay it is refused or planned on the hold-out split: :func:`.plan.make_plan`; capped at 0.3 of the
    budget, a default budget of 227 s, 107 of them for the test, ran 282 s)."""
    return plan.predicted.get("test", 0.0)

#: the share of a given --time-budget after which the step-cost measurement starts no more epochs, and the
#: seconds without one (the default budget is sized from the measurement)
MEASURE_SHARE, MEASURE_DEFAULT_LIMIT = 0.1, 30.0


def plan_search(cfg: SearchConfig, task, clock: Clock, size: DataSize) -> tuple[Plan, dict]:
    """Measure a training step here and make the plan; (plan, the measured cost as a dict)."""
    from dataclasses import asdict

    from autofast.dash.pipeline import search_space

    from autofast.dash.cost import measure

    name, positional = backbone_for(task, cfg)
    factory = search_space(task, cfg, name, positional)["factory"] if cfg.arch in ("auto", "dash") else None
    group = fused_group(TuneSettings(devices=tuple(cfg.devices), fuse_trials=cfg.fuse_trials, executor=cfg.executor),
                        cfg.trials_per_device, cfg.asha_order)  # folds never fuse: the plan prices them alone
    # a given budget bounds the measurement (its epochs start within MEASURE_SHARE of it); --arch rocket times
    # no network
    limit = MEASURE_SHARE * float(cfg.time_budget) if cfg.time_budget is not None else MEASURE_DEFAULT_LIMIT
    cost = measure(task, name, positional, cfg.retrain_width, cfg.search_width, factory, device=cfg.devices[0],
                   fused=group, limit=limit, networks=cfg.arch != "rocket")
    if cfg.time_budget is not None:
        budget, source = float(cfg.time_budget), "--time-budget"
    else:
        budget, source = default_budget(size, cost)
    plan = make_plan(size, cost, budget, source, cfg.given(), cfg.arch, cfg.eta, elapsed=clock.elapsed(),
                     beside=runs_beside(cfg.devices))
    return plan, asdict(cost)


def tune_settings(cfg: SearchConfig, plan: Plan, positional: bool = False) -> TuneSettings:
    s = TuneSettings(width=cfg.retrain_width, positional=positional, n_configs=plan.n_configs, eta=plan.eta,
                     min_epochs=plan.min_epochs, max_epochs=plan.max_epochs, batch_size=plan.batch_size,
                     folds=plan.folds, warmup_epochs=cfg.warmup_epochs, horizon_epochs=plan.retrain_epochs,
                     seed=cfg.seed, sampler=cfg.sampler, executor=cfg.executor, address=cfg.address,
                     devices=tuple(cfg.devices), fuse_trials=cfg.fuse_trials)
    return with_parallelism(s, cfg.trials_per_device, cfg.asha_order)


def _stage_pattern(cfg, task, plan, run_dir: Path, resume: bool, clock: Clock, say, timings: dict) -> dict:
    """The architectures ASHA chooses among: ``{"dash": pattern, "plain": 3x1/3x3}`` as the plan says."""
    name, positional = backbone_for(task, cfg)
    with seeded_init(cfg.seed):  # built only to count its convs: not from the global RNG
        plain = [(3, 1)] * plain_network(task, name, positional).num_searchable
    out = {"backbone": name, "positional": positional, "patterns": {}, "dash": None}
    if plan.arch in ("auto", "plain"):
        out["patterns"]["plain"] = plain
    if not plan.dash:
        return out
    pattern_file = run_dir / "pattern.json"
    if resume and pattern_file.exists():
        pattern = load_pattern(pattern_file)  # a damaged file is one error line
        meta = json.loads(pattern_file.read_text())
        if meta.get("backbone") != name or meta.get("positional", False) != positional:
            raise AutofastError(f"{pattern_file}: recorded for another backbone or 'positional' setting; "
                                "delete the file to redo the DASH stage")
        say("resume: pattern from the earlier run")
        out["dash"] = {"resumed": True}
    else:
        resolved = cfg.model_copy(update={"batch_size": plan.batch_size, "search_epochs": plan.search_epochs,
                                          "search_batch_fraction": plan.search_batch_fraction})
        dash_end = clock.at(plan.seconds_before_dash() + 1.25 * plan.predicted["dash"] + 2)
        try:
            found = search_architecture(task, resolved, say, stop=lambda: time.time() > dash_end)
        except Diverged as exc:  # the supernet's training failed: ASHA goes on with the plain pattern
            if plan.arch == "dash":
                raise
            say(f"DASH stage: {exc}; going on with the plain pattern only")
            out["dash"] = {"diverged": str(exc)}
            return out
        pattern = found["pattern"]
        save_pattern(pattern_file, pattern, {"backbone": name, "positional": positional, "task": task.name,
                                             "seconds": found["seconds"]})
        timings["dash_search"] = found["seconds"]
        out["dash"] = {k: found[k] for k in ("kernel_sizes", "dilations", "extents", "dropped", "epochs", "seconds")}
    pattern = [tuple(p) for p in pattern]
    if pattern != plain or plan.arch == "dash":
        out["patterns"]["dash"] = pattern
    return out


def retrain_note(members: int, pair: bool = False) -> str:
    if pair:
        return ("final model: mean prediction of the best DASH and the best plain trial, their checkpoints as "
                "scored on validation (trained on train; no retrain)")
    if members == 1:
        return "final model: the best configuration retrained once on train+val"
    return f"final model: mean prediction of {members} retrains on train+val (seeds fixed in advance, none selected)"


def _best_per_arch(trials: list, only: str) -> dict:
    """Per architecture: the best of its trials' last results (each trial's highest rung, as
    ``ASHA.best(latest=True)`` ranks them; ``only``: the architecture of trials without an ``arch`` entry,
    i.e. a space with one architecture)."""
    best: dict = {}
    for t in trials:
        if not t["scores"]:
            continue
        arch = t["config"].get("arch", only)
        rung = max(t["scores"])
        key = (t["scores"][rung], rung)
        if arch not in best or key > (best[arch]["score"], best[arch]["rung"]):
            best[arch] = {"rung": rung, "score": t["scores"][rung], "trial": t["trial_id"]}
    return best


def choose_family(cnn_arch: str | None, cnn: float | None, features: dict[str, float],
                  blends: dict[str, float]) -> str:
    """The final candidate. A blend ``"cnn+<family>"`` whose parts are comparable (``blends``: name -> score,
    the eligible ones only) is chosen over every single candidate, the best of several by score (ties: the
    family listed first): the best CNN's validation score is the maximum over its trials and biased upward, a
    blend of two comparable models that err on different examples is not selected by that noise (splice, 9 runs
    (bench/README.md P10, offline): the blend with the kernel SVM always 0.9753 ± 0.0033 test accuracy, chosen by
    validation score against the single candidates 0.9730 ± 0.0051; P9, with the k-mer model: the best DASH
    and plain trials and the k-mer model averaged always 0.9706, as selected 0.9688).
    Without one, the single with the best validation score (:func:`autofast.engine.val_score`): the best CNN
    (``cnn_arch``, score ``cnn``; None: not a candidate) or a feature family (``features``: name -> score; a
    family wins ties with the CNN: cheaper, deterministic)."""
    blends = {k: v for k, v in blends.items() if cnn is not None and k.split("+", 1)[1] in features}
    if blends:
        names = list(blends)
        return max(names, key=lambda k: (round(blends[k], 9), -names.index(k)))
    singles = {**({cnn_arch: cnn} if cnn is not None else {}), **features}
    # ties: a feature family over the CNN, then the family listed first
    order = list(features) + ([cnn_arch] if cnn is not None else [])
    return max(order, key=lambda k: (round(singles[k], 9), -order.index(k))) if order else None


def _cnn_held_out(task, backbone: str, patterns: dict, s: TuneSettings, best: tuple, folds,
                  run_dir: Path) -> torch.Tensor | None:
    """The best trial's log class probabilities (values: its outputs) on the predictions every candidate is
    selected on (the validation split, or out-of-fold over train+val), from its checkpoint at the rung it won;
    None for a missing checkpoint."""
    from autofast.asha.executor import rung_checkpoint

    from .blend import cnn_val_log_probs
    from .trial import make_trial

    tid, config, _, rung = best
    ckpt = rung_checkpoint(run_dir / "asha" / "checkpoints", tid, rung)
    if not ckpt.exists():
        return None
    x = torch.cat([task.x_train, task.x_val]) if folds is not None else task.x_val
    return cnn_val_log_probs(make_trial(task, backbone, patterns, s), config, ckpt, x, folds, s.devices[0],
                             classify=not task.y_train.is_floating_point())


def _no_signal_fallback(winner: str, features: dict, blends: dict, cnn_held_out, y_sel: torch.Tensor,
                        say) -> tuple[str, dict | None]:
    """Values: a CNN or blend winner whose held-out predictions do not beat predicting the training mean by
    more than one paired standard error (:func:`.blend.beats_mean`) gives way to the best feature family: with
    no signal to select on, the ridge on fixed features (its penalty chosen by leave-one-out, large where there is
    nothing to fit) is the lower-variance model than a network picked by noise (Covid3Month, CardanoSentiment:
    out of fold every candidate at the mean's level; on test the MiniRocket ridge alone 0.0415 / 0.3028 RMSE, the
    CNN blend 0.0430 / 0.3045). (winner, the ``signal`` record or None where nothing was tested)."""
    from .blend import beats_mean, blend_values

    family = max((n for n, c in features.items() if c.get("held_out") is not None),
                 key=lambda n: features[n]["score"], default=None)
    if family is None or cnn_held_out is None:
        return winner, None
    part = winner.split("+", 1)[1] if winner in blends else None
    held = cnn_held_out.double() if part is None else blend_values(cnn_held_out, features[part]["held_out"])
    signal = {"candidate": winner, **beats_mean(held, y_sel)}
    if signal["ahead"]:
        return winner, signal
    say(f"{winner}: held out no better than the training mean ({signal['gap']:+.4f} +- {signal['se']:.4f} MSE, "
        f"paired); {FAMILY_NAMES[family]} instead")
    return family, {**signal, "instead": family}


def _pair(task, backbone: str, patterns: dict, s: TuneSettings, sched, per_arch: dict, run_dir: Path) -> tuple:
    """(the architecture pair's candidate record (:mod:`.arch_pair`) or None without both architectures,
    arch -> its best trial's validation log-probabilities, read for the pair)."""
    if sched is None or not {"dash", "plain"} <= set(per_arch):
        return None, {}
    from .trial import make_trial

    held_out, configs = arch_pair.held_out_per_arch(make_trial(task, backbone, patterns, s), sched.trials(),
                                                    per_arch, run_dir / "asha" / "checkpoints", task.x_val,
                                                    s.devices[0])
    return arch_pair.candidate(held_out, per_arch, configs, task.y_val), held_out


def _final_cnn(task, backbone: str, patterns: dict, s: TuneSettings, plan: Plan, sched, best: tuple,
               cnn_arch: str, run_dir: Path, clock: Clock, say, pair: dict | None = None) -> tuple:
    """The best CNN configuration's final model: its fold models (cross-validation), its retrain on
    train+val, or (``pair``: the architecture pair's record) the pair's two scored checkpoints;
    (model, history, member histories, the ``final`` record)."""
    if pair is not None:
        from .trial import make_trial

        say("final: the best DASH and the best plain trial as scored on validation, averaged (no retrain)")
        model, histories, final = arch_pair.final_from_checkpoints(make_trial(task, backbone, patterns, s), pair,
                                                                   run_dir / "asha" / "checkpoints", s.devices[0])
        return model, histories[0], histories, final
    if plan.folds:
        trial = next(t for t in sched.trials() if t["trial_id"] == best[0])
        say(f"final: trial {best[0]}'s {plan.folds} fold models (no retrain)")
        model, history = fold_models(task, backbone, patterns, s, trial, run_dir / "asha" / "checkpoints")
        return model, history, [history], {
            "family": "cnn", "arch": cnn_arch, "config": best[1], "members": plan.folds, "epochs": len(history),
            "trained_on": f"train+val outside each of {plan.folds} folds", "seconds": 0.0}
    say(f"retrain trial {best[0]} on train+val for {plan.retrain_epochs} epochs"
        + (f", {plan.ensemble} members (seeds) averaged" if plan.ensemble > 1 else ""))
    out = retrain_best(task, backbone, patterns, s, best[1], plan.retrain_epochs, say, members=plan.ensemble,
                       budget_left=lambda: clock.left() - MARGIN / 2 * plan.budget  # kept: test, report
                       - test_reserve(plan))
    model = out.pop("model")
    history, member_histories = out.pop("history"), out.pop("member_histories")
    return model, history, member_histories, {"family": "cnn", "arch": cnn_arch, **out}


def holds_finished_work(run_dir: Path) -> bool:
    """Whether an interrupted fresh search in ``run_dir`` has work a resume would use -- a DASH pattern, an ASHA
    journal, a final model or a result -- and so keeps its folder (a plan without DASH writes no pattern: its
    folder, with every finished rung, was deleted on Ctrl-C)."""
    return any((run_dir / p).exists() for p in ("pattern.json", "asha/asha.sqlite", "model", "result.json"))


#: one line per process that ran a search folder (started or resumed), for the result's ``processes``
PROCESSES = "processes.jsonl"


def _log_process(run_dir: Path, resume: bool, cfg: SearchConfig, clock: Clock) -> list[dict]:
    """This process's line in ``run_dir``'s :data:`PROCESSES` (start time, whether it resumed, its threads), after
    the earlier processes' lines (a resumed run's timings and budget are its last process's: they are listed)."""
    from autofast.runtime import usable_cpus

    path = run_dir / PROCESSES
    earlier = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if resume and path.is_file() else []
    mine = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(clock.start)), "resumed": bool(resume),
            "threads": cfg.threads or usable_cpus()}
    with open(path, "a" if earlier else "w") as f:
        f.write(json.dumps(mine) + "\n")
    return [*earlier, mine]


def run_search(cfg: SearchConfig, run_dir: Path, resume: bool = False,
               say: Callable[[str], None] = lambda m: None,
               on_start: Callable | None = None, on_result: Callable | None = None,
               started: float | None = None, on_plan: Callable[[Plan, Clock], None] | None = None) -> dict:
    """Run (or, with ``resume``, continue) the planned DASHA workflow in ``run_dir``; return the result dict.

    ``say(message)`` reports stage progress; ``on_start(job)``/``on_result(outcome)`` every ASHA job;
    ``on_plan(plan, clock)`` once the plan is made; ``started``: the command's start (``time.time()``), from
    which the budget counts (default: now).
    """
    check_options(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with in_force(cfg), conv_record(run_dir / RECORD, None if resume else cfg.conv_paths_from), ExitStack() as stack:
        # a resume reruns what it ran; the stack ends a host worker (autofast.search.host) however the run ends
        return _run_search(cfg, run_dir, resume, say, on_start, on_result, started, on_plan, stack)


def _run_search(cfg: SearchConfig, run_dir: Path, resume: bool, say, on_start, on_result, started, on_plan,
                stack: ExitStack) -> dict:
    clock = Clock(started)
    if cfg.threads:
        configure_runtime(cfg.threads)
    processes = _log_process(run_dir, resume, cfg, clock)
    timings: dict = {}
    t0 = time.perf_counter()
    task = load_from_config(cfg)
    timings["load"] = time.perf_counter() - t0
    size = data_size(task)
    plan_file = run_dir / "plan.json"
    if resume and plan_file.exists():
        saved = json.loads(plan_file.read_text())
        plan, cost = Plan.from_dict(saved["plan"]), saved.get("step_cost")
        say("resume: the plan of the earlier run")
    else:
        t0 = time.perf_counter()
        plan, cost = plan_search(cfg, task, clock, size)
        timings["measure_and_plan"] = time.perf_counter() - t0
        write_json_atomic(plan_file, {"plan": plan.to_dict(), "step_cost": cost})
    clock.budget = plan.budget
    for line in plan.lines():
        say(f"plan: {line}")
    notes = [n for n in (length_note(task), text_note(task), mask_note(task), outlier_note(task),
                         *getattr(task.data, "load_notes", ())) if n]
    for note in notes:
        say(f"note: {note}")
    if on_plan:
        on_plan(plan, clock)

    folds = cv_pool(task, plan.folds, cfg.seed)[2] if plan.folds else None
    y_sel = torch.cat([task.y_train, task.y_val]) if folds is not None else task.y_val  # what candidates are scored on
    features: dict[str, dict] = {}  # feature family -> its candidate record (with its held-out scores)
    classify = not task.y_train.is_floating_point()
    wanted = [n for n, w in (("rocket", plan.rocket), ("hydra", plan.hydra), ("kmer", plan.kmer), ("wd", plan.wd),
                             ("linear", plan.linear), ("kernel", plan.kernel)) if w]
    worker = stack.enter_context(HostWorker()) if plan.beside else None
    pending: dict[str, tuple] = {}  # host family -> (its future in the worker, the in-line call)

    def scored(name: str, cand: dict) -> None:
        features[name] = calibrated(cand, y_sel) if classify else cand
        timings[name] = features[name]["seconds"]
        value = (f"accuracy {features[name]['val_acc']:.4f}" if classify
                 else f"loss {features[name]['val_loss']:.4f}")
        say(f"{FAMILY_NAMES[name]}: validation {value} ({features[name]['selected_on']})")

    for name in wanted:
        options = family_options(name, plan, size)
        if worker is not None and name in HOST_FAMILIES:
            say(f"{FAMILY_NAMES[name]}: fit and score on the host CPU, beside the device stages")
            pending[name] = (worker.candidate(name, task, folds, cfg.seed, options),
                             lambda n=name, o=options: FAMILIES[n].candidate(task, folds, cfg.seed, "cpu", **o))
            continue
        say(f"{FAMILY_NAMES[name]}: fit and score")
        scored(name, FAMILIES[name].candidate(task, folds, cfg.seed, cfg.devices[0], **options))

    stage = _stage_pattern(cfg, task, plan, run_dir, resume, clock, say, timings)
    backbone, positional, patterns = stage["backbone"], stage["positional"], stage["patterns"]
    s = tune_settings(cfg, plan, positional)
    if cfg.sampler != "grid":
        s = replace(s, initial=tuple(initial_configs(sorted(patterns) if len(patterns) > 1 else [], cfg.seed)))
    sched = None
    if patterns:
        say(f"ASHA: {plan.n_configs} configurations over {sorted(patterns)}, epochs {plan.min_epochs}.."
            f"{plan.max_epochs}, eta {plan.eta:g}; lr schedule: {s.schedule.describe()}"
            + (f"; {s.trials_per_device} {'fused ' if fuses(s) else ''}trials per device, results told in "
               f"{'submission' if s.ordered else 'arrival'} order" if s.trials_per_device > 1 else ""))
        # the final stage's reserve: its prediction, or a feature family's refit as its scoring here predicts it,
        # at most the final stage's planned share (given options may not fit); and the test evaluation's
        # (10 000 test images beside 100 training ones: 65 s past a 120 s budget before it was planned)
        refit = max([final_refit_seconds(n, c["seconds"], size, plan.folds, size.n_test)
                     for n, c in features.items()], default=0.0)
        reserve = min(max(plan.predicted["final"], refit), FINAL_SHARE * plan.budget) + test_reserve(plan)
        asha_end = clock.at(plan.budget * (1 - MARGIN) - reserve)
        grace = 0.05 * plan.budget
        t0 = time.perf_counter()
        sched = tune(task, backbone, patterns if len(patterns) > 1 else next(iter(patterns.values())), s,
                     run_dir / "asha", resume=resume, on_start=on_start, on_result=on_result,
                     stop=lambda: time.time() > asha_end, halt=lambda: time.time() > asha_end + grace)
        timings["asha"] = time.perf_counter() - t0
    for name, (future, inline) in pending.items():
        scored(name, worker.result(future, inline))
    features = {n: features[n] for n in wanted if n in features}  # the families' order (ties go to the first)
    contest = None
    if {"rocket", "hydra"} <= set(features):  # one random-convolution candidate goes on
        contest = hydra_family.contest(features["rocket"], features["hydra"], y_sel)
        dropped = "rocket" if contest["kept"] == "hydra" else "hydra"
        contest.update({n: features[n]["val_acc" if classify else "val_loss"] for n in ("rocket", "hydra")})
        say(f"{FAMILY_NAMES['hydra']} vs {FAMILY_NAMES['rocket']} on the same predictions: "
            f"{contest['gap']:+.4f} +- {contest['se']:.4f} (paired): {FAMILY_NAMES[contest['kept']]} go on")
        features.pop(dropped)
    best = sched.best(latest=True) if sched is not None else None
    if sched is not None and best is None:
        failed = [t for t in sched.trials() if t["error"] and not t["error"].startswith("BudgetExhausted")]
        if failed and (not features or len(failed) == len(sched.trials())):
            first = min(failed, key=lambda t: t["trial_id"])
            fix = f"; {OOM_FIX}" if first["error"].startswith("OutOfMemoryError") else ""
            raise AutofastError(f"every ASHA trial failed; the first, trial {first['trial_id']}: {first['error']}{fix}")
        if not features:
            raise AutofastError(f"the time budget ({plan.budget:.0f}s) ran out before any ASHA trial finished its "
                                "first rung; give a larger --time-budget")

    # the candidate with the best validation score (ties: a feature family, cheaper and exact)
    cnn_arch = None if best is None else best[1].get("arch", next(iter(patterns)))
    per_arch = {} if sched is None else _best_per_arch(sched.trials(), next(iter(patterns)))
    scores = {a: v["score"] for a, v in per_arch.items()}
    scores.update({name: cand["score"] for name, cand in features.items()})
    blends: dict[str, dict] = {}
    cnn_score = best[2] if best else None
    pair, arch_held_out = (_pair(task, backbone, patterns, s, sched, per_arch, run_dir) if classify and folds is None
                           else (None, {}))
    if pair is not None and pair["eligible"]:
        scores[PAIR] = pair["score"]
        if pair["score"] > cnn_score:
            cnn_arch, cnn_score = PAIR, pair["score"]
    # the CNN a feature family is blended with: the pair whenever its parts are comparable (the best single
    # trial's validation score is a maximum over the trials, so its lead over the pair is mostly selection noise:
    # splice, 9 runs, blended with the kernel SVM 0.9763 vs 0.9753 test accuracy, offline), else the best single
    blend_arch = PAIR if pair is not None and pair["eligible"] else cnn_arch
    best_rec = per_arch.get(blend_arch, {})
    if blend_arch == PAIR:
        cnn_held_out = pair["held_out"]
    elif blend_arch in arch_held_out and best and (best_rec.get("trial"), best_rec.get("rung")) == (best[0], best[3]):
        cnn_held_out = arch_held_out[blend_arch]  # the pair read the best trial's validation predictions already
    else:
        cnn_held_out = (_cnn_held_out(task, backbone, patterns, s, best, folds, run_dir)
                        if best is not None and any("held_out" in c for c in features.values()) else None)
    if cnn_held_out is not None and features:
        from .blend import score_blend

        held = {n: c["held_out"] for n, c in features.items() if "held_out" in c}  # the window ridge: not blended
        for name in held:
            others = {n: h for n, h in held.items() if n != name}  # a blend behind any single one is no candidate
            blends[f"cnn+{name}"] = {**score_blend(cnn_held_out, held[name], y_sel, others), "cnn": blend_arch,
                                     "trial": best[0], "rung": best[3]}
            if blends[f"cnn+{name}"]["eligible"]:
                scores[f"cnn+{name}"] = blends[f"cnn+{name}"]["score"]
    winner = choose_family(cnn_arch, cnn_score, {n: c["score"] for n, c in features.items()},
                           {n: b["score"] for n, b in blends.items() if b["eligible"]})  # parts comparable
    signal = None
    if getattr(task, "target_mean", None) is not None and winner not in features:
        winner, signal = _no_signal_fallback(winner, features, blends, cnn_held_out, y_sel, say)
    if winner in blends:
        cnn_arch = blend_arch
    metric, lower = task_metric(task)
    t0 = time.perf_counter()
    if winner in features:
        say(f"final: {FAMILY_NAMES[winner]} refit on train+val")
        model, seconds, rec = FAMILIES[winner].final(task, features[winner], cfg.seed,
                                                     features[winner].get("temperature", 1.0), cfg.devices[0],
                                                     time_left=clock.left())
        final = {"family": winner, **rec, "trained_on": "train+val", "seconds": seconds, "members": 1}
        history, member_histories = [], []
    else:
        part = winner.split("+", 1)[1] if winner in blends else None
        part_final = (lambda: FAMILIES[part].final(task, features[part], cfg.seed, blends[winner]["temperature"],
                                                   cfg.devices[0], time_left=clock.left()))
        beside = worker is not None and part in HOST_FAMILIES  # the refit on the host CPU while the CNN retrains
        if beside:
            future = worker.final(part, task, features[part], cfg.seed, blends[winner]["temperature"])
        model, history, member_histories, final = _final_cnn(task, backbone, patterns, s, plan, sched, best,
                                                             cnn_arch, run_dir, clock, say,
                                                             pair if cnn_arch == PAIR else None)
        if part is not None:
            from .blend import Blend

            t = blends[winner]["temperature"]
            say(f"final: + {FAMILY_NAMES[part]} refit on train+val"
                + (" (on the host CPU, beside the retrain)" if beside else "") + f", blended (T = {t:.3g})")
            part_model, seconds, rec = worker.result(future, part_final) if beside else part_final()
            model = Blend(model, part_model.to(cfg.devices[0]), classify)
            final = {**final, "family": winner, "features": {"family": part, **rec, "seconds": seconds,
                                                             "temperature": t}}
    timings["final"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    final.update(test_scores(model, task))  # the one test evaluation, on the model's device
    model.cpu()  # saved as CPU tensors
    timings["test"] = time.perf_counter() - t0
    if worker is not None:
        timings["host_wait"] = worker.waited  # the device stages' wait for the host families (0: fully beside)
    timings["total"] = clock.elapsed()
    chosen_by = "MSE on standardised targets" if lower else metric  # what val_score ranks by
    selected = [f"plan: data sizes, measured step cost, budget {plan.budget:.0f}s",
                "pattern: training loss (DASH, single level)" if plan.dash else None,
                ("hyperparameters and architecture: " + (f"{plan.folds}-fold out-of-fold {chosen_by} over train+val"
                                                        if plan.folds else f"validation {chosen_by}") + " (ASHA)"
                 if sched.trials() else "no CNN trial finished within the budget (ASHA ran none): the feature "
                 "families alone were candidates") if sched is not None else None,
                f"{FAMILY_NAMES['hydra']} in place of the {FAMILY_NAMES['rocket']}: only when more accurate by "
                "over one paired standard error on the same validation predictions" if contest else None,
                "model family (CNN, " + ", ".join(FAMILY_NAMES[n] for n in features) + ", or the CNN blended "
                "with one of them): the same validation predictions" if features else None,
                "a CNN or blend only where it beats the training mean on those predictions by more than one paired "
                "standard error, else the best feature family" if signal else None,
                f"final model: {FAMILY_NAMES[winner]} refit on train+val" if winner in features else
                (f"final model: the best configuration's {plan.folds} fold models averaged"
                 if plan.folds else retrain_note(final.get("members", 1), cnn_arch == PAIR))
                + (f" and blended with the {FAMILY_NAMES[winner.split('+', 1)[1]]} refit on train+val"
                   if winner in blends else ""),
                "test split evaluated once"]
    result = {
        "task": task.name, "kind": task.data.kind, "classes": list(task.data.classes), "backbone": backbone,
        "positional_input": positional, "plan": plan.to_dict(), "plan_summary": plan.lines(), "step_cost": cost,
        "pattern": [list(p) for p in patterns.get("dash", patterns.get("plain", []))],
        "architectures": {a: [list(p) for p in pat] for a, pat in patterns.items()},
        "dash": stage["dash"], "split": split_record(task), "data_notes": notes,
        "selection": {"winner": winner, "val_scores": scores, "signal": signal,
                      "pair": None if pair is None else {k: v for k, v in pair.items() if k != "held_out"},
                      "features": {n: {k: v for k, v in c.items() if k != "held_out"} for n, c in features.items()},
                      "random_convolution_contest": contest,
                      "blends": blends, "ranked_by": "each trial's last (highest-rung) validation score",
                      "margin": (scores[winner] - max([v for k, v in scores.items() if k != winner], default=scores[winner]))
                      if winner in scores else None},
        "asha": None if sched is None else {
            "rungs": sched.rungs, "trials": sched.trials(), "best_trial": best[0] if best else None,
            "best_val_score": best[2] if best else None, "best_rung": best[3] if best else None, "eta": plan.eta,
            "sampler": cfg.sampler, "executor": cfg.executor, "devices": list(s.devices),
            "trials_per_device": s.trials_per_device, "fused": fuses(s),
            "order": "submission" if s.ordered else "arrival", "finished": sched.is_finished(),
            "train_loss_curves": {str(k): v for k, v in trial_histories(sched, run_dir / "asha" / "checkpoints").items()}},
        "schedule": {**s.schedule.to_dict(), "description": s.schedule.describe(), "max_epochs": plan.max_epochs,
                     "retrain_epochs": plan.retrain_epochs, "horizon_is_max_epochs": plan.retrain_epochs == plan.max_epochs},
        "final": final, "final_history": history, "final_member_histories": member_histories,
        "metric": metric, "lower_is_better": lower,
        "test_score": final["test_score"],
        "config": cfg.model_dump(mode="json"), "precision": resolve_precision(cfg.precision, s.devices[0]),
        "timings": timings, "conv_paths": path_summary(),
        "thread_changes": [{"at": round(at - clock.start, 1), "threads": n, "others_busy": o}
                           for at, n, o in thread_history() if at >= clock.start],
        "resumed": bool(resume), "processes": processes,  # timings and the budget: this (last) process's
        "selected_on": "; ".join(x for x in selected if x),
    }
    from autofast.predictor import save_final

    # the scored result first: a run killed from here on is completed by --resume from it and the saved model,
    # never scored again (options.finished_result); result.json, written last, marks the run finished
    write_json_atomic(run_dir / PENDING_RESULT, result)
    save_final(run_dir, model, task, result)  # RUN_DIR/model/: the final model for `predict` / autofast.load
    write_search_report(run_dir, result)
    (run_dir / PENDING_RESULT).unlink(missing_ok=True)
    return result
