"""Nothing lost or reused silently: stale builds, bad numbers, foreign or damaged model files, the same numbers
whether the data was built now or earlier, and failures that leave nothing behind (the data-integrity issue's
cases 2 to 6; case 1, rows swallowed by a stray quote, is in `test_raw_file_faults.py`)."""

import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest

from app.config.presets import PRESETS
from app.errors import UserError
from app.ranker.model import PhoenixRanker
from app.training.saved_runs import load_ranker
from commands import SAMPLE
from commands import error_lines
from commands import fit_once
from commands import one_line_exit
from commands import run_module
from datasets.loading import StaleBuildError, prepare_builder

SLICE_FILTERS = {"min_visitor_events": 2, "min_item_events": 1}


@pytest.fixture
def manual_copy(tmp_path):
    """A copy of the real slice in a manual folder of its own (the tests change it)."""
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in ("events.csv", "item_properties.csv"):
        shutil.copy(SAMPLE / name, manual / name)
    return manual


def drop_last_lines(path, count):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-count]))


# Case 2: a build is reused only while its raw files are the same.


@pytest.mark.slow
def test_a_changed_file_makes_the_build_stale(tmp_path, manual_copy):
    data_dir = tmp_path / "tfds"
    arguments = dict(config="full", data_dir=data_dir, manual_dir=manual_copy, **SLICE_FILTERS)
    built = prepare_builder(**arguments)
    rows = built.info.metadata["raw"]["files"]["events.csv"]["rows"]
    assert set(built.info.metadata["source_files"]) == {"events.csv", "item_properties.csv"}
    assert prepare_builder(**arguments, if_stale="error").info.metadata["raw"] == built.info.metadata["raw"]

    drop_last_lines(manual_copy / "events.csv", 100)
    with pytest.raises(StaleBuildError, match=r"events\.csv changed \(2,133,462 -> .* --rebuild_data"):
        prepare_builder(**arguments, if_stale="error")

    # `app.evaluate` stops on the stale build, naming the file and the flag.
    config = PRESETS["smoke"].ranker
    model_path = tmp_path / "ranker.keras"
    PhoenixRanker(**config.model_kwargs()).save(model_path)
    flags = {"dataset": "retail_rocket/full", "data_dir": str(data_dir), "manual_dir": str(manual_copy),
             **SLICE_FILTERS}
    model_path.with_suffix(".json").write_text(json.dumps({"config": dataclasses.asdict(config),
                                                           "data_flags": flags}))
    result = run_module("app.evaluate", model_path, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = error_lines(result)
    assert "events.csv changed" in line and "--rebuild_data" in line
    assert "Traceback" not in result.stderr

    rebuilt = prepare_builder(**arguments)  # "rebuild", what app.fit does
    assert rebuilt.info.metadata["raw"]["files"]["events.csv"]["rows"] == rows - 100
    assert prepare_builder(**arguments, if_stale="error").info.metadata["source_files"] == (
        rebuilt.info.metadata["source_files"]
    )


# Case 3: every number checked before any work; a loss that stops being finite ends the run cleanly.


@pytest.mark.parametrize("flag, value", [("--learning_rate", "nan"), ("--weight_decay", "inf"),
                                         ("--popularity_alpha", "-1"), ("--learning_rate", "0")])
def test_bad_numbers_are_refused_before_any_work(tmp_path, flag, value, capsys):
    from app import fit

    line = one_line_exit(fit.main, ["--config", "smoke", flag, value, "--output_dir", tmp_path / "out"], capsys)
    assert line.startswith("error: ") and f"Received: {flag[2:]}=" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_non_finite_loss_stops_training_and_leaves_no_model(tmp_path, synthetic_data_dir):
    output = tmp_path / "out"
    result = run_module(
        "app.fit", "--config", "smoke", "--dataset", "retail_rocket/synthetic", "--data_dir", synthetic_data_dir,
        "--transaction_weight", "1e38", "--output_dir", output, "--run_name", "diverged", check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = error_lines(result)
    assert "The training loss became inf at epoch 1, step 1" in line and "no model was saved" in line
    assert "Traceback" not in result.stderr
    assert not list(output.rglob("*.keras")) and not list(output.rglob("*.h5"))


# Case 4 and 6: a file that is not a ranker of this project is refused before any data is read.


def test_model_files_that_are_not_rankers_get_distinct_one_line_errors(tmp_path):
    random_bytes = tmp_path / "x.keras"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(UserError, match=r"is not a \.keras file: a \.keras file is a zip archive"):
        load_ranker(random_bytes)

    ranker = tmp_path / "ranker.keras"
    PhoenixRanker(**PRESETS["smoke"].ranker.model_kwargs()).save(ranker)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(ranker.read_bytes()[: ranker.stat().st_size // 2])
    with pytest.raises(UserError, match="is truncated or corrupt"):
        load_ranker(truncated)

    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]).save(other)
    with pytest.raises(UserError, match=r"holds a Sequential model, not a PhoenixRanker of this project"):
        load_ranker(other)

    assert isinstance(load_ranker(ranker), PhoenixRanker)


def test_evaluate_refuses_another_kind_of_model_before_loading_data(tmp_path, capsys):
    from app import evaluate

    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]).save(other)
    data_dir = tmp_path / "tfds"
    argv = [other, "--dataset", "retail_rocket/synthetic", "--data_dir", data_dir]
    assert "holds a Sequential model, not a PhoenixRanker" in one_line_exit(evaluate.main, argv, capsys)
    assert not data_dir.exists()  # refused before any data was built or read


