"""Training batches that predict the next item at every position of a session: windows bucketed by length."""

import numpy as np

from datasets.actions import VIEW

DEFAULT_BUCKET_WIDTHS = (2, 3, 4, 6, 8, 12, 16, 24, 32)
"""Bucket widths (input positions per row) below the history length, which is always the last bucket. On the
session benchmark's training sessions (history 50) they keep 93% of the batch slots real."""


class SessionSequences:
    """Seeded, bucketed batches of whole sessions for a causal model trained on every position at once.

    A session of `L` items is cut into windows of at most `S + 1` items
    (`S = history_length`) that overlap by one item, `[0, S]`, `[S, 2S]`, ...:
    a window of `n + 1` items gives `n` positions, input item `j` and target item
    `j + 1`, and every item but the session's first is a target exactly once.
    (A window after the first starts without the items before it: their
    prefixes see fewer than `S` items. The benchmark's sessions are short: 0.3%
    of the training sessions exceed `S + 1 = 51` items.) Sessions of one item
    give no target and are counted in `statistics`.

    A window of `n` positions goes to the narrowest bucket of width `w >= n`
    (the widths `bucket_widths` below `S`, then `S`), where it is front-padded
    to `w`, as the user tower sees a history: positions come from counts of
    valid events, so padding moves nothing. A bucket's batches hold
    `batch_tokens // w` rows, so every batch has about `batch_tokens` slots;
    the last batch of a bucket is filled with empty rows (all padding). Each
    epoch shuffles the windows within their buckets and the order of all
    batches, so an epoch sees every target position exactly once, in as many
    shapes as there are non-empty buckets (JAX compiles once per shape).

    The candidates of a batch are its items (every target and each window's
    first item: a session's other items are the hardest negatives of each of
    its positions) and `negatives` items drawn with replacement from the items
    by `popularity ** popularity_alpha`. For the log-Q correction every
    candidate gets the probability of the mixture they come from: `n` batch
    items following the popularity `p(j)` and `G` draws of `q(j)`, that is
    `(n p(j) + G q(j)) / (n + G)` with `n` the batch's real items.

    Sessions carry no categories: every category id is 0. Ages are the steps
    back from the row's last target (1 for the last input), as
    `app.sessions.candidates.case_features` gives them; they are right for the
    last position only, so a model trained on these batches must not use them.

    Args:
        sessions: `datasets.retail_rocket.session_files.Sessions`.
        item_popularity: `[I + 1]` event counts per item id (column 0 unused); every session item must be <= I.
        history_length: `S`, the longest history; at least 1.
        batch_tokens: slots per batch; at least `S`.
        negatives: `G`, sampled negatives shared by a batch; at least 0.
        popularity_alpha: sampling exponent, 0 uniform over the items with a count, 1 proportional to it.
        bucket_widths: the narrower bucket widths (those >= `S` are ignored).
    """

    def __init__(self, sessions, item_popularity, history_length, batch_tokens, negatives, popularity_alpha=0.75,
                 bucket_widths=DEFAULT_BUCKET_WIDTHS):
        item_popularity = np.asarray(item_popularity, dtype=np.float64)
        for name, value, minimum in (("history_length", history_length, 1), ("batch_tokens", batch_tokens,
                                     history_length), ("negatives", negatives, 0)):
            if int(value) != value or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value}")
        if item_popularity.ndim != 1 or len(item_popularity) < 2 or (item_popularity < 0).any():
            raise ValueError("`item_popularity` must be a 1-D array [I + 1] of counts >= 0. Received: "
                             f"shape={item_popularity.shape}, minimum={item_popularity.min(initial=0)}")
        if not item_popularity[1:].sum() > 0:
            raise ValueError("`item_popularity` must count at least one item. Received: all counts 0")
        if len(sessions.items) and int(sessions.items.max()) >= len(item_popularity):
            raise ValueError(f"`item_popularity` must cover every session item. Received: {len(item_popularity)} "
                             f"columns, largest item id {int(sessions.items.max())}")
        uncounted = np.unique(sessions.items[item_popularity[sessions.items] == 0])
        if len(uncounted):
            raise ValueError("`item_popularity` must count every session item (the log-Q correction divides by it). "
                             f"Received: {len(uncounted)} items with count 0, e.g. {uncounted[:5].tolist()}")
        self.sessions = sessions
        self.history_length = int(history_length)
        self.batch_tokens = int(batch_tokens)
        self.negatives = int(negatives)
        self.widths = np.array(sorted({int(w) for w in bucket_widths if 1 <= w < history_length})
                               + [self.history_length])  # [W]

        lengths = sessions.lengths  # [N]
        windows_per_session = -(-np.maximum(lengths - 1, 0) // self.history_length)  # [N]
        session_of_window = np.repeat(np.arange(len(lengths)), windows_per_session)  # [V]
        first_window = np.concatenate([[0], np.cumsum(windows_per_session)])[:-1]  # [N]
        within = np.arange(len(session_of_window)) - first_window[session_of_window]  # [V]
        start_in_session = within * self.history_length  # [V]
        self.window_start = sessions.offsets[session_of_window] + start_in_session  # [V] into sessions.items
        self.window_positions = np.minimum(lengths[session_of_window] - start_in_session - 1,
                                           self.history_length)  # [V] targets of each window
        self.window_bucket = np.searchsorted(self.widths, self.window_positions)  # [V]

        counts = item_popularity.copy()
        counts[0] = 0.0
        self.popularity = counts / counts.sum()  # [I + 1] p(j)
        weights = np.where(counts > 0, counts ** popularity_alpha, 0.0)  # [I + 1]
        self.negative_probability = weights / weights.sum()  # [I + 1] q(j)
        self._negative_cdf = np.cumsum(self.negative_probability)  # [I + 1]

        bucket_sizes = np.bincount(self.window_bucket, minlength=len(self.widths))  # [W]
        self.rows = np.maximum(self.batch_tokens // self.widths, 1)  # [W]
        self.steps_per_epoch = int(np.sum(-(-bucket_sizes // self.rows)))
        self.statistics = {
            "sessions": len(lengths),
            "sessions_without_target": int(np.sum(lengths < 2)),
            "windows": len(self.window_start),
            "targets": int(self.window_positions.sum()),
            "bucket_widths": self.widths.tolist(),
            "bucket_windows": bucket_sizes.tolist(),
            "steps_per_epoch": self.steps_per_epoch,
            "slot_fill": float(self.window_positions.sum()
                               / max(1, np.sum(-(-bucket_sizes // self.rows) * self.rows * self.widths))),
        }

    def epoch_batches(self, rng):
        """One epoch's batches in a shuffled order: `(width, windows [rows])`, window -1 for an empty row."""
        batches = []
        for bucket, width in enumerate(self.widths):
            windows = rng.permutation(np.flatnonzero(self.window_bucket == bucket))
            rows = int(self.rows[bucket])
            padded = np.concatenate([windows, np.full(-len(windows) % rows, -1)])
            batches.extend((int(width), chunk) for chunk in padded.reshape(-1, rows))
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, width, windows, rng):
        """The batch of `windows` (`[R]`, -1 for an empty row) in a bucket of `width` (W).

        Returns:
            `(features, labels, sample_weight)`: the user features `visitor_id
            [R]` and `history_* [R, W]`, `target_item_id` and
            `target_sampling_probability` `[R, W]`, `first_item_id` and
            `first_item_sampling_probability` `[R]`, `negative_item_id` and
            `negative_sampling_probability` `[1, G]`; the labels `[R * W]`,
            `labels[n] = n` (the target of slot `n` of the flattened `[R, W]`
            is candidate `n`); the weights `[R * W]`, 1 on real targets.
        """
        windows = np.asarray(windows)
        real = windows >= 0  # [R]
        positions = np.where(real, self.window_positions[np.maximum(windows, 0)], 0)  # [R]
        start = self.window_start[np.maximum(windows, 0)]  # [R]
        offset = np.arange(width)[None, :] - (width - positions)[:, None]  # [R, W] index of the input in its window
        valid = offset >= 0  # [R, W]
        items = self.sessions.items
        history = np.where(valid, items[np.where(valid, start[:, None] + offset, 0)], 0).astype(np.int32)  # [R, W]
        target = np.where(valid, items[np.where(valid, start[:, None] + offset + 1, 0)], 0).astype(np.int32)
        first = np.where(real, items[start], 0).astype(np.int32)  # [R]
        uniforms = rng.random(self.negatives)  # [G]
        negative = np.minimum(np.searchsorted(self._negative_cdf, uniforms, side="right"),
                              len(self._negative_cdf) - 1).astype(np.int32)  # [G]
        batch_items = int(valid.sum() + real.sum())
        mixture = ((batch_items * self.popularity + self.negatives * self.negative_probability)
                   / (batch_items + self.negatives)).astype(np.float32)  # [I + 1]
        steps_back = (width - np.arange(width, dtype=np.float32))[None, :]  # [1, W]
        features = {
            "visitor_id": np.zeros(len(windows), np.int32),
            "history_item_id": history,
            "history_category_id": np.zeros_like(history),
            "history_action": np.where(valid, VIEW, 0).astype(np.int32),
            "history_age_hours": np.where(valid, steps_back, 0.0).astype(np.float32),
            "target_item_id": target,
            "target_sampling_probability": mixture[target],
            "first_item_id": first,
            "first_item_sampling_probability": mixture[first],
            "negative_item_id": negative[None, :],
            "negative_sampling_probability": mixture[negative][None, :],
        }
        labels = np.arange(target.size, dtype=np.int32)  # [R * W]
        return features, labels, valid.reshape(-1).astype(np.float32)

    def batches(self, seed=0):
        """Endless batches, epoch after epoch, the same for the same seed."""
        rng = np.random.default_rng(seed)
        while True:
            for width, windows in self.epoch_batches(rng):
                yield self.batch(width, windows, rng)

    def output_signature(self):
        """The `tf.TensorSpec` structure of a batch (rows and width vary by bucket)."""
        import tensorflow as tf

        rows, grid = tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.int32)
        negatives = tf.TensorSpec([1, self.negatives], tf.int32)
        features = {
            "visitor_id": rows,
            "history_item_id": grid,
            "history_category_id": grid,
            "history_action": grid,
            "history_age_hours": tf.TensorSpec([None, None], tf.float32),
            "target_item_id": grid,
            "target_sampling_probability": tf.TensorSpec([None, None], tf.float32),
            "first_item_id": rows,
            "first_item_sampling_probability": tf.TensorSpec([None], tf.float32),
            "negative_item_id": negatives,
            "negative_sampling_probability": tf.TensorSpec([1, self.negatives], tf.float32),
        }
        return features, rows, tf.TensorSpec([None], tf.float32)

    def dataset(self, seed=0):
        """Endless `tf.data.Dataset` of `batches(seed)`, prefetched."""
        import tensorflow as tf

        dataset = tf.data.Dataset.from_generator(lambda: self.batches(seed),
                                                 output_signature=self.output_signature())
        return dataset.prefetch(tf.data.AUTOTUNE)
