"""The ranker's shortlist on visitor data: the union of several generators' top items, and beside every candidate
each generator's score and rank, the features a ranker trained on its real lists reads."""

from dataclasses import dataclass

import numpy as np

from app.candidates.category_popularity import CategoryPopularity
from app.candidates.co_visitation import CoVisitation
from app.candidates.own_items import OwnItems
from app.candidates.popularity import Popularity
from datasets.actions import DEFAULT_LOSS_WEIGHTS, NUM_ACTIONS, label_column

DEFAULT_TOP = {"own_items": 50, "co_visitation": 100, "category_popularity": 100, "popularity": 20}
"""How many of each generator's best items enter the shortlist (own items, then co-visited, category, popular)."""

SHORTLIST_GENERATORS = tuple(DEFAULT_TOP)
"""The generators whose union is the shortlist, in feature order."""

NUM_SHORTLIST_FEATURES = 3 * len(SHORTLIST_GENERATORS)
"""Width of `Shortlists.candidate_features()` for the shortlist generators: a ranker's `num_candidate_features`."""


@dataclass(frozen=True)
class Shortlists:
    """The shortlists of `V` visitors, `M` slots each, and every generator's view of each candidate.

    Attributes:
        generators: the `G` generator names, in feature order.
        item_id: int32 `[V, M]`, the candidates (0 = padding, at the end of a row).
        scores: float32 `[V, M, G]`, generator g's score of the candidate; 0 where absent.
        log_ranks: float32 `[V, M, G]`, log of the candidate's rank in generator g's order of the whole catalogue
            (1 = its best item; ties share the best rank); 0 where absent.
        present: bool `[V, M, G]`, whether generator g scores the candidate above 0. An absent feature is not a
            zero score: the ranker is given this mask to learn a value of its own for it.
    """

    generators: tuple
    item_id: np.ndarray
    scores: np.ndarray
    log_ranks: np.ndarray
    present: np.ndarray

    def candidate_features(self):
        """float32 `[V, M, 3G]`, the ranker's outside features: per generator log(1 + score), log rank and
        presence (1 where the generator scores the candidate; where it is 0 the ranker's projection of the presence
        is the learned value of an absent feature)."""
        return np.concatenate([np.log1p(self.scores), self.log_ranks, self.present.astype(np.float32)], axis=-1)

    def reach(self, relevant_item_id):
        """The share of visitors with a relevant item whose shortlist holds at least one of them.

        Args:
            relevant_item_id: int `[V, R]`, each visitor's relevant items (0 = padding).

        Returns:
            `(share, visitors)`: the share (None without any visitor) and how many visitors had a relevant item.
        """
        relevant_item_id = np.asarray(relevant_item_id)
        has_relevant = (relevant_item_id > 0).any(axis=1)  # [V]
        found = (relevant_item_id[:, :, None] == self.item_id[:, None, :]) & (relevant_item_id[:, :, None] > 0)
        hits = found.any(axis=(1, 2)) & has_relevant  # [V]
        visitors = int(has_relevant.sum())
        return (float(hits.sum() / visitors) if visitors else None), visitors


def union_shortlists(score_tables, catalog, top):
    """The union of each generator's `top[name]` best items, deduplicated, with every generator's features.

    A generator proposes only items it scores above 0 (own items propose the history alone); ties are broken by
    catalogue order, so the same scores give the same shortlists. Candidates come in the order of `top`: the first
    generator's items by its rank, then the next generator's items not already in, and so on.

    Args:
        score_tables: `{name: float [V, I]}`, each generator's scores of every item of `catalog.item_id`.
        catalog: the `ItemCatalog` the tables' item axis follows.
        top: `{name: k}`, how many of the best items of each of these generators enter the shortlist; every
            generator of `score_tables` gives features, whether or not it proposes candidates.

    Returns:
        `Shortlists` with `M = sum(top.values())` slots per visitor.
    """
    unknown = sorted(set(top) - set(score_tables))
    if unknown:
        raise ValueError(f"`top` names generators without scores: {unknown}. Expected some of {list(score_tables)}.")
    generators = tuple(score_tables)
    tables = np.stack([np.asarray(score_tables[name], np.float32) for name in generators])  # [G, V, I]
    num_visitors, num_items = tables.shape[1:]
    if num_items != catalog.num_items:
        raise ValueError(f"Score tables have {num_items} items; the catalogue has {catalog.num_items}.")
    size = sum(top.values())
    slots = np.zeros((num_visitors, size), dtype=np.int64)  # [V, M] catalogue positions
    filled = np.zeros((num_visitors, size), dtype=bool)  # [V, M]
    ranks = np.ones((num_visitors, size, len(generators)), dtype=np.int64)  # [V, M, G]
    for row in range(num_visitors):
        orders = [np.argsort(-table[row], kind="stable") for table in tables]  # G x [I], best first
        proposed = []
        for name, k in top.items():
            g = generators.index(name)
            best = orders[g][:k]
            proposed.append(best[tables[g, row, best] > 0])
        proposed = np.concatenate(proposed)
        _, first = np.unique(proposed, return_index=True)
        unique = proposed[np.sort(first)]  # first proposals first
        slots[row, : unique.size], filled[row, : unique.size] = unique, True
        for g, order in enumerate(orders):
            negated = -tables[g, row, order]  # [I], ascending
            ranks[row, :, g] = 1 + np.searchsorted(negated, -tables[g, row, slots[row]], side="left")
    scores = np.stack([np.take_along_axis(table, slots, axis=1) for table in tables], axis=-1)  # [V, M, G]
    present = (scores > 0) & filled[:, :, None]  # [V, M, G]
    return Shortlists(
        generators=generators,
        item_id=np.where(filled, catalog.item_id[slots], 0).astype(np.int32),
        scores=np.where(present, scores, 0.0).astype(np.float32),
        log_ranks=np.where(present, np.log(ranks), 0.0).astype(np.float32),
        present=present,
    )


