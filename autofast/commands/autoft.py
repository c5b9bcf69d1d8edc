"""CLI subcommands ``pretrain``, ``finetune`` (AutoFT) and ``compare`` (pretrained vs tuned baseline over
training-set sizes). :mod:`autofast.cli` adds them with :func:`add_parser`.

Every option can also come from ``--config FILE.yaml`` (keys = the long option names with underscores;
command-line flags win). Bad input ends in one ``error:`` line and exit status 2, before any output folder
is created.
"""
from __future__ import annotations

import json
from pathlib import Path

from autofast.errors import AutofastError
from autofast.io import make_run_dir, mark_run_dir, run_lock

from .options import default_out, finished_result, merge_options, resumed_options, validated
from .progress import make_console, stage


def _common(p, default_folder: str) -> None:
    p.add_argument("--config", help="YAML file of options, keys = the flag names with underscores (flags win) "
                                    "(default: none)")
    p.add_argument("--out", help=f"run folder (default: {default_folder})")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--threads", type=int, help="CPU threads (default: the cores this process may use)")
    p.add_argument("--devices", nargs="+", metavar="DEV",
                   help="device to train and evaluate on, e.g. cpu or cuda:0; the first entry is used, as by "
                        "dash (default: cpu)")


def _model_args(p) -> None:
    p.add_argument("--checkpoint", help="required: pretrained checkpoint, .pt/.pth (loaded with weights_only=True) "
                                        "or .safetensors (default: none)")
    p.add_argument("--task", help="bundled name (digits, splice), a data file or a YAML task file (default: digits)")
    p.add_argument("--classes", nargs="+", help="use only these classes, e.g. 5-9 or EI IE (default: all)")
    p.add_argument("--arch", help="architecture if the checkpoint has no autofast meta (or to override it): "
                                  "resnet1d, wrn16, wrn22 or timm:NAME (default: the checkpoint's)")
    p.add_argument("--width", type=int, help="backbone width, with --arch (default: the checkpoint's)")
    p.add_argument("--pattern", help="pattern.json with the (kernel, dilation) pattern, with --arch (default: the "
                                     "checkpoint's)")
    p.add_argument("--head", choices=["auto", "reinit", "keep"],
                   help="classification head: auto re-initialises it when the task's classes differ (default: auto)")
    p.add_argument("--metric", choices=["accuracy", "macro_f1", "worst_group"],
                   help="selection and headline score; worst_group: the worst per-class accuracy (default: accuracy)")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], help="fine-tuning optimiser (default: adamw)")
    p.add_argument("--base-lr", type=float, help="base learning rate of fine-tuning (default: 1e-3)")
    p.add_argument("--seed", type=int, help="split seed (also shift and ASHA sampling seeds) (default: 0)")


