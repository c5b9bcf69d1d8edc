"""The DASH workflow: search a narrow supernet -> argmax pattern -> retrain a wide network with it
-> one test evaluation; beside it the fixed-kernel backbone trained with the same epoch budget.

What is selected on what: the architecture (alpha) is optimised on the TRAINING loss (single level,
as DASH); the retrain checkpoint and the baseline checkpoint are picked by VALIDATION accuracy; the
test split is evaluated once per model at the end.
"""
from __future__ import annotations

import math
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Literal

from pydantic import ConfigDict, Field, field_validator

from autofast.budget import MARGIN_DASH, Clock, batch_for, parse_duration
from autofast.errors import AutofastError
from autofast.kernels.conv import path_summary
from autofast.kernels.conv.run_record import read_record, recorded_run
from autofast.runtime import configure as configure_runtime
from autofast.engine import evaluate, seeded_init
from autofast.engine.numerics import NumericsOptions, in_force
from autofast.engine.precision import resolve as resolve_precision
from autofast.models import build_backbone, fixed_factory
from autofast.tasks import backbone_for, load_from_config, placed, plain_network, task_metric, test_rows, test_scores

from .cost import epoch_seconds
from .supernet import (MixedFactory, all_candidates, default_space, derive_pattern, dropped_candidates,
                       full_probabilities, layer_extents)
from .train import TrainSettings, train


class DashConfig(NumericsOptions):
    """Search and retrain settings (defaults sized for ~10 minutes on 2 CPU cores for splice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = "splice"
    backbone: Literal["auto", "resnet1d", "wrn16", "wrn22", "unet"] = "auto"
    positional: Literal["auto", "on", "off"] = Field(
        "auto", description="resnet1d: append a position channel to the input; auto: on for DNA sequences")
    kernel_sizes: list[int] | None = None  # None: the modality's DASH default
    dilations: list[int] | None = None
    search_width: int = Field(16, ge=1)
    retrain_width: int = Field(64, ge=1)
    search_epochs: int = Field(20, ge=1)
    search_batch_fraction: float = Field(1.0, gt=0, le=1)
    retrain_epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)
    arch_lr: float = Field(0.05, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    rf_penalty: float = Field(0.01, ge=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    seed: int = Field(0, ge=0)  # (numpy's generators take no negative seed: a raw ValueError)
    split_seed: int | None = Field(
        None, ge=0, description="seed of the train/val/test split (and of a validation split carved from an official "
                          "training file) when it should differ from --seed; default: --seed")
    kind: Literal["auto", "classification", "timeseries"] = "auto"
    lookback: int = Field(96, ge=2, description="time-series tasks: input window rows")
    horizon: int = Field(24, ge=1, description="time-series tasks: rows to predict")
    train_stride: int = Field(4, ge=1, description="time-series tasks: stride between training windows")
    baseline: bool = True
    threads: int | None = Field(None, ge=1)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1,
                               description="cpu, cuda or cuda:N; dash trains on the first, search's local executor "
                                           "pins ASHA trials to each and runs the other stages on the first")
    conv_paths_from: str | None = Field(
        None, description="replay the conv paths a run recorded (its folder or conv_paths.json): same numerics "
                          "as that run for every conv shape it ran; other shapes are measured as usual")
    time_budget: str | float | None = Field(
        None, description="wall-clock budget of the whole command (seconds, or 90s/10m/1h); search: default from "
                          "the data; dash: default none (the epochs as given)")

    @field_validator("time_budget")
    @classmethod
    def _budget(cls, v):
        return None if v is None else parse_duration(v)

    @field_validator("kernel_sizes")
    @classmethod
    def _odd_kernels(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(k < 1 or k % 2 == 0 for k in v)):
            raise ValueError(f"kernel sizes must be odd and >= 1 (a 'same' convolution needs a centre tap), got {v}")
        return v

    @field_validator("dilations")
    @classmethod
    def _positive_dilations(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(d < 1 for d in v)):
            raise ValueError(f"dilations must be >= 1, got {v}")
        return v


def _val_text(rec: dict) -> str:
    """An epoch record's validation figure for progress lines: accuracy, or the loss for float targets."""
    acc = rec.get("val_acc")
    return f"val acc {acc:.3f}" if acc is not None and acc == acc else f"val loss {rec.get('val_loss', float('nan')):.4f}"