def shortlist_generators(catalog, action_weights=DEFAULT_LOSS_WEIGHTS):
    """The generators whose union is the shortlist, unfitted, in `SHORTLIST_GENERATORS` order."""
    return {
        "own_items": OwnItems(catalog, action_weights),
        "co_visitation": CoVisitation(catalog, action_weights=action_weights),
        "category_popularity": CategoryPopularity(catalog, action_weights),
        "popularity": Popularity(catalog, action_weights),
    }


class UnionShortlister:
    """The shortlist generators fitted on one store, giving visitors their union shortlists over one catalogue.

    Args:
        catalog: the `ItemCatalog` of the store the generators are fitted on (the items they may propose).
        top: `{generator: k}`, see `DEFAULT_TOP`.
        action_weights: the generators' action weights.
    """

    def __init__(self, catalog, top=None, action_weights=DEFAULT_LOSS_WEIGHTS):
        self.catalog = catalog
        self.top = dict(DEFAULT_TOP if top is None else top)
        self.generators = shortlist_generators(catalog, action_weights)
        self.fitted = False

    @property
    def size(self):
        """Slots of a shortlist, `M`."""
        return sum(self.top.values())

    def fit(self, store):
        """Fits every generator on `store` (an `EventStore`); returns `self`."""
        for generator in self.generators.values():
            generator.fit(store)
        self.fitted = True
        return self

    def shortlists(self, features):
        """The `Shortlists` of a batch of visitors, from their model features (`visitor_id [V]`, `history_*`)."""
        if not self.fitted:
            raise ValueError("UnionShortlister must be fitted (`fit(store)`) before it shortlists.")
        tables = {name: generator.score(features) for name, generator in self.generators.items()}
        return union_shortlists(tables, self.catalog, self.top)


def target_action_labels(store, visitor_id, item_id):
    """float32 `[V, M, A]`: 1 where visitor `visitor_id[v]` did action a (transaction, addtocart, view) on item
    `item_id[v, m]` among the own events of `store` (its target window), as the sampled lists label positives.

    Args:
        store: the `EventStore` of the target events (a validation store, or `held_out_split(...).held_out`).
        visitor_id: int `[V]` visitor ids, each with a record in `store`.
        item_id: int `[V, M]` candidates (0 = padding, never labelled).
    """
    visitor_id, item_id = np.asarray(visitor_id, np.int64), np.asarray(item_id, np.int64)
    record = np.searchsorted(store.visitor_id, visitor_id)  # [V]
    if np.any(record >= store.num_visitors) or np.any(store.visitor_id[record] != visitor_id):
        raise ValueError("Every visitor id must have a record in `store`.")
    events, _ = store.own_event_index(record)  # [N], grouped in `visitor_id` order
    rows = np.repeat(np.arange(len(record)), store.own_event_counts[record])  # [N] row of each event
    keys = rows * 2**32 + store.item_id[events]  # [N] one key per (row, item)
    wanted = np.arange(len(record))[:, None] * 2**32 + item_id  # [V, M]
    bits = np.zeros(wanted.shape, dtype=np.int64)  # [V, M]
    for action in np.unique(store.action[events]):
        with_action = np.unique(keys[store.action[events] == action])  # sorted
        done = np.isin(wanted, with_action) & (item_id > 0)  # [V, M]
        bits |= done.astype(np.int64) << label_column(action)
    return ((bits[:, :, None] >> np.arange(NUM_ACTIONS)) & 1).astype(np.float32)
