"""Full-catalogue recall@K of the retrieval model beside the popularity and history baselines."""

import dataclasses

import numpy as np

from app.two_stage.catalogue_ranker import shortlist_with_history

RECALL_KS = (10, 50, 100, 200, 500)
"""The cut-offs of every retrieval report."""


@dataclasses.dataclass(frozen=True, eq=False)
class RetrievalQueries:
    """One query per visitor with events in a validation or test split, in visitor id order.

    Args:
        features: the user features (numpy, leading axis `V`): `visitor_id [V]` and the history
            `history_* [V, S]`, the visitor's last `S` events before the split (most recent last), ages
            in hours from the visitor's first event in the split; as in the ranker's evaluation lists.
        target_offsets: int64 `[V + 1]`, visitor `v`'s targets are `target_item_id[offsets[v]:offsets[v+1]]`.
        target_item_id: int32, each visitor's distinct items of the split.
        target_grade: int32, beside `target_item_id`: the strongest action on that item in the split, which is
            also its graded relevance (1 view, 2 addtocart, 3 transaction).
    """

    features: dict
    target_offsets: np.ndarray
    target_item_id: np.ndarray
    target_grade: np.ndarray

    @property
    def num_visitors(self):
        return int(self.target_offsets.size - 1)

    @property
    def target_counts(self):
        return np.diff(self.target_offsets)

    def statistics(self, catalog):
        """JSON-able facts about the queries: how many targets any catalogue retrieval can reach at all."""
        visitor = np.repeat(np.arange(self.num_visitors), self.target_counts)  # [M]
        history = self.features["history_item_id"]  # [V, S]
        in_history = (history[visitor] == self.target_item_id[:, None]).any(axis=1)  # [M]
        in_catalog = np.isin(self.target_item_id, catalog.item_id)  # [M]
        return {
            "visitors": self.num_visitors,
            "targets": int(self.target_item_id.size),
            "mean_history_events": float((history > 0).sum(axis=1).mean()),
            "recall_ceiling_catalog": float(_mean_by_visitor(in_catalog, visitor, self.target_counts)),
            "share_of_targets_in_history": float(_mean_by_visitor(in_history, visitor, self.target_counts)),
        }

    @classmethod
    def build(cls, store, history_length):
        """The queries of every record of `store` with at least one own event."""
        if int(history_length) != history_length or history_length < 1:
            raise ValueError(f"`history_length` must be an integer >= 1. Received: history_length={history_length}")
        records = np.flatnonzero(store.own_event_counts > 0)  # [V]
        if records.size == 0:
            raise ValueError(
                f"No record of the store has an event in its split. Received: {store.num_visitors} records"
            )
        reference_ms = store.timestamp_ms[store.own_start[records]]  # [V]
        features = store.model_features(records, store.own_start[records], history_length, reference_ms)
        event_index, event_record = store.own_event_index(records)  # [N]
        pairs, pair_of_event = np.unique(
            np.stack([event_record, store.item_id[event_index].astype(np.int64)]), axis=1, return_inverse=True
        )  # [2, M], [N]
        grade = np.zeros(pairs.shape[1], dtype=np.int32)  # [M]
        np.maximum.at(grade, pair_of_event.ravel(), store.action[event_index])
        counts = np.bincount(np.searchsorted(records, pairs[0]), minlength=records.size)  # [V]
        return cls(
            features=features,
            target_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            target_item_id=pairs[1].astype(np.int32),
            target_grade=grade,
        )

    def select(self, visitors):
        """The queries of the visitors at positions `visitors` (ascending), e.g. a chunk or a fixed subset."""
        visitors = np.asarray(visitors, dtype=np.int64)
        starts, counts = self.target_offsets[visitors], self.target_counts[visitors]
        targets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())  # [m]
        return RetrievalQueries(
            features={name: value[visitors] for name, value in self.features.items()},
            target_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            target_item_id=self.target_item_id[targets],
            target_grade=self.target_grade[targets],
        )


def _mean_by_visitor(values, visitor, counts):
    """Mean over visitors of each visitor's mean of `values` `[M]`."""
    return np.mean(np.bincount(visitor, weights=values, minlength=counts.size) / counts)


