"""The commands users run: fit, evaluate and recommend as subprocesses on runs fitted once per pytest run
(`twin_run`, `slice_run` in conftest.py), a killed run that resumes, and user errors as one line."""

import json
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from app.candidates.peers import GENERATOR_NAMES
from commands import REPO
from commands import command_env
from commands import fit_once
from commands import one_error_line
from commands import one_line_exit
from commands import run_module

SAMPLED_KEYS = {"ndcg@10", "hr@10", "mrr", "auc_transaction", "auc_addtocart", "auc_view", "lists"}
CATALOGUE_KEYS = ["ndcg@10", "hr@10", "mrr", "ndcg@20", "hr@20", "mrr@20", "lists"]
CATALOGUE_PEERS = {"random", "popularity", "history_recency", *GENERATOR_NAMES}


def assert_evaluate_reproduces_the_report(fitted, tmp_path):
    """`app.evaluate` on the saved file, in a new process, gives the report's figures: both protocols, both
    splits, catalogue first."""
    evaluated = tmp_path / "evaluated.json"
    result = run_module("app.evaluate", fitted.model_path, "--split", "both", "--json", evaluated)
    verdicts = [line for line in result.stdout.splitlines() if "the metrics in the run's report" in line]
    assert verdicts == [f"{split}, {protocol}: reproduces the metrics in the run's report."
                        for protocol in ("catalogue", "sampled") for split in ("validation", "test")]
    again = json.loads(evaluated.read_text())
    assert list(again["metrics"]) == ["catalogue", "sampled"]
    assert again["protocols"] == fitted.report["protocols"]
    assert again["metrics"] == fitted.report["metrics"]