def add_parser(sub) -> None:
    """Add ``pretrain``, ``finetune`` and ``compare`` to an argparse subparsers object."""
    p = sub.add_parser("pretrain", help="train a backbone on a task and save it as a pretrained checkpoint",
                       description="Train an autofast backbone (plain 3x1 or a DASH pattern.json) on a task, "
                                   "early-stopped on validation accuracy; save model.pt with its architecture in "
                                   "the meta. --classes / --shift pretrain on part of a task or a shifted copy.")
    p.add_argument("--task", help="bundled name (digits, splice), a data file or a YAML task file (default: digits)")
    p.add_argument("--classes", nargs="+", help="pretrain on these classes only, e.g. 0-4 (default: all)")
    p.add_argument("--shift", help="pretrain on a shifted copy of the task, e.g. noise:2 or mutation:2 "
                                   "(default: none)")
    p.add_argument("--backbone", choices=["auto", "resnet1d", "wrn16", "wrn22"],
                   help="network (default: auto: the pattern's, else resnet1d for DNA and series, wrn16 for images)")
    p.add_argument("--width", type=int, help="backbone width (default: 16)")
    p.add_argument("--pattern", help="pattern.json from a dash/search run (default: plain 3x1 kernels)")
    for flag, typ, what in [("--epochs", int, "most training epochs (default: 20)"),
                            ("--patience", int, "stop after this many epochs without a better validation accuracy "
                                                "(default: 5)"),
                            ("--lr", float, "SGD learning rate (default: 0.05)"),
                            ("--momentum", float, "SGD momentum (default: 0.9)"),
                            ("--weight-decay", float, "weight decay (default: 5e-4)"),
                            ("--batch-size", int, "examples per optimiser step (default: 64)"),
                            ("--seed", int, "split and training seed (default: 0)")]:
        p.add_argument(flag, type=typ, help=what)
    p.add_argument("--format", choices=["pt", "safetensors"], help="checkpoint format (default: pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    _common(p, "runs/pretrain-<task>-<time>")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", help="AutoFT: search a robust fine-tuning objective on OOD validation data",
                       description="AutoFT on a pretrained checkpoint: ASHA over loss-term weights, lr, weight "
                                   "decay and seed (resource: inner fine-tuning epochs), scored on an OOD "
                                   "validation set; the searched objective replaces plain CE fine-tuning only "
                                   "when it beats it by more than one standard error on OOD validation; then "
                                   "final fine-tunes beside plain CE fine-tuning with the same budget; ID and "
                                   "OOD test scores. OOD sets: "
                                   "family:severity shifts (images: noise blur contrast rotation; DNA: mutation "
                                   "shift; series: scale level noise) or files.")
    _model_args(p)
    p.add_argument("--batch-size", type=int, help="examples per optimiser step (default: 64)")
    p.add_argument("--min-steps-per-epoch", type=int,
                   help="an epoch is at least this many steps, for few-shot sets (default: 1)")
    p.add_argument("--ood-val", nargs="+", help="OOD validation set: shift(s) like noise:3 (applied to the ID val "
                                                "split) and/or file(s); several are concatenated (default: per "
                                                "modality: images noise:3, DNA mutation:2, series noise:3)")
    p.add_argument("--ood-test", nargs="+", help="OOD test sets: shifts of the ID test split (blur:3 contrast:3) "
                                                 "and/or files (default: per modality: images blur:3 contrast:3 "
                                                 "rotation:3, DNA mutation:4 shift:3, series scale:3 level:3)")
    for flag, typ, what in [("--n-configs", int, "ASHA configurations of the objective (default: 12)"),
                            ("--eta", float, "ASHA reduction factor (default: 2)"),
                            ("--min-epochs", int, "first rung, fine-tuning epochs (default: 1)"),
                            ("--max-epochs", int, "top rung, fine-tuning epochs (default: 8)"),
                            ("--final-epochs", int, "epochs of each final fine-tune (default: 8)")]:
        p.add_argument(flag, type=typ, help=what)
    p.add_argument("--sampler", choices=["random", "grid", "tpe"],
                   help="objective sampler; tpe as in the AutoFT paper (default: random)")
    p.add_argument("--final-seeds", nargs="+", type=int, help="seeds of the final fine-tunes (default: 0 1 2)")
    p.add_argument("--control-lr-mults", nargs="+", type=float,
                   help="CE-only control: lr grid as multiples of --base-lr (default: 0.1 1 10)")
    p.add_argument("--selection-seeds", type=int,
                   help="one-SE rule: training seeds each candidate objective is retrained and scored with "
                        "(default: 3)")
    p.add_argument("--selection-folds", type=int,
                   help="one-SE rule between CE-only and the searched objective: class-stratified folds of the OOD "
                        "validation set when --metric is not accuracy (accuracy: per example) (default: 5)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the finetune run in RUN_DIR from its ASHA journal (default: a new run)")
    _common(p, "runs/finetune-<task>-<time>")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("compare", help="pretrained checkpoint vs the tuned supervised baseline over training-set sizes",
                       description="For each shots-per-class size and seed: fine-tune the checkpoint (lr grid or "
                                   "AutoFT) and train the supervised baseline from scratch (ASHA over DASHA's "
                                   "space) on the same class-stratified subsample, every choice made on a "
                                   "validation set of the same size (--selection); test once; table and plot of "
                                   "score vs size (mean ± std over seeds). A killed run keeps its finished cells; the "
                                   "same command with the same --out continues from them.")
    _model_args(p)
    p.add_argument("--batch-size", type=int, help="examples per optimiser step (default: 64)")
    p.add_argument("--min-steps-per-epoch", type=int,
                   help="an epoch is at least this many steps, for few-shot sets (default: 5)")
    p.add_argument("--shots", nargs="+", help="labelled examples per class (default: 1 5 10 20 100 full)")
    p.add_argument("--seeds", nargs="+", type=int, help="subsample/training seeds (default: 0 1 2)")
    p.add_argument("--finetune", choices=["lr_grid", "autoft"], help="how the checkpoint is fine-tuned "
                                                                     "(default: lr_grid)")
    p.add_argument("--autoft", dest="finetune", action="store_const", const="autoft",
                   help="same as --finetune autoft (default: off)")
    p.add_argument("--selection", choices=["kshot", "full-val"],
                   help="what both arms select lr, hyperparameters and epoch on: kshot, a validation set of as many "
                        "examples per class as the training shots, carved from the training pool and counted as "
                        "labelled data; full-val, the task's whole validation split at every size (the old "
                        "protocol: flatters the few-shot rows) (default: kshot)")
    p.add_argument("--ft-lr-mults", nargs="+", type=float,
                   help="lr grid as multiples of --base-lr (default: 0.3 1 3)")
    for flag, typ, what in [
            ("--ft-epochs", int, "fine-tuning epochs of the pretrained arm (default: 10)"),
            ("--autoft-configs", int, "--finetune autoft: ASHA configurations (default: 6)"),
            ("--autoft-max-epochs", int, "--finetune autoft: top rung, epochs (default: 4)"),
            ("--baseline-width", int, "baseline network width (default: the checkpoint's)"),
            ("--baseline-configs", int, "baseline: ASHA configurations (default: 8)"),
            ("--baseline-min-epochs", int, "baseline: first rung, epochs (default: 1)"),
            ("--baseline-max-epochs", int, "baseline: ASHA's top rung R, epochs (default: 16)"),
            ("--baseline-epochs", int, "baseline: retrain of the best configuration, epochs (default: "
                                       "--baseline-max-epochs)"),
            ("--eta", float, "ASHA reduction factor (default: 2)")]:
        p.add_argument(flag, type=typ, help=what)
    p.add_argument("--baseline-time-budget", metavar="T",
                   help="wall clock of the baseline arm per (shots, seed) cell: seconds, or 90s / 2m; its ASHA stops "
                        "handing out trials and its retrain is sized (from one measured epoch) to end within it "
                        "(default: none: the epochs as given)")
    p.add_argument("--baseline-backbone", choices=["resnet1d", "wrn16", "wrn22"],
                   help="baseline network (default: the checkpoint's backbone)")
    p.add_argument("--baseline-pattern", help="pattern.json of a search run for the baseline (default: the "
                                              "checkpoint's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    _common(p, "runs/compare-<task>-<time>")
    p.set_defaults(func=cmd_compare)


def _check_devices(cfg) -> None:
    """The devices and the precision, refused before anything is loaded or staged."""
    from autofast.autoft.training import check_devices

    check_devices(cfg.devices, cfg.precision)


def _options(args, model_cls) -> dict:
    raw = merge_options(args.config, list(model_cls.model_fields), vars(args))
    if isinstance(raw.get("classes"), list) and len(raw["classes"]) == 1:
        raw["classes"] = raw["classes"][0]
    return raw


def cmd_pretrain(args) -> int:
    from autofast.io import staged_run_dir

    from autofast.autoft.pretrain import PretrainConfig, run_pretrain

    cfg = validated(PretrainConfig, _options(args, PretrainConfig))
    _check_devices(cfg)
    console = make_console(stderr=True, quiet=args.json)
    out = Path(args.out) if args.out else default_out("pretrain", cfg.task, "digits")
    with staged_run_dir(out, args.overwrite, command="pretrain") as tmp:
        with stage(console, "pretrain…") as update:
            result = run_pretrain(cfg, tmp, say=lambda m: update(f"pretrain: {m}"))
    result["run_dir"] = str(out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2, default=str))
        return 0
    con = make_console()
    a = result["arch"]
    con.print(f"pretrained {a['backbone']} (width {a['width']}) on {result['task']}: test accuracy "
              f"{result['test_acc']:.4f} (best val {result['val_acc']:.4f} at epoch {result['best_epoch']}, "
              f"{result['seconds']:.0f}s)")
    con.print(f"checkpoint: {out / result['checkpoint']}   (report: {out}/report.md)")
    return 0


