"""Phoenix's two stages: retrieval narrows the catalogue, the cached ranker orders what is left."""

import numpy as np

from app.candidates.history import catalogue_slots
from app.ranker.actions import numpy_probabilities_and_scores
from app.ranker.cached_ranker import CachedRanker

DEFAULT_RETRIEVED = 200
"""Items the retrieval stage passes to the ranker, before the visitor's own history items are added."""


def distinct_history_items(history_item_id):
    """int32 `[B, S]`: each row's distinct history items, most recent first, padded with 0 at the end."""
    history = np.asarray(history_item_id)[:, ::-1]  # [B, S] most recent first
    out = np.zeros(history.shape, dtype=np.int32)  # [B, S]
    for row, items in enumerate(history):
        items = items[items > 0]
        _, first = np.unique(items, return_index=True)
        distinct = items[np.sort(first)]
        out[row, : distinct.size] = distinct
    return out


def shortlist_with_history(retrieved, history_item_id):
    """int32 `[B, K + S]`: each row's distinct history items (most recent first), then its retrieved items that
    are not among them, padded with 0 at the end."""
    history = distinct_history_items(history_item_id)  # [B, S]
    shortlist = np.zeros((len(retrieved), retrieved.shape[1] + history.shape[1]), dtype=np.int32)  # [B, K + S]
    for row, (own, found) in enumerate(zip(history, retrieved)):
        own = own[own > 0]
        items = np.concatenate([own, found[~np.isin(found, own)]])
        shortlist[row, : items.size] = items
    return shortlist


def scores_on_catalogue(catalog, items, scores, outside):
    """float32 `[B, I]`: the `scores [B, M]` of the candidates `items [B, M]` (0 = padding) in `catalog.item_id`
    order, `outside` for every item that is not a candidate."""
    on_catalogue = np.full((len(items), catalog.num_items), outside, dtype=np.float32)  # [B, I]
    slot, known = catalogue_slots(catalog, items)  # [B, M], [B, M]
    rows = np.nonzero(known)[0]
    on_catalogue[rows, slot[known]] = scores[known]
    return on_catalogue


class CatalogueRanker:
    """Scores items for visitors with a ranker: every catalogue item, or a two-stage shortlist.

    Without a retriever every catalogue item is a candidate (the exhaustive
    path). With one, the candidates are the retriever's `retrieved` best items
    plus the visitor's own history items (re-interaction dominates this data,
    and a retriever can miss them), without repeats; the `CachedRanker` scores
    them, encoding each history once.

    Args:
        ranker: a `PhoenixRanker`.
        catalog: the `ItemCatalog` whose items are ranked (ids and categories).
        retriever: a `RetrievalModel`, or None for the exhaustive path.
        retrieved: items the retriever passes on.
        action_weights: the ranking score's action weights.
        chunk_size: candidates per compiled ranker call.
    """

    def __init__(self, ranker, catalog, action_weights, retriever=None, retrieved=DEFAULT_RETRIEVED,
                 chunk_size=1024):
        self.catalog = catalog
        self.action_weights = tuple(action_weights)
        self.retriever = retriever
        self.retrieved = min(retrieved, catalog.num_items)
        self.cached = CachedRanker(ranker, chunk_size=chunk_size)
        self.index = None
        if retriever is not None:
            self.index = retriever.retrieval_index(catalog.item_id, catalog.category_id, self.retrieved)

    def candidates(self, features):
        """int32 `[B, M]` candidate item ids per visitor, 0 on padding (the whole catalogue without a retriever)."""
        batch = len(features["visitor_id"])
        if self.retriever is None:
            return np.broadcast_to(self.catalog.item_id, (batch, self.catalog.num_items))
        users = self.retriever.user_embeddings(features, batch_size=max(batch, 1))  # [B, D]
        retrieved = np.asarray(self.index.predict_on_batch(users)[1], dtype=np.int32)  # [B, K]
        return shortlist_with_history(retrieved, features["history_item_id"])

    def score(self, features, candidates=None, candidate_features=None):
        """`(candidates [B, M], probabilities [B, M, A], scores [B, M])`; padding candidates score -inf.

        `candidates` `[B, M]` replaces the shortlist (`candidates(features)`) when given; `candidate_features`
        `[B, M, F']` goes to a ranker built to take them.
        """
        items = np.asarray(self.candidates(features) if candidates is None else candidates, dtype=np.int32)
        cache = self.cached.encode(features)
        logits = self.cached.score(cache, features, items, self.catalog.categories(items), candidate_features)
        probabilities, scores = numpy_probabilities_and_scores(logits, self.action_weights)
        return items, probabilities, np.where(items > 0, scores, -np.inf).astype(np.float32)
