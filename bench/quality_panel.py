"""The quality panel: is ``autofast search`` a strong baseline? Per task and seed, in ONE run:

1. ``search``: ``python -m autofast search --task T --seed S --json`` with its defaults (a subprocess, timed
   from process start to exit; the score read from its ``result.json``);
2. ``plain``: the same command with ``--arch plain`` (no DASH stage: the plain 3x1 / 3x3 pattern, same plan
   and budget);
3. ``peer``: what a user would run instead, on exactly the same split (``bench/panel_peers.py``: MiniRocket
   for series, LogisticRegression on k-mers / one-hot for DNA, SVC for digits, RidgeCV for darcy and ETTh1
   windows), fit + predict timed;
4. the published numbers for the UCR/UEA sets (constants below, each with its source).

Usage (from the repository root)::

    .venv/bin/python bench/quality_panel.py                      # every task, seeds 0 1 2, search defaults
    .venv/bin/python bench/quality_panel.py --tasks ACSF1 motif --seeds 0 --time-budget 300
    .venv/bin/python bench/quality_panel.py --jobs 4 --out runs/panel --write-readme

``--time-budget S`` is passed to both search arms (``search --time-budget S``); ``--jobs J`` runs J arms at
once (each search with ``--threads`` = usable cores / J). Results accumulate in ``DIR/panel.json``: an arm
already there (task, seed, arm) is skipped on a rerun, a failed one is tried again. ``DIR/panel.md`` is the
table; ``--write-readme`` also puts it, with the machine, date and command, between the
``<!-- quality-panel:start -->`` / ``<!-- quality-panel:end -->`` markers of ``bench/README.md``.

Tasks: bundled names (``splice digits JapaneseVowels ACSF1 PickupGestureWiimoteZ darcy ETTh1``), ``motif``
(generated here: 300 + 300 random 40-nt sequences, label = whether the 6-nt motif ``MOTIF`` occurs; an
official train/test split written as CSVs with a task file, loaded by ``search`` as a user's files),
``aeon:NAME`` (a UCR/UEA set in aeon's wheel, BSD-3, on its official split: its ``.ts`` files copied under
``DIR/data/NAME`` with a task file, as a user would point ``search`` at them; :data:`HELD_OUT` are the sets
issue 18 measured and two more, never used to develop the defaults), ``fashion:N`` (N Fashion-MNIST training
images and its official test split: :func:`write_fashion_task`), or a path to a task file.

Caches: the search arms measure conv paths and the step cost into ``DIR/cache`` (``AUTOFAST_CACHE_DIR``), empty
at the panel's first run, so the panel measures what a new install gives, not a plan made from measurements
kept from older code or a busier day in ``~/.cache/autofast`` (``--cache user`` uses that one).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
README = BENCH_DIR / "README.md"
START, END = "<!-- quality-panel:start -->", "<!-- quality-panel:end -->"
DEFAULT_TASKS = ["splice", "digits", "JapaneseVowels", "ACSF1", "PickupGestureWiimoteZ", "darcy", "ETTh1", "motif"]
#: series sets held out from development, run to check that the defaults carry over: issue 18's first
#: measurement (GunPoint 50, BasicMotions 40, ItalyPowerDemand 67, ArrowHead 36, OSULeaf 200 training series) and,
#: since session 28, Covid3Month_disc (140) and UnitTest (20)
HELD_OUT = ["aeon:GunPoint", "aeon:BasicMotions", "aeon:ItalyPowerDemand", "aeon:ArrowHead", "aeon:OSULeaf",
            "aeon:Covid3Month_disc", "aeon:UnitTest"]
ARMS = ("search", "plain", "peer")

# ------------------------------------------------------------------------------------ published numbers
# Test accuracy on the official train/test split. Only numbers read from the cited tables/files; None = not
# published there (or not found): shown as "n/a".
SRC_DL4TSC_PAPER = ("Ismail Fawaz et al. 2019, 'Deep learning for time series classification: a review', DMKD 33; "
                    "MTS archive table (mean of 10 runs), github.com/hfawaz/dl-4-tsc results/results-mts-avg-std.csv")
SRC_DL4TSC_UCR2018 = ("Ismail Fawaz et al., github.com/hfawaz/dl-4-tsc results/results-ucr-128.csv (UCR 2018 archive, "
                      "mean of the 5 runs listed; added to the repository after the 2019 paper, which used UCR 2015)")
SRC_INCEPTIONTIME = ("Ismail Fawaz et al. 2020, 'InceptionTime', DMKD 34; github.com/hfawaz/InceptionTime "
                     "results-InceptionTime-128.csv (UCR 2018 archive, the 5-network ensemble)")
SRC_MINIROCKET = ("Dempster, Schmidt, Webb 2021, 'MINIROCKET', KDD; github.com/angus924/minirocket "
                  "results/results_ucr109_mean.csv (mean over 30 resamples; resample 0 in "
                  "results/accuracy_ucr109_resamples.csv)")
PUBLISHED: dict[str, dict[str, tuple[float | None, str]]] = {
    "JapaneseVowels": {
        "FCN": (0.993, SRC_DL4TSC_PAPER),
        "ResNet": (0.992, SRC_DL4TSC_PAPER),
        "InceptionTime": (None, "not in the InceptionTime paper (UCR univariate only); the repository's "
                                "results-mts.csv was withdrawn"),
        "MiniRocket": (None, "not in the MiniRocket paper (109 univariate UCR sets only)"),
    },
    "ACSF1": {
        "FCN": (0.898, SRC_DL4TSC_UCR2018),     # runs 0.91 0.90 0.87 0.91 0.90
        "ResNet": (0.916, SRC_DL4TSC_UCR2018),  # runs 0.93 0.92 0.93 0.93 0.87
        "InceptionTime": (0.92, SRC_INCEPTIONTIME),
        "MiniRocket": (0.822, SRC_MINIROCKET + "; resample 0: 0.92"),
    },
    # the held-out sets: the plain ResNet numbers issue 18 quotes (dl-4-tsc), not re-read from the tables here
    **{f"aeon:{name}": {"ResNet": (acc, "issue 18's quote of the published plain ResNet (dl-4-tsc)")}
       for name, acc in (("GunPoint", 0.991), ("BasicMotions", 1.000), ("ItalyPowerDemand", 0.963),
                         ("ArrowHead", 0.838), ("OSULeaf", 0.980))},
    "PickupGestureWiimoteZ": {
        "FCN": (0.744, SRC_DL4TSC_UCR2018),     # runs 0.74 0.78 0.70 0.76 0.74
        "ResNet": (0.704, SRC_DL4TSC_UCR2018),  # runs 0.72 0.66 0.70 0.74 0.70
        "InceptionTime": (0.76, SRC_INCEPTIONTIME),
        "MiniRocket": (None, "variable length: not among MiniRocket's 109 UCR sets"),
    },
}

# ------------------------------------------------------------------------------------------ motif task
MOTIF = "TGACGT"
MOTIF_LEN, MOTIF_N, MOTIF_SEED = 40, 300, 20261204


def write_motif_task(folder: Path) -> Path:
    """The synthetic DNA task (deterministic): ``train.csv``/``test.csv`` (300 sequences each, half with
    ``MOTIF`` planted at a random position, half without it anywhere) and ``motif.yaml``; returns the YAML."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(MOTIF_SEED)

    def sequence(present: bool) -> str:
        while True:
            s = "".join(rng.choice(list("ACGT"), MOTIF_LEN))
            if present:
                at = int(rng.integers(0, MOTIF_LEN - len(MOTIF) + 1))
                s = s[:at] + MOTIF + s[at + len(MOTIF):]
            if (MOTIF in s) == present:
                return s

    for part in ("train", "test"):
        labels = np.array(["present"] * (MOTIF_N // 2) + ["absent"] * (MOTIF_N - MOTIF_N // 2))
        rng.shuffle(labels)
        rows = [f"{sequence(lab == 'present')},{lab}" for lab in labels]
        _write_atomic(folder / f"{part}.csv", "sequence,label\n" + "\n".join(rows) + "\n")
    yaml = folder / "motif.yaml"
    _write_atomic(yaml, f"# Synthetic: {MOTIF_N} + {MOTIF_N} random {MOTIF_LEN}-nt sequences; label = whether {MOTIF} "
                        f"occurs (written by bench/quality_panel.py, seed {MOTIF_SEED}).\n"
                        "name: motif\nkind: dna\ntrain: train.csv\ntest: test.csv\n"
                        "split: {val_fraction: 0.1}  # validation: 10% of train.csv, stratified, seeded by --seed\n")
    return yaml


# ------------------------------------------------------------------------------------------------ utils
def write_aeon_task(folder: Path, name: str) -> Path:
    """Copy aeon's ``NAME_TRAIN.ts`` / ``NAME_TEST.ts`` into ``folder`` and write ``NAME.yaml`` (``kind: series``,
    the official split, validation 10% of the training file); returns the YAML."""
    import importlib.util

    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"aeon:{name} needs aeon installed (.venv/bin/pip install --no-deps aeon==1.6.0)")
    src = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("TRAIN", "TEST"):
        f = src / f"{name}_{part}.ts"
        if not f.exists():
            raise SystemExit(f"aeon:{name}: {f} not found; aeon's wheel ships: "
                             + " ".join(sorted(p.name for p in src.parent.iterdir() if p.is_dir())))
        shutil.copyfile(f, folder / f.name)
    yaml = folder / f"{name}.yaml"
    _write_atomic(yaml, f"# UCR/UEA {name} on its official split; .ts files copied from aeon's wheel (BSD-3)\n"
                        f"name: {name}\nkind: series\ntrain: {name}_TRAIN.ts\ntest: {name}_TEST.ts\n"
                        "variable_length: pad\nsplit: {val_fraction: 0.1}\n")
    return yaml


def write_ett_day_task(folder: Path) -> Path:
    """A series-regression task from the shared ETTh1 file (deterministic): each day's 24 hourly values of the six
    load channels (HUFL..LULL) -> that day's mean oil temperature (OT), as ``.ts`` files with ``@targetLabel
    true``, split by the ETT protocol's months (train the first 12 x 30 days, validation the next 4 x 30, test
    the next 4 x 30: 360 / 120 / 120 days), and ``ETTday.yaml``; returns the YAML."""
    import numpy as np

    src = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"
    if not src.exists():
        raise SystemExit(f"ETTday needs {src} (the shared data folder)")
    rows = np.loadtxt(src, delimiter=",", skiprows=1, usecols=range(1, 8), dtype=np.float64)  # (T, 7)
    days = rows[: 600 * 24].reshape(600, 24, 7)
    x, y = days[:, :, :6].transpose(0, 2, 1), days[:, :, 6].mean(1)  # (600, 6, 24), (600,)
    folder.mkdir(parents=True, exist_ok=True)
    head = ("# ETTh1 (Zhou et al. 2021, CC BY-ND 4.0) by day: the six load channels' 24 hourly values -> the day's "
            "mean oil temperature\n@problemName ETTday\n@timeStamps false\n@missing false\n@univariate false\n"
            "@dimensions 6\n@equalLength true\n@seriesLength 24\n@targetLabel true\n@data\n")
    for part, (a, b) in {"TRAIN": (0, 360), "VAL": (360, 480), "TEST": (480, 600)}.items():
        lines = [":".join(",".join(f"{v:.4f}" for v in ch) for ch in x[i]) + f":{y[i]:.6f}" for i in range(a, b)]
        _write_atomic(folder / f"ETTday_{part}.ts", head + "\n".join(lines) + "\n")
    yaml = folder / "ETTday.yaml"
    _write_atomic(yaml, "# ETTh1 by day (bench/quality_panel.write_ett_day_task): series regression, ETT's months\n"
                        "name: ETTday\nkind: series\ntrain: ETTday_TRAIN.ts\nval: ETTday_VAL.ts\n"
                        "test: ETTday_TEST.ts\n")
    return yaml


#: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, MIT licence): the Debian package ``dataset-fashion-mnist`` installs its
#: four idx files here; ``--fashion-mnist DIR`` points elsewhere
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_SUBSET_SEED = 0


def write_fashion_task(folder: Path, n: int, src: Path) -> Path:
    """``fashion:N``, a small-image task (deterministic): N training images (N / 10 per class, drawn with
    :data:`FASHION_SUBSET_SEED` from the official 60 000) and the official 10 000 test images, as ``.npz`` files
    with ``fashionN.yaml`` (validation 10% of the training file, stratified, carved with the run's seed); returns
    the YAML."""
    import gzip

    import numpy as np

    files = {f"{part}-{what}": src / f"{part}-{what}-{idx}-ubyte.gz" for part in ("train", "t10k")
             for what, idx in (("images", "idx3"), ("labels", "idx1"))}
    missing = [str(f) for f in files.values() if not f.exists()]
    if missing:
        raise SystemExit(f"fashion:{n} needs Fashion-MNIST's idx files ({', '.join(missing)} not found): install "
                         "the Debian package dataset-fashion-mnist or give --fashion-mnist DIR")

    def read(k: str) -> np.ndarray:
        raw = gzip.open(files[k]).read()
        return np.frombuffer(raw, np.uint8, offset=16 if "images" in k else 8)

    x_tr, y_tr = read("train-images").reshape(-1, 1, 28, 28), read("train-labels")
    x_te, y_te = read("t10k-images").reshape(-1, 1, 28, 28), read("t10k-labels")
    rng = np.random.default_rng(FASHION_SUBSET_SEED)
    rows = np.concatenate([rng.choice(np.flatnonzero(y_tr == k), n // 10, replace=False) for k in range(10)])
    rows = np.sort(rows)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"train{n}.npz", x=x_tr[rows], y=y_tr[rows].astype(np.int64))
    if not (folder / "test.npz").exists():
        np.savez(folder / "test.npz", x=x_te, y=y_te.astype(np.int64))
    yaml = folder / f"fashion{n}.yaml"
    _write_atomic(yaml, f"# Fashion-MNIST (MIT): {n} official training images (seed {FASHION_SUBSET_SEED}), the "
                        f"official test split\nname: fashion{n}\nkind: image\ntrain: train{n}.npz\n"
                        "test: test.npz\nsplit: {val_fraction: 0.1}\n")
    return yaml


def task_argument(task: str, out: Path, fashion: Path = FASHION_DIR) -> str:
    """What ``search --task`` gets for a panel task name (files written under ``out/data`` where needed)."""
    if task == "motif":
        return str(write_motif_task(out / "data" / "motif"))
    if task == "ETTday":
        return str(write_ett_day_task(out / "data" / "ETTday"))
    if task.startswith("aeon:"):
        return str(write_aeon_task(out / "data" / task[5:], task[5:]))
    if task.startswith("fashion:"):
        return str(write_fashion_task(out / "data" / "fashion", int(task[8:]), fashion))
    return task


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def key(task: str, seed: int, arm: str) -> str:
    return f"{task}|{seed}|{arm}"


def slug(task: str) -> str:
    """A folder-safe name for a task (a bundled name, or a task file's stem)."""
    name = Path(task).stem if task.lower().endswith((".yaml", ".yml")) else task
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class Panel:
    """``panel.json``: every finished arm, written atomically after each (thread-safe)."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.data = json.loads(path.read_text()) if path.exists() else {"version": 1, "runs": {}, "sessions": []}

    def done(self, k: str) -> bool:
        r = self.data["runs"].get(k)
        return r is not None and r.get("score") is not None

    def put(self, k: str, record: dict) -> None:
        with self.lock:
            self.data["runs"][k] = record
            self.save()

    def save(self) -> None:
        _write_atomic(self.path, json.dumps(self.data, indent=1, default=str))


# ------------------------------------------------------------------------------------------------- arms
PLAN_KEYS = (("batch_size", "batch"), ("n_configs", "configs"), ("max_epochs", "max epochs"),
             ("retrain_epochs", "retrain epochs"), ("folds", "folds"), ("ensemble", "ensemble"),
             ("search_epochs", "DASH epochs"))


def plan_summary(plan) -> str:
    """A short line of ``result.json["plan"]`` (arch, batch size, epochs, configurations, folds), "-" if absent."""
    if not isinstance(plan, dict) or not plan:
        return "-"
    parts = []
    if plan.get("arch") is not None:
        stages = [n for n in ("dash", "rocket", "kmer", "wd") if plan.get(n)]
        parts.append(f"arch {plan['arch']}" + (f" ({'+'.join(stages)})" if stages else ""))
    parts += [f"{label} {plan[k]}" for k, label in PLAN_KEYS if plan.get(k) is not None]
    if not parts:  # an unknown layout: any scalar that looks like a budget knob
        flat = {k: v for k, v in plan.items() if isinstance(v, (int, float, str))}
        parts = [f"{k} {v}" for k, v in flat.items() if re.search(r"batch|epoch|config|fold", k, re.I)][:6]
    return ", ".join(parts) if parts else "-"


def run_search_arm(args, task: str, task_arg: str, seed: int, arm: str, threads: int) -> dict:
    out = args.out / f"{arm}-{slug(task)}-{seed}"
    if out.exists():  # an earlier run of this arm did not finish (it is not in panel.json): start it afresh
        shutil.rmtree(out)
    cmd = shlex.split(args.search_cmd) + ["--task", task_arg, "--seed", str(seed), "--out", str(out), "--json",
                                          "--threads", str(threads)]
    if arm == "plain":
        cmd += ["--arch", "plain"]
    if args.split_seed is not None:
        cmd += ["--split-seed", str(args.split_seed)]
    if args.time_budget is not None:
        cmd += ["--time-budget", f"{args.time_budget:g}"]
    env = dict(os.environ)
    if args.cache != "user":
        env["AUTOFAST_CACHE_DIR"] = str(args.out / "cache")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=args.arm_timeout)
    wall = time.perf_counter() - t0
    rec = {"task": task, "seed": seed, "arm": arm, "command": shlex.join(cmd), "wall_s": round(wall, 2),
           "rc": proc.returncode, "out": str(out), "split_seed": seed if args.split_seed is None else args.split_seed}
    result_file = out / "result.json"
    if proc.returncode != 0 or not result_file.exists():
        rec["score"] = None
        rec["error"] = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1][:500]
        return rec
    res = json.loads(result_file.read_text())
    rec.update(score=res.get("test_score"), metric=res.get("metric"), lower_is_better=res.get("lower_is_better"),
               plan=res.get("plan"), plan_summary=plan_summary(res.get("plan")), timings=res.get("timings"),
               backbone=res.get("backbone"), pattern=res.get("pattern"))
    if res.get("kind") == "timeseries":  # the peer then uses the same windows
        cfg = res.get("config") or {}
        rec.update(lookback=cfg.get("lookback"), horizon=cfg.get("horizon"))
    return rec


def run_peer_arm(args, panel: "Panel", task: str, task_arg: str, seed: int, threads: int) -> dict:
    out = args.out / "peers" / f"peer-{slug(task)}-{seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(BENCH_DIR / "panel_peers.py"), "--task", task_arg, "--seed", str(seed),
           "--threads", str(threads), "--out", str(out)]
    if args.split_seed is not None:
        cmd += ["--split-seed", str(args.split_seed)]
    search = panel.data["runs"].get(key(task, seed, "search"), {})  # forecasting windows: search's lookback/horizon
    for opt in ("lookback", "horizon"):
        if search.get(opt):
            cmd += [f"--{opt}", str(search[opt])]
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "NUMBA_NUM_THREADS")}}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=args.arm_timeout)
    wall = time.perf_counter() - t0
    rec = {"task": task, "seed": seed, "arm": "peer", "command": shlex.join(cmd), "process_s": round(wall, 2),
           "rc": proc.returncode}
    if proc.returncode != 0 or not out.exists():
        rec["score"] = None
        rec["error"] = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1][:500]
        return rec
    res = json.loads(out.read_text())
    rec.update({k: v for k, v in res.items() if k not in ("task", "seed")})
    rec["wall_s"] = round(res["seconds"], 3)  # fit + predict
    return rec


# ------------------------------------------------------------------------------------------------ table
def _fmt(xs: list[float], digits: int = 4) -> str:
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def _secs(xs: list[float]) -> str:
    if not xs:
        return "-"
    m = statistics.mean(xs)
    return f"{m:.2f} s" if m < 10 else f"{m:.0f} s"


def published_cell(task: str) -> str:
    pub = PUBLISHED.get(task)
    if not pub:
        return "n/a"
    return "; ".join(f"{m} {'n/a' if v is None else f'{v:.3f}'}" for m, (v, _) in pub.items())


def table(panel: Panel, tasks: list[str], seeds: list[int]) -> str:
    runs = panel.data["runs"]
    head = ("| task | metric | search | plain (`--arch plain`) | peer | published | wall: search / plain / peer "
            "(fit+predict) | plan (search) |")
    lines = [head, "|" + "---|" * 8]
    peer_names: dict[str, str] = {}
    for task in tasks:
        recs = {arm: [runs[key(task, s, arm)] for s in seeds if panel.done(key(task, s, arm))] for arm in ARMS}
        any_rec = next((r for arm in ARMS for r in recs[arm] if r.get("metric")), None)
        metric = any_rec["metric"] if any_rec else "-"
        if any_rec and any_rec.get("lower_is_better"):
            metric += " (lower is better)"
        cells = {}
        for arm in ARMS:
            xs = [float(r["score"]) for r in recs[arm]]
            n = f" (n={len(xs)})" if 0 < len(xs) < len(seeds) else ""
            fails = sum(1 for s in seeds if key(task, s, arm) in runs and not panel.done(key(task, s, arm)))
            cells[arm] = _fmt(xs) + n + (f" ({fails} failed)" if fails else "")
        if recs["peer"]:
            peer_names[task] = recs["peer"][0].get("peer", "")
            shorts = sorted({r.get("short", "") for r in recs["peer"]} - {""})
            cells["peer"] += f" ({', '.join(shorts)})" if shorts else ""
        walls = " / ".join(_secs([r["wall_s"] for r in recs[arm] if r.get("wall_s") is not None]) for arm in ARMS)
        plans = sorted({plan_summary(r.get("plan")) for r in recs["search"]}) or ["-"]
        lines.append(f"| {task} | {metric} | {cells['search']} | {cells['plain']} | {cells['peer']} | "
                     f"{published_cell(task)} | {walls} | {'; '.join(plans)} |")
    notes = ["", "Mean ± standard deviation over the seeds (n = how many finished, where fewer). Wall: `search` and "
                 "`--arch plain` from process start to exit; the peer's fit + predict (its one-off numba compile, "
                 "if any, untimed and kept as `warmup_s` in panel.json)."]
    if peer_names:
        notes += ["", "Peers (trained on the official training file, else train+val of the seed's split; tested on "
                      "the same test split as search):"] + [f"- {t}: {p}" for t, p in peer_names.items()]
    shown = [t for t in tasks if t in PUBLISHED]
    if shown:
        notes += ["", "Published (test accuracy on the official split):"]
        for t in shown:
            for m, (v, src) in PUBLISHED[t].items():
                notes.append(f"- {t}, {m}: {'n/a' if v is None else f'{v:.3f}'}: {src}")
    return "\n".join(lines + notes) + "\n"


def report(body: str, meta: dict) -> str:
    """The table with the machine, date, load and the exact command."""
    return (f"Taken {meta['date']} on {meta['cpu']} ({meta['cores']} usable cores), Python {meta['python']}; "
            f"load average (1/5/15 min) {meta['load_start']} at the start and {meta['load_end']} at the end. "
            f"Command:\n\n```bash\n{meta['command']}\n```\n\n{body}")


def readme_section(body: str, meta: dict) -> str:
    return f"{START}\n{report(body, meta)}{END}"


def write_readme(readme: Path, body: str, meta: dict) -> None:
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    section = readme_section(body, meta)
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Quality panel\n\n" + section + "\n"
    _write_atomic(readme, text)


# ------------------------------------------------------------------------------------------------- main
def parse(argv=None):
    p = argparse.ArgumentParser(description="Quality panel: autofast search vs its plain backbone vs the peer a "
                                            "user would pick vs published numbers, per task and seed.")
    p.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, help=f"default: {' '.join(DEFAULT_TASKS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--time-budget", type=float, help="seconds, passed to both search arms (default: search's own)")
    p.add_argument("--split-seed", type=int, help="one split for every seed (search's --split-seed; the peer "
                                                  "scores the same test rows) (default: each seed its own split)")
    p.add_argument("--jobs", type=int, default=1, help="arms run at once; each gets usable cores / jobs threads")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="default: all three")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "quality-panel")
    p.add_argument("--write-readme", action="store_true", help="replace the quality-panel section of bench/README.md")
    p.add_argument("--cache", choices=("panel", "user"), default="panel",
                   help="conv-path and step-cost caches: DIR/cache, fresh at the first run (default), or the user's")
    p.add_argument("--fashion-mnist", type=Path, default=FASHION_DIR,
                   help=f"the folder of Fashion-MNIST's idx files, for fashion:N tasks (default {FASHION_DIR})")
    p.add_argument("--arm-timeout", type=float, help="seconds before one arm's process is killed (default: none)")
    p.add_argument("--search-cmd", default=f"{shlex.quote(sys.executable)} -m autofast search", help=argparse.SUPPRESS)
    p.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.jobs < 1:
        p.error("--jobs must be >= 1")
    return a


def main(argv=None) -> int:
    args = parse(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "cores": usable_cores(), "python": platform.python_version(), "load_start": loadavg(),
            "command": ".venv/bin/python bench/quality_panel.py " + shlex.join(sys.argv[1:] if argv is None else argv)}
    task_args = {t: task_argument(t, args.out, args.fashion_mnist) for t in args.tasks}
    panel = Panel(args.out / "panel.json")
    threads = max(1, usable_cores() // args.jobs)
    todo = [(t, s, arm) for t in args.tasks for s in args.seeds for arm in ARMS
            if arm in args.arms and not panel.done(key(t, s, arm))]
    skipped = len(args.tasks) * len(args.seeds) * len(args.arms) - len(todo)
    print(f"quality panel: {len(todo)} arms to run ({skipped} already in {panel.path}), {args.jobs} at a time, "
          f"{threads} threads each", file=sys.stderr)

    def one(job):
        t, s, arm = job
        try:
            if arm == "peer":
                rec = run_peer_arm(args, panel, t, task_args[t], s, threads)
            else:
                rec = run_search_arm(args, t, task_args[t], s, arm, threads)
        except subprocess.TimeoutExpired:
            rec = {"task": t, "seed": s, "arm": arm, "score": None, "error": f"killed after {args.arm_timeout:g} s"}
        panel.put(key(t, s, arm), rec)
        what = f"{rec['score']:.4f}" if rec.get("score") is not None else f"FAILED: {rec.get('error')}"
        print(f"  {t} seed {s} {arm}: {what} ({rec.get('wall_s', '-')} s)", file=sys.stderr)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))
    meta["load_end"] = loadavg()
    panel.data["sessions"].append(meta)
    panel.save()
    body = table(panel, args.tasks, args.seeds)
    _write_atomic(args.out / "panel.md", f"# Quality panel\n\n{report(body, meta)}")
    if args.write_readme:
        write_readme(args.readme, body, meta)
    print(body)
    return 0 if all(panel.done(key(t, s, arm)) for t, s, arm in todo) else 1


if __name__ == "__main__":
    sys.exit(main())
