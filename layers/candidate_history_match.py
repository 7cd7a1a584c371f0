"""What the history says about each candidate item: how often and how recently it was touched."""

import math

import keras
from keras import ops

from datasets.actions import NUM_ACTIONS
from layers.registration import serializable


@serializable
class CandidateHistoryMatch(keras.layers.Layer):
    """Features of each candidate's own occurrences in the visitor's history.

    Re-interaction dominates e-commerce logs: a visitor's next items are very
    often items they already looked at. A transformer can learn to match a
    candidate against the history through attention, but only slowly; these
    features hand it the match directly. For each candidate and each history
    action (view, addtocart, transaction) they are `log1p(count)` of the
    candidate's history events with that action and their recency
    `1 - log1p(age of the latest) / log1p(max_age_hours)` (0 when none), plus
    whether it occurs at all: `F = 7` features. They depend only on the
    candidate and the history, so candidate isolation holds.

    Args:
        max_age_hours: age whose recency is 0; older events count as 0 too.

    Call arguments:
        candidate_item_id: `[B, C]` candidate item ids (0 is padding).
        history_item_id: `[B, S]` history item ids (0 is padding).
        history_action: `[B, S]` 1 view, 2 addtocart, 3 transaction.
        history_age_hours: `[B, S]` float hours from each event to the ranking moment.

    Returns:
        `[B, C, 7]` float32 features, all 0 for padding candidates.
    """

    num_features = 2 * NUM_ACTIONS + 1

    def __init__(self, max_age_hours=24.0 * 180, **kwargs):
        super().__init__(**kwargs)
        if not max_age_hours > 0:
            raise ValueError(
                f"`max_age_hours` must be positive. Received: max_age_hours={max_age_hours}"
            )
        self.max_age_hours = max_age_hours

    def call(self, candidate_item_id, history_item_id, history_action, history_age_hours):
        same_item = ops.equal(
            ops.expand_dims(candidate_item_id, 2), ops.expand_dims(history_item_id, 1)
        )  # [B, C, S]
        same_item = ops.logical_and(
            same_item, ops.expand_dims(ops.greater(history_item_id, 0), 1)
        )  # [B, C, S]
        age = ops.expand_dims(ops.cast(history_age_hours, "float32"), 1)  # [B, 1, S]
        counts, recencies = [], []
        for action in range(1, NUM_ACTIONS + 1):  # action ids 1 view .. 3 transaction
            with_action = ops.expand_dims(ops.equal(history_action, action), 1)  # [B, 1, S]
            match = ops.logical_and(same_item, with_action)  # [B, C, S]
            count = ops.sum(ops.cast(match, "float32"), axis=-1)  # [B, C]
            latest_age = ops.min(ops.where(match, age, math.inf), axis=-1)  # [B, C]
            recency = 1.0 - ops.log1p(ops.maximum(latest_age, 0.0)) / math.log1p(self.max_age_hours)
            recency = ops.where(count > 0, ops.clip(recency, 0.0, 1.0), 0.0)  # [B, C]
            counts.append(ops.log1p(count))
            recencies.append(recency)
        seen = ops.cast(ops.any(same_item, axis=-1), "float32")  # [B, C]
        return ops.stack(counts + recencies + [seen], axis=-1)  # [B, C, F]

    def compute_output_shape(self, candidate_shape, *history_shapes):
        return (*candidate_shape, self.num_features)

    def get_config(self):
        config = super().get_config()
        config.update({"max_age_hours": self.max_age_hours})
        return config
