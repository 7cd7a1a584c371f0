"""The visitor's own items: what they touched, most recent (and strongest) first."""

from app.candidates.history import DEFAULT_HALF_LIFE_HOURS, history_on_catalogue


class OwnItems:
    """Scores each catalogue item by the visitor's events on it: the sum of their recency decays, each times its
    action's weight when `action_weights` are given (recency x action weight), else 1 (recency alone).

    Items the history never touched score 0. Nothing is learned: `fit` only checks its input.

    Args:
        catalog: the training `ItemCatalog` (the item axis of the scores).
        action_weights: weight of (transaction, addtocart, view), or `None`.
        half_life_hours: age at which an event counts half.
    """

    def __init__(self, catalog, action_weights=None, half_life_hours=DEFAULT_HALF_LIFE_HOURS):
        self.catalog = catalog
        self.action_weights = action_weights
        self.half_life_hours = half_life_hours

    def fit(self, store):
        return self

    def score(self, features):
        """float32 `[V, I]`."""
        return history_on_catalogue(features, self.catalog, self.action_weights, self.half_life_hours)
