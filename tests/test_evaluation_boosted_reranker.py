"""The gradient-boosted reranker peer on the synthetic twin: it learns from held-out lists, ranks the shortlist
above the rest of the catalogue, and the same data give the same scores."""

import numpy as np
import pytest

from app.evaluation.boosted_reranker import BoostedReranker
from app.evaluation.catalogue import catalogue_queries

TOP = {"own_items": 10, "co_visitation": 20, "category_popularity": 20, "popularity": 5}


@pytest.fixture(scope="module")
def fitted(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    reranker = BoostedReranker(data.catalog, history_length=16, top=TOP).fit(data.train)
    queries = catalogue_queries(data.validation, 16, max_visitors=40)
    return data, reranker, queries


def test_the_shortlist_is_ranked_above_every_other_item(fitted):
    data, reranker, queries = fitted
    scores = reranker.score(queries.features)  # [V, I]
    assert scores.shape == (queries.num_visitors, data.catalog.num_items) and scores.dtype == np.float32
    shortlisted = scores > 0
    assert np.all(scores[shortlisted] > 1) and np.all(scores[shortlisted] < 2)
    assert np.all(shortlisted.sum(axis=1) >= TOP["popularity"])  # the popular items are always in
    assert np.all(shortlisted.sum(axis=1) <= sum(TOP.values()))
    # The visitor's own items come in, at least up to their share of the shortlist.
    history = queries.features["history_item_id"]
    for row in range(queries.num_visitors):
        own = np.intersect1d(history[row][history[row] > 0], data.catalog.item_id)
        in_shortlist = shortlisted[row, np.searchsorted(data.catalog.item_id, own)].sum()
        assert in_shortlist >= min(own.size, TOP["own_items"])  # other generators may bring more of them


@pytest.mark.slow
def test_the_same_data_give_the_same_scores(fitted):
    data, reranker, queries = fitted
    again = BoostedReranker(data.catalog, history_length=16, top=TOP).fit(data.train)
    np.testing.assert_array_equal(again.score(queries.features), reranker.score(queries.features))


def test_scoring_before_fitting_is_refused(retail_rocket_synthetic):
    with pytest.raises(ValueError, match="must be fitted"):
        BoostedReranker(retail_rocket_synthetic.catalog).score({})
