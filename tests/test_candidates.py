"""Each candidate generator against scores worked out by hand on a few events."""

import numpy as np
import pandas as pd
import pytest

from app.candidates.category_popularity import CategoryPopularity
from app.candidates.co_visitation import CoVisitation
from app.candidates.own_items import OwnItems
from app.candidates.own_then_co_visitation import OwnThenCoVisitation
from app.candidates.peers import GENERATOR_NAMES, fitted_generators
from app.candidates.popularity import Popularity
from app.evaluation.baselines import history_recency_scores
from datasets.event_store import EventStore, ItemCatalog

HOUR_MS = 3_600_000
WEIGHTS = (10.0, 3.0, 1.0)  # transaction, addtocart, view

# Items 10, 20, 30 of category 1 and item 40 of category 2. Actions: 1 view, 2 addtocart, 3 transaction.
TRAINING_EVENTS = [  # visitor, item, category, action, hour
    (1, 10, 1, 1, 0),
    (1, 20, 1, 2, 1),  # 1 hour after 10: a pair
    (1, 30, 1, 1, 30),  # 29 hours after 20: outside a 24-hour window
    (2, 20, 1, 1, 0),
    (2, 40, 2, 3, 2),  # 2 hours after 20: a pair
    (2, 20, 1, 1, 3),  # the same item again, 1 hour after 40: a pair again
]


def training_store():
    frame = pd.DataFrame(TRAINING_EVENTS, columns=["visitor_id", "item_id", "category_id", "action", "hour"])
    frame = frame.assign(parent_category_id=0, timestamp_ms=frame["hour"] * HOUR_MS, context_end=0)
    return EventStore.from_frame(frame.drop(columns="hour"))


def histories(*rows):
    """Model features of one history per row: `(item, category, action, age_hours)` events, padded to 3."""
    padded = [list(row) + [(0, 0, 0, 0.0)] * (3 - len(row)) for row in rows]
    column = lambda index, dtype: np.array([[event[index] for event in row] for row in padded], dtype=dtype)  # noqa
    return {"history_item_id": column(0, np.int32), "history_category_id": column(1, np.int32),
            "history_action": column(2, np.int32), "history_age_hours": column(3, np.float32)}


@pytest.fixture(scope="module")
def store():
    return training_store()


@pytest.fixture(scope="module")
def catalog(store):
    return ItemCatalog.from_store(store)


def test_the_catalogue_axis_is_the_training_items(catalog):
    np.testing.assert_array_equal(catalog.item_id, [10, 20, 30, 40])
    np.testing.assert_array_equal(catalog.category_id, [1, 1, 1, 2])


def test_popularity_counts_each_event_with_its_action_weight(store, catalog):
    scores = Popularity(catalog, WEIGHTS).fit(store).score(histories([], []))
    # 10: one view; 20: addtocart + two views; 30: one view; 40: one transaction.
    np.testing.assert_allclose(scores, [[1, 5, 1, 10]] * 2)


def test_own_items_sum_the_decay_of_each_event_with_or_without_action_weights(catalog):
    features = histories([(20, 1, 1, 0.0), (40, 2, 3, 168.0), (20, 1, 2, 336.0), (99, 5, 1, 0.0)])
    # Item 20: a view now (1) and an addtocart two half-lives ago (1/4); item 40: a transaction a half-life ago.
    np.testing.assert_allclose(OwnItems(catalog).score(features), [[0, 1.25, 0, 0.5]])
    np.testing.assert_allclose(OwnItems(catalog, WEIGHTS).score(features), [[0, 1 + 3 / 4, 0, 10 / 2]])


def test_own_items_with_action_weights_are_the_history_recency_baseline(catalog):
    features = histories([(20, 1, 1, 5.0), (40, 2, 3, 17.0), (20, 1, 2, 40.0)], [(10, 1, 3, 2.0)])
    every_item = np.broadcast_to(catalog.item_id, (2, catalog.num_items))
    expected = history_recency_scores({**features, "candidate_item_id": every_item}, WEIGHTS)
    np.testing.assert_array_equal(OwnItems(catalog, WEIGHTS).score(features), expected)


def test_co_visitation_counts_pairs_within_the_window_weighted_by_the_co_visited_action(store, catalog):
    generator = CoVisitation(catalog, window_hours=24, action_weights=WEIGHTS).fit(store)
    # Pairs: (10, 20) once, (20, 40) twice; 30 is 29 hours from 20 and pairs with nothing.
    table = generator.table.toarray()
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 0] = 3, 1  # 10 -> 20 (an addtocart), 20 -> 10 (a view)
    expected[1, 3], expected[3, 1] = 10 + 10, 1 + 1  # 20 -> 40 (a transaction, twice), 40 -> 20 (views)
    np.testing.assert_allclose(table, expected)
    # A history of 20 now and 40 a half-life ago: row 20 + row 40 / 2.
    scores = generator.score(histories([(20, 1, 1, 0.0), (40, 2, 1, 168.0)]))
    np.testing.assert_allclose(scores, [[1, 0 + 1, 0, 20]])


def test_co_visitation_with_a_lag_of_one_pairs_only_neighbouring_events(store, catalog):
    table = CoVisitation(catalog, window_hours=100, max_lag=1, action_weights=WEIGHTS).fit(store).table.toarray()
    assert table[1, 2] == 1 and table[2, 1] == 3  # 20 and 30 are neighbours 29 hours apart: inside 100 hours
    assert table[0, 2] == 0  # 10 and 30 are two events apart


@pytest.mark.parametrize("arguments, message", [
    ({"window_hours": 0}, "`window_hours` must be positive"),
    ({"max_lag": 0}, "`max_lag` must be an integer >= 1"),
])
def test_co_visitation_refuses_a_window_or_lag_that_is_not_positive(catalog, arguments, message):
    with pytest.raises(ValueError, match=message):
        CoVisitation(catalog, **arguments)


def test_own_items_come_first_then_the_co_visited_ones(store, catalog):
    generator = OwnThenCoVisitation(catalog, action_weights=WEIGHTS).fit(store)
    scores = generator.score(histories([(20, 1, 1, 0.0)]))
    # Own: 20 (1 + 1). Co-visited with 20: 40 (20), 10 (1); each divided by 20 + 1. Item 30: 0.
    np.testing.assert_allclose(scores, [[1 / 21, 2, 0, 20 / 21]], rtol=1e-6)


def test_category_popularity_ranks_the_historys_categories_then_popularity(store, catalog):
    generator = CategoryPopularity(catalog, WEIGHTS).fit(store)
    scores = generator.score(histories([(40, 2, 1, 0.0), (99, 2, 1, 1.0), (10, 1, 1, 2.0)]))
    # Category 2 seen twice, category 1 once; popularity [1, 5, 1, 10] / 11 below 1.
    np.testing.assert_allclose(scores, [[1 + 1 / 11, 1 + 5 / 11, 1 + 1 / 11, 2 + 10 / 11]], rtol=1e-6)


def test_every_generator_is_fitted_and_unknown_names_are_refused(store, catalog):
    generators = fitted_generators(store, catalog, WEIGHTS)
    assert tuple(generators) == GENERATOR_NAMES
    for generator in generators.values():
        assert generator.score(histories([(20, 1, 1, 0.0)])).shape == (1, catalog.num_items)
    with pytest.raises(ValueError, match=r"Unknown candidate generator\(s\) \['nearest'\]"):
        fitted_generators(store, catalog, WEIGHTS, names=("co_visitation", "nearest"))
