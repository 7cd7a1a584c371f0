"""The list protocol's heuristic baselines, by hand."""

import numpy as np
import pytest

from app.evaluation.baselines import history_recency_scores
from datasets.actions import TRANSACTION, VIEW

HALF_LIFE = 10.0


def features():
    """One visitor: a transaction of item 7 (category 3) 10 h ago, a view of item 8 (category 3) now, padding."""
    return {
        "history_item_id": np.array([[0, 7, 8]]),  # [1, S]
        "history_category_id": np.array([[0, 3, 3]]),  # [1, S]
        "history_action": np.array([[0, TRANSACTION, VIEW]]),  # [1, S]
        "history_age_hours": np.array([[0.0, 10.0, 0.0]]),  # [1, S]
        "candidate_item_id": np.array([[7, 8, 9, 5]]),  # [1, C]
        "candidate_category_id": np.array([[3, 3, 3, 0]]),  # item 5's category is unknown
    }


def test_history_recency_counts_the_candidates_own_events_by_action_and_age():
    scores = history_recency_scores(features(), action_weights=(10.0, 3.0, 1.0), half_life_hours=HALF_LIFE)
    np.testing.assert_allclose(scores, [[10.0 * 0.5, 1.0, 0.0, 0.0]])


@pytest.mark.parametrize("chunk_size", [1, 1024])
def test_category_weight_adds_the_other_items_of_the_candidates_category(chunk_size):
    scores = history_recency_scores(features(), action_weights=(10.0, 3.0, 1.0), half_life_hours=HALF_LIFE,
                                    category_weight=0.1, chunk_size=chunk_size)
    # Item 7: its own transaction (5) plus item 8's view at 0.1; item 9 only category events; item 5 (category
    # 0, unknown) matches nothing, although padding has category 0 too.
    np.testing.assert_allclose(scores, [[5.0 + 0.1, 1.0 + 0.1 * 5.0, 0.1 * (5.0 + 1.0), 0.0]], rtol=1e-6)
