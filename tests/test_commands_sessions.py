"""The session benchmark's two commands end to end, as subprocesses, on a few thousand real training sessions."""

import json

import pytest
from commands import SESSIONS
from commands import run_module

METHODS = {"retrieval", "popularity", "transitions", "sknn", "vsknn"}
KEYS = {"hr@10", "mrr@10", "hr@20", "mrr@20", "cases"}

pytestmark = pytest.mark.slow


def first_sessions(count, folder):
    """The first `count` sessions of the benchmark's training file, as a manual folder of their own."""
    folder.mkdir()
    lines = (SESSIONS / "train_sessions.csv").read_text().splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= count]
    (folder / "train_sessions.csv").write_text("".join(kept))
    return folder


def check_entry(entry, cases):
    assert set(entry["model"]) == KEYS and set(entry["baselines"]) == METHODS
    for metrics in (entry["model"], *entry["baselines"].values()):
        assert set(metrics) == KEYS and metrics["cases"] == cases
        assert all(0.0 <= metrics[key] <= 1.0 for key in KEYS - {"cases"})
        assert metrics["hr@10"] <= metrics["hr@20"] and metrics["mrr@10"] <= metrics["mrr@20"] <= metrics["hr@20"]


def test_fit_then_evaluate_on_test_cases_and_validation(tmp_path):
    manual = first_sessions(3_000, tmp_path / "manual")
    output = tmp_path / "out"
    common = ["--manual_dir", manual, "--data_dir", tmp_path / "tfds"]
    run_module("app.fit", "--config", "sessions_smoke", *common, "--output_dir", output, "--run_name", "bench")
    for suffix in (".keras", ".retrieval.keras", ".json"):
        assert (output / f"bench{suffix}").is_file()
    report = json.loads((output / "bench.json").read_text())
    assert report["dataset"]["name"] == "retail_rocket/sessions"
    check_entry(report["metrics"]["validation"], report["metrics"]["validation"]["model"]["cases"])

    cases = SESSIONS / "example_test_cases.csv"
    scored = []
    for attempt in ("first", "again"):
        path = tmp_path / f"{attempt}.json"
        result = run_module("app.evaluate", output / "bench.keras", "--retriever", output / "bench.retrieval.keras",
                            "--test_cases", cases, "--json", path, *common)
        assert "vsknn" in result.stdout
        scored.append(json.loads(path.read_text()))
    check_entry(scored[0]["metrics"]["test_cases"], 3)
    assert scored[0]["metrics"] == scored[1]["metrics"]  # the same command gives the same figures

    path = tmp_path / "validation.json"
    run_module("app.evaluate", output / "bench.keras", "--split", "validation", "--json", path, *common)
    assert json.loads(path.read_text())["metrics"]["validation"] == report["metrics"]["validation"]