@pytest.mark.parametrize("flags, message", [
    (["--peers", "co_visitation,nearest"], "--peers: unknown peer(s) nearest. Expected"),
    (["--co_visitation_window_hours", "0"], "--co_visitation_window_hours must be positive. Received: 0.0"),
    (["--exhaustive", "--retriever", "r.keras"], "two models for the catalogue tables: pass one"),
    (["--protocol", "sampled", "--exhaustive"], "--exhaustive apply to the catalogue protocol: the sampled lists"),
    (["--protocol", "sampled", "--peers", "none", "--max_visitors", "9"], "--max_visitors, --peers apply to the"),
    (["--test_cases", "cases.csv"], "--test_cases applies to a session benchmark run"),
])
def test_evaluate_refuses_unknown_peers_a_window_that_is_not_positive_and_flags_that_do_not_apply(tmp_path, capsys, flags, message):
    from app import evaluate

    data_dir = tmp_path / "tfds"
    argv = [tmp_path / "ranker.keras", "--protocol", "catalogue", "--data_dir", data_dir, *flags]
    assert message in one_line_exit(evaluate.main, argv, capsys)
    assert not data_dir.exists()


def test_evaluate_refuses_visitor_flags_on_a_session_benchmark_run(tmp_path, capsys):
    from app import evaluate

    (tmp_path / "ranker.json").write_text(json.dumps({"data_flags": {"dataset": "retail_rocket/sessions"}}))
    argv = [tmp_path / "ranker.keras", "--protocol", "catalogue", "--peers", "none", "--data_dir", tmp_path / "tfds"]
    line = one_line_exit(evaluate.main, argv, capsys)
    assert line.startswith("error: --protocol, --peers: a session benchmark run is scored on the benchmark's protocol")


# Case 5: the same command and seed give the same numbers whether the data was built now or earlier.


@pytest.mark.slow
def test_metrics_are_identical_whether_the_data_was_built_now_or_earlier(slice_run):
    # `slice_run` built its data in its own process, from a new data dir; the same command now reuses that build.
    again = fit_once(slice_run.output_dir, "built_earlier", slice_run.data_flags, slice_run.fit_flags)
    assert again.report["metrics"] == slice_run.report["metrics"]
    logs = [(run.output_dir / run.name / "training_log.csv").read_text() for run in (slice_run, again)]
    assert logs[0] == logs[1]


# Clean failures: one message, nothing left behind.


def test_missing_files_give_one_message_and_leave_nothing_behind(tmp_path):
    empty = tmp_path / "manual"
    empty.mkdir()
    data_dir, output = tmp_path / "tfds", tmp_path / "out"
    result = run_module("app.fit", "--config", "smoke", "--dataset", "retail_rocket/full", "--manual_dir", empty,
                        "--data_dir", data_dir, "--output_dir", output, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.count("Retail Rocket raw files not found") == 1, result.stderr
    assert not output.exists()
    assert not data_dir.exists() or not any(data_dir.rglob("*")), sorted(data_dir.rglob("*"))
