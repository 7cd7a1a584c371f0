"""The popular items of the visitor's own categories."""

import numpy as np

from app.candidates.popularity import action_weighted_counts
from datasets.actions import DEFAULT_LOSS_WEIGHTS


class CategoryPopularity:
    """The history's categories by their number of events, each category's items by training popularity.

    Score: the events of the history in the item's (known) category, plus the item's popularity scaled below 1,
    so items of the visitor's most-visited category come first, then those of the next category, then the items
    of every other category, each group by popularity.

    Args:
        catalog: the training `ItemCatalog` (each item's category is its latest known one).
        action_weights: weight of (transaction, addtocart, view) in the popularity.
    """

    def __init__(self, catalog, action_weights=DEFAULT_LOSS_WEIGHTS):
        self.catalog = catalog
        self.action_weights = action_weights
        self.popularity = None

    def fit(self, store):
        counts = action_weighted_counts(store, self.catalog, self.action_weights)  # [I]
        self.popularity = counts / (counts.max(initial=0.0) + 1.0)  # [I] in [0, 1)
        return self

    def score(self, features):
        """float32 `[V, I]`."""
        if self.popularity is None:
            raise ValueError("CategoryPopularity must be fitted (`fit(store)`) before it scores.")
        history_category = np.asarray(features["history_category_id"])  # [V, S]
        item_category = self.catalog.category_id  # [I]
        num_categories = int(max(history_category.max(initial=0), item_category.max(initial=0))) + 1
        known = (history_category > 0) & (np.asarray(features["history_item_id"]) > 0)  # [V, S]
        visits = np.zeros((len(history_category), num_categories))  # [V, K]
        np.add.at(visits, (np.nonzero(known)[0], history_category[known]), 1.0)
        visits[:, 0] = 0.0  # an unknown category matches nothing
        return (visits[:, item_category] + self.popularity).astype(np.float32)  # [V, I]