def check_options(cfg: DashConfig) -> None:
    """What can be checked before any data is loaded or anything written: the devices, and the config's
    precision on them."""
    from autofast.engine.precision import check as check_precision
    from autofast.search.trial import check_devices

    check_devices(cfg.devices)
    check_precision(cfg.devices, cfg.precision)
    if cfg.conv_paths_from is not None:
        replayed(cfg.conv_paths_from)


def replayed(where: str) -> dict:
    """The conv-path record ``--conv-paths-from`` names, or the one-line error saying why it cannot be used."""
    try:
        return read_record(where)
    except ValueError as exc:
        raise AutofastError(f"--conv-paths-from: {exc}") from None


@contextmanager
def conv_record(file: Path | None, replay: str | None = None):
    """:func:`~autofast.kernels.conv.run_record.recorded_run` with an unusable record as a one-line error."""
    with ExitStack() as stack:
        try:
            stack.enter_context(recorded_run(file, replay))
        except ValueError as exc:
            raise AutofastError(str(exc) if replay is None else f"--conv-paths-from: {exc}") from None
        yield


def search_space(task, cfg: DashConfig, name: str, positional: bool) -> dict:
    """The DASH space for this task: K x D (``cfg`` or the modality's default), and per searchable layer the
    input size there (``extents``); pairs with a receptive field wider than that are dropped (``dropped``)."""
    data = task.data
    ks, ds = default_space(data.kind, data.ndim)
    ks, ds = tuple(cfg.kernel_sizes or ks), tuple(cfg.dilations or ds)
    extents = layer_extents(plain_network(task, name, positional).to("meta"), tuple(task.x_train.shape[1:]))
    return {"kernel_sizes": ks, "dilations": ds, "extents": extents,
            "dropped": dropped_candidates(ks, ds, extents), "factory": MixedFactory(ks, ds, extents=extents)}


def search_architecture(task, cfg: DashConfig, say: Callable[[str], None] = lambda m: None,
                        stop: Callable[[], bool] | None = None) -> dict:
    """Stage 1: train the narrow supernet (weights and alpha jointly) and take the per-layer argmax.
    ``stop()`` True ends the supernet training before its next epoch (a spent time budget)."""
    data = task.data
    name, positional = backbone_for(task, cfg)
    space = search_space(task, cfg, name, positional)
    ks, ds = space["kernel_sizes"], space["dilations"]
    dropped = sum(len(d["dropped"]) for d in space["dropped"])
    say(f"search: {name} width {cfg.search_width}, K={list(ks)} x D={list(ds)}"
        + (f" ({dropped} layer-candidates wider than the input dropped)" if dropped else "")
        + (", position channel" if positional else ""))
    with seeded_init(cfg.seed):
        supernet = build_backbone(name, data.ndim, int(task.x_train.shape[1]), data.num_classes, cfg.search_width,
                                  space["factory"], positional=positional)
    data_on = placed(supernet, cfg.devices[0], task.x_train, task.y_train, task.x_val, task.y_val)
    s_search = TrainSettings(epochs=cfg.search_epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
                             batch_size=cfg.batch_size, batch_fraction=cfg.search_batch_fraction, seed=cfg.seed,
                             arch_lr=cfg.arch_lr, rf_penalty=cfg.rf_penalty)
    res = train(supernet, *data_on, s_search, search=True,
                on_epoch=lambda r: say(f"search epoch {r['epoch']}/{cfg.search_epochs}: {_val_text(r)}"),
                stop=stop)
    every = all_candidates(ks, ds)
    return {"backbone": name, "positional": positional, "kernel_sizes": list(ks), "dilations": list(ds),
            "extents": list(space["extents"]), "dropped": space["dropped"], "epochs": len(res.history),
            "pattern": derive_pattern(supernet),
            "probabilities": full_probabilities(supernet, every), "candidates": every,
            "history": res.history, "seconds": res.seconds}


