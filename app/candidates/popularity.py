"""The training split's most popular items, the same for every visitor."""

import numpy as np

from app.candidates.history import catalogue_slots
from datasets.actions import DEFAULT_LOSS_WEIGHTS, weights_by_action_id


def action_weighted_counts(store, catalog, action_weights):
    """float64 `[I]`: each catalogue item's own events in `store`, each counted with its action's weight."""
    index, _ = store.own_event_index()  # [N]
    slot, known = catalogue_slots(catalog, store.item_id[index])  # [N], [N]
    weight = weights_by_action_id(action_weights)[store.action[index]].astype(np.float64)  # [N]
    return np.bincount(slot[known], weight[known], minlength=catalog.num_items)  # [I]


class Popularity:
    """Scores each item by its action-weighted event count in the training split.

    Args:
        catalog: the training `ItemCatalog`.
        action_weights: weight of (transaction, addtocart, view).
    """

    def __init__(self, catalog, action_weights=DEFAULT_LOSS_WEIGHTS):
        self.catalog = catalog
        self.action_weights = action_weights
        self.counts = None

    def fit(self, store):
        self.counts = action_weighted_counts(store, self.catalog, self.action_weights).astype(np.float32)  # [I]
        return self

    def score(self, features):
        """float32 `[V, I]`."""
        if self.counts is None:
            raise ValueError("Popularity must be fitted (`fit(store)`) before it scores.")
        return np.broadcast_to(self.counts, (len(features["history_item_id"]), self.catalog.num_items))
