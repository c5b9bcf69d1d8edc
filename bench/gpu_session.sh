#!/usr/bin/env bash
# One GPU session in one call (the device tool's machine, or any CUDA box with torch + triton installed):
# install autofast into the machine's python, run the kernel tests on CUDA, then bench/gpu_issue13.py.
# Everything it writes lands in $OUT (default bench/results/); each step has its own time limit so a
# slow step cannot eat the others.
#   OUT=/tmp/o [PYTEST_EXTRA='-k ...'] [BENCH_ARGS='--only ...'] bash bench/gpu_session.sh [TEST_S] [BENCH_S]
set -u
OUT=${OUT:-bench/results}
TEST_S=${1:-150}
BENCH_S=${2:-330}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
if [ -d .whl ]; then  # packages the machine lacks (pydantic), carried as wheels
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv
  $PY -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)'
} 2>&1 | tee "$OUT/machine.txt"
t0=$(date +%s)
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1 \
    || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
echo "install: $(( $(date +%s) - t0 )) s"
# the kernel tests on CUDA: every op against its float64 reference, library-op checks, fused trials, precision
timeout "$TEST_S" $PY -m pytest -q -p no:cacheprovider -n 8 --durations=15 \
    tests/test_tap_conv_triton.py tests/test_ar_grid_triton.py tests/test_conv_library_ops.py \
    tests/test_conv_ops.py tests/test_fused_trials.py tests/test_precision.py tests/test_conv_path.py \
    ${PYTEST_EXTRA:-} >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests rc=$?"; grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -5
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head -20
timeout "$BENCH_S" $PY bench/gpu_issue13.py --results-dir "$OUT" ${BENCH_ARGS:---search-configs 8 --search-max-epochs 4 \
    --search-variants 1:off 4:off 4:on} >"$OUT/bench.log" 2>&1
echo "bench rc=$?"; grep -E "done in|error" "$OUT/bench.log" | tail -12
