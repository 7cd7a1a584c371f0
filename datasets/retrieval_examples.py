"""Training batches of the retrieval model: (history, next item) pairs with popularity-sampled negatives."""

import numpy as np

from datasets.cut_examples import CutExamples
from datasets.training_examples import DEFAULT_POPULARITY_ALPHA


class RetrievalExamples(CutExamples):
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
        if int(negatives_per_example) != negatives_per_example or negatives_per_example < 0:
            raise ValueError(
                "`negatives_per_example` must be an integer >= 0. "
                f"Received: negatives_per_example={negatives_per_example}"
            )
        self.catalog = catalog
        super().__init__(store, history_length, min_history_events,
                         eligible=lambda event_index: self.catalog_position(store.item_id[event_index]) >= 0)
        self.negatives_per_example = int(negatives_per_example)
        self.popularity_alpha = popularity_alpha
        self._negative_cdf = catalog.sampling_cdf(popularity_alpha)  # [I]
        positive_probability = catalog.popularity / catalog.popularity.sum()  # [I]
        negative_probability = np.diff(self._negative_cdf, prepend=0.0)  # [I]
        self.sampling_probability = (
            positive_probability + self.negatives_per_example * negative_probability
        ) / (1 + self.negatives_per_example)  # [I] float64, the mixture over a batch's candidates
        self.statistics = {"cut_points": self.num_cut_points, "skipped_not_in_catalog": self.skipped_ineligible}

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
        cuts, _, features = self.user_features(positions)  # [B], the visitor and history features
        batch_size = cuts.size
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

    def output_signature(self, batch_size):
        """The `tf.TensorSpec` structure of a batch."""
        import tensorflow as tf

        rows = tf.TensorSpec([batch_size], tf.int32)
        negatives = tf.TensorSpec([batch_size, self.negatives_per_example], tf.int32)
        features = {
            **self.user_signature(batch_size),
            "item_id": rows,
            "category_id": rows,
            "item_sampling_probability": tf.TensorSpec([batch_size], tf.float32),
            "negative_item_id": negatives,
            "negative_category_id": negatives,
            "negative_sampling_probability": tf.TensorSpec([batch_size, self.negatives_per_example], tf.float32),
        }
        return features, rows

    def dataset(self, batch_size, seed=0):
        """Endless `tf.data.Dataset` of fixed-shape batches (at least 2 rows: in-batch negatives need them)."""
        return super().dataset(batch_size, seed, min_batch_size=2)
