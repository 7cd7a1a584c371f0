"""Two stages over the union shortlist: the ranker's own logits on every shortlisted item, below them the rest of
the catalogue."""

import keras
import numpy as np
import pytest

from app.candidates.shortlist import NUM_SHORTLIST_FEATURES, UnionShortlister
from app.evaluation.catalogue import catalogue_queries
from app.evaluation.catalogue_report import shortlist_reach
from app.ranker.actions import numpy_probabilities_and_scores
from app.ranker.model import PhoenixRanker
from app.two_stage.shortlist_ranker import OUTSIDE_SHORTLIST, ShortlistRanker
from datasets.actions import DEFAULT_LOSS_WEIGHTS

TOP = {"own_items": 5, "co_visitation": 10, "category_popularity": 10, "popularity": 5}


def test_shortlisted_items_get_the_full_rankers_scores_and_the_rest_rank_below(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    keras.utils.set_random_seed(0)
    ranker = PhoenixRanker(emb_size=16, num_layers=1, num_query_heads=2, num_key_value_heads=1, key_size=8,
                           visitor_buckets=97, item_buckets=211, category_buckets=31,
                           num_candidate_features=NUM_SHORTLIST_FEATURES)
    shortlister = UnionShortlister(data.catalog, TOP).fit(data.train)
    queries = catalogue_queries(data.validation, 8, max_visitors=6)
    scores = ShortlistRanker(ranker, shortlister, DEFAULT_LOSS_WEIGHTS).catalogue_scores(queries.features)  # [V, I]
    assert scores.shape == (queries.num_visitors, data.catalog.num_items)

    shortlists = shortlister.shortlists(queries.features)
    items = shortlists.item_id  # [V, M]
    logits = ranker({**queries.features, "candidate_item_id": items,
                     "candidate_category_id": data.catalog.categories(items),
                     "candidate_features": shortlists.candidate_features()})  # the full model, every token
    _, expected = numpy_probabilities_and_scores(keras.ops.convert_to_numpy(logits), DEFAULT_LOSS_WEIGHTS)
    for row in range(queries.num_visitors):
        real = items[row] > 0
        slots = np.searchsorted(data.catalog.item_id, items[row, real])
        np.testing.assert_allclose(scores[row, slots], expected[row, real], atol=1e-5)
        outside = np.ones(data.catalog.num_items, dtype=bool)
        outside[slots] = False
        assert np.all(scores[row, outside] == OUTSIDE_SHORTLIST)
        assert scores[row, slots].min() > OUTSIDE_SHORTLIST


def test_the_reach_is_the_share_of_visitors_with_a_relevant_item_in_their_shortlist(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    shortlister = UnionShortlister(data.catalog, TOP).fit(data.train)
    queries = catalogue_queries(data.validation, 8, max_visitors=50)
    reach = shortlist_reach(shortlister, queries, chunk_size=16)
    shortlists = shortlister.shortlists(queries.features)
    found = [np.isin(queries.target_item_id[queries.target_offsets[v]:queries.target_offsets[v + 1]],
                     shortlists.item_id[v]).any() for v in range(queries.num_visitors)]
    assert reach["visitors"] == queries.num_visitors == 50
    assert reach["reach"] == pytest.approx(np.mean(found)) and 0 < reach["reach"] < 1
    assert reach["mean_candidates"] == pytest.approx(np.count_nonzero(shortlists.item_id) / 50)


def test_shortlisting_before_fitting_is_refused(retail_rocket_synthetic):
    with pytest.raises(ValueError, match="must be fitted"):
        UnionShortlister(retail_rocket_synthetic.catalog).shortlists({})
