"""Tests of `tuning`: trial configs, the oracles' draws, user errors, and an interrupted search end to end."""

import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner
import pytest

from app.config.presets import PRESETS
from tuning import search
from tuning.ranker_hyper_model import RankerHyperModel
from tuning.ranker_tuner import RankerTuner
from tuning.ranker_tuner import TUNERS
from tuning.ranker_tuner import make_oracle
from tuning.search_space import SEARCH_SPACES

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--config", "smoke",
    "--epochs", "1",
    "--steps_per_epoch", "2",
    "--eval_list_length", "10",
    "--dataset", "retail_rocket/synthetic",
]  # fmt: skip


def smoke_hypermodel(**overrides):
    config = dataclasses.replace(PRESETS["smoke"].ranker, **overrides)
    return RankerHyperModel(config, data=None, space=SEARCH_SPACES["smoke"])


def run_python(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CI="1")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_trial_config_takes_the_drawn_values():
    hypermodel = smoke_hypermodel()
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    hp.values.update(
        num_layers=2,
        emb_size=64,
        num_key_value_heads=2,
        queries_per_kv_head=2,
        widening_factor=1.5,
        learning_rate=2e-3,
        history_length=16,
        dropout_rate=0.1,
        embedding_dropout=0.2,
        embedding_l2=0.1,
        use_visitor_embedding=False,
    )
    config = hypermodel.trial_config(hp)
    assert (config.num_layers, config.emb_size, config.history_length) == (2, 64, 16)
    assert (config.num_query_heads, config.num_key_value_heads) == (4, 2)
    assert (config.widening_factor, config.learning_rate) == (1.5, 2e-3)
    assert (config.dropout_rate, config.embedding_dropout, config.embedding_l2) == (0.1, 0.2, 0.1)
    assert config.use_visitor_embedding is False
    assert config.key_size == PRESETS["smoke"].ranker.key_size
    assert config.batch_size == PRESETS["smoke"].ranker.batch_size


def test_impossible_combinations_fail_the_trial_with_a_reason():
    space = dataclasses.replace(SEARCH_SPACES["smoke"], num_layers=(0, 0))
    hypermodel = RankerHyperModel(PRESETS["smoke"].ranker, data=None, space=space)
    hp = keras_tuner.HyperParameters()
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="Received: num_layers=0"):
        hypermodel.build(hp)


@pytest.mark.parametrize("tuner", TUNERS)
def test_every_tuner_draws_buildable_configs_inside_the_space(tuner, tmp_path):
    hypermodel = smoke_hypermodel()
    oracle = make_oracle(tuner, max_trials=4, max_epochs=3, seed=0)
    RankerTuner(oracle=oracle, hypermodel=hypermodel, directory=tmp_path, project_name=tuner)
    space = SEARCH_SPACES["smoke"]
    for tuner_id in range(4):
        trial = oracle.create_trial(f"tuner{tuner_id}")
        config = hypermodel.trial_config(trial.hyperparameters)
        assert config.num_query_heads % config.num_key_value_heads == 0
        assert space.num_layers[0] <= config.num_layers <= space.num_layers[1]
        assert space.emb_size[0] <= config.emb_size <= space.emb_size[1]
        assert space.history_length[0] <= config.history_length <= space.history_length[1]
        assert space.dropout_rate[0] <= config.dropout_rate <= space.dropout_rate[1]
        assert space.embedding_dropout[0] <= config.embedding_dropout <= space.embedding_dropout[1]
        assert config.embedding_l2 in space.embedding_l2
        assert config.use_visitor_embedding in space.use_visitor_embedding
    assert not list(tmp_path.rglob("*.h5")), "the tuner wrote weights before any trial ran"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tuner", "grid"], "Unknown --tuner 'grid'"),
        (["--epochs", "0"], "`epochs` must be at least 1. Received: epochs=0."),
        (["--num_layers", "3"], "--num_layers is searched"),
        (["--space", "huge"], "Unknown --space 'huge'"),
        (["--config", "sessions"], "tuning.search tunes the ranker on visitor data; --config sessions is made for"),
    ],
)
def test_invalid_search_range_is_one_clear_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        search.main(["--config", "smoke", *argv])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_invalid_search_range_exits_2_without_traceback():
    result = run_python("-m", "tuning.search", "--config", "smoke", "--max_trials", "0", timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --max_trials must be at least 1. Received: --max_trials 0."
    ]


