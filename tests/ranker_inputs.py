"""Ranker inputs around given item ids, for the model tests: the rest of each slot drawn at random."""

import numpy as np


def ranker_inputs(rng, history_item, candidate_item, categories, max_age_hours, visitors=10_000,
                  pad_candidate_categories=False):
    """The seven ranker inputs for item ids `[B, S]` and `[B, C]` (0 = padding).

    Drawn in this order: visitors from `[1, visitors)`, history categories from `[1, categories)`, actions from the
    three kinds, ages from `[0, max_age_hours)`, candidate categories. History padding keeps 0 in every history
    input; `pad_candidate_categories` gives padded candidates category 0 too.
    """
    batch, history = history_item.shape
    valid = history_item > 0  # [B, S]
    inputs = {
        "visitor_id": rng.integers(1, visitors, batch).astype("int32"),
        "history_item_id": history_item.astype("int32"),
        "history_category_id": np.where(valid, rng.integers(1, categories, (batch, history)), 0).astype("int32"),
        "history_action": np.where(valid, rng.integers(1, 4, (batch, history)), 0).astype("int32"),
        "history_age_hours": np.where(valid, rng.random((batch, history)) * max_age_hours, 0).astype("float32"),
        "candidate_item_id": candidate_item.astype("int32"),
    }
    candidate_category = rng.integers(1, categories, candidate_item.shape)  # [B, C]
    if pad_candidate_categories:
        candidate_category = np.where(candidate_item > 0, candidate_category, 0)
    inputs["candidate_category_id"] = candidate_category.astype("int32")
    return inputs
