"""Removing accidental hits from a sampled softmax: a working `keras_rs.layers.RemoveAccidentalHits`."""

import keras
from keras import ops

from layers.masked_logit import MASKED_LOGIT
from layers.registration import serializable


@serializable
class MaskAccidentalHits(keras.layers.Layer):
    """Sets to `MASKED_LOGIT` the logits of negatives that are the row's positive item.

    In a sampled softmax the negatives of a row (other rows' positives, sampled
    items) can be the row's own positive item; treating it as a negative would
    push the model away from the right answer. Same arguments as keras-rs'
    `RemoveAccidentalHits`, which in keras-rs 0.4.0 only adds about 1e-40 to such
    logits (a no-op in float32) and reads every row's positive id from row 0 of a
    `[B, M]` `candidate_ids`. Here each row's positive id comes from its own label
    row, and an accidental hit leaves the softmax.

    Call arguments:
        logits: float tensor `[B, M]`.
        labels: one-hot float tensor `[B, M]`, 1 on each row's positive.
        candidate_ids: int tensor `[M]` (shared candidates) or `[B, M]`.

    Returns:
        float32 tensor `[B, M]`: `logits`, with `MASKED_LOGIT` where the candidate
        id equals the row's positive id and the label is 0.
    """

    def call(self, logits, labels, candidate_ids):
        logits = ops.cast(logits, "float32")  # [B, M]
        candidate_ids = ops.cast(candidate_ids, "int32")
        candidate_ids = ops.broadcast_to(candidate_ids, ops.shape(logits))  # [B, M]
        positive = ops.argmax(labels, axis=-1)[:, None]  # [B, 1]
        positive_id = ops.take_along_axis(candidate_ids, positive, axis=1)  # [B, 1]
        accidental = ops.logical_and(ops.equal(candidate_ids, positive_id), ops.equal(labels, 0))  # [B, M]
        return ops.where(accidental, MASKED_LOGIT, logits)  # [B, M]

    def compute_output_shape(self, logits_shape, labels_shape=None, candidate_ids_shape=None):
        return logits_shape
