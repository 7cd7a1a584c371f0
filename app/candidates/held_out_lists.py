"""Out-of-sample shortlists to learn a reranker from: the union shortlists of held-out training events.

Each visitor's last training events are held out (`datasets.held_out`); the shortlist generators and their
catalogue are fitted on the events before them, and each held-out visitor's shortlist is labelled by the actions
of its held-out events. These are lists of the kind scored at validation time, with nothing of their targets in
what shortlisted them. `cuts > 1` cuts the earlier events again, for more lists: the second cut's targets are the
events just before the first cut's, its generators fitted on the events before those, and so on.
"""

import dataclasses

import numpy as np

from app.candidates.shortlist import UnionShortlister, target_action_labels
from datasets.actions import DEFAULT_LOSS_WEIGHTS
from datasets.event_store import ItemCatalog
from datasets.held_out import held_out_split


@dataclasses.dataclass(frozen=True)
class HeldOutLists:
    """The labelled shortlists of a chunk of `V` held-out visitors.

    Attributes:
        cut: which cut (0: the last events of each visitor held out, 1: the ones before those, ...).
        features: the visitors' model features (`visitor_id [V]`, `history_* [V, S]`: the events before the
            held-out ones, ages from the first held-out event), as validation queries have.
        shortlists: their `Shortlists` (`[V, M]`).
        labels: float32 `[V, M, A]`, 1 where the visitor did action a on the candidate in the held-out events.
        catalog: the `ItemCatalog` of the events before the cut (the shortlists' items).
    """

    cut: int
    features: dict
    shortlists: object
    labels: np.ndarray
    catalog: ItemCatalog


def held_out_lists(store, history_length, top=None, action_weights=DEFAULT_LOSS_WEIGHTS, cuts=1, batch_size=256):
    """Yields the `HeldOutLists` of `store` (the training split's `EventStore`), `batch_size` visitors at a time.

    Args:
        store: the training split's `EventStore`.
        history_length: events of history per visitor, `S`.
        top: `{generator: k}` of the shortlist (`app.candidates.shortlist.DEFAULT_TOP` when None).
        action_weights: the generators' action weights.
        cuts: how many times the events are cut (see the module docstring).
        batch_size: visitors per chunk.
    """
    if int(cuts) != cuts or cuts < 1:
        raise ValueError(f"`cuts` must be an integer >= 1. Received: cuts={cuts}")
    remaining = store
    for cut in range(cuts):
        split = held_out_split(remaining)
        catalog = ItemCatalog.from_store(split.earlier)
        shortlister = UnionShortlister(catalog, top, action_weights).fit(split.earlier)
        held_out = split.held_out
        records = np.flatnonzero(held_out.own_event_counts > 0)  # [V]
        for start in range(0, records.size, batch_size):
            chunk = records[start:start + batch_size]
            first = held_out.own_start[chunk]  # [n] each visitor's first held-out event
            features = held_out.model_features(chunk, first, history_length, held_out.timestamp_ms[first])
            shortlists = shortlister.shortlists(features)
            labels = target_action_labels(held_out, features["visitor_id"], shortlists.item_id)  # [n, M, A]
            yield HeldOutLists(cut, features, shortlists, labels, catalog)
        remaining = split.earlier
