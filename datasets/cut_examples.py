"""What every model's training examples share: cut points over a store's own events, seeded batches, tf.data."""

import abc

import numpy as np


class CutExamples(abc.ABC):
    """Examples cut at a store's own events: the history is what came before the cut, the target the cut onwards.

    A subclass says what a batch holds (`batch`, `output_signature`); this base class chooses the cut points (own
    events with at least `min_history_events` earlier events in their record, and for which `eligible` holds),
    streams them in successive seeded permutations, and serves the batches through `tf.data`.

    Args:
        store: `EventStore` whose own events are cut (the train store in practice).
        history_length: `S`.
        min_history_events: events a record must have before a cut event (context included).
        eligible: optional `f(event_index [M]) -> bool [M]`, a further condition on cut events.
    """

    def __init__(self, store, history_length, min_history_events=1, eligible=None):
        for name, value, low in (("history_length", history_length, 1), ("min_history_events", min_history_events, 0)):
            if int(value) != value or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")
        self.store = store
        self.history_length = int(history_length)
        self.min_history_events = int(min_history_events)
        event_index, record = store.own_event_index()
        keep = event_index - store.record_start[record] >= min_history_events  # [M]
        self.skipped_ineligible = 0
        if eligible is not None:
            passes = eligible(event_index)  # [M]
            self.skipped_ineligible = int(np.sum(keep & ~passes))
            keep &= passes
        self.cut_points = event_index[keep]  # [M'] flat index of every cut event
        self.cut_records = record[keep]  # [M']
        if self.cut_points.size == 0:
            raise ValueError(
                f"No own event has {min_history_events} earlier events in its record (and meets the example's "
                f"conditions): nothing to train on. Received: {store.num_events} events in {store.num_visitors} "
                "records"
            )

    @property
    def num_cut_points(self):
        """Distinct examples, one per cut event (an epoch)."""
        return int(self.cut_points.size)

    def user_features(self, positions):
        """`(cuts [B], records [B], features)`: the cut points at `positions` and their model features, ages in
        hours from each cut event."""
        cuts, records = self.cut_points[positions], self.cut_records[positions]  # [B]
        features = self.store.model_features(records, cuts, self.history_length, self.store.timestamp_ms[cuts])
        return cuts, records, features

    def positions(self, batch_size, seed):
        """Endless stream of `[batch_size]` positions into `cut_points`: successive seeded permutations."""
        rng = np.random.default_rng([seed, 0])
        pending = np.zeros(0, dtype=np.int64)
        while True:
            while pending.size < batch_size:
                pending = np.concatenate([pending, rng.permutation(self.num_cut_points)])
            yield pending[:batch_size]
            pending = pending[batch_size:]

    def batches(self, batch_size, seed=0):
        """Endless numpy batches, the same for the same seed."""
        rng = np.random.default_rng([seed, 1])
        for positions in self.positions(batch_size, seed):
            yield self.batch(positions, rng)

    def user_signature(self, batch_size):
        """The `tf.TensorSpec`s of the visitor and history features of a batch."""
        import tensorflow as tf

        history = tf.TensorSpec([batch_size, self.history_length], tf.int32)
        return {
            "visitor_id": tf.TensorSpec([batch_size], tf.int32),
            "history_item_id": history,
            "history_category_id": history,
            "history_action": history,
            "history_age_hours": tf.TensorSpec([batch_size, self.history_length], tf.float32),
        }

    def dataset(self, batch_size, seed=0, min_batch_size=1):
        """Endless `tf.data.Dataset` of fixed-shape batches, prefetched, the same for the same seed."""
        import tensorflow as tf

        if int(batch_size) != batch_size or batch_size < min_batch_size:
            raise ValueError(f"`batch_size` must be an integer >= {min_batch_size}. Received: batch_size={batch_size}")
        dataset = tf.data.Dataset.from_generator(
            lambda: self.batches(batch_size, seed), output_signature=self.output_signature(batch_size)
        )
        return dataset.prefetch(tf.data.AUTOTUNE)

    @abc.abstractmethod
    def batch(self, positions, rng):
        """One batch for the cut points at `positions`: numpy arrays in the structure of `output_signature`."""

    @abc.abstractmethod
    def output_signature(self, batch_size):
        """The `tf.TensorSpec` structure of a batch."""
