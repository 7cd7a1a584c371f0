"""Exact ranking metrics from the rank of each relevant item, for lists as long as the whole catalogue.

Sorting every scorer's `[n, I]` block once per metric (what the keras-rs metrics do) is the slow part of the
catalogue protocol. The metrics only need the rank of each relevant item: one plus the items scoring higher, plus
the tied items the tie-break puts first. Ties are broken as the keras-rs metrics (and `HitRate`) break them
today: by uniform noise from a `SeedGenerator(TIE_SEED)` of the list's shape, then by position, with one draw per
update for HR and MRR and two for NDCG (its ideal ordering draws too), so the figures are the keras-rs metrics'
(the test keeps them as the oracle).
"""

import keras
import numpy as np
from keras import ops

from app.ranker.metrics import TIE_SEED

RANK_METRIC_KEYS = ("ndcg@10", "hr@10", "mrr", "ndcg@20", "hr@20", "mrr@20")
"""What `RankScorecard.result` reports, in this order."""


class TieBreaks:
    """The tie-breaking noise of each update, drawn as the keras-rs metrics draw it.

    One instance serves every scorer of an evaluation: each scorer's keras-rs metrics would have started from
    the same seed and drawn the same noise at the same update.
    """

    def __init__(self, seed=TIE_SEED):
        self._first_relevant = keras.random.SeedGenerator(seed)  # HR and MRR: one draw per update
        self._gain = keras.random.SeedGenerator(seed)  # NDCG: two draws per update, the first orders the scores

    def draw(self, shape):
        """`(first_relevant [n, C], gain [n, C])` float32 noise for the next update of lists of `shape`."""
        first_relevant = ops.convert_to_numpy(keras.random.uniform(shape, seed=self._first_relevant))
        gain = ops.convert_to_numpy(keras.random.uniform(shape, seed=self._gain))
        keras.random.uniform(shape, seed=self._gain)  # the ideal ordering's draw: ties of equal gains change nothing
        return first_relevant, gain


RANKED_AT_ONCE = 256
"""Relevant items ranked at a time: memory is `RANKED_AT_ONCE * C` of each temporary."""


def relevant_ranks(scores, relevant_rows, relevant_columns, noise):
    """1-based rank of each relevant item in its list, ties broken by lower `noise`, then lower position.

    Args:
        scores: `[n, C]` float32 scores of every item of each list.
        relevant_rows, relevant_columns: `[M]` where the relevant items are.
        noise: `[n, C]` tie-breaking noise (`TieBreaks.draw`).

    Returns:
        `[M]` int64 ranks.
    """
    return np.concatenate([
        _ranks(scores, relevant_rows[start:start + RANKED_AT_ONCE], relevant_columns[start:start + RANKED_AT_ONCE],
               noise)
        for start in range(0, len(relevant_rows), RANKED_AT_ONCE)
    ] or [np.zeros(0, dtype=np.int64)])


def _ranks(scores, relevant_rows, relevant_columns, noise):
    own_score = scores[relevant_rows, relevant_columns][:, None]  # [M, 1]
    own_noise = noise[relevant_rows, relevant_columns][:, None]  # [M, 1]
    row_scores, row_noise = scores[relevant_rows], noise[relevant_rows]  # [M, C], [M, C]
    before = np.arange(scores.shape[1])[None, :] < relevant_columns[:, None]  # [M, C]
    tied_first = (row_scores == own_score) & ((row_noise < own_noise) | ((row_noise == own_noise) & before))
    return 1 + np.count_nonzero(row_scores > own_score, axis=1) + np.count_nonzero(tied_first, axis=1)  # [M]


def _gain(grade):
    return np.exp2(grade.astype(np.float64)) - 1.0


def _discount(rank):
    return 1.0 / np.log2(rank + 1.0)


class RankScorecard:
    """Accumulates NDCG@10/20, HR@10/20, MRR and MRR@20 of one scorer, chunk by chunk.

    Conventions of the keras-rs metrics: gain `2^grade - 1`, discount `1 / log2(1 + rank)`, a list's MRR from its
    first relevant item (grade >= 1), every list weighted 1. Every list must hold a relevant item.
    """

    def __init__(self):
        self.sums = dict.fromkeys(RANK_METRIC_KEYS, 0.0)
        self.lists = 0

    def update(self, graded, scores, tie_breaks):
        """Adds the lists `graded [n, C]` (grade > 0 is relevant) ranked by `scores [n, C]`.

        Args:
            tie_breaks: this update's `TieBreaks.draw(graded.shape)`.
        """
        num_lists = len(graded)
        rows, columns = np.nonzero(graded > 0)  # [M], [M]
        if len(np.unique(rows)) != num_lists:
            raise ValueError("Every list must hold a relevant item (a grade above 0).")
        scores = np.asarray(scores, dtype=np.float32)
        first_relevant_noise, gain_noise = tie_breaks
        grades = graded[rows, columns]  # [M]

        first_rank = np.full(num_lists, np.inf)  # [n]
        np.minimum.at(first_rank, rows, relevant_ranks(scores, rows, columns, first_relevant_noise))
        self.sums["hr@10"] += np.count_nonzero(first_rank <= 10)
        self.sums["hr@20"] += np.count_nonzero(first_rank <= 20)
        self.sums["mrr"] += np.sum(1.0 / first_rank)
        self.sums["mrr@20"] += np.sum(np.where(first_rank <= 20, 1.0 / first_rank, 0.0))

        gain_rank = relevant_ranks(scores, rows, columns, gain_noise)  # [M]
        by_gain = np.lexsort((-grades, rows))  # [M] each list's relevant items, best grade first
        ideal_rank = np.empty(len(rows), dtype=np.int64)  # [M]
        ideal_rank[by_gain] = np.arange(len(rows)) - np.searchsorted(rows[by_gain], rows[by_gain]) + 1
        for k in (10, 20):
            dcg = np.bincount(rows, np.where(gain_rank <= k, _gain(grades) * _discount(gain_rank), 0.0),
                              minlength=num_lists)  # [n]
            ideal = np.bincount(rows, np.where(ideal_rank <= k, _gain(grades) * _discount(ideal_rank), 0.0),
                                minlength=num_lists)  # [n]
            self.sums[f"ndcg@{k}"] += np.sum(dcg / ideal)
        self.lists += num_lists

    def result(self):
        """`{metric: mean over the lists}` in `RANK_METRIC_KEYS` order, and `lists`."""
        return {**{key: self.sums[key] / max(self.lists, 1) for key in RANK_METRIC_KEYS}, "lists": self.lists}
