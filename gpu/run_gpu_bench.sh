#!/usr/bin/env bash
# Training and inference benchmark of the default config on a GPU machine that has JAX with CUDA
# but neither Keras nor TensorFlow. Installs the wheels carried in .whl/ (see gpu/README.md), then runs
# `python3 -m app.bench` at batch 128 and 1024, float32 and mixed_bfloat16, and prints examples/s.
#
#   bash gpu/run_gpu_bench.sh [RESULTS_DIR]     # from anywhere; RESULTS_DIR defaults to $OUT or bench_results/gpu
#
# Budget: about 5 minutes on an H100 (each run is capped at 150 s).
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
RESULTS="${1:-${OUT:-bench_results/gpu}}"
SITE="${SITE:-/tmp/site}"
STEPS="${STEPS:-50}"
REPEATS="${REPEATS:-3}"
CONFIG="${CONFIG:-default}"

tag="$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
shopt -s nullglob
pure=(.whl/*-py3-none-any.whl)
binary=(.whl/optree-*-"$tag"-*.whl)
if [ "${#pure[@]}" -eq 0 ] || [ "${#binary[@]}" -eq 0 ]; then
    echo "error: .whl/ lacks the pure-python wheels or an optree wheel for $tag; see gpu/README.md" >&2
    exit 1
fi
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" \
    "${pure[@]}" "${binary[@]}" || exit 1
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax
"$PYTHON" -c 'import jax, keras; print("jax", jax.__version__, "keras", keras.__version__, jax.devices())' || exit 1
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv 2>/dev/null

mkdir -p "$RESULTS"
status=0
for precision in float32 mixed_bfloat16; do
    for batch in 128 1024; do
        only=train
        [ "$batch" = 128 ] && only=train,inference
        echo "=== $CONFIG config, batch $batch, $precision ($only)"
        timeout 150 "$PYTHON" -m app.bench --config "$CONFIG" --only "$only" --batch_size "$batch" \
            --precision "$precision" --steps "$STEPS" --repeats "$REPEATS" \
            --compilation_cache /tmp/jax_compilation_cache \
            --json "$RESULTS/${CONFIG}_${precision}_b${batch}.json" || status=1
    done
done

"$PYTHON" - "$RESULTS" <<'PY'
import json, sys
from pathlib import Path

print(f"{'precision':<15}{'batch':>6}{'keras ms':>10}{'jax ms':>9}{'k/j':>7}{'keras ex/s':>12}"
      f"{'jax ex/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'visitors/s':>12}")
for path in sorted(Path(sys.argv[1]).glob("*_b*.json")):
    result = json.loads(path.read_text())
    train, inference = result["train"], result.get("inference", {})
    print(f"{train['precision']:<15}{train['batch_size']:>6}{train['keras_ms_per_step_median']:>10.2f}"
          f"{train['jax_ms_per_step_median']:>9.2f}{train['keras_over_jax']:>7.2f}"
          f"{train['examples_per_s']:>12.0f}{train['jax_examples_per_s']:>10.0f}"
          f"{inference.get('p50_ms', float('nan')):>8.2f}{inference.get('p99_ms', float('nan')):>8.2f}"
          f"{inference.get('visitors_per_s', float('nan')):>12.0f}")
print("device:", result["device"]["description"], result["device"]["device_kind"])
PY
exit "$status"