def budget_epochs(cfg: DashConfig, task, clock: Clock) -> tuple[DashConfig, dict]:
    """``--time-budget`` for ``dash``: the batch (from the training-set size, unless given), the supernet
    epochs (~20% of the budget) and the retrain epochs (the retrain and the baseline, which gets the search's
    epoch-equivalents on top, share the rest), each from the step cost measured here and capped by the value
    configured; options given explicitly are kept. Returns the resolved config and the plan record."""
    from .cost import measure

    given = cfg.model_fields_set
    name, positional = backbone_for(task, cfg)
    space = search_space(task, cfg, name, positional)
    # its epochs start within a tenth of the budget (digits at 20 s refused after 12.6 s of measuring)
    cost = measure(task, name, positional, cfg.retrain_width, cfg.search_width, space["factory"],
                   limit=0.1 * clock.budget if math.isfinite(clock.budget) else None)
    n = len(task.y_train)
    batch = cfg.batch_size if "batch_size" in given else batch_for(n)
    # the test evaluations (the retrain's, the baseline's) are kept back from the training stages
    tests = (2 if cfg.baseline else 1) * cost.evaluation(test_rows(task))
    usable = max(0.0, clock.left() - tests) * (1 - MARGIN_DASH)
    s_epoch = cost.supernet_epoch(n, batch, cfg.search_batch_fraction)
    epoch = cost.epoch(n, batch)
    search_epochs = cfg.search_epochs if "search_epochs" in given else \
        max(1, min(cfg.search_epochs, int(0.2 * usable / max(s_epoch, 1e-9))))
    equiv = math.ceil(search_epochs * cfg.search_batch_fraction)
    rest = usable - search_epochs * s_epoch
    fits = int(rest / max(epoch, 1e-9))  # training epochs the rest pays for, retrain and baseline together
    retrain = cfg.retrain_epochs if "retrain_epochs" in given else \
        max(1, min(cfg.retrain_epochs, (fits - equiv) // 2 if cfg.baseline else fits))
    search_end = clock.elapsed() + search_epochs * s_epoch
    train_end = search_end + (2 * retrain + equiv if cfg.baseline else retrain) * epoch
    plan = {"budget": float(cfg.time_budget), "batch_size": batch, "search_epochs": search_epochs,
            "retrain_epochs": retrain, "predicted_seconds": round(train_end + tests, 1),
            "test_seconds": round(tests, 2),
            "given": sorted(k for k in ("batch_size", "search_epochs", "retrain_epochs") if k in given),
            # for the re-plan after the search (replan_retrain): the plain network's epoch, the configured cap
            "plain_epoch": round(epoch, 4), "retrain_cap": cfg.retrain_epochs}
    # each stage's end (seconds from the start): the predicted ends stretched onto the budget less its margin,
    # so a stage slower than measured gives up epochs instead of the budget (the next stage keeps its share)
    last = clock.budget * (1 - MARGIN_DASH) - tests  # the training stages end here, the tests after
    stretch = last / max(train_end, 1e-9)
    plan["stage_ends"] = {"search": round(search_end * stretch, 1),
                          "retrain": round((search_end + retrain * epoch) * stretch, 1),
                          "baseline": round(last, 1)}
    if plan["predicted_seconds"] > clock.budget or last <= search_end:  # even the fewest epochs overrun it
        # (was: run on, 91 s at 15 s)
        least = math.ceil(plan["predicted_seconds"] / (1 - MARGIN_DASH))
        raise AutofastError(f"--time-budget {clock.budget:g}: {search_epochs} supernet epoch(s) and "
                            f"{retrain} training epoch(s) per network take ~{plan['predicted_seconds']:.0f}s here"
                            + (f" with the test evaluation(s) (~{tests:.0f}s)" if tests >= 1.0 else "")
                            + f"; give at least --time-budget {least} (or fewer epochs, a smaller --batch-size)")
    return cfg.model_copy(update={"batch_size": batch, "search_epochs": search_epochs, "retrain_epochs": retrain}), plan


def split_epochs(left: float, pattern_epoch: float, plain_epoch: float, equiv: int, cap: int,
                 baseline: bool = True) -> int:
    """The retrain epochs R that ``left`` seconds pay for after the search: the largest R <= ``cap`` with
    ``R * pattern_epoch + (R + equiv) * plain_epoch <= left`` (the retrain at the searched pattern's epoch, the
    baseline's R + ``equiv`` epochs at the plain network's), ``R * pattern_epoch <= left`` without a baseline;
    at least 1."""
    per = pattern_epoch + (plain_epoch if baseline else 0.0)
    room = left - (equiv * plain_epoch if baseline else 0.0)
    return max(1, min(int(cap), int(room / max(per, 1e-9) + 1e-9)))


def replan_retrain(cfg: DashConfig, clock: Clock, plan: dict, search_epochs_done: int, pattern_epoch: float,
                   plain_epoch: float) -> tuple[DashConfig, dict]:
    """After the search (``--time-budget`` given, ``--retrain-epochs`` not): the retrain epochs and the
    retrain's stage end re-planned from the time actually left (to the budget less its margin), the retrain's
    epoch priced at the searched pattern's measured cost (``pattern_epoch``: larger kernels and dilations cost
    1.1-1.9x a plain epoch on CPUs, which the first plan did not know) and the baseline's at the plain one's,
    which also gets the epoch-equivalents of the search's epochs actually trained (:func:`split_epochs`, capped
    by the configured ``retrain_epochs``). The time left is shared out in proportion to the two stages'
    predicted seconds. Updates ``plan`` (``retrain_epochs``, ``stage_ends``; the first plan's retrain epochs and
    the prices in ``plan["replan"]``; the search's end becomes when it ended where that was earlier, so the
    ends stay in order) and returns the config with the new epochs and the ``replan`` record."""
    now = clock.elapsed()
    # the test evaluations after it, the retrain's repriced at the searched pattern's cost (a dilated pattern's
    # epoch 2.8x the plain one's: the evaluations took 61 s where 23 s were kept, the baseline got 1 of 32 epochs)
    one = plan.get("test_seconds", 0.0) / (2 if cfg.baseline else 1)
    tests = one * (pattern_epoch / max(plain_epoch, 1e-12)) + (one if cfg.baseline else 0.0)
    plan["test_seconds"] = round(tests, 2)
    end = clock.budget * (1 - MARGIN_DASH) - tests
    left = max(0.0, end - now)
    equiv = math.ceil(search_epochs_done * cfg.search_batch_fraction)
    retrain = split_epochs(left, pattern_epoch, plain_epoch, equiv, plan.get("retrain_cap", cfg.retrain_epochs),
                           cfg.baseline)
    retrain_s = retrain * pattern_epoch
    predicted = retrain_s + ((retrain + equiv) * plain_epoch if cfg.baseline else 0.0)
    share = retrain_s / predicted if predicted > 0 else 1.0
    record = {"at": round(now, 1), "left": round(left, 1), "pattern_epoch": round(pattern_epoch, 4),
              "plain_epoch": round(plain_epoch, 4), "search_equivalent": equiv, "retrain_epochs": retrain,
              "planned_before": plan["retrain_epochs"], "predicted_seconds": round(now + predicted, 1)}
    ends = plan["stage_ends"]
    ends["search"] = min(ends["search"], round(now, 1))
    ends["retrain"] = round(now + left * share, 1) if cfg.baseline else round(end, 1)
    plan.update(retrain_epochs=retrain, replan=record)
    return cfg.model_copy(update={"retrain_epochs": retrain}), record


def fair_epochs(search_done: int, search_planned: int, batch_fraction: float, retrain_done: int,
                retrain_planned: int, baseline: bool = True) -> dict:
    """The baseline's epochs: those the DASH side trained, ``retrain_done + ceil(search_done * batch_fraction)``
    (the search's epochs as full-data epoch-equivalents). With ``notes``: one line where a stage's deadline cut
    the search or the retrain short of its plan (and what the baseline gets instead)."""
    equiv = math.ceil(search_done * batch_fraction)
    cuts = [f"{stage} stopped at its deadline after {done} of {planned} epochs"
            for stage, done, planned in (("search", search_done, search_planned),
                                         ("retrain", retrain_done, retrain_planned)) if done < planned]
    if cuts and baseline:
        cuts[-1] += f"; the baseline gets the same {retrain_done} + {equiv} epochs"
    return {"retrain_epochs": retrain_done, "search_equivalent_epochs": equiv,
            "baseline_epochs": retrain_done + equiv if baseline else None, "notes": ["; ".join(cuts)] if cuts else []}


def run_dash(cfg: DashConfig, say: Callable[[str], None] = lambda m: None, started: float | None = None,
             record: Path | None = None) -> dict:
    """Run search, retrain, baseline and test; return a JSON-ready result plus ``final_model``: the retrained
    network and its task (for :func:`autofast.dash.report.write_run`).
    With ``cfg.time_budget`` the epochs are planned to fit it (:func:`budget_epochs`; the retrain's re-planned
    after the search at the searched pattern's measured cost, :func:`replan_retrain`), counted from ``started``
    (``time.time()``; default now), and each stage stops at its planned end. The baseline trains the epochs the
    DASH side trained (:func:`fair_epochs`), whatever a deadline cut. ``record``: the
    file that keeps the conv path of every shape the run ran (the run folder's ``conv_paths.json``)."""
    with in_force(cfg), conv_record(record, cfg.conv_paths_from):
        return _run_dash(cfg, say, started)


def _run_dash(cfg: DashConfig, say: Callable[[str], None], started: float | None) -> dict:
    clock = Clock(started)
    check_options(cfg)
    if cfg.threads:
        configure_runtime(cfg.threads)
    t0 = time.perf_counter()
    task = load_from_config(cfg)
    data = task.data
    ndim = data.ndim
    in_ch = int(task.x_train.shape[1])
    timings = {"load": time.perf_counter() - t0}
    budget_plan = None

    def stop(stage: str):
        """The stage's ``stop()``: none without a budget, else its planned end (:func:`budget_epochs`)."""
        return None if budget_plan is None else clock.epochs_until(budget_plan["stage_ends"][stage])

    if cfg.time_budget is not None:
        clock.budget = float(cfg.time_budget)
        t_plan = time.perf_counter()
        cfg, budget_plan = budget_epochs(cfg, task, clock)
        timings["measure_and_plan"] = time.perf_counter() - t_plan  # the step cost measured (was in no stage)
        say(f"budget {clock.budget:.0f}s: batch {cfg.batch_size}, {cfg.search_epochs} search epochs, "
            f"{cfg.retrain_epochs} retrain epochs")
    found = search_architecture(task, cfg, say, stop=stop("search"))
    name, ks, ds, positional = found["backbone"], found["kernel_sizes"], found["dilations"], found["positional"]
    pattern, probs, candidates = found["pattern"], found["probabilities"], found["candidates"]
    timings["search"] = found["seconds"]

    def network(pattern_):
        with seeded_init(cfg.seed):
            return build_backbone(name, ndim, in_ch, data.num_classes, cfg.retrain_width, fixed_factory(pattern_),
                                  dropout=cfg.dropout, positional=positional)

    if budget_plan is not None and "retrain_epochs" not in budget_plan["given"]:
        # the first plan priced every training epoch at the plain network's; the searched pattern's costs more
        # (a retrain cut after 1 of 6 epochs at digits --time-budget 30s): time it and share out what is left
        t_replan = time.perf_counter()
        priced = []
        for pattern_ in (pattern, [(3, 1)] * len(pattern)) if cfg.baseline else (pattern,):
            probe = network(pattern_)  # the retrain's network, then the baseline's
            x, y, xv, yv = placed(probe, cfg.devices[0], task.x_train, task.y_train, task.x_val, task.y_val)
            priced.append(sum(epoch_seconds(probe, x, y, cfg.batch_size, xv, yv)))
            # and a pass at the final evaluation's batch (evaluate: 512), on training rows: the conv-path dispatcher
            # measures those shapes once (3.9 s for digits' pattern on a cold cache, between the retrain and the
            # baseline, which lost an epoch to it; the baseline's own, unmeasured, cut it to 1 of 35 epochs at
            # JapaneseVowels --time-budget 30); here it is spent before the time left is shared out
            evaluate(probe, x[:512], y[:512])
            del probe, x, y, xv, yv
        cfg, replan = replan_retrain(cfg, clock, budget_plan, len(found["history"]), priced[0], priced[-1])
        timings["replan"] = time.perf_counter() - t_replan
        say(f"re-plan ({replan['left']:.0f}s left): pattern epoch {replan['pattern_epoch']:.2f}s, plain "
            f"{replan['plain_epoch']:.2f}s -> {cfg.retrain_epochs} retrain epochs (planned {replan['planned_before']})")

    def fit(pattern_, label):
        model = network(pattern_)
        s = TrainSettings(epochs=epochs[label], lr=cfg.lr, weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
                          seed=cfg.seed)
        res = train(model, *placed(model, cfg.devices[0], task.x_train, task.y_train, task.x_val, task.y_val), s,
                    on_epoch=lambda r: say(f"{label} epoch {r['epoch']}/{s.epochs}: {_val_text(r)}"),
                    stop=stop(label))
        model.load_state_dict(res.best_state)  # best epoch by VALIDATION accuracy
        return model, res, {**test_scores(model, task), "best_epoch": res.best_epoch,  # the one test evaluation
                            "best_val_acc": res.best_val_acc, "best_val_loss": res.best_val_loss,
                            "epochs": len(res.history), "planned_epochs": s.epochs, "seconds": res.seconds,
                            "history": res.history}  # epochs trained: a budget's stop may end a stage early

    epochs = {"retrain": cfg.retrain_epochs}
    say(f"retrain: width {cfg.retrain_width}, pattern {pattern}")
    model, retrain_res, retrain = fit(pattern, "retrain")
    timings["retrain"] = retrain_res.seconds
    # the baseline gets the same epoch budget, by construction: the epochs the DASH side TRAINED (the retrain's,
    # plus the search's epoch-equivalents), never the planned ones where a stage's deadline cut it short
    search_done = len(found["history"])
    epoch_budget = fair_epochs(search_done, cfg.search_epochs, cfg.search_batch_fraction, retrain["epochs"],
                               retrain["planned_epochs"], cfg.baseline)
    epochs["baseline"] = epoch_budget["baseline_epochs"]
    for note in epoch_budget["notes"]:
        say(note)
    metric, lower = task_metric(task)
    result = {
        "task": task.name, "kind": data.kind, "classes": data.classes, "backbone": name, "positional_input": positional,
        "split": {"seed": task.split.seed, "ratios": list(task.split.ratios), "train": len(task.y_train),
                  "val": len(task.y_val), "test": len(task.y_test),
                  **({"protocol": task.split.protocol, "lookback": cfg.lookback, "horizon": cfg.horizon,
                      "train_stride": cfg.train_stride} if data.kind == "timeseries" else
                     {"stratified": data.y.ndim == 1, "provenance": task.split.provenance})},  # classes only
        "metric": metric, "lower_is_better": lower,
        "search_space": {"kernel_sizes": list(ks), "dilations": list(ds), "candidates": [list(c) for c in candidates]},
        "pattern": [list(p) for p in pattern], "arch_probabilities": probs,
        "search": {"epochs": len(found["history"]), "planned_epochs": cfg.search_epochs,
                   "batch_fraction": cfg.search_batch_fraction,
                   "width": cfg.search_width, "history": found["history"], "seconds": found["seconds"]},
        "retrain": retrain, "epoch_budget": epoch_budget, "config": cfg.model_dump(mode="json"),
        "precision": resolve_precision(cfg.precision, cfg.devices[0]), "timings": timings, "budget_plan": budget_plan,
        "selected_on": "architecture: training loss (single-level DASH); checkpoints: validation "
                       f"{metric}; test split evaluated once per model",
    }
    if cfg.baseline:
        fixed = [(3, 1)] * len(pattern)
        say("baseline: fixed 3-wide kernels (dilation 1), same epoch budget")
        _, base_res, baseline = fit(fixed, "baseline")
        timings["baseline"] = base_res.seconds
        result["baseline"] = {"pattern": [list(p) for p in fixed], **baseline}
        epoch_budget["baseline_trained"] = baseline["epochs"]
        if baseline["epochs"] < baseline["planned_epochs"]:  # its own deadline: DASH trained more this time
            note = (f"baseline stopped at its deadline after {baseline['epochs']} of {baseline['planned_epochs']} "
                    "epochs: it trained less than the DASH side")
            epoch_budget["notes"].append(note)
            say(note)
    timings["total"] = time.perf_counter() - t0
    result["conv_paths"] = path_summary()  # which implementation ran each conv shape
    result["test_score"] = retrain["test_score"]
    result["final_model"] = (model.cpu(), task)  # written by autofast.dash.report.write_run
    return result
