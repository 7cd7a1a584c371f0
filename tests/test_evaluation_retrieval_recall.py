"""Full-catalogue recall@K against hand-computed cases, for the model and both baselines."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from app.config.presets import PRESETS
from app.evaluation.retrieval_recall import (
    RetrievalQueries,
    baseline_recalls,
    evaluate_retrieval,
    history_then_popularity_top_items,
    popularity_top_items,
    recall_at_k,
)
from app.retrieval.model import RetrievalModel
from datasets.event_store import EventStore, ItemCatalog

HOUR_MS = 3_600_000
KS = (1, 2, 3)

# (visitor, item, split, hour): visitor 1 and 2 have validation events; 3 and 4 only shape popularity.
EVENTS = [
    (1, 10, "train", 1), (1, 20, "train", 2), (1, 10, "train", 3), (1, 30, "validation", 4), (1, 10, "validation", 5),
    (2, 40, "train", 1), (2, 50, "validation", 2), (2, 50, "validation", 3), (2, 60, "validation", 4),
    (3, 20, "train", 1), (3, 20, "train", 2), (3, 30, "train", 3),
    (4, 20, "train", 1), (4, 60, "train", 2),
]  # fmt: skip


@pytest.fixture(scope="module")
def stores():
    frame = pd.DataFrame(EVENTS, columns=["visitor_id", "item_id", "split", "hour"])
    frame = frame.assign(
        category_id=frame["item_id"] // 10,
        parent_category_id=0,
        action=1,
        timestamp_ms=frame["hour"] * HOUR_MS,
    )
    train = EventStore.from_frame(frame, "train")
    return ItemCatalog.from_store(train), EventStore.from_frame(frame, "validation")


@pytest.fixture(scope="module")
def queries(stores):
    return RetrievalQueries.build(stores[1], history_length=2)


def test_queries_hold_the_history_before_the_split_and_the_distinct_targets(queries):
    np.testing.assert_array_equal(queries.features["visitor_id"], [1, 2])
    np.testing.assert_array_equal(queries.features["history_item_id"], [[20, 10], [0, 40]])
    np.testing.assert_allclose(queries.features["history_age_hours"], [[2.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(queries.target_offsets, [0, 2, 4])
    np.testing.assert_array_equal(queries.target_item_id, [10, 30, 50, 60])


def test_recall_at_k_by_hand(queries):
    top_items = np.array([[30, 99, 10], [50, 0, 0]])
    assert recall_at_k(top_items, queries, KS) == {"recall@1": 0.5, "recall@2": 0.5, "recall@3": 0.75, "visitors": 2}
    with pytest.raises(ValueError, match=r"Received: top_items.shape=\(2, 2\)"):
        recall_at_k(top_items[:, :2], queries, KS)


def test_baselines_by_hand(stores, queries):
    catalog, _ = stores
    # Train counts: 20 x4, 10 x2, then 30, 40, 60 once each (ties by id).
    np.testing.assert_array_equal(popularity_top_items(queries, catalog, 3), [[20, 10, 30], [20, 10, 30]])
    np.testing.assert_array_equal(history_then_popularity_top_items(queries, catalog, 3), [[10, 20, 30], [40, 20, 10]])
    assert baseline_recalls(queries, catalog, KS) == {
        "popularity": {"recall@1": 0.0, "recall@2": 0.25, "recall@3": 0.5, "visitors": 2},
        "history_then_popularity": {"recall@1": 0.25, "recall@2": 0.25, "recall@3": 0.5, "visitors": 2},
    }


def test_statistics_say_what_a_catalogue_retrieval_can_reach(stores, queries):
    statistics = queries.statistics(stores[0])
    assert statistics == {
        "visitors": 2,
        "targets": 4,
        "mean_history_events": 1.5,
        "recall_ceiling_catalog": 0.75,  # item 50 never happened in train
        "share_of_targets_in_history": 0.25,
    }


def test_model_recall_is_the_recall_of_its_exact_top_k(stores, queries):
    catalog, _ = stores
    keras.utils.set_random_seed(0)
    model = RetrievalModel(**PRESETS["smoke"].retrieval.model_kwargs())
    report = evaluate_retrieval(model, queries, catalog, KS, batch_size=2)
    json.dumps(report)
    scores = model.user_embeddings(queries.features) @ model.item_embeddings(catalog.item_id, catalog.category_id).T
    top_items = catalog.item_id[np.argsort(-scores, axis=1, kind="stable")]
    assert report["model"] == recall_at_k(top_items, queries, KS)
    assert report["baselines"] == baseline_recalls(queries, catalog, KS)
