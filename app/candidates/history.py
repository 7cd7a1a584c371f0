"""What the generators read from a history: catalogue positions of items, and each event's recency weight."""

import numpy as np

from datasets.actions import weights_by_action_id

DEFAULT_HALF_LIFE_HOURS = 24.0 * 7
"""Half-life of the recency decay: an event a week old counts half."""


def catalogue_slots(catalog, item_id):
    """Position of each item id (any shape) in `catalog.item_id`, and whether it is there at all.

    Returns:
        `(slot, known)`, both of `item_id`'s shape: int64 positions (0 where unknown) and bool.
    """
    item_id = np.asarray(item_id)
    slot = np.clip(np.searchsorted(catalog.item_id, item_id), 0, max(catalog.num_items - 1, 0))
    known = (catalog.item_id[slot] == item_id) & (item_id > 0) if catalog.num_items else np.zeros(item_id.shape, bool)
    return np.where(known, slot, 0), known


def event_weights(features, action_weights=None, half_life_hours=DEFAULT_HALF_LIFE_HOURS):
    """float32 `[V, S]` weight of each history event: `2^(-age / half_life)`, times its action's weight if given.

    Padding (item 0) weighs 0.
    """
    if not half_life_hours > 0:
        raise ValueError(f"`half_life_hours` must be positive. Received: half_life_hours={half_life_hours}")
    items = np.asarray(features["history_item_id"])  # [V, S]
    weight = np.exp2(-np.asarray(features["history_age_hours"], dtype=np.float32) / np.float32(half_life_hours))
    if action_weights is not None:
        weight = weights_by_action_id(action_weights)[np.asarray(features["history_action"])] * weight  # [V, S]
    return np.where(items > 0, weight, 0.0).astype(np.float32)  # [V, S]


def history_on_catalogue(features, catalog, action_weights=None, half_life_hours=DEFAULT_HALF_LIFE_HOURS):
    """float32 `[V, I]`: each visitor's `event_weights` summed per catalogue item (0 for items not in the history)."""
    slot, known = catalogue_slots(catalog, features["history_item_id"])  # [V, S], [V, S]
    weight = event_weights(features, action_weights, half_life_hours)  # [V, S]
    rows = np.nonzero(known)[0]
    scores = np.zeros((len(slot), catalog.num_items), dtype=np.float32)  # [V, I]
    np.add.at(scores, (rows, slot[known]), weight[known])
    return scores
