#!/usr/bin/env bash
# One GPU session in ONE call (the device tool's machine: one H200 + 16 CPU cores; or any CUDA box with torch +
# triton): everything issue 18 and 21 ask of a device, each step under its own time limit, results in $OUT.
#   * the machine: GPU, driver, torch/triton/CUDA versions, CUDA toolchains (nvcc, NVRTC through cupy);
#   * the quality panel's small sets on the CPU (3 seeds x search / plain / peer, 2-thread processes side by
#     side, each a stand-in for a 2-core machine), in the background;
#   * the kernel tests on CUDA (every op against its float64 reference, fused trials, precision, conv paths);
#   * `search --task splice --devices cuda:0` with its defaults, seeds 0 1 2: wall time start to exit, test score;
#   * ASHA throughput: one trial per device vs 4 fused trials (bench/gpu_issue13.py --only search);
#   * `--precision bf16` on the GPU (splice, seed 0).
# Carry .whl/ (pydantic, aeon wheels: the machine's image lacks them). At most 8 files come back from the
# device tool, so the work happens in $WORK and the summaries are copied to $OUT at the end.
#   OUT=/tmp/o bash bench/gpu_session.sh [SECONDS]
set -u
OUT=${OUT:-bench/results/gpu-session}
LIMIT=${1:-560}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/gpu-session}
CPU_TASKS=${CPU_TASKS:-JapaneseVowels ACSF1 PickupGestureWiimoteZ}
JOBS=${JOBS:-6}
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

# the CPU panel, in the background
timeout $(( $(left) - 25 )) $PY bench/quality_panel.py --tasks $CPU_TASKS --seeds 0 1 2 --jobs "$JOBS" \
    --out "$WORK/cpu" >"$WORK/cpu_panel.log" 2>&1 &
cpu=$!

# kernel tests on CUDA
XDIST=$($PY -c 'import xdist' 2>/dev/null && echo "-n 2")
timeout 130 $PY -m pytest -q -p no:cacheprovider $XDIST --durations=10 \
    tests/test_tap_conv_triton.py tests/test_ar_grid_triton.py tests/test_conv_library_ops.py \
    tests/test_conv_ops.py tests/test_fused_trials.py tests/test_precision.py tests/test_conv_path.py \
    tests/test_stage_devices.py >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -3

# default search on the GPU, start to exit
run_search() {  # name, timeout, extra args...
    local name=$1 lim=$2; shift 2
    [ "$(left)" -gt $(( lim / 2 + 30 )) ] || { echo "$name: skipped (time)"; return; }
    local s0=$(date +%s%N)
    timeout "$lim" $PY -m autofast search --task splice --devices cuda:0 --threads 2 --json --out "$WORK/$name" "$@" \
        >"$WORK/$name.json" 2>"$WORK/$name.log"
    local rc=$? ms=$(( ($(date +%s%N) - s0) / 1000000 ))
    echo "$name rc=$rc wall $(( ms / 1000 )).$(printf %03d $(( ms % 1000 ))) s" | tee -a "$WORK/walls.txt"  # no bc there
}
for seed in 0 1 2; do run_search "gpu-splice-$seed" 150 --seed "$seed"; done
run_search gpu-splice-bf16-0 120 --seed 0 --precision bf16

# ASHA throughput: one trial per device vs 4 fused
[ "$(left)" -gt 120 ] && timeout $(( $(left) - 60 )) $PY bench/gpu_issue13.py --only search --results-dir "$WORK" \
    --search-configs 8 --search-max-epochs 4 --search-variants 1:off 4:on >"$WORK/throughput.log" 2>&1
echo "throughput rc=$?"

wait $cpu; echo "cpu panel rc=$?"
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
        rows[f.stem] = {"wall": walls.get(f.stem), "test_score": res["test_score"], "timings": res["timings"],
                        "winner": res["selection"]["winner"], "val_scores": res["selection"]["val_scores"],
                        "plan": res["plan_summary"], "final": {k: v for k, v in res["final"].items() if "history" not in k}}
    except Exception as e:
        rows[f.stem] = {"wall": walls.get(f.stem), "error": repr(e),
                        "stderr": (work / f"{f.stem}.log").read_text()[-1500:] if (work / f"{f.stem}.log").exists() else ""}
    print(f.stem, {k: rows[f.stem].get(k) for k in ("wall", "test_score", "winner", "error")})
for f in work.glob("issue13-*.json"):
    rows["throughput"] = json.loads(f.read_text()).get("search")
(out / "gpu_search.json").write_text(json.dumps(rows, indent=1, default=str))
EOF
for f in cpu/panel.json cpu/panel.md cpu_panel.log throughput.log; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/$(basename "$f")"
done
tail -30 "$OUT/panel.md" 2>/dev/null
echo "done at $(( $(date +%s) - t0 )) s"