def assert_ranking_printed(fitted, visitor):
    result = run_module("app.recommend", fitted.model_path, "--visitor", visitor, "--top", "5", *fitted.data_flags)
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 5, result.stdout
    scores = [float(row[-1]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    as_json = json.loads(run_module("app.recommend", fitted.model_path, "--visitor", visitor, "--json",
                                    *fitted.data_flags).stdout)
    assert len(as_json["top"]) == 10 and as_json["candidates"] > 10


# --- the synthetic twin: the smoke config trained to the end ---


@pytest.mark.slow
def test_fit_writes_its_files_and_a_report_that_beats_random_and_popularity(twin_run):
    output, report = twin_run.output_dir, twin_run.report
    for suffix in (".keras", ".json", ".curves.png", ".comparison.png"):
        assert (output / f"smoke{suffix}").is_file()
    assert (output / "smoke" / "training_log.csv").is_file()
    assert any((output / "smoke" / "tensorboard").rglob("*tfevents*"))
    assert {"config", "dataset", "timings", "protocols", "metrics"} <= set(report)
    assert {"name", "version", "statistics"} <= set(report["dataset"])
    assert report["dataset"]["name"] == "retail_rocket/synthetic"
    assert list(report["metrics"]) == list(report["protocols"]) == ["catalogue", "sampled"]  # the catalogue leads
    assert "no model row" in report["protocols"]["catalogue"]  # the ranker alone only with --exhaustive
    for split in ("validation", "test"):
        catalogue = report["metrics"]["catalogue"][split]
        assert catalogue["model"] is None and set(catalogue["baselines"]) == CATALOGUE_PEERS
        assert all(list(entry) == CATALOGUE_KEYS for entry in catalogue["baselines"].values())
        assert len({entry["lists"] for entry in catalogue["baselines"].values()}) == 1  # the same visitors
        assert 0 < catalogue["baselines"]["random"]["lists"] <= report["config"]["eval_max_lists"]
        sampled = report["metrics"]["sampled"][split]
        assert set(sampled["model"]) >= SAMPLED_KEYS
        assert set(sampled["baselines"]) == {"random", "popularity", "history_recency", "history_category_recency"}
        assert sampled["model"]["lists"] == sampled["baselines"]["random"]["lists"] > 0
    assert report["timings"]["examples_per_s"] > 0
    assert report["timings"]["catalogue_seconds"] > 0 and report["timings"]["sampled_seconds"] > 0
    # The twin has structure (category preferences, re-visits): even the smoke model must learn it.
    test = report["metrics"]["sampled"]["test"]
    for baseline in ("random", "popularity"):
        for key in ("ndcg@10", "auc_transaction", "auc_addtocart", "auc_view"):
            margin = test["model"][key] - test["baselines"][baseline][key]
            assert margin >= 0.05, (key, baseline, test["model"][key], test["baselines"][baseline][key])


@pytest.mark.slow
def test_evaluate_reproduces_the_twin_report(twin_run, tmp_path):
    assert_evaluate_reproduces_the_report(twin_run, tmp_path)


@pytest.mark.slow
def test_evaluate_ranks_the_catalogue_with_the_ranker_alone_when_asked(twin_run, tmp_path):
    written = tmp_path / "exhaustive.json"
    result = run_module("app.evaluate", twin_run.model_path, "--protocol", "catalogue", "--exhaustive", "--split",
                        "validation", "--max_visitors", "40", "--peers", "none", "--json", written)
    assert "the metrics in the run's report" not in result.stdout  # other visitors than the report's: no verdict
    report = json.loads(written.read_text())
    assert list(report["metrics"]) == ["catalogue"] and "the ranker alone over every item" in report["protocols"][
        "catalogue"]
    entry = report["metrics"]["catalogue"]["validation"]
    assert list(entry["model"]) == CATALOGUE_KEYS and set(entry["baselines"]) == {
        "random", "popularity", "history_recency"}
    assert entry["model"]["lists"] == entry["baselines"]["random"]["lists"] == 40
    assert entry["model"]["ndcg@10"] > entry["baselines"]["random"]["ndcg@10"] + 0.05


@pytest.mark.slow
def test_recommend_ranks_the_catalogue_for_a_twin_visitor(twin_run, retail_rocket_synthetic):
    assert_ranking_printed(twin_run, retail_rocket_synthetic.test.visitor_id[0])


@pytest.mark.slow
def test_unknown_visitor_is_one_line(twin_run):
    result = run_module("app.recommend", twin_run.model_path, "--visitor", "999999999", *twin_run.data_flags,
                        check=False)
    assert "Visitor 999999999 is not in" in one_error_line(result)


@pytest.mark.slow
def test_a_ranker_trained_on_shortlists_and_refit_is_reported_evaluated_and_recommends_as_two_stages(
        tmp_path, synthetic_data_dir, retail_rocket_synthetic):
    data_flags = ["--dataset", "retail_rocket/synthetic", "--data_dir", str(synthetic_data_dir)]
    run = fit_once(tmp_path, "shortlists", data_flags, ["--config", "smoke", "--shortlist_cuts", "2",
                                                        "--num_candidate_features", "12", "--epochs", "1",
                                                        "--refit", "true"])
    report = run.report
    assert list(report["metrics"]) == list(report["protocols"]) == ["catalogue"]  # no sampled lists: no features
    assert "the ranker over the union shortlist" in report["protocols"]["catalogue"]
    assert "test: the ranker refit and the peers fitted on the training and validation events" in (
        report["protocols"]["catalogue"])
    assert report["training_lists"]["cuts"] == 2
    assert 0 < report["training_lists"]["lists"] <= report["training_lists"]["held_out_visitors"]
    # The refit: as many epochs as the best validation epoch, on the lists of more events, and other weights than
    # the ranker of the validation figures (kept in the run's folder).
    refit = report["refit"]
    assert refit["epochs"] == 1 and len(refit["epoch_seconds"]) == 1
    assert refit["training_lists"]["held_out_visitors"] >= report["training_lists"]["held_out_visitors"]
    validation_fit = tmp_path / "shortlists" / "validation_fit.keras"
    assert refit["validation_fit"] == str(validation_fit)
    from app.training.saved_runs import load_ranker

    refit_weights, validation_weights = (load_ranker(path).get_weights() for path in (run.model_path, validation_fit))
    assert any(not np.array_equal(a, b) for a, b in zip(refit_weights, validation_weights))
    for split in ("validation", "test"):
        entry = report["metrics"]["catalogue"][split]
        assert set(entry["baselines"]) == CATALOGUE_PEERS | {"boosted_reranker"}
        assert entry["model"]["lists"] == entry["baselines"]["boosted_reranker"]["lists"] > 0
        shortlist = entry["shortlist"]  # no ordering of the shortlist finds more visitors' items than it holds
        assert shortlist["visitors"] == entry["model"]["lists"] and entry["model"]["hr@20"] <= shortlist["reach"] < 1
    # Ordering the shortlist it was trained on, it finds more of the visitors' items than the own items and their
    # co-visited ones (the twin's validation split, one epoch).
    validation = report["metrics"]["catalogue"]["validation"]
    assert validation["model"]["hr@20"] > validation["baselines"]["own_then_co_visitation"]["hr@20"]

    evaluated = tmp_path / "evaluated.json"
    result = run_module("app.evaluate", run.model_path, "--split", "both", "--json", evaluated)
    verdicts = [line for line in result.stdout.splitlines() if "the metrics in the run's report" in line]
    assert verdicts == [f"{split}, catalogue: reproduces the metrics in the run's report."
                        for split in ("validation", "test")]
    assert json.loads(evaluated.read_text())["metrics"] == report["metrics"]
    assert_ranking_printed(run, retail_rocket_synthetic.test.visitor_id[0])
    refused = run_module("app.recommend", run.model_path, "--visitor", "1", "--exhaustive", check=False)
    assert "this ranker was trained on union shortlists" in one_error_line(refused)
    validation_fit.unlink()
    refused = run_module("app.evaluate", run.model_path, "--split", "validation", check=False)
    assert f"its validation figures are of the ranker fitted on the training split, {validation_fit}, which is " \
           "missing" in one_error_line(refused)


# --- the real slice: a short run that built its data itself ---


@pytest.mark.slow
def test_fit_evaluate_recommend_on_the_real_slice(slice_run, tmp_path):
    report = slice_run.report
    assert report["dataset"]["name"] == "retail_rocket/full_v2_i1"  # the filters name the build
    assert report["metrics"]["sampled"]["test"]["model"]["lists"] > 100
    assert_evaluate_reproduces_the_report(slice_run, tmp_path)
    from datasets.loading import load_retail_rocket

    data_dir = slice_run.data_flags[slice_run.data_flags.index("--data_dir") + 1]
    manual_dir = slice_run.data_flags[slice_run.data_flags.index("--manual_dir") + 1]
    data = load_retail_rocket("full", data_dir, manual_dir, min_visitor_events=2, min_item_events=1)
    assert_ranking_printed(slice_run, data.test.visitor_id[0])


# --- resuming: a run of its own, killed in its second epoch ---


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_backup(tmp_path, synthetic_data_dir):
    command = [
        sys.executable, "-m", "app.fit", "--config", "smoke", "--epochs", "3", "--steps_per_epoch", "50",
        "--eval_max_lists", "300", "--dataset", "retail_rocket/synthetic", "--data_dir", str(synthetic_data_dir),
        "--output_dir", str(tmp_path / "models"),
    ]
    env = command_env()
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


# --- user errors: one line and exit 2, before any work (in this process: the command's own `main`) ---


@pytest.mark.parametrize("argv, message", [
    (["--config", "nope"], "Unknown config 'nope'"),
    (["--config", "smoke", "--no_such_field", "1"], "no_such_field"),
    (["--model", "retrieval", "--config", "smoke", "--exhaustive"], "--exhaustive applies to --model ranker"),
    (["--config", "sessions_smoke", "--exhaustive"], "--exhaustive applies to a ranker trained alone"),
    (["--config", "sessions_smoke", "--steps_per_epoch", "5"],
     "--steps_per_epoch: --config sessions_smoke's ranker does not read them"),
    (["--config", "sessions_smoke", "--retrieval_batch_size", "8"],
     "--retrieval_batch_size: --config sessions_smoke's retrieval model does not read them"),
    (["--config", "smoke", "--retrieval_emb_size", "8"],
     "--retrieval_emb_size: --model ranker trains the ranker model alone; leave it out."),
    (["--model", "retrieval", "--config", "smoke", "--emb_size", "8", "--seed", "1"],
     "--emb_size, --seed: --model retrieval trains the retrieval model alone; leave them out."),
    (["--model", "retrieval", "--config", "smoke", "--retrieval_batch_tokens", "8"],
     "--retrieval_batch_tokens: the retrieval model reads them on the session benchmark only"),
    (["--config", "smoke", "--shortlist_cuts", "2"],
     "reads the shortlist's 12 candidate features: pass --num_candidate_features 12"),
    (["--config", "smoke", "--shortlist_cuts", "2", "--num_candidate_features", "12", "--exhaustive"],
     "--exhaustive: a ranker trained on union shortlists (--shortlist_cuts) orders its shortlist"),
    (["--config", "smoke", "--shortlist_cuts", "2", "--num_candidate_features", "12", "--steps_per_epoch", "5"],
     "--steps_per_epoch: a ranker trained on union shortlists (--shortlist_cuts 2) does not read them"),
    (["--config", "default", "--steps_per_epoch", "5"],
     "--steps_per_epoch: a ranker trained on union shortlists (--shortlist_cuts 4) does not read them"),
    (["--config", "smoke", "--refit", "true"],
     "--refit true applies to a ranker trained on union shortlists"),
    (["--config", "default", "--shortlist_cuts", "0", "--num_candidate_features", "0"],
     "--refit true applies to a ranker trained on union shortlists"),
    (["--config", "default", "--shortlist_cuts", "0", "--refit", "false"],
     "popularity-sampled lists (--shortlist_cuts 0) has no candidate features: pass --num_candidate_features 0"),
])
def test_fit_refuses_unknown_configs_fields_and_flags_that_do_not_apply(argv, message, capsys):
    from app import fit

    assert message in one_line_exit(fit.main, argv, capsys)


def test_recommend_takes_one_choice_of_candidates(tmp_path, capsys):
    from app import recommend

    argv = [tmp_path / "run.keras", "--visitor", "1", "--exhaustive", "--candidates", tmp_path / "ids.txt"]
    assert one_line_exit(recommend.main, argv, capsys) == (
        "error: --candidates and --exhaustive each choose the candidates: give one.")


def test_files_that_are_not_rankers_of_this_project_are_one_line(tmp_path, capsys):
    from app import evaluate
    from app import recommend

    assert "No model file" in one_line_exit(evaluate.main, [tmp_path / "missing.keras"], capsys)
    broken = tmp_path / "old.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "RankerFromTheFuture", "config": {}}))
        archive.writestr("metadata.json", json.dumps({"keras_version": "9.0.0"}))
    line = one_line_exit(recommend.main, [broken, "--visitor", "1"], capsys)
    assert "holds a RankerFromTheFuture model, not a PhoenixRanker" in line
    from_the_future = tmp_path / "future.keras"
    with zipfile.ZipFile(from_the_future, "w") as archive:
        archive.writestr("config.json", json.dumps({
            "module": "app.ranker.model", "class_name": "PhoenixRanker", "registered_name": "phoenix_retail>PhoenixRanker",
            "config": {"emb_size": 8, "attention_kind": "from the future"},
        }))
        archive.writestr("metadata.json", json.dumps({"keras_version": "9.0.0"}))
    line = one_line_exit(recommend.main, [from_the_future, "--visitor", "1"], capsys)
    assert "saved with Keras 9.0.0" in line and "incompatible version of this project" in line
