"""The commands users run, as subprocesses: fit, evaluate, recommend, resuming, and user errors."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "retailrocket-sample"
REPORT_KEYS = {"ndcg@10", "hr@10", "mrr", "auc_transaction", "auc_addtocart", "auc_view", "lists"}
SMOKE = ["--config", "smoke"]
SLICE_FLAGS = ["--min_visitor_events", "2", "--min_item_events", "1"]

pytestmark = pytest.mark.slow


def run(module, *args, timeout=900, check=True):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO), "CI": "1"}
    result = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def fit_and_evaluate(tmp_path, data_flags):
    """Trains the smoke config, then checks the saved model reproduces its report in a new process."""
    output = tmp_path / "models"
    run("app.fit", *SMOKE, *data_flags, "--output_dir", output, "--run_name", "smoke")
    report = json.loads((output / "smoke.json").read_text())
    evaluated = tmp_path / "evaluated.json"
    result = run("app.evaluate", output / "smoke.keras", "--split", "both", "--json", evaluated)
    assert "reproduces the metrics" in result.stdout
    again = json.loads(evaluated.read_text())
    for split in ("validation", "test"):
        assert again["metrics"][split]["model"] == report["metrics"][split]["model"]
        assert again["metrics"][split]["baselines"] == report["metrics"][split]["baselines"]
    return output, report


def assert_ranking_printed(model_path, visitor, data_flags):
    result = run("app.recommend", model_path, "--visitor", visitor, "--top", "5", *data_flags)
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 5, result.stdout
    scores = [float(row[-1]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    as_json = json.loads(run("app.recommend", model_path, "--visitor", visitor, "--json", *data_flags).stdout)
    assert len(as_json["top"]) == 10 and as_json["candidates"] > 10


def test_fit_evaluate_recommend_on_the_synthetic_twin(tmp_path, synthetic_data_dir, retail_rocket_synthetic):
    data_flags = ["--dataset", "retail_rocket/synthetic", "--data_dir", synthetic_data_dir]
    output, report = fit_and_evaluate(tmp_path, data_flags)
    for suffix in (".keras", ".json", ".curves.png", ".comparison.png"):
        assert (output / f"smoke{suffix}").is_file()
    assert (output / "smoke" / "training_log.csv").is_file()
    assert any((output / "smoke" / "tensorboard").rglob("*tfevents*"))
    assert {"config", "dataset", "timings", "metrics"} <= set(report)
    assert {"name", "version", "statistics"} <= set(report["dataset"])
    assert report["dataset"]["name"] == "retail_rocket/synthetic"
    for split in ("validation", "test"):
        entry = report["metrics"][split]
        assert set(entry["model"]) >= REPORT_KEYS
        assert set(entry["baselines"]) == {"random", "popularity", "history_recency", "history_category_recency"}
        assert entry["model"]["lists"] == entry["baselines"]["random"]["lists"] > 0
    assert report["timings"]["examples_per_s"] > 0
    # The twin has structure (category preferences, re-visits): even the smoke model must learn it.
    test = report["metrics"]["test"]
    for baseline in ("random", "popularity"):
        for key in ("ndcg@10", "auc_transaction", "auc_addtocart", "auc_view"):
            margin = test["model"][key] - test["baselines"][baseline][key]
            assert margin >= 0.05, (key, baseline, test["model"][key], test["baselines"][baseline][key])
    assert_ranking_printed(output / "smoke.keras", retail_rocket_synthetic.test.visitor_id[0], data_flags)


def test_fit_evaluate_recommend_on_the_real_slice(tmp_path):
    assert (SAMPLE / "events.csv").is_file(), f"The real Retail Rocket slice is missing at {SAMPLE}"
    data_flags = [
        "--dataset", "retail_rocket/full", "--manual_dir", SAMPLE, "--data_dir", tmp_path / "tfds", *SLICE_FLAGS,
    ]
    output, report = fit_and_evaluate(tmp_path, data_flags)
    assert report["dataset"]["name"] == "retail_rocket/full_v2_i1"  # the filters name the build
    assert report["metrics"]["test"]["model"]["lists"] > 100
    from datasets.loading import load_retail_rocket

    data = load_retail_rocket("full", tmp_path / "tfds", SAMPLE, min_visitor_events=2, min_item_events=1)
    assert_ranking_printed(output / "smoke.keras", data.test.visitor_id[0], data_flags)


def test_a_killed_run_resumes_from_its_backup(tmp_path, synthetic_data_dir):
    command = [
        sys.executable, "-m", "app.fit", *SMOKE, "--epochs", "3", "--steps_per_epoch", "150",
        "--dataset", "retail_rocket/synthetic", "--data_dir", str(synthetic_data_dir),
        "--output_dir", str(tmp_path / "models"),
    ]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO), "CI": "1"}
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    finished_epochs = 0
    while time.monotonic() < deadline and first.poll() is None and finished_epochs < 1:
        logs = list((tmp_path / "models").glob("*/training_log.csv"))
        finished_epochs = len(logs[0].read_text().splitlines()) - 1 if logs else 0
        time.sleep(0.05)
    assert first.poll() is None, "the run ended before it could be interrupted:\n" + first.communicate()[0][-3000:]
    first.send_signal(signal.SIGKILL)  # during the second epoch: no chance to clean up
    first.wait()
    run_dir = logs[0].parent
    finished_epochs = len((run_dir / "training_log.csv").read_text().splitlines()) - 1
    assert 1 <= finished_epochs < 3 and (run_dir / "backup").exists()

    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-5000:]
    output = second.stdout + second.stderr
    assert f"Resuming the interrupted run {run_dir.name}" in output
    assert "Epoch 1/3" not in output and f"Epoch {finished_epochs + 1}/3" in output
    epochs = [line.split(",")[0] for line in (run_dir / "training_log.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]
    assert not (run_dir / "backup").exists()
    assert (tmp_path / "models" / f"{run_dir.name}.keras").is_file()


def one_error_line(result):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:") or "error:" in line]
    assert lines, result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_user_errors_are_one_line(tmp_path):
    line = one_error_line(run("app.evaluate", tmp_path / "missing.keras", check=False))
    assert "No model file" in line
    line = one_error_line(run("app.fit", "--config", "nope", check=False))
    assert "Unknown config 'nope'" in line
    line = one_error_line(run("app.fit", "--config", "smoke", "--no_such_field", "1", check=False))
    assert "no_such_field" in line
    broken = tmp_path / "old.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "RankerFromTheFuture", "config": {}}))
        archive.writestr("metadata.json", json.dumps({"keras_version": "9.0.0"}))
    line = one_error_line(run("app.recommend", broken, "--visitor", "1", check=False))
    assert "holds a RankerFromTheFuture model, not a PhoenixRanker" in line
    from_the_future = tmp_path / "future.keras"
    with zipfile.ZipFile(from_the_future, "w") as archive:
        archive.writestr("config.json", json.dumps({
            "module": "app.model", "class_name": "PhoenixRanker", "registered_name": "phoenix_retail>PhoenixRanker",
            "config": {"emb_size": 8, "attention_kind": "from the future"},
        }))
        archive.writestr("metadata.json", json.dumps({"keras_version": "9.0.0"}))
    line = one_error_line(run("app.recommend", from_the_future, "--visitor", "1", check=False))
    assert "saved with Keras 9.0.0" in line and "incompatible version of this project" in line


def test_unknown_visitor_is_one_line(tmp_path, synthetic_data_dir):
    script = (
        "import app.model, sys\n"
        "from app.config import CONFIGS\n"
        "app.model.PhoenixRanker(**CONFIGS['smoke'].model_kwargs()).save(sys.argv[1])\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.keras")], cwd=REPO, env=env, check=True)
    result = run(
        "app.recommend", tmp_path / "m.keras", "--visitor", "999999999",
        "--dataset", "retail_rocket/synthetic", "--data_dir", synthetic_data_dir, check=False,
    )
    assert "Visitor 999999999 is not in" in one_error_line(result)