def cmd_finetune(args) -> int:
    from autofast.autoft.finetune import FinetuneConfig, FinetuneContext, load_saved_config, run_finetune, save_config

    if args.resume:
        run_dir = Path(args.resume)
        raw = resumed_options(load_saved_config(run_dir), args, run_dir, FinetuneConfig)
        done = finished_result(run_dir, "finetune")
        if done is not None:
            return _finetune_report({**done, "run_dir": str(run_dir)}, run_dir, args)
    else:
        raw = _options(args, FinetuneConfig)
        if not raw.get("checkpoint"):
            raise AutofastError("finetune needs --checkpoint (a .pt/.pth/.safetensors file; make one with "
                                "`python -m autofast pretrain`)")
        run_dir = Path(args.out) if args.out else default_out("finetune", raw.get("task"), "digits")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise AutofastError(f"output folder {str(run_dir)!r} exists and is not empty; choose another --out or "
                                f"continue it with --resume {run_dir}")
    cfg = validated(FinetuneConfig, raw)
    _check_devices(cfg)
    console = make_console(stderr=True, quiet=args.json)
    with stage(console, "finetune: loading task, checkpoint and OOD sets…"):
        ctx = FinetuneContext(cfg)  # every input checked before the run folder exists
    make_run_dir(run_dir, "--resume" if args.resume else "--out")
    with run_lock(run_dir):
        mark_run_dir(run_dir, "finetune")
        if not args.resume:
            save_config(run_dir, cfg)
        try:
            with stage(console, "AutoFT…") as update:
                result = run_finetune(cfg, run_dir, resume=bool(args.resume), ctx=ctx,
                                      say=lambda m: update(f"AutoFT: {m}"))
        except KeyboardInterrupt:
            raise AutofastError(f"interrupted; finished trials are kept in {run_dir}: continue with "
                                f"`python -m autofast finetune --resume {run_dir}`") from None
    result["run_dir"] = str(run_dir)
    return _finetune_report(result, run_dir, args)


