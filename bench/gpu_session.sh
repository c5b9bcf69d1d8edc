#!/usr/bin/env bash
# One GPU session in ONE call (the device tool's machine: one H100/H200 + 16 CPU cores; or any CUDA box with
# torch + triton): what issue 21 asks of a device, each step under its own time limit, results in $OUT.
#   * the machine: GPU, driver, torch/triton/CUDA versions, CUDA toolchains (nvcc, NVRTC through cupy);
#   * the kernel tests on CUDA (every op against its float64 reference, fused trials, precision, conv paths);
#   * one epoch of 4 and 8 trials fused vs one after another on the GPU (bench/test_bench_fused.py: time and
#     operators dispatched per step);
#   * the same retrain on the CPU and the GPU (bench/gpu_retrain_check.py: per-epoch loss gap, test accuracy);
#   * `search --task splice --devices cuda:0` with its defaults (8 fused trials per GPU, told in arrival order,
#     the plan priced at a fused group's measured step; the kernel SVM in a worker process on the host's cores
#     beside the GPU stages), seeds 0 1 2: wall time start to exit, test score, ASHA trial-epochs per second,
#     how long the GPU stages waited for the host families (timings.host_wait);
#   * the same with `--trials-per-device 1` (seed 0) at the fused run's budget: the one-trial-per-device anchor of
#     the ASHA throughput;
#   * `--precision bf16` on the GPU (splice, seed 0), if time is left;
#   * a CUDA graph of the plain network's training step vs eager (bench/gpu_graphs.py), if time is left;
#   * pretrain + finetune (AutoFT) on the GPU (digits 0-4 -> 5-9, defaults), if time is left;
#   * optionally (CPU_TASKS="JapaneseVowels ..."), the quality panel's small sets on the host CPU in the
#     background (it shares the host's cores with the GPU runs: off by default so the GPU timings are clean).
# Carry .whl/ (pydantic, aeon wheels: the machine's image lacks them). At most 8 files come back from the
# device tool, so the work happens in $WORK and the summaries are copied to $OUT at the end.
#   OUT=/tmp/o bash bench/gpu_session.sh [SECONDS]
# A dry run of the plumbing on a CPU box: DEVICE=cpu SEARCH_ARGS="--time-budget 45" OUT=/tmp/o bash bench/gpu_session.sh
set -u
OUT=${OUT:-bench/results/gpu-session}
LIMIT=${1:-560}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/gpu-session}
CPU_TASKS=${CPU_TASKS:-}
JOBS=${JOBS:-6}
DEVICE=${DEVICE:-cuda:0}
SEARCH_ARGS=${SEARCH_ARGS:-}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
t0=$(date +%s)
left() { echo $(( LIMIT - ($(date +%s) - t0) )); }
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,temperature.gpu --format=csv
  $PY -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "triton", triton.__version__)'
  lscpu | grep -E "Model name|^CPU\(s\)"; uptime
  echo "nvcc: $(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -1 || echo none)"
  (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | tail -2
  $PY -c 'import cupy; from cupy.cuda import nvrtc; print("cupy", cupy.__version__, "nvrtc", nvrtc.getVersion())' 2>&1 | tail -1
  ls -d /usr/local/cuda* 2>/dev/null
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$WORK/install.log" 2>&1 \
    || { echo "install failed"; tail -20 "$WORK/install.log"; cp "$WORK/install.log" "$OUT/"; exit 1; }
echo "install: $(( $(date +%s) - t0 )) s"

# the CPU panel, in the background (only when asked)
cpu=
if [ -n "$CPU_TASKS" ]; then
    timeout $(( $(left) - 25 )) $PY bench/quality_panel.py --tasks $CPU_TASKS --seeds 0 1 2 --jobs "$JOBS" \
        --out "$WORK/cpu" >"$WORK/cpu_panel.log" 2>&1 &
    cpu=$!
fi

# kernel tests on CUDA
# workers: half the cores, 2..8 (the 2026-12-04 H200 run, 2 workers, was still at 71% when its 130 s ran out:
# Triton compiles every kernel variant on first use, on the host's cores)
NPROC=$(nproc 2>/dev/null || echo 2); NW=$(( NPROC / 2 )); [ "$NW" -lt 2 ] && NW=2; [ "$NW" -gt 8 ] && NW=8
XDIST=$($PY -c 'import xdist' 2>/dev/null && echo "-n $NW")
timeout 130 $PY -m pytest -q -p no:cacheprovider $XDIST --durations=10 \
    tests/test_tap_conv_triton.py tests/test_ar_grid_triton.py tests/test_conv_library_ops.py \
    tests/test_conv_ops.py tests/test_fused_trials.py tests/test_precision.py tests/test_conv_path.py \
    tests/test_stage_devices.py >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -3

# one epoch of N trials, fused vs one after another, on the GPU
timeout 120 $PY -m pytest -q -p no:cacheprovider bench/test_bench_fused.py --benchmark-only \
    --benchmark-columns=mean,stddev --benchmark-json="$WORK/fused_bench.json" >"$WORK/fused_bench.log" 2>&1
echo "fused bench rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "passed|failed" "$WORK/fused_bench.log" | tail -1

# the same retrain on the CPU and on the GPU (same init, batch order; per-epoch loss gap, test accuracy)
timeout 90 $PY bench/gpu_retrain_check.py --device "$DEVICE" --epochs 8 --out "$WORK/retrain_check.json" \
    >"$WORK/retrain_check.log" 2>&1
echo "retrain check rc=$? at $(( $(date +%s) - t0 )) s"; tail -1 "$WORK/retrain_check.log"

# default search on the GPU, start to exit
run_search() {  # name, timeout, extra args...
    local name=$1 lim=$2; shift 2
    [ "$(left)" -gt $(( lim / 2 + 30 )) ] || { echo "$name: skipped (time)"; return; }
    local s0=$(date +%s%N)
    timeout "$lim" $PY -m autofast search --task splice --devices "$DEVICE" --json --out "$WORK/$name" $SEARCH_ARGS "$@" \
        >"$WORK/$name.json" 2>"$WORK/$name.log"
    local rc=$? ms=$(( ($(date +%s%N) - s0) / 1000000 ))
    echo "$name rc=$rc wall $(( ms / 1000 )).$(printf %03d $(( ms % 1000 ))) s" | tee -a "$WORK/walls.txt"  # no bc there
}
run_search gpu-splice-0 150 --seed 0
# the anchor at the fused run's budget (unfused, the default budget would be ~1.5-3x longer): ASHA trial-epochs/s compare
budget=$($PY -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["plan"]["budget"]))' "$WORK/gpu-splice-0/result.json" 2>/dev/null || echo 100)
run_search gpu-splice-0-one-per-device 150 --seed 0 --trials-per-device 1 --time-budget "$budget"
for seed in 1 2; do run_search "gpu-splice-$seed" 150 --seed "$seed"; done
# a CUDA graph of the small networks' training step vs eager (issue 21 item 3), if time is left
if [ "$(left)" -gt 90 ]; then
    timeout 60 $PY bench/gpu_graphs.py --device "$DEVICE" --out "$WORK/graphs.json" >"$WORK/graphs.log" 2>&1
    echo "graphs rc=$? at $(( $(date +%s) - t0 )) s"; tail -2 "$WORK/graphs.log"
