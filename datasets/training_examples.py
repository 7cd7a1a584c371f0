"""Training examples cut from visitors' train events, batched with sampled negatives."""

import numpy as np

from datasets.actions import NUM_ACTIONS
from datasets.candidate_lists import RANK_BY_TIME, CandidateLists
from datasets.cut_examples import CutExamples
from datasets.event_store import MS_PER_HOUR
from datasets.negative_sampler import NegativeSampler

DEFAULT_POPULARITY_ALPHA = 0.75


class TrainingExamples(CutExamples):
    """Example generator over one store's own events (the train store in practice).

    An example is a cut event `c` of a visitor: the history is the (up to) `history_length` events of the
    record before `c`, ages in hours from the cut event's timestamp; the target window is `c` and the
    events after it in the visitor's own events, at most `target_window_events` of them and, when
    `target_window_hours` is set, within that many hours of `c`. The distinct items of the window are the
    positives (the first touched are kept when there are more than `num_candidates`), labelled per action;
    negatives drawn by `popularity ** popularity_alpha` fill the list, and the list is shuffled.

    The default `popularity_alpha=0.75` (as word2vec's negative sampling) sits between uniform negatives,
    mostly never-seen tail items that a model tells apart by popularity alone, and popularity-proportional
    ones, among which tail items almost never appear, so the model never learns to rank them low.

    Args:
        store: `EventStore` whose own events are cut into examples.
        catalog: `ItemCatalog` negatives are drawn from.
        history_length: `S`.
        num_candidates: `C`.
        target_window_events: events in a target window, the cut event included.
        target_window_hours: optional cap on the window's time span, counted from the cut event.
        popularity_alpha: negative sampling exponent, 0 uniform, 1 proportional to train popularity.
        min_history_events: events a visitor must have before a cut event (context included).
        same_category_negatives: negatives per list drawn from the category of the list's first positive
            (`NegativeSampler`'s `same_category`).
    """

    def __init__(
        self,
        store,
        catalog,
        history_length=64,
        num_candidates=16,
        target_window_events=5,
        target_window_hours=None,
        popularity_alpha=DEFAULT_POPULARITY_ALPHA,
        min_history_events=1,
        same_category_negatives=0,
    ):
        for name, value in (("num_candidates", num_candidates), ("target_window_events", target_window_events)):
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value}")
        if target_window_hours is not None and not target_window_hours >= 0:
            raise ValueError(f"`target_window_hours` must be None or >= 0. Received: {target_window_hours}")
        if catalog.num_items <= num_candidates:
            raise ValueError(
                f"The catalog needs more items than `num_candidates`. Received: num_candidates={num_candidates} "
                f"with {catalog.num_items} catalog items"
            )
        super().__init__(store, history_length, min_history_events)
        self.catalog = catalog
        self.num_candidates = num_candidates
        self.target_window_events = target_window_events
        self.target_window_hours = target_window_hours
        self.popularity_alpha = popularity_alpha
        self.sampler = NegativeSampler(catalog, popularity_alpha, same_category=same_category_negatives)
        self.statistics = {"examples": 0, "positives": 0, "positives_truncated": 0, "fallback_rows": 0}

    def target_index(self, cuts, records):
        """int64 `[B, W]` flat indices of each cut's target window, -1 past its end."""
        index = cuts[:, None] + np.arange(self.target_window_events)  # [B, W]
        valid = index < self.store.record_end[records][:, None]  # [B, W]
        index = np.where(valid, index, 0)  # [B, W]
        if self.target_window_hours is not None:
            span_ms = self.store.timestamp_ms[index] - self.store.timestamp_ms[cuts][:, None]  # [B, W]
            valid &= span_ms <= self.target_window_hours * MS_PER_HOUR
        return np.where(valid, index, -1)

    def batch(self, positions, rng):
        """One batch for the cut points at `positions` (indices into `cut_points`).

        Returns:
            `(features, labels [B, C, A] float32, candidate_mask [B, C] float32)` as numpy arrays.
        """
        cuts, records, features = self.user_features(positions)  # [B], [B], the visitor and history features
        batch_size = cuts.size
        target = self.target_index(cuts, records)  # [B, W]
        rows, slots = np.nonzero(target >= 0)  # [M]
        lists = CandidateLists.build(
            self.store,
            self.sampler,
            rows=rows,
            event_index=target[rows, slots],
            num_rows=batch_size,
            length=self.num_candidates,
            max_positives=self.num_candidates,
            rank_by=RANK_BY_TIME,
            draw=lambda round_index, draw_rows, draw_slots: rng.random(draw_rows.size),
            shuffle_keys=rng.random((batch_size, self.num_candidates)),
        )
        features["candidate_item_id"] = lists.item_id
        features["candidate_category_id"] = lists.category_id
        self.statistics["examples"] += batch_size
        self.statistics["positives"] += int(lists.num_positives.sum())
        self.statistics["positives_truncated"] += lists.num_truncated
        self.statistics["fallback_rows"] += lists.fallback_rows
        return features, lists.labels, lists.mask

    def output_signature(self, batch_size):
        """The `tf.TensorSpec` structure of a batch."""
        import tensorflow as tf

        candidates = tf.TensorSpec([batch_size, self.num_candidates], tf.int32)
        features = {
            **self.user_signature(batch_size), "candidate_item_id": candidates, "candidate_category_id": candidates
        }
        labels = tf.TensorSpec([batch_size, self.num_candidates, NUM_ACTIONS], tf.float32)
        mask = tf.TensorSpec([batch_size, self.num_candidates], tf.float32)
        return features, labels, mask
