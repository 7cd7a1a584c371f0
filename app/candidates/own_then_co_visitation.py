"""The visitor's own items first, then the items co-visited with them."""

import numpy as np

from app.candidates.co_visitation import DEFAULT_WINDOW_HOURS, CoVisitation
from app.candidates.history import DEFAULT_HALF_LIFE_HOURS
from app.candidates.own_items import OwnItems
from datasets.actions import DEFAULT_LOSS_WEIGHTS


class OwnThenCoVisitation:
    """Own items (recency x action weight, `OwnItems`) above every other item, the rest by `CoVisitation`.

    Scores: `1 + own` for the history's items, `co / (max co + 1)` (below 1) for the others.

    Args:
        catalog: the training `ItemCatalog`.
        window_hours, max_lag: `CoVisitation`'s.
        action_weights: weight of (transaction, addtocart, view), for both parts.
        half_life_hours: age at which a history event counts half, for both parts.
    """

    def __init__(self, catalog, window_hours=DEFAULT_WINDOW_HOURS, max_lag=20, action_weights=DEFAULT_LOSS_WEIGHTS,
                 half_life_hours=DEFAULT_HALF_LIFE_HOURS):
        self.own_items = OwnItems(catalog, action_weights, half_life_hours)
        self.co_visitation = CoVisitation(catalog, window_hours, max_lag, action_weights, half_life_hours)

    def fit(self, store):
        self.co_visitation.fit(store)
        return self

    def score(self, features):
        """float32 `[V, I]`."""
        own = self.own_items.score(features).astype(np.float64)  # [V, I]
        co = self.co_visitation.score(features).astype(np.float64)  # [V, I]
        rest = co / (co.max(axis=1, keepdims=True) + 1.0)  # [V, I] in [0, 1)
        return np.where(own > 0, 1.0 + own, rest).astype(np.float32)
