"""`python -m app.bench` end to end on the smoke config, in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WITHOUT_TENSORFLOW = (
    "import sys; sys.modules['tensorflow'] = sys.modules['tensorflow_datasets'] = None; "
    "from app.bench import main; sys.exit(main(sys.argv[1:]))"
)
"""Runs the bench as on a GPU machine without TensorFlow: importing it (or TFDS) fails."""


def _positive_numbers(section, keys):
    for key in keys:
        assert section[key] > 0, (key, section[key])


@pytest.mark.slow
def test_bench_writes_the_documented_json(tmp_path):
    path = tmp_path / "bench.json"
    command = [
        sys.executable, "-c", WITHOUT_TENSORFLOW, "--config", "smoke", "--only", "train,inference",
        "--steps", "3", "--repeats", "2", "--latency_calls", "20", "--batch_calls", "2",
        "--inference_batch", "16", "--json", str(path),
    ]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(path.read_text())
    assert {"device", "versions", "train", "inference"} <= set(results)
    assert {"python", "jax", "keras"} <= set(results["versions"])
    assert results["device"]["description"] and results["device"]["cpu"]
    _positive_numbers(
        results["train"],
        ["keras_ms_per_step_median", "keras_ms_per_step_min", "jax_ms_per_step_median",
         "keras_over_jax", "examples_per_s", "keras_compile_s", "jax_compile_s"],
    )
    _positive_numbers(results["inference"], ["p50_ms", "p99_ms", "visitors_per_s"])
    assert results["inference"]["p99_ms"] >= results["inference"]["p50_ms"]
    assert results["tensorflow_imported"] is False
    assert "keras / jax" in completed.stdout


def test_bench_rejects_an_unknown_section_in_one_line():
    completed = subprocess.run(
        [sys.executable, "-m", "app.bench", "--only", "train,warp"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "Unknown --only ['warp']" in completed.stderr
    assert "Traceback" not in completed.stderr
