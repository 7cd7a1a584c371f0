"""Training the retrieval model: both trainers' wiring, the schedule, and tiny fits (the synthetic twin, sessions)."""

import dataclasses
import json

import keras
import numpy as np
import pytest
from event_frames import random_event_frame
from keras import ops

from app.config.presets import PRESETS
from app.evaluation.retrieval_recall import RECALL_KS
from app.retrieval.model import ITEM_FEATURES, USER_FEATURES, RetrievalModel
from app.training.retrieval import (
    compiled_retrieval_trainer,
    learning_rate_schedule,
    retrieval_optimizer,
    session_retrieval_trainer,
    train_retrieval,
    train_session_retrieval,
)
from app.sessions.baselines import Popularity
from app.sessions.metrics import evaluate_scorer
from app.training.saved_runs import load_retriever
from app.training.session_validation import even_sample
from datasets.event_store import EventStore, ItemCatalog
from datasets.retail_rocket.session_files import Sessions, prefix_cases
from datasets.retrieval_examples import RetrievalExamples
from datasets.session_sequences import SessionSequences
from layers import SampledSoftmaxLogits
from layers.masked_logit import MASKED_LOGIT


def test_trainer_scores_batches_with_the_models_towers():
    """The trainer's logits are `SampledSoftmaxLogits` of the model's own user and item embeddings."""
    config = dataclasses.replace(PRESETS["smoke"].retrieval, negatives_per_example=3)
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
    config = dataclasses.replace(PRESETS["smoke"].retrieval, epochs=3, patience=3)
    keras.utils.set_random_seed(config.seed)
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
    from app.errors import UserError

    with pytest.raises(UserError, match="No model file at"):
        load_retriever(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_text("not a zip")
    with pytest.raises(UserError, match="broken.keras is not a .keras file"):
        load_retriever(tmp_path / "broken.keras")


def repeating_sessions(num_sessions=300, num_items=60, seed=0):
    """Sessions of 2-6 items walking `item -> item + 7 (mod num_items)`, with a revisit now and then."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 7, num_sessions)
    items = []
    for length in lengths:
        walk = (rng.integers(0, num_items) + 7 * np.arange(length)) % num_items + 1
        if length > 3 and rng.random() < 0.3:
            walk[-1] = walk[0]  # a revisit: the same item twice in one session
        items.extend(walk.tolist())
    return Sessions(session_id=np.arange(num_sessions), offsets=np.concatenate([[0], np.cumsum(lengths)]),
                    items=np.array(items, np.int32))


def test_session_trainer_logits_and_loss_match_a_numpy_reference():
    """Every slot scores the batch's targets, first items and negatives, log-Q corrected; accidental hits and
    padding candidates are masked (zero probability, no NaN, padded slots included) and the loss is the mean over
    real targets."""
    config = PRESETS["sessions_smoke"].retrieval
    sessions = Sessions(session_id=np.arange(4), offsets=np.array([0, 5, 8, 10, 13]),
                        items=np.array([1, 2, 1, 3, 1, 4, 5, 4, 6, 2, 7, 8, 9], np.int32))
    sequences = SessionSequences(sessions, np.bincount(sessions.items, minlength=12), history_length=4,
                                 batch_tokens=20, negatives=6)
    features, labels, weights = sequences.batch(4, np.array([0, 1, 2, 3, -1]), np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    model = RetrievalModel(**config.model_kwargs())
    trainer = session_retrieval_trainer(model, negatives=6)
    logits = np.asarray(trainer.predict_on_batch(features))  # [N, N + R + G]
    assert logits.shape == (20, 20 + 5 + 6) and np.isfinite(logits).all()

    user_features = {name: features[name] for name in USER_FEATURES}
    users = np.asarray(model.sequence_tower().predict_on_batch(user_features)).reshape(20, -1)  # [N, E]
    ids = np.concatenate([features["target_item_id"].ravel(), features["first_item_id"],
                          features["negative_item_id"][0]])  # [M]
    probability = np.concatenate([features["target_sampling_probability"].ravel(),
                                  features["first_item_sampling_probability"],
                                  features["negative_sampling_probability"][0]])  # [M]
    candidates = model.item_embeddings(ids, np.zeros_like(ids))  # [M, E]
    expected = users @ candidates.T / model.temperature - np.log(probability.clip(1e-12))  # [N, M]
    target = features["target_item_id"].ravel()  # [N]
    accidental = (ids[None, :] == target[:, None]) & ~np.eye(20, len(ids), dtype=bool)
    masked = accidental | (ids == 0)[None, :]
    assert accidental[target > 0].any() and (ids == 0).any() and (target == 0).any()
    np.testing.assert_allclose(logits[~masked], expected[~masked], rtol=1e-4, atol=1e-4)
    assert (logits[masked] == MASKED_LOGIT).all()

    probabilities = ops.convert_to_numpy(ops.softmax(logits, axis=-1))
    assert np.isfinite(probabilities).all() and (probabilities[target > 0][masked[target > 0]] == 0).all()
    real = target > 0
    reference = np.array([np.log(np.exp(row[~mask]).sum()) - row[n] for n, (row, mask) in
                          enumerate(zip(expected, masked))])[real].mean()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")(
        labels, logits, sample_weight=weights)
    np.testing.assert_allclose(float(loss), reference, rtol=1e-4)
    trainer.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"))
    trainer.train_on_batch(features, labels, sample_weight=weights)
    assert all(np.isfinite(ops.convert_to_numpy(weight)).all() for weight in model.weights)
    assert {id(weight) for weight in trainer.weights} == {id(weight) for weight in model.weights}


def test_session_trainer_refuses_a_model_with_age_embedding():
    keras.utils.set_random_seed(0)
    model = RetrievalModel(**PRESETS["smoke"].retrieval.model_kwargs())
    with pytest.raises(ValueError, match="without age embedding.*Received: use_age_embedding=True"):
        session_retrieval_trainer(model, negatives=4)


def test_warmup_cosine_schedule_rises_then_decays_to_five_percent():
    config = dataclasses.replace(PRESETS["sessions_smoke"].retrieval, learning_rate=0.01, warmup_steps=20)
    schedule = learning_rate_schedule(config, total_steps=100)  # warm-up capped at a tenth: 10 steps
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose([float(schedule(5)), float(schedule(10)), float(schedule(55)), float(schedule(100))],
                               [0.005, 0.01, 0.01 * (0.05 + 0.95 * 0.5), 0.0005], rtol=1e-5)
    assert learning_rate_schedule(dataclasses.replace(config, learning_rate_schedule="constant"), 100) == 0.01
    optimizer = retrieval_optimizer(config, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == config.weight_decay


@pytest.mark.slow
def test_tiny_session_fit_lowers_the_loss_and_beats_popularity():
    sessions = repeating_sessions()
    training, validation = sessions.select(0, 250), sessions.select(250, 300)
    popularity = training.item_counts(60)
    config = dataclasses.replace(PRESETS["sessions_smoke"].retrieval, history_length=4, batch_tokens=32)
    cases = prefix_cases(validation)
    keras.utils.set_random_seed(config.seed)
    model, history = train_session_retrieval(config, training, cases, popularity)
    losses = history["loss"]
    assert len(losses) == config.epochs and losses[-1] < losses[0]
    popular = evaluate_scorer(Popularity().fit(training, 60), even_sample(cases, config.eval_cases),
                              popularity)
    assert history["val_mrr@10"][-1] > popular["mrr@10"] + 0.2, (history, popular)
    assert type(model).__name__ == "RetrievalModel" and not model.use_age_embedding
