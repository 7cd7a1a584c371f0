"""Training the retrieval model: the trainer's wiring, and a tiny fit on the synthetic twin end to end."""

import dataclasses
import json

import keras
import numpy as np
import pytest
from event_frames import random_event_frame
from keras import ops

from app.retrieval_config import RETRIEVAL_CONFIGS
from app.retrieval_evaluation import RECALL_KS
from app.retrieval_model import ITEM_FEATURES, USER_FEATURES
from app.retrieval_training import compiled_retrieval_trainer, train_retrieval
from app.saved_runs import load_retriever
from datasets.event_store import EventStore, ItemCatalog
from datasets.retrieval_examples import RetrievalExamples
from layers import SampledSoftmaxLogits


def test_trainer_scores_batches_with_the_models_towers():
    """The trainer's logits are `SampledSoftmaxLogits` of the model's own user and item embeddings."""
    config = dataclasses.replace(RETRIEVAL_CONFIGS["smoke"], negatives_per_example=3)
    store = EventStore.from_frame(random_event_frame(seed=2, num_visitors=40), "train")
    examples = RetrievalExamples(store, ItemCatalog.from_store(store), history_length=8, negatives_per_example=3)
    features, _ = examples.batch(np.arange(12), np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    model, trainer = compiled_retrieval_trainer(config)
    logits = np.asarray(trainer.predict_on_batch(features))
    assert logits.shape == (12, 12 + 12 * 3)
    negatives = {
        "item_id": features["negative_item_id"].ravel(),
        "category_id": features["negative_category_id"].ravel(),
    }
    expected = SampledSoftmaxLogits(temperature=config.temperature)(
        model.user_tower.predict_on_batch({name: features[name] for name in USER_FEATURES}),
        model.item_tower.predict_on_batch({name: features[name] for name in ITEM_FEATURES}),
        model.item_tower.predict_on_batch(negatives),
        features["item_id"],
        features["negative_item_id"].ravel(),
        features["item_sampling_probability"],
        features["negative_sampling_probability"].ravel(),
    )
    np.testing.assert_allclose(logits, ops.convert_to_numpy(expected), rtol=1e-4, atol=1e-3)
    assert {id(weight) for weight in trainer.weights} == {id(weight) for weight in model.weights}


@pytest.mark.slow
def test_tiny_fit_on_the_synthetic_twin(retail_rocket_synthetic, tmp_path):
    data = retail_rocket_synthetic
    config = dataclasses.replace(RETRIEVAL_CONFIGS["smoke"], epochs=3, patience=3)
    report = train_retrieval(config, data, tmp_path, "tiny")

    assert json.loads((tmp_path / "tiny.json").read_text()) == json.loads(json.dumps(report))
    losses = report["history"]["loss"]
    assert losses[-1] < losses[0]
    assert report["history"]["val_recall@200"][report["best_epoch"] - 1] == max(report["history"]["val_recall@200"])
    for split in ("validation", "test"):
        entry = report["metrics"][split]
        assert set(entry["model"]) == {f"recall@{k}" for k in RECALL_KS} | {"visitors"}
        assert set(entry["baselines"]) == {"popularity", "history_then_popularity"}
        ceiling = report["queries"][split]["recall_ceiling_catalog"]
        for k in (200, 500):
            random_recall = ceiling * k / data.catalog.num_items  # expected recall of k random catalog items
            assert entry["model"][f"recall@{k}"] > 2 * random_recall, (split, k, entry["model"], random_recall)
    # The report's validation figures are the best epoch's, from the saved file.
    best = report["best_epoch"] - 1
    assert report["metrics"]["validation"]["model"]["recall@200"] == pytest.approx(
        report["history"]["val_recall@200"][best], abs=1e-6
    )
    assert type(load_retriever(tmp_path / "tiny.keras")).__name__ == "RetrievalModel"


def test_loading_a_missing_or_broken_file_is_one_clear_line(tmp_path):
    from app.cli import UserError

    with pytest.raises(UserError, match="No model file at"):
        load_retriever(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_text("not a zip")
    with pytest.raises(UserError, match="broken.keras is not a .keras file"):
        load_retriever(tmp_path / "broken.keras")
