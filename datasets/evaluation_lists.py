"""Fixed evaluation lists, one per visitor with events in a validation or test split."""

import dataclasses

import numpy as np

from datasets.candidate_lists import RANK_BY_GRADE, CandidateLists
from datasets.negative_sampler import NegativeSampler
from datasets.training_examples import DEFAULT_POPULARITY_ALPHA

_SHUFFLE_STREAM = 1 << 20  # stream id of the shuffle keys, far above any rejection round
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hashed_uniform(seed, visitor_id, slot, stream):
    """float64 uniforms in [0, 1) that depend only on (seed, visitor id, slot, stream).

    A counter-based generator: a visitor's list is the same whatever other visitors the split holds and
    however the lists are chunked.
    """
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _GOLDEN + _mix(np.asarray(visitor_id).astype(np.uint64)))
        key = _mix(key ^ (np.asarray(slot).astype(np.uint64) * _GOLDEN))
        key = _mix(key ^ (np.asarray(stream).astype(np.uint64) + _GOLDEN))
    return (key >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationLists:
    """Precomputed ranking lists of one split, in a fixed order (visitor id).

    Args:
        features: the model's input dict of numpy arrays with leading axis `N` (lists).
        labels: float32 `[N, L, A]`.
        mask: float32 `[N, L]`.
        statistics: JSON-able dict: list counts, positives kept and truncated, the build's settings.
    """

    features: dict
    labels: np.ndarray
    mask: np.ndarray
    statistics: dict

    @property
    def num_lists(self):
        return int(self.labels.shape[0])

    def dataset(self, batch_size):
        """Finite `tf.data.Dataset` of `(features, labels, mask)` batches in list order (last batch smaller)."""
        import tensorflow as tf

        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size}")
        return tf.data.Dataset.from_tensor_slices((self.features, self.labels, self.mask)).batch(batch_size)

    @classmethod
    def build(
        cls,
        store,
        catalog,
        history_length=64,
        list_length=100,
        popularity_alpha=DEFAULT_POPULARITY_ALPHA,
        seed=0,
        chunk_size=8192,
    ):
        """Builds one list per record of `store` with at least one own event.

        The history is the record's last `history_length` context events (before the split), ages in
        hours from the visitor's first event in the split. The positives are the distinct items the visitor
        touched in the split, labelled per action; at most `list_length // 2` are kept, transactions first,
        then add-to-carts, then views, first touched first. Negatives drawn by `popularity ** alpha`, never
        a positive of the visitor (kept or not), fill the list; draws and order come from `hashed_uniform`
        keyed by (seed, visitor id), so the same seed gives the same arrays.

        Args:
            store: validation or test `EventStore`.
            catalog: `ItemCatalog` of the train split.
            history_length: `S`.
            list_length: `L`, at least 2.
            popularity_alpha: negative sampling exponent, 0 uniform, 1 proportional to train popularity.
            seed: non-negative integer.
            chunk_size: lists built at a time (bounds memory; does not change the result).
        """
        if int(list_length) != list_length or list_length < 2:
            raise ValueError(f"`list_length` must be an integer >= 2. Received: list_length={list_length}")
        if int(history_length) != history_length or history_length < 1:
            raise ValueError(f"`history_length` must be an integer >= 1. Received: history_length={history_length}")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed}")
        sampler = NegativeSampler(catalog, popularity_alpha)
        max_positives = list_length // 2
        records = np.flatnonzero(store.own_event_counts > 0)  # [N]
        parts = []
        totals = {"positives": 0, "positives_truncated": 0, "fallback_lists": 0}
        for start in range(0, records.size, chunk_size):
            chunk = records[start : start + chunk_size]  # [R]
            visitor_id = store.visitor_id[chunk]  # [R]
            reference_ms = store.timestamp_ms[store.own_start[chunk]]  # [R]
            features = store.model_features(chunk, store.own_start[chunk], history_length, reference_ms)
            event_index, event_record = store.own_event_index(chunk)  # [M]
            rows = np.searchsorted(chunk, event_record)  # [M]

            def draw(round_index, draw_rows, draw_slots, visitor_id=visitor_id):
                return hashed_uniform(seed, visitor_id[draw_rows], draw_slots, round_index)

            lists = CandidateLists.build(
                store,
                sampler,
                rows=rows,
                event_index=event_index,
                num_rows=chunk.size,
                length=list_length,
                max_positives=max_positives,
                rank_by=RANK_BY_GRADE,
                draw=draw,
                shuffle_keys=hashed_uniform(seed, visitor_id[:, None], np.arange(list_length), _SHUFFLE_STREAM),
            )
            features["candidate_item_id"] = lists.item_id
            features["candidate_category_id"] = lists.category_id
            parts.append((features, lists.labels, lists.mask, lists.num_positives))
            totals["positives"] += int(lists.num_positives.sum())
            totals["positives_truncated"] += lists.num_truncated
            totals["fallback_lists"] += lists.fallback_rows
        if not parts:
            raise ValueError(
                f"No record of the store has an event in its split: no list to build. Received: "
                f"{store.num_visitors} records"
            )
        features = {name: np.concatenate([part[0][name] for part in parts]) for name in parts[0][0]}
        labels = np.concatenate([part[1] for part in parts])
        mask = np.concatenate([part[2] for part in parts])
        num_positives = np.concatenate([part[3] for part in parts])
        statistics = {
            "lists": int(records.size),
            "records_without_events": int(store.num_visitors - records.size),
            "lists_without_history": int(np.sum(features["history_item_id"][:, -1] == 0)),
            "lists_truncated": int(np.sum(num_positives > max_positives)),
            "mean_positives_per_list": float(num_positives.mean()),
            "max_positives_per_list": int(num_positives.max()),
            "padded_slots": int(np.sum(mask == 0)),
            **totals,
            "history_length": int(history_length),
            "list_length": int(list_length),
            "popularity_alpha": float(popularity_alpha),
            "seed": int(seed),
        }
        return cls(features=features, labels=labels, mask=mask, statistics=statistics)
