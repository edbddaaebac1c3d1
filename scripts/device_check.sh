#!/usr/bin/env bash
# One short check of a machine with an accelerator (docs/devices.md): the four benchmarks at
# GPU-sized shapes and the accelerator-path tests, one JSON line each on stdout
#   {"check": NAME, "rc": EXIT_STATUS, "seconds": WALL, "result": THE_BENCH'S_FINAL_JSON_OR_NULL}
# Every bench's result carries floor_ms: the exact integer GEMM of its work on this machine
# (int8 limbs on a GPU), the hardware limit its time compares with. Installs nothing: run it
# after the README's install (plus "jax[cuda12]" on a GPU). Under 8 minutes on one GPU.
#
#   scripts/device_check.sh            # GPU-sized shapes
#   scripts/device_check.sh --quick    # tiny shapes, runs on a CPU in a few minutes
#
# Logs of each check: $DEVICE_CHECK_LOGS (default a temporary directory), printed at the end.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOGS="${DEVICE_CHECK_LOGS:-$(mktemp -d -t pimjax-device-check.XXXXXX)}"
mkdir -p "$LOGS"
PY="${PYTHON:-python3}"
FAILED=0

check() {  # check NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    local t0 t1 rc json
    t0=$(date +%s%N)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    t1=$(date +%s%N)
    json=$(grep -E '^\{' "$LOGS/$name.log" | tail -n 1)
    [[ -z "$json" ]] && json=null
    [[ $rc -ne 0 ]] && FAILED=1
    printf '{"check": "%s", "rc": %d, "seconds": %s, "result": %s}\n' "$name" "$rc" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" "$json"
}

if [[ $QUICK -eq 1 ]]; then
    check backend 60 "$PY" -c 'import json, jax; from pimjax.units._backend import backend_paths; print(json.dumps({"backend": jax.default_backend(), "devices": len(jax.devices()), "paths": backend_paths(), "jax": jax.__version__}))'
    check bench_matmul 300 "$PY" scripts/bench_matmul.py --m 128 --k 256 --n 128 --round-elems 65536 --repeats 3
    check bench_slices 300 "$PY" scripts/bench_slices.py --m 64 --k 512 --n 64 --repeats 3
    check bench_train 600 "$PY" scripts/bench_train.py --model cnn_d2_k3_c4 --input-size 8 --batch-size 8 --repeats 3
    check bench_sweep 600 "$PY" scripts/bench_sweep.py --loop-configs 2 --out "$LOGS/sweep"
    PIMJAX_BACKEND_PATHS=accelerator check accelerator_paths_tests 600 \
        "$PY" -m pytest -n 0 -q -p no:cacheprovider tests/test_backend_paths.py
else
    check backend 60 "$PY" -c 'import json, jax; from pimjax.units._backend import backend_paths; print(json.dumps({"backend": jax.default_backend(), "devices": len(jax.devices()), "paths": backend_paths(), "jax": jax.__version__}))'
    check bench_matmul 120 "$PY" scripts/bench_matmul.py --m 4096 --k 4096 --n 4096 --repeats 10
    check bench_slices 120 "$PY" scripts/bench_slices.py --m 4096 --k 16384 --n 4096 --repeats 5
    check bench_train 150 "$PY" scripts/bench_train.py --input-size 32 --model-width 1.0 --batch-size 128 --repeats 10
    check bench_sweep 120 "$PY" scripts/bench_sweep.py --loop-configs 8 --out "$LOGS/sweep"
    check accelerator_paths_tests 120 "$PY" -m pytest -n 0 -q -p no:cacheprovider tests/test_backend_paths.py \
        tests/test_rounded_products.py tests/test_systolic.py -k "not property"
fi
echo "logs: $LOGS" >&2
exit $FAILED