fi

run_search gpu-splice-bf16-0 120 --seed 0 --precision bf16

# AutoFT on the GPU, if time is left: pretrain on digits 0-4, finetune on 5-9 with its defaults
if [ "$(left)" -gt 150 ]; then
    s0=$(date +%s%N)
    timeout 60 $PY -m autofast pretrain --task digits --classes 0-4 --devices "$DEVICE" --json --out "$WORK/autoft-pre" \
        >"$WORK/autoft-pre.json" 2>"$WORK/autoft-pre.log" \
    && timeout $(( $(left) - 30 )) $PY -m autofast finetune --checkpoint "$WORK/autoft-pre/model.pt" --task digits \
        --classes 5-9 --devices "$DEVICE" --json --out "$WORK/autoft-ft" >"$WORK/autoft-ft.json" 2>"$WORK/autoft-ft.log"
    echo "autoft rc=$? wall $(( ($(date +%s%N) - s0) / 1000000000 )) s" | tee -a "$WORK/walls.txt"
else
    echo "autoft: skipped (time)"
fi

[ -n "$cpu" ] && { wait $cpu; echo "cpu panel rc=$?"; }
$PY - "$WORK" "$OUT" <<'EOF'
import json, sys, pathlib
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
walls = {}
for line in (work / "walls.txt").read_text().splitlines() if (work / "walls.txt").exists() else []:
    name, _, rest = line.partition(" ")
    walls[name] = rest
rows = {}
for f in sorted(work.glob("gpu-*.json")):
    r = {}
    try:
        r = json.loads(f.read_text())
        res = json.loads((work / f.stem / "result.json").read_text())
        a = res.get("asha") or {}
        epochs = sum(a["rungs"][max(int(k) for k in t["scores"])] for t in a.get("trials", []) if t["scores"])
        rows[f.stem] = {"wall": walls.get(f.stem), "test_score": res["test_score"], "timings": res["timings"],
                        "asha_trial_epochs": epochs, "asha_epochs_per_s": epochs / max(res["timings"].get("asha", 0), 1e-9),
                        "asha_parallel": {k: a.get(k) for k in ("trials_per_device", "fused", "order")},
                        "winner": res["selection"]["winner"], "val_scores": res["selection"]["val_scores"],
                        "plan": res["plan_summary"], "step_cost": res.get("step_cost"),
                        "features": {n: {k: c.get(k) for k in ("val_acc", "seconds")}
                                     for n, c in res["selection"].get("features", {}).items()},
                        "final": {k: v for k, v in res["final"].items() if "history" not in k}}
    except Exception as e:
        rows[f.stem] = {"wall": walls.get(f.stem), "error": repr(e),
                        "stderr": (work / f"{f.stem}.log").read_text()[-1500:] if (work / f"{f.stem}.log").exists() else ""}
    print(f.stem, {k: rows[f.stem].get(k) for k in ("wall", "test_score", "winner", "asha_epochs_per_s", "error")})
for name in ("retrain_check", "graphs"):  # folded in here: at most 8 files come back from the device
    try:
        rows[name] = json.loads((work / f"{name}.json").read_text())
    except Exception as e:
        rows[name] = {"error": repr(e)}
try:
    ft = json.loads((work / "autoft-ft.json").read_text())
    rows["autoft"] = {"wall": walls.get("autoft"), "headline": ft["headline"], "timings": ft["timings"]}
except Exception as e:
    rows["autoft"] = {"wall": walls.get("autoft"), "error": repr(e)}
if (work / "fused_bench.json").exists():
    rows["fused_bench"] = [{"name": b["name"], "mean_s": b["stats"]["mean"], **b["extra_info"]}
                           for b in json.loads((work / "fused_bench.json").read_text())["benchmarks"]]
(out / "gpu_search.json").write_text(json.dumps(rows, indent=1, default=str))
EOF
for f in cpu/panel.json cpu/panel.md cpu_panel.log fused_bench.log; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/$(basename "$f")"
done
tail -30 "$OUT/panel.md" 2>/dev/null
echo "done at $(( $(date +%s) - t0 )) s"
