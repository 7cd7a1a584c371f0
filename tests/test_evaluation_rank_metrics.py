"""The rank-count metrics against the keras-rs metrics they replace (the oracle), ties included."""

import keras_rs
import numpy as np
import pytest
from keras import ops

from app.evaluation.rank_metrics import RANK_METRIC_KEYS, RankScorecard, TieBreaks, relevant_ranks
from app.ranker.metrics import TIE_SEED, HitRate


def oracle_metrics():
    return {
        "ndcg@10": keras_rs.metrics.NDCG(k=10, seed=TIE_SEED),
        "hr@10": HitRate(k=10, seed=TIE_SEED),
        "mrr": keras_rs.metrics.MeanReciprocalRank(seed=TIE_SEED),
        "ndcg@20": keras_rs.metrics.NDCG(k=20, seed=TIE_SEED),
        "hr@20": HitRate(k=20, seed=TIE_SEED),
        "mrr@20": keras_rs.metrics.MeanReciprocalRank(k=20, seed=TIE_SEED),
    }


def random_lists(rng, num_lists, list_size, distinct_scores):
    """Graded lists with a relevant item each, scored from `distinct_scores` values (few values: many ties)."""
    graded = rng.choice(4, size=(num_lists, list_size), p=[0.85, 0.07, 0.05, 0.03]).astype(np.float32)
    graded[np.arange(num_lists), rng.integers(0, list_size, num_lists)] = rng.integers(1, 4, num_lists)
    scores = rng.integers(0, distinct_scores, size=(num_lists, list_size)).astype(np.float32)
    return graded, scores


@pytest.mark.parametrize("distinct_scores", [3, 40, 1_000_000])
def test_the_figures_are_the_keras_rs_metrics_over_several_updates(distinct_scores):
    rng = np.random.default_rng(distinct_scores)
    oracle, card, ties = oracle_metrics(), RankScorecard(), TieBreaks()
    for num_lists, list_size in [(7, 30), (5, 64), (9, 41)]:  # shapes change between updates, as chunks do
        graded, scores = random_lists(rng, num_lists, list_size, distinct_scores)
        for metric in oracle.values():
            metric.update_state(graded, scores)
        card.update(graded, scores, ties.draw(graded.shape))
    expected = {name: float(ops.convert_to_numpy(metric.result())) for name, metric in oracle.items()}
    result = card.result()
    assert result["lists"] == 21
    for key in RANK_METRIC_KEYS:
        assert result[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-7), key


def test_two_scorers_see_the_same_ties_as_their_own_keras_rs_metrics_would():
    rng = np.random.default_rng(5)
    graded, scores = random_lists(rng, 6, 25, 2)
    ties = TieBreaks().draw(graded.shape)
    first, second = RankScorecard(), RankScorecard()
    first.update(graded, scores, ties)
    second.update(graded, -scores, ties)
    for card, sign in ((first, 1), (second, -1)):
        oracle = oracle_metrics()
        for metric in oracle.values():
            metric.update_state(graded, sign * scores)
        for key in RANK_METRIC_KEYS:
            assert card.result()[key] == pytest.approx(float(ops.convert_to_numpy(oracle[key].result())), rel=1e-6)


def test_ranks_count_higher_scores_then_ties_by_noise_then_position():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1]], dtype=np.float32)
    noise = np.array([[0.3, 0.0, 0.1, 0.3, 0.0]], dtype=np.float32)
    # Item 0 ties with 2 (lower noise, first) and 3 (same noise, later position): rank 1 + 1 + 1.
    ranks = relevant_ranks(scores, np.array([0, 0, 0, 0]), np.array([0, 2, 3, 4]), noise)
    np.testing.assert_array_equal(ranks, [3, 2, 4, 5])


def test_a_list_without_a_relevant_item_is_refused():
    graded = np.array([[0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="Every list must hold a relevant item"):
        RankScorecard().update(graded, np.zeros_like(graded), TieBreaks().draw(graded.shape))
