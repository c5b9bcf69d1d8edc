#!/usr/bin/env bash
# The quality panel on a lent GPU machine (the device tool's: 16 CPU cores + one H200), in ONE call:
#  * the CPU panel of the small tasks, 3 seeds x (search, plain arm, peer), several 2-thread processes at once
#    (each a stand-in for a 2-core machine; the host's cores are faster than this project's 2-core CI box);
#  * beside it, `search --devices cuda:0` with the default budget on a few tasks: the GPU's result at the
#    same budget (the plan measures the GPU's step cost and fills the budget with more training).
# Carry .whl/ (pydantic, aeon: the image lacks them) with the call. Everything lands in $OUT.
#   OUT=/tmp/o CPU_TASKS="..." GPU_TASKS="..." JOBS=6 bash bench/gpu_panel.sh [SECONDS]
set -u
OUT=${OUT:-bench/results/panel-gpu}
LIMIT=${1:-540}
PY=${PYTHON:-python3}
JOBS=${JOBS:-6}
CPU_TASKS=${CPU_TASKS:-JapaneseVowels ACSF1 PickupGestureWiimoteZ motif}
GPU_TASKS=${GPU_TASKS:-JapaneseVowels PickupGestureWiimoteZ}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)'
  lscpu | grep -E "Model name|^CPU\(s\)"; uptime
} 2>&1 | tee "$OUT/machine.txt"
t0=$(date +%s)
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1 \
    || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
echo "install: $(( $(date +%s) - t0 )) s"
left=$(( LIMIT - ($(date +%s) - t0) - 20 ))
timeout "$left" $PY bench/quality_panel.py --tasks $CPU_TASKS --seeds 0 1 2 --jobs "$JOBS" --out "$OUT/cpu" \
    >"$OUT/cpu_panel.log" 2>&1 &
cpu=$!
for task in $GPU_TASKS; do
    for seed in 0 1 2; do
        rest=$(( LIMIT - ($(date +%s) - t0) - 15 ))
        [ "$rest" -gt 60 ] || break
        s0=$(date +%s.%N)
        timeout "$rest" $PY -m autofast search --task "$task" --seed "$seed" --devices cuda:0 --threads 2 --json \
            --out "$OUT/gpu/$task-$seed" >"$OUT/gpu-$task-$seed.json" 2>"$OUT/gpu-$task-$seed.log"
        rc=$?
        echo "gpu $task seed $seed rc=$rc wall $(echo "$(date +%s.%N) - $s0" | bc) s"
    done
done
wait $cpu
echo "cpu panel rc=$?"
tail -40 "$OUT/cpu/panel.md" 2>/dev/null
$PY - "$OUT" <<'EOF'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("gpu-*.json")):
    try:
        r = json.loads(f.read_text())
        print(f.stem, r["test_score"], r["timings"]["total"], r["selection"]["winner"], r["plan"]["n_configs"],
              r["plan"]["max_epochs"])
    except Exception as e:
        print(f.stem, "no result", e)
EOF