def _finetune_report(result: dict, run_dir: Path, args) -> int:
    from rich.table import Table

    from autofast.reporting import fmt_mean_std

    if args.json:
        slim = {k: v for k, v in result.items() if k != "runs"}
        slim["runs"] = [{k: v for k, v in r.items() if k != "history"} for r in result["runs"]]
        print(json.dumps(slim, indent=2, default=str))
        return 0
    con = make_console()
    m, s = result["metric"], result["summary"]
    table = Table(title=f"AutoFT vs CE-only fine-tuning on {result['task']} ({m}, mean ± std over seeds "
                        f"{', '.join(map(str, result['final_seeds']))})")
    for col in ["set", "AutoFT", "CE-only"]:
        table.add_column(col, justify="right")
    for name in s["autoft"]:
        a, c = s["autoft"][name][m], s["ce_only"][name][m]
        table.add_row(name, fmt_mean_std(a), fmt_mean_std(c))
    con.print(table)
    ob = result["autoft_objective"]
    con.print("selected objective: " + ", ".join(f"{k}={v:.3g}" for k, v in ob["weights"].items())
              + f"; lr {ob['lr']:.3g}, weight decay {ob['weight_decay']:.3g}")
    con.print(f"why: {result['selection']['reason']}")
    if result["model"]["head_reinitialised"]:
        con.print(f"head re-initialised: {result['model']['head_reason']}")
    con.print(f"selected on: {result['selected_on']}")
    con.print(f"report: {run_dir}/report.md")
    return 0


def cmd_compare(args) -> int:
    from rich.table import Table

    from autofast.reporting import fmt_mean_std

    from autofast.io import staged_run_dir

    from autofast.autoft.compare import CompareConfig, CompareContext, run_compare

    raw = _options(args, CompareConfig)
    if not raw.get("checkpoint"):
        raise AutofastError("compare needs --checkpoint (a .pt/.pth/.safetensors file; make one with "
                            "`python -m autofast pretrain`)")
    cfg = validated(CompareConfig, raw)
    _check_devices(cfg)
    console = make_console(stderr=True, quiet=args.json)
    with stage(console, "compare: loading task and checkpoint…"):
        ctx = CompareContext(cfg)
    out = Path(args.out) if args.out else default_out("compare", cfg.task, "digits")
    # finished cells survive a killed run here; the same command with the same --out picks them up
    cells = out.parent / f".{out.name}.cells.jsonl"
    try:
        with staged_run_dir(out, args.overwrite, command="compare") as tmp:
            if args.overwrite:  # (past its checks) a fresh comparison: an interrupted run's cells are not gone on from
                cells.unlink(missing_ok=True)
            with stage(console, "compare…") as update:
                result = run_compare(cfg, tmp, ctx=ctx, say=lambda m: update(f"compare: {m}"), cells_file=cells)
    except KeyboardInterrupt:
        if not cells.is_file():
            raise
        kept = len(cells.read_text().splitlines()) - 1
        raise AutofastError(f"interrupted; {kept} finished cell(s) are kept in {cells}: the same command with the "
                            f"same --out goes on from them") from None
    cells.unlink(missing_ok=True)
    result["run_dir"] = str(out)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    con = make_console()
    m = result["metric"]
    table = Table(title=f"{result['task']}: test {m} vs labelled examples (mean ± std over seeds "
                        f"{', '.join(map(str, result['seeds']))})")
    for col in ["train shots/class", "val shots/class", "train + val", "pretrained", "baseline"]:
        table.add_column(col, justify="right")
    for shots in result["shots"]:
        p = next(t for t in result["table"] if t["shots"] == shots and t["arm"] == "pretrained")
        b = next(t for t in result["table"] if t["shots"] == shots and t["arm"] == "baseline")
        table.add_row(str(shots), "val split" if p["val_shots"] == "full" else str(p["val_shots"]),
                      f"{p['n_train']:.0f} + {p['n_val']:.0f}", fmt_mean_std(p["test"]), fmt_mean_std(b["test"]))
    con.print(table)
    con.print(f"selected on: {result['selected_on']}")
    con.print(f"plot: {out}/score_vs_size.png   report: {out}/report.md")
    return 0