def read_json(path, attempts=50):
    """A JSON file another process may be writing: retried until it parses."""
    for _ in range(attempts):
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.1)
    raise AssertionError(f"{path} never became readable JSON")


@pytest.fixture(scope="module")
def interrupted_search(tmp_path_factory):
    """A 2-trial random search killed once its second trial started, then the same command again."""
    root = tmp_path_factory.mktemp("tuning")
    command = [
        "-m", "tuning.search", *TINY,
        "--tuner", "random",
        "--max_trials", "2",
        "--data_dir", str(root / "data"),
        "--directory", str(root / "runs"),
        "--project_name", "resume",
        "--output_dir", str(root / "models"),
    ]  # fmt: skip
    project = root / "runs" / "resume"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CI="1")
    with open(root / "first.log", "w") as log:
        first = subprocess.Popen(
            [sys.executable, *command], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 400
        try:
            # Trial 1 is under way once the oracle lists it as ongoing (trial 0 is then saved as ended).
            while not (
                (project / "oracle.json").exists()
                and "1" in read_json(project / "oracle.json")["ongoing_trials"].values()
            ):
                assert first.poll() is None, (root / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the first trial did not finish in time"
                time.sleep(0.2)
        finally:
            first.kill()
            first.wait()
    first_trial = (project / "trial_0" / "trial.json").read_bytes()
    assert json.loads(first_trial)["status"] == "COMPLETED"
    assert not (root / "models" / "tuned-resume.keras").exists()
    second = run_python(*command)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"root": root, "project": project, "first_trial": first_trial, "second": second}


@pytest.mark.slow
def test_resumed_search_does_not_rerun_the_finished_trial(interrupted_search):
    project = interrupted_search["project"]
    log = interrupted_search["second"].stderr
    assert (project / "trial_0" / "trial.json").read_bytes() == interrupted_search["first_trial"]
    assert json.loads((project / "trial_1" / "trial.json").read_text())["status"] == "COMPLETED"
    assert "1 finished trial(s) kept, not run again: 0." in log
    assert "1 trial(s) run now (1), 1 reused." in log
    assert "Trial 0:" not in log and "Trial 1:" in log
    with open(project / "leaderboard.csv") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["trial"] for row in rows) == ["0", "1"]
    for row in rows:
        assert row["status"] == "COMPLETED"
        assert float(row["val_ndcg@10"]) >= 0 and float(row["peak_rss_mb"]) > 100
        assert int(row["num_query_heads"]) % int(row["num_key_value_heads"]) == 0
        assert int(row["parameters"]) > 0 and float(row["seconds"]) > 0
    # Trial metadata only: no per-trial weights, a few kilobytes.
    assert not [path for path in project.rglob("*") if path.suffix in (".h5", ".keras")]
    assert sum(path.stat().st_size for path in project.rglob("*") if path.is_file()) < 100_000


@pytest.mark.slow
def test_tuned_model_reproduces_its_report(interrupted_search):
    models = interrupted_search["root"] / "models"
    report = json.loads((models / "tuned-resume.json").read_text())
    assert set(report) == {
        "config", "dataset", "data_flags", "run_name", "model_path", "backend", "distribution", "timings",
        "protocols", "metrics",
    }  # fmt: skip
    with open(interrupted_search["project"] / "leaderboard.csv") as file:
        leaderboard = list(csv.DictReader(file))
    best = leaderboard[0]
    assert report["config"]["emb_size"] == int(best["emb_size"])
    assert report["config"]["history_length"] == int(best["history_length"])
    assert report["config"]["epochs"] == 1
    # Retrained from scratch with the same seed, the best trial scores what it scored in the search.
    assert report["metrics"]["sampled"]["validation"]["model"]["ndcg@10"] == pytest.approx(
        float(best["val_ndcg@10"]), rel=1e-4
    )
    assert not (models / "tuned-resume" / "best.weights.h5").exists()

    written = interrupted_search["root"] / "evaluated.json"
    result = run_python(
        "-m", "app.evaluate", str(models / "tuned-resume.keras"), "--split", "both", "--json", str(written)
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads(written.read_text())
    assert evaluated["metrics"] == report["metrics"]  # both protocols, the catalogue first
