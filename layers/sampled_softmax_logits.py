"""Logits of a sampled softmax over in-batch and sampled negatives, log-Q corrected, accidental hits removed."""

import keras
import keras_rs
from keras import ops

from layers.mask_accidental_hits import MaskAccidentalHits
from layers.registration import serializable


@serializable
class SampledSoftmaxLogits(keras.layers.Layer):
    """The `[B, B + N]` logits of a two-tower sampled softmax.

    Row `b` scores its query against the candidates `[positives (B), negatives
    (N)]`: its own positive (column `b`, the label), the other rows' positives
    (in-batch negatives) and `N` sampled negatives shared by the batch. Each
    logit is `dot(query, candidate) / temperature - log(q)`, where `q` is the
    candidate's sampling probability (keras-rs' `SamplingProbabilityCorrection`,
    the log-Q correction), and a candidate with the same id as the row's positive,
    other than the positive itself, is removed (`MaskAccidentalHits`).

    Args:
        temperature: float, divides the dot products; positive.
        epsilon: float, the smallest sampling probability the correction uses.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        query: tensor `[B, D]`, the user embeddings.
        positives: tensor `[B, D]`, each row's positive item embedding.
        negatives: tensor `[N, D]`, the sampled negatives' embeddings.
        positive_ids: int tensor `[B]`.
        negative_ids: int tensor `[N]`.
        positive_probability: float tensor `[B]`, sampling probability of each
            positive's item.
        negative_probability: float tensor `[N]`.

    Returns:
        float32 tensor `[B, B + N]`; the label of row `b` is column `b`.
    """

    def __init__(self, temperature=1.0, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature}")
        if not 0 < epsilon < 1:
            raise ValueError(f"`epsilon` must be in (0, 1). Received: epsilon={epsilon}")
        self.temperature = temperature
        self.epsilon = epsilon
        self.correction = keras_rs.layers.SamplingProbabilityCorrection(epsilon=epsilon, dtype="float32")
        self.mask_accidental_hits = MaskAccidentalHits(dtype="float32")

    def call(
        self, query, positives, negatives, positive_ids, negative_ids, positive_probability, negative_probability
    ):
        candidates = ops.concatenate([positives, negatives], axis=0)  # [M, D]
        scores = ops.matmul(ops.cast(query, "float32"), ops.transpose(ops.cast(candidates, "float32")))  # [B, M]
        scores = scores / self.temperature  # [B, M]
        probability = ops.concatenate(
            [ops.cast(positive_probability, "float32"), ops.cast(negative_probability, "float32")], axis=0
        )  # [M]
        logits = self.correction(scores, ops.broadcast_to(probability, ops.shape(scores)))  # [B, M]
        labels = ops.eye(ops.shape(scores)[0], ops.shape(scores)[1], dtype="float32")  # [B, M]
        candidate_ids = ops.concatenate(
            [ops.cast(positive_ids, "int32"), ops.cast(negative_ids, "int32")], axis=0
        )  # [M]
        return self.mask_accidental_hits(logits, labels, candidate_ids)  # [B, M]

    def compute_output_shape(self, query_shape, positives_shape, negatives_shape, *ids_and_probabilities):
        if positives_shape[0] is None or negatives_shape[0] is None:
            return (query_shape[0], None)
        return (query_shape[0], positives_shape[0] + negatives_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "epsilon": self.epsilon})
        return config
