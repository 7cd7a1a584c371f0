"""Item-to-item co-visitation: items touched by the same visitor close in time (OTTO's winning candidate source)."""

import numpy as np
import scipy.sparse

from app.candidates.history import DEFAULT_HALF_LIFE_HOURS, catalogue_slots, event_weights
from datasets.actions import DEFAULT_LOSS_WEIGHTS, weights_by_action_id

MS_PER_HOUR = 3_600_000

DEFAULT_WINDOW_HOURS = 24.0
"""Most hours between the two events of a co-visited pair."""


class CoVisitation:
    """Scores items by how often they were touched near the history's items, in the training split.

    `fit` counts every ordered pair `(a, b)` of different catalogue items that one visitor touched at most
    `window_hours` and at most `max_lag` of their events apart, adding the action weight of the event on `b`.
    The table is sparse (`[I, I]`, only pairs that occurred). `score` sums the rows of the history's items, each
    weighted by its event's recency decay: `scores = history [V, I] @ table [I, I]`.

    Args:
        catalog: the training `ItemCatalog` (the item axis of the scores).
        window_hours: most hours between the two events of a pair.
        max_lag: most events between the two events of a pair (bounds the pairs of very long visitors).
        action_weights: weight of (transaction, addtocart, view) of the event on the co-visited item.
        half_life_hours: age at which a history event counts half.
    """

    def __init__(self, catalog, window_hours=DEFAULT_WINDOW_HOURS, max_lag=20, action_weights=DEFAULT_LOSS_WEIGHTS,
                 half_life_hours=DEFAULT_HALF_LIFE_HOURS):
        if not window_hours > 0:
            raise ValueError(f"`window_hours` must be positive. Received: window_hours={window_hours}")
        if int(max_lag) != max_lag or max_lag < 1:
            raise ValueError(f"`max_lag` must be an integer >= 1. Received: max_lag={max_lag}")
        self.catalog = catalog
        self.window_hours = window_hours
        self.max_lag = int(max_lag)
        self.action_weights = action_weights
        self.half_life_hours = half_life_hours
        self.table = None

    def fit(self, store):
        """Counts the pairs of the own events of `store` (the training split); returns `self`."""
        index, record = store.own_event_index()  # [N], [N] time order within each record
        slot, known = catalogue_slots(self.catalog, store.item_id[index])  # [N], [N]
        index, record, slot = index[known], record[known], slot[known]
        time_ms = store.timestamp_ms[index]  # [N]
        weight = weights_by_action_id(self.action_weights)[store.action[index]]  # [N]
        window_ms = self.window_hours * MS_PER_HOUR
        rows, columns, values = [], [], []
        for lag in range(1, self.max_lag + 1):
            first, second = slice(None, -lag), slice(lag, None)
            pair = ((record[first] == record[second]) & (time_ms[second] - time_ms[first] <= window_ms)
                    & (slot[first] != slot[second]))  # [N - lag]
            rows += [slot[first][pair], slot[second][pair]]
            columns += [slot[second][pair], slot[first][pair]]
            values += [weight[second][pair], weight[first][pair]]
        num_items = self.catalog.num_items
        self.table = scipy.sparse.csr_matrix(
            (np.concatenate(values).astype(np.float32),
             (np.concatenate(rows).astype(np.int64), np.concatenate(columns).astype(np.int64))),
            shape=(num_items, num_items),
        )  # [I, I], repeated pairs summed
        return self

    def score(self, features):
        """float32 `[V, I]`."""
        if self.table is None:
            raise ValueError("CoVisitation must be fitted (`fit(store)`) before it scores.")
        slot, known = catalogue_slots(self.catalog, features["history_item_id"])  # [V, S], [V, S]
        weight = event_weights(features, half_life_hours=self.half_life_hours)  # [V, S]
        rows = np.nonzero(known)[0]
        history = scipy.sparse.csr_matrix((weight[known], (rows, slot[known])),
                                          shape=(len(slot), self.catalog.num_items))  # [V, I]
        return (history @ self.table).toarray().astype(np.float32)  # [V, I]
