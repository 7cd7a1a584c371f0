"""Baseline scorers, run on exactly the candidate lists the model ranks."""

import numpy as np

from app.candidates.history import DEFAULT_HALF_LIFE_HOURS, event_weights
from datasets.actions import DEFAULT_LOSS_WEIGHTS


def random_scores(candidate_item_id, seed=0):
    """Uniform random scores `[N, C]`, fixed by `seed`."""
    return np.random.default_rng(seed).random(np.shape(candidate_item_id), dtype=np.float32)


def popularity_scores(candidate_item_id, item_ids, item_popularity):
    """Each candidate's training-split popularity, 0 for items never seen in training.

    Args:
        candidate_item_id: `[N, C]` candidate item ids.
        item_ids: `[I]` sorted catalog item ids.
        item_popularity: `[I]` popularity of each catalog item (action-weighted counts).

    Returns:
        `[N, C]` float32 scores.
    """
    candidate_item_id = np.asarray(candidate_item_id)
    slot = np.clip(np.searchsorted(item_ids, candidate_item_id), 0, len(item_ids) - 1)  # [N, C]
    known = item_ids[slot] == candidate_item_id  # [N, C]
    return np.where(known, item_popularity[slot], 0.0).astype(np.float32)


def action_weighted_popularity(counts, action_weights=DEFAULT_LOSS_WEIGHTS):
    """Popularity `[I]` from per-action counts `[I, A]` (transaction, addtocart, view)."""
    return np.asarray(counts, dtype=np.float64) @ np.asarray(action_weights, dtype=np.float64)


def history_recency_scores(
    features,
    action_weights=DEFAULT_LOSS_WEIGHTS,
    half_life_hours=DEFAULT_HALF_LIFE_HOURS,
    category_weight=0.0,
    chunk_size=1024,
):
    """Sum over the visitor's history events that match a candidate: action weight x recency decay.

    An event of the candidate itself matches with weight 1; with
    `category_weight` > 0, an event of another item in the candidate's
    (known, nonzero) category matches with that weight. A candidate nothing in
    the history matches scores 0. Uses only the model's own input features, so
    it sees exactly the history the model sees.

    Args:
        features: the model's input dict (numpy): `history_item_id`,
            `history_action`, `history_age_hours` `[N, S]`, `candidate_item_id`
            `[N, C]`; with `category_weight` also `history_category_id` `[N, S]`
            and `candidate_category_id` `[N, C]`.
        action_weights: weight of (transaction, addtocart, view).
        half_life_hours: age at which an event counts half.
        category_weight: weight of a same-category event of another item.
        chunk_size: lists scored at a time (bounds memory at `chunk * C * S`).

    Returns:
        `[N, C]` float32 scores.
    """
    history_item = np.asarray(features["history_item_id"])  # [N, S]
    candidate_item = np.asarray(features["candidate_item_id"])  # [N, C]
    if category_weight > 0:
        history_category = np.asarray(features["history_category_id"])  # [N, S]
        candidate_category = np.asarray(features["candidate_category_id"])  # [N, C]
    event_value = event_weights(features, action_weights, half_life_hours)  # [N, S], 0 on padding
    scores = np.zeros(candidate_item.shape, dtype=np.float32)  # [N, C]
    for start in range(0, len(candidate_item), chunk_size):
        rows = slice(start, start + chunk_size)
        match = (candidate_item[rows, :, None] == history_item[rows, None, :]).astype(np.float32)  # [n, C, S]
        if category_weight > 0:
            same_category = (candidate_category[rows, :, None] == history_category[rows, None, :]) & (
                candidate_category[rows, :, None] > 0
            )  # [n, C, S]
            match = np.where(match > 0, match, category_weight * same_category)  # [n, C, S]
        scores[rows] = np.einsum("ncs,ns->nc", match, event_value[rows])  # [n, C]
    return scores
