"""Retrieval training batches: cut points, the next item, shared negatives, sampling probabilities, seeds."""

import numpy as np
import pytest
from event_frames import random_event_frame

from datasets.event_store import EventStore, ItemCatalog
from datasets.retrieval_examples import RetrievalExamples


@pytest.fixture(scope="module")
def train():
    store = EventStore.from_frame(random_event_frame(seed=5, num_visitors=50), "train")
    return store, ItemCatalog.from_store(store)


@pytest.fixture(scope="module")
def examples(train):
    return RetrievalExamples(*train, history_length=6, negatives_per_example=3, popularity_alpha=0.5)


def test_a_batch_is_the_history_before_the_cut_and_the_cut_item(train, examples):
    store, catalog = train
    positions = np.arange(0, examples.num_cut_points, 7)
    features, labels = examples.batch(positions, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, np.arange(positions.size))
    for row, position in enumerate(positions):
        cut, record = examples.cut_points[position], examples.cut_records[position]
        start = max(store.record_start[record], cut - 6)
        history = store.item_id[start:cut]
        assert history.size >= 1
        np.testing.assert_array_equal(features["history_item_id"][row], np.pad(history, (6 - history.size, 0)))
        ages = (store.timestamp_ms[cut] - store.timestamp_ms[start:cut]) / 3_600_000
        np.testing.assert_allclose(features["history_age_hours"][row, 6 - history.size :], ages, rtol=1e-6)
        assert features["visitor_id"][row] == store.visitor_id[record]
        assert features["item_id"][row] == store.item_id[cut]
        assert features["category_id"][row] == catalog.categories(store.item_id[cut])


def test_negatives_and_sampling_probabilities(train, examples):
    _, catalog = train
    features, _ = examples.batch(np.arange(64), np.random.default_rng(1))
    assert features["negative_item_id"].shape == (64, 3)
    assert np.isin(features["negative_item_id"], catalog.item_id).all()
    np.testing.assert_array_equal(features["negative_category_id"], catalog.categories(features["negative_item_id"]))
    popularity = catalog.popularity.astype(np.float64)
    mixture = (popularity / popularity.sum() + 3 * popularity**0.5 / np.sum(popularity**0.5)) / 4
    for prefix, probability in (("", "item_sampling_probability"), ("negative_", "negative_sampling_probability")):
        position = np.searchsorted(catalog.item_id, features[f"{prefix}item_id"])
        np.testing.assert_allclose(features[probability], mixture[position], rtol=1e-6)
    np.testing.assert_allclose(examples.sampling_probability.sum(), 1.0)


def test_negatives_follow_popularity_to_the_alpha(train):
    store, catalog = train
    examples = RetrievalExamples(store, catalog, negatives_per_example=200, popularity_alpha=1.0)
    features, _ = examples.batch(np.arange(100), np.random.default_rng(2))
    position = np.searchsorted(catalog.item_id, features["negative_item_id"].ravel())
    drawn = np.bincount(position, minlength=catalog.num_items)
    expected = catalog.popularity / catalog.popularity.sum() * drawn.sum()
    top = np.argsort(-expected)[:5]
    np.testing.assert_allclose(drawn[top], expected[top], rtol=0.1)


def test_dataset_shapes_and_seeds(examples):
    first = [batch for _, batch in zip(range(3), examples.dataset(16, seed=3))]
    again = [batch for _, batch in zip(range(3), examples.dataset(16, seed=3))]
    other = next(iter(examples.dataset(16, seed=4)))
    for (features, labels), (features_again, _) in zip(first, again):
        assert features["history_item_id"].shape == (16, 6) and features["negative_item_id"].shape == (16, 3)
        assert labels.shape == (16,) and features["history_age_hours"].dtype.name == "float32"
        for name in features:
            np.testing.assert_array_equal(features[name].numpy(), features_again[name].numpy())
    assert not np.array_equal(other[0]["item_id"].numpy(), first[0][0]["item_id"].numpy())


def test_every_cut_point_once_per_pass(examples):
    positions = examples.positions(10, seed=0)
    seen = np.concatenate([next(positions) for _ in range(examples.num_cut_points // 10)])
    assert np.unique(seen).size == seen.size


def test_refusals_name_the_argument(train):
    with pytest.raises(ValueError, match="Received: history_length=0"):
        RetrievalExamples(*train, history_length=0)
    with pytest.raises(ValueError, match="nothing to train on"):
        RetrievalExamples(*train, min_history_events=10_000)
    with pytest.raises(ValueError, match="Received: batch_size=1"):
        RetrievalExamples(*train).dataset(1)