def recall_at_k(top_items, queries, ks=RECALL_KS):
    """Recall@K of ranked item lists, averaged over visitors.

    Args:
        top_items: int `[V, K_max]` each visitor's retrieved items, best first, without repeats (0 pads).
        queries: the `RetrievalQueries` they answer.
        ks: cut-offs, each at most `K_max`.

    Returns:
        `{"recall@K": mean over visitors of |top-K ∩ targets| / |targets|, ..., "visitors": V}`.
    """
    top_items = np.asarray(top_items)
    if top_items.shape[0] != queries.num_visitors or max(ks) > top_items.shape[1]:
        raise ValueError(
            f"Expected top items [{queries.num_visitors}, >= {max(ks)}]. Received: top_items.shape={top_items.shape}"
        )
    visitor = np.repeat(np.arange(queries.num_visitors, dtype=np.int64), queries.target_counts)  # [M]
    target_keys = np.sort((visitor << 32) | queries.target_item_id.astype(np.int64))  # [M]
    top_keys = (np.arange(queries.num_visitors, dtype=np.int64)[:, None] << 32) | top_items.astype(np.int64)
    position = np.minimum(np.searchsorted(target_keys, top_keys), target_keys.size - 1)  # [V, K_max]
    hits = np.cumsum((target_keys[position] == top_keys) & (top_items > 0), axis=1)  # [V, K_max]
    report = {f"recall@{k}": float(np.mean(hits[:, k - 1] / queries.target_counts)) for k in ks}
    report["visitors"] = queries.num_visitors
    return report


def popularity_order(catalog):
    """int32 `[I]` catalog item ids, most train events first, ties by item id."""
    return catalog.item_id[np.argsort(-catalog.popularity, kind="stable")]


def popularity_top_items(queries, catalog, k):
    """int32 `[V, k]`: the `k` most popular train items, the same for every visitor."""
    return np.broadcast_to(popularity_order(catalog)[:k], (queries.num_visitors, k))


def history_then_popularity_top_items(queries, catalog, k):
    """int32 `[V, k]`: each visitor's distinct history items, most recent first, then the most popular others."""
    history = queries.features["history_item_id"]  # [V, S]
    popular = popularity_order(catalog)[: k + history.shape[1]]  # [k + S]: k left after the own items are taken out
    shortlist = shortlist_with_history(np.broadcast_to(popular, (queries.num_visitors, popular.size)), history)
    return shortlist[:, :k]


def model_top_items(model, queries, catalog, k, batch_size=512):
    """int32 `[V, k]`: the model's `k` best catalog items per visitor.

    The catalogue is embedded once (`RetrievalModel.retrieval_index`, a
    `keras_rs.layers.BruteForceRetrieval`) and every visitor's user embedding
    is scored against all of it.
    """
    index = model.retrieval_index(catalog.item_id, catalog.category_id, k, batch_size=max(batch_size, 4096))
    users = model.user_embeddings(queries.features, batch_size=batch_size)  # [V, D]
    top = [np.asarray(index.predict_on_batch(users[start : start + batch_size])[1])
           for start in range(0, len(users), batch_size)]
    return np.concatenate(top).astype(np.int32)  # [V, k]


def model_recall(model, queries, catalog, ks=RECALL_KS, batch_size=512):
    """The model's recall entry `R` (see `recall_at_k`) over the whole catalog."""
    return recall_at_k(model_top_items(model, queries, catalog, max(ks), batch_size), queries, ks)


def baseline_recalls(queries, catalog, ks=RECALL_KS):
    """`{"popularity": R, "history_then_popularity": R}` on the same visitors and histories as the model."""
    return {
        "popularity": recall_at_k(popularity_top_items(queries, catalog, max(ks)), queries, ks),
        "history_then_popularity": recall_at_k(
            history_then_popularity_top_items(queries, catalog, max(ks)), queries, ks
        ),
    }


def evaluate_retrieval(model, queries, catalog, ks=RECALL_KS, batch_size=512):
    """`{"model": R, "baselines": {"popularity": R, "history_then_popularity": R}}`, JSON-able."""
    return {
        "model": model_recall(model, queries, catalog, ks, batch_size),
        "baselines": baseline_recalls(queries, catalog, ks),
    }
