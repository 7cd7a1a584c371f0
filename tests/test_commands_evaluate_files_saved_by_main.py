"""`.keras` files saved by `main` at 02b0e37 (before `app/` became packages) load and score exactly as then.

`tests/data/main_02b0e37/` holds a smoke ranker and a smoke retriever that `python -m app.fit` wrote on the
synthetic twin at that commit, their run reports, and what `python -m app.evaluate` reported on them there:
`sampled.json` (`--split both`) and `catalogue.json` (`--split both --protocol catalogue --retriever
retriever.keras --max_visitors 200`). The same commands today must give the same figures.

"The same" is to float32 rounding, not to the bit: the files were evaluated on another machine, and the AUCs and
mean reciprocal ranks are float32 sums whose order XLA picks for the CPU at hand (on this 2-core box, 02b0e37's
own code and today's agree to the bit, and both differ from the files by at most 1e-6 relative). A wrong weight,
config or candidate list moves these figures by orders of magnitude more.
"""

import json
import shutil

import pytest

from app.candidates.peers import GENERATOR_NAMES
from commands import REPO
from commands import one_line_exit
from commands import run_module

SAVED = REPO / "tests" / "data" / "main_02b0e37"


def evaluate(models, data_dir, report, protocol, *flags):
    """`python -m app.evaluate --protocol <protocol>` on the copied ranker; its `--json` report's metrics."""
    run_module("app.evaluate", models / "ranker.keras", "--dataset", "retail_rocket/synthetic",
               "--data_dir", data_dir, "--json", report, "--protocol", protocol, *flags)
    return json.loads(report.read_text())["metrics"][protocol]


def leaves(tree, path=""):
    """`{"validation.model.hr@10": 0.71, ...}`: a report's metrics by their dotted path."""
    if not isinstance(tree, dict):
        return {path: tree}
    return {key: value for name, child in tree.items() for key, value in leaves(child, f"{path}.{name}").items()}


def assert_same_figures(metrics, saved_report, splits, peers_added=(), keys_dropped=()):
    """The saved figures again; `peers_added`: baselines the report has gained since (theirs are new figures);
    `keys_dropped`: metrics it no longer holds, which must have been `None` in the saved report."""
    saved = leaves({split: json.loads((SAVED / saved_report).read_text())["metrics"][split] for split in splits})
    dropped = {key for key in saved if key.rsplit(".", 1)[-1] in keys_dropped}
    assert bool(dropped) == bool(keys_dropped) and all(saved.pop(key) is None for key in dropped)
    measured = leaves(metrics)
    added = {key for key in measured if set(key.split(".")) & set(peers_added)}  # their figures and the model's gains
    assert bool(added) == bool(peers_added) and measured.keys() - added == saved.keys()
    measured = {key: measured[key] for key in saved}
    assert {key for key, value in measured.items() if value is None} == {
        key for key, value in saved.items() if value is None}  # AUCs without a positive in the lists
    numbers = [key for key, value in saved.items() if value is not None]
    assert [measured[key] for key in numbers] == pytest.approx([saved[key] for key in numbers], rel=1e-5, abs=2e-6)


@pytest.mark.slow
def test_app_evaluate_reproduces_mains_figures_on_files_main_saved(tmp_path, synthetic_data_dir):
    models = tmp_path / "models"
    shutil.copytree(SAVED, models)

    sampled = evaluate(models, synthetic_data_dir, tmp_path / "sampled.json", "sampled", "--split", "both")
    assert_same_figures(sampled, "sampled.json", ["validation", "test"])

    # One split of the catalogue protocol (the code path is the same for both). Its ROC-AUCs, `None` by
    # construction over a whole catalogue, are no longer reported. The retriever is found beside the ranker as
    # `<run>.retrieval.keras` (with its report), where `--retriever` named it then.
    for suffix in (".keras", ".json"):
        shutil.copy(models / f"retriever{suffix}", models / f"ranker.retrieval{suffix}")
    catalogue = evaluate(models, synthetic_data_dir, tmp_path / "catalogue.json", "catalogue", "--split",
                         "validation", "--max_visitors", "200")
    assert json.loads((tmp_path / "catalogue.json").read_text())["retriever_path"] == str(
        models / "ranker.retrieval.keras")
    assert_same_figures(catalogue, "catalogue.json", ["validation"], peers_added=GENERATOR_NAMES,
                        keys_dropped=("auc_transaction", "auc_addtocart", "auc_view"))


@pytest.mark.slow
def test_a_retriever_trained_on_other_data_is_refused(tmp_path, synthetic_data_dir, capsys):
    from app import evaluate

    models = tmp_path / "models"
    shutil.copytree(SAVED, models)
    report = json.loads((models / "retriever.json").read_text())
    report["dataset"]["statistics"]["events_per_split"]["train"] += 1  # as if trained on another build
    (models / "retriever.json").write_text(json.dumps(report))
    argv = [models / "ranker.keras", "--dataset", "retail_rocket/synthetic", "--data_dir", synthetic_data_dir,
            "--protocol", "catalogue", "--retriever", models / "retriever.keras", "--max_visitors", "20"]
    line = one_line_exit(evaluate.main, argv, capsys)
    assert "was trained on other data" in line and "Train a retriever with the ranker's data flags" in line


@pytest.mark.slow
def test_app_recommend_finds_the_runs_retriever(tmp_path, synthetic_data_dir, retail_rocket_synthetic):
    models = tmp_path / "models"
    shutil.copytree(SAVED, models)
    data_flags = ["--dataset", "retail_rocket/synthetic", "--data_dir", synthetic_data_dir]
    visitor = retail_rocket_synthetic.test.visitor_id[0]

    def recommend(*flags):
        result = run_module("app.recommend", models / "ranker.keras", "--visitor", visitor, "--json", *data_flags,
                            *flags)
        return json.loads(result.stdout)

    named = recommend("--retriever", models / "retriever.keras")
    assert recommend()["stage"] == "exhaustive"  # no retriever beside the ranker yet
    for suffix in (".keras", ".json"):
        shutil.copy(models / f"retriever{suffix}", models / f"ranker.retrieval{suffix}")
    found = recommend()
    assert found == named and found["stage"].startswith("two-stage: 200 retrieved")
    assert found["candidates"] < retail_rocket_synthetic.catalog.num_items
    alone = recommend("--exhaustive")
    assert alone["stage"] == "exhaustive" and alone["candidates"] == retail_rocket_synthetic.catalog.num_items

