"""Training batches of the retrieval model: (history, next item) pairs with popularity-sampled negatives."""

import numpy as np

from datasets.training_examples import DEFAULT_POPULARITY_ALPHA


class RetrievalExamples:
    """Example generator over one store's own events (the train store in practice).

    An example is a cut event `c` of a visitor, cut as in `TrainingExamples`: the
    history is the (up to) `history_length` events of the record before `c`, ages
    in hours from `c`'s timestamp, and the positive is `c`'s item, the next item.
    Each example also brings `negatives_per_example` items drawn with replacement
    by `popularity ** popularity_alpha` from the catalog; the model shares all of a
    batch's `B * G` drawn negatives and its `B` positives among the rows.

    The log-Q correction needs each candidate's sampling probability. A batch's
    candidates come from two samplers: the positives (in-batch negatives of the
    other rows) follow the train popularity, `p(j) = popularity_j / sum`, and the
    negatives follow `q(j) = popularity_j ** alpha / sum`. A candidate is a draw
    of the mixture of `B` draws of `p` and `B * G` draws of `q`, whose probability
    `(p(j) + G * q(j)) / (1 + G)` every candidate gets (the positives included).

    Items take their catalog category (the latest known in train), the same the
    serving catalogue is embedded with. Cut events whose item is not in the
    catalog are skipped and counted (none in the train store the catalog comes
    from).

    Args:
        store: `EventStore` whose own events are cut into examples.
        catalog: `ItemCatalog` of the train split.
        history_length: `S`.
        negatives_per_example: `G`, sampled negatives each example adds to the batch.
        popularity_alpha: negative sampling exponent, 0 uniform, 1 proportional to train popularity.
        min_history_events: events a visitor must have before a cut event (context included).
    """

    def __init__(
        self,
        store,
        catalog,
        history_length=32,
        negatives_per_example=4,
        popularity_alpha=DEFAULT_POPULARITY_ALPHA,
        min_history_events=1,
    ):
        for name, value, low in (
            ("history_length", history_length, 1),
            ("negatives_per_example", negatives_per_example, 0),
            ("min_history_events", min_history_events, 0),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")
        self.store = store
        self.catalog = catalog
        self.history_length = int(history_length)
        self.negatives_per_example = int(negatives_per_example)
        self.popularity_alpha = popularity_alpha
        self._negative_cdf = catalog.sampling_cdf(popularity_alpha)  # [I]
        positive_probability = catalog.popularity / catalog.popularity.sum()  # [I]
        negative_probability = np.diff(self._negative_cdf, prepend=0.0)  # [I]
        self.sampling_probability = (
            positive_probability + self.negatives_per_example * negative_probability
        ) / (1 + self.negatives_per_example)  # [I] float64, the mixture over a batch's candidates
        event_index, record = store.own_event_index()
        eligible = event_index - store.record_start[record] >= min_history_events
        in_catalog = self.catalog_position(store.item_id[event_index]) >= 0
        self.cut_points = event_index[eligible & in_catalog]  # [M] flat index of every cut event
        self.cut_records = record[eligible & in_catalog]  # [M]
        self.statistics = {
            "cut_points": int(self.cut_points.size),
            "skipped_not_in_catalog": int(np.sum(eligible & ~in_catalog)),
        }
        if self.cut_points.size == 0:
            raise ValueError(
                f"No own event of a catalog item has {min_history_events} earlier events in its record: nothing "
                f"to train on. Received: {store.num_events} events in {store.num_visitors} records"
            )

    @property
    def num_cut_points(self):
        """Distinct examples, one per eligible cut event (an epoch)."""
        return int(self.cut_points.size)

    def catalog_position(self, item_id):
        """int64 position of each item id (any shape) in the catalog, -1 for items outside it."""
        item_id = np.asarray(item_id)
        position = np.minimum(np.searchsorted(self.catalog.item_id, item_id), self.catalog.num_items - 1)
        return np.where(self.catalog.item_id[position] == item_id, position, -1)

    def batch(self, positions, rng):
        """One batch for the cut points at `positions` (indices into `cut_points`).

        Returns:
            `(features, labels)`: a dict of numpy arrays, the user features
            `visitor_id [B]` and `history_* [B, S]`, `item_id`, `category_id`,
            `item_sampling_probability` `[B]`, `negative_item_id`,
            `negative_category_id`, `negative_sampling_probability` `[B, G]`;
            and the labels `[B]` int32, `labels[b] = b` (row `b`'s positive is
            candidate `b`).
        """
        cuts, records = self.cut_points[positions], self.cut_records[positions]  # [B]
        batch_size = cuts.size
        features = self.store.model_features(records, cuts, self.history_length, self.store.timestamp_ms[cuts])
        item_position = self.catalog_position(self.store.item_id[cuts])  # [B]
        uniforms = rng.random((batch_size, self.negatives_per_example))  # [B, G]
        negative_position = np.searchsorted(self._negative_cdf, uniforms, side="right")  # [B, G]
        features["item_id"] = self.catalog.item_id[item_position]
        features["category_id"] = self.catalog.category_id[item_position]
        features["item_sampling_probability"] = self.sampling_probability[item_position].astype(np.float32)
        features["negative_item_id"] = self.catalog.item_id[negative_position]
        features["negative_category_id"] = self.catalog.category_id[negative_position]
        features["negative_sampling_probability"] = self.sampling_probability[negative_position].astype(np.float32)
        return features, np.arange(batch_size, dtype=np.int32)

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

    def output_signature(self, batch_size):
        """The `tf.TensorSpec` structure of a batch."""
        import tensorflow as tf

        history = tf.TensorSpec([batch_size, self.history_length], tf.int32)
        rows = tf.TensorSpec([batch_size], tf.int32)
        negatives = tf.TensorSpec([batch_size, self.negatives_per_example], tf.int32)
        features = {
            "visitor_id": rows,
            "history_item_id": history,
            "history_category_id": history,
            "history_action": history,
            "history_age_hours": tf.TensorSpec([batch_size, self.history_length], tf.float32),
            "item_id": rows,
            "category_id": rows,
            "item_sampling_probability": tf.TensorSpec([batch_size], tf.float32),
            "negative_item_id": negatives,
            "negative_category_id": negatives,
            "negative_sampling_probability": tf.TensorSpec([batch_size, self.negatives_per_example], tf.float32),
        }
        return features, rows

    def dataset(self, batch_size, seed=0):
        """Endless `tf.data.Dataset` of fixed-shape batches, prefetched, the same for the same seed."""
        import tensorflow as tf

        if int(batch_size) != batch_size or batch_size < 2:
            raise ValueError(f"`batch_size` must be an integer >= 2. Received: batch_size={batch_size}")
        dataset = tf.data.Dataset.from_generator(
            lambda: self.batches(batch_size, seed), output_signature=self.output_signature(batch_size)
        )
        return dataset.prefetch(tf.data.AUTOTUNE)
