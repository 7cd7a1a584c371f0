"""Keras metrics over candidate lists, fed logits `[B, C, A]`, labels `[B, C, A]` and the candidate mask.

All of them take the candidate mask `[B, C]` as `sample_weight`, so compile them
as `weighted_metrics`; padding candidates never count. NDCG and MRR are the
public keras-rs metrics, HR@k is `HitRate` (ours, same conventions): a list is
ranked by `app.ranker.actions.ranking_scores` of the action probabilities and judged by
`app.ranker.actions.relevance` (transaction 3, addtocart 2, view 1, none 0). Padding is
masked before sorting, so it never ties with a real candidate; ties among real
candidates are broken at random with a fixed seed. A list with no positive
counts as 0.
"""

import keras
import keras_rs
from keras import ops

from app.ranker.actions import ranking_scores, relevance
from datasets.actions import ACTION_NAMES, DEFAULT_LOSS_WEIGHTS
from layers.registration import serializable

TIE_SEED = 1234
"""Seed of the tie-breaking shuffle, fixed so that reports reproduce."""


@serializable
class HitRate(keras.metrics.Mean):
    """Share of lists with at least one relevant candidate in the top `k` (HR@k).

    Written to the conventions of the keras-rs ranking metrics it sits beside
    (and equal to what keras-rs' private ranking-metric base computes for it):
    candidates with `sample_weight` 0 (padding) or a negative label are never
    relevant and sort after every real candidate; ties among real candidates are
    broken by a shuffle from a seeded generator; a list without a relevant
    candidate counts 0, a list of padding alone not at all.

    Args:
        k: int, the cut-off.
        shuffle_ties: bool, break ties at random (else by position).
        seed: int, seed of the tie-breaking shuffle.

    Call arguments (`update_state`):
        y_true: `[B, C]` graded relevance (> 0 is relevant).
        y_pred: `[B, C]` scores.
        sample_weight: `[B, C]` (or `[B]`), 0 on padding.
    """

    def __init__(self, k=10, shuffle_ties=True, seed=None, name="hit_rate", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be a positive integer. Received: k={k}")
        self.k = k
        self.shuffle_ties = shuffle_ties
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")  # [B, C]
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")  # [B, C]
        valid = ops.greater_equal(y_true, 0.0)  # [B, C]
        if sample_weight is not None:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(weight.shape) == 1:
                weight = ops.expand_dims(weight, 1)  # [B, 1]
            valid = ops.logical_and(valid, ops.greater(weight * ops.ones_like(y_true), 0.0))  # [B, C]
        relevant = ops.logical_and(valid, ops.greater(y_true, 0.0))  # [B, C]
        lowest = ops.min(y_pred, axis=1, keepdims=True) - keras.config.epsilon()  # [B, 1]
        scores = ops.where(valid, y_pred, lowest)  # [B, C]
        if self.shuffle_ties:
            noise = keras.random.uniform(ops.shape(scores), seed=self.seed_generator, dtype="float32")  # [B, C]
        else:
            noise = ops.zeros_like(scores)  # [B, C]
        order = ops.argsort(ops.where(valid, noise, noise + 1.0), axis=1)  # [B, C] shuffled, padding last
        k = min(self.k, scores.shape[1])
        _, top = ops.top_k(ops.take_along_axis(scores, order, axis=1), k=k, sorted=True)  # [B, k]
        top = ops.take_along_axis(order, top, axis=1)  # [B, k] candidate slots
        hit = ops.any(ops.take_along_axis(relevant, top, axis=1), axis=1)  # [B]
        has_candidates = ops.any(valid, axis=1)  # [B]
        super().update_state(ops.cast(hit, "float32"), sample_weight=ops.cast(has_candidates, "float32"))

    def get_config(self):
        return {**super().get_config(), "k": self.k, "shuffle_ties": self.shuffle_ties, "seed": self.seed}


def _from_logits(y_true, y_pred, action_weights):
    """Graded relevance `[B, C]` and ranking scores `[B, C]` from labels and logits `[B, C, A]`."""
    probabilities = ops.sigmoid(ops.cast(y_pred, "float32"))  # [B, C, A]
    return relevance(ops.cast(y_true, "float32")), ranking_scores(probabilities, action_weights)


def _ranking_metric(base):
    """A subclass of keras-rs metric `base` that reads logits and per-action labels."""

    class FromActionLogits(base):
        def __init__(self, action_weights=DEFAULT_LOSS_WEIGHTS, seed=TIE_SEED, **kwargs):
            super().__init__(seed=seed, **kwargs)
            self.action_weights = tuple(float(w) for w in action_weights)

        def update_state(self, y_true, y_pred, sample_weight=None):
            graded, scores = _from_logits(y_true, y_pred, self.action_weights)
            super().update_state(graded, scores, sample_weight=sample_weight)

        def get_config(self):
            return {**super().get_config(), "action_weights": list(self.action_weights)}

    FromActionLogits.__name__ = f"{base.__name__}FromLogits"
    FromActionLogits.__qualname__ = FromActionLogits.__name__
    FromActionLogits.__doc__ = (
        f"`{base.__name__}` over the ranking score of action logits `[B, C, A]`."
    )
    return serializable(FromActionLogits)


NDCGFromLogits = _ranking_metric(keras_rs.metrics.NDCG)
MRRFromLogits = _ranking_metric(keras_rs.metrics.MeanReciprocalRank)
HitRateFromLogits = _ranking_metric(HitRate)


@serializable
class ActionAUC(keras.metrics.AUC):
    """ROC-AUC of one action over the valid candidates, binned on the logit scale.

    Keras' `AUC` counts in bins between evenly spaced thresholds on [0, 1]. Fed
    probabilities, a confident model puts most negatives in the first bin
    (probabilities below 1/200), ties them, and the binned AUC falls while the
    true one does not. Here the thresholds are evenly spaced on the logit scale
    instead, `LOGIT_RANGE` wide around 0 in `num_thresholds - 1` steps, which
    keeps the binned figure close to the exact one.

    Args:
        action: the action (`datasets.actions.ACTION_NAMES`).
        **kwargs: as for `keras.metrics.AUC` (`num_thresholds` defaults to 3001).
    """

    LOGIT_RANGE = 60.0

    def __init__(self, action, **kwargs):
        kwargs.setdefault("name", f"auc_{action}")
        kwargs.setdefault("num_thresholds", 3001)
        super().__init__(**kwargs)
        self.action = action
        self._index = ACTION_NAMES.index(action)

    def update_state(self, y_true, y_pred, sample_weight=None):
        logits = ops.cast(y_pred[..., self._index], "float32")  # [B, C]
        half = self.LOGIT_RANGE / 2
        on_logit_scale = (ops.clip(logits, -half, half) + half) / self.LOGIT_RANGE  # [B, C] in [0, 1]
        super().update_state(y_true[..., self._index], on_logit_scale, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "action": self.action}


@serializable
class ActionBinaryAccuracy(keras.metrics.Mean):
    """Share of valid candidates whose action is predicted right at probability 0.5."""

    def __init__(self, action, **kwargs):
        kwargs.setdefault("name", f"accuracy_{action}")
        super().__init__(**kwargs)
        self.action = action
        self._index = ACTION_NAMES.index(action)

    def update_state(self, y_true, y_pred, sample_weight=None):
        happened = ops.greater(y_true[..., self._index], 0.5)  # [B, C]
        predicted = ops.greater(y_pred[..., self._index], 0.0)  # [B, C]
        correct = ops.cast(ops.equal(happened, predicted), "float32")  # [B, C]
        super().update_state(correct, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "action": self.action}


@serializable
class MeanActionProbability(keras.metrics.Mean):
    """Mean predicted probability of one action where it happened (or where it did not).

    The seed's readout: a model that learns pushes the first up and the second down.
    """

    def __init__(self, action, happened=True, **kwargs):
        kwargs.setdefault("name", f"p_{action}_{'pos' if happened else 'neg'}")
        super().__init__(**kwargs)
        self.action = action
        self.happened = happened
        self._index = ACTION_NAMES.index(action)

    def update_state(self, y_true, y_pred, sample_weight=None):
        probability = ops.sigmoid(ops.cast(y_pred[..., self._index], "float32"))  # [B, C]
        label = ops.cast(y_true[..., self._index], "float32")  # [B, C]
        selected = label if self.happened else 1.0 - label  # [B, C]
        if sample_weight is not None:
            selected = selected * ops.cast(sample_weight, "float32")  # [B, C]
        super().update_state(probability, sample_weight=selected)

    def get_config(self):
        return {**super().get_config(), "action": self.action, "happened": self.happened}


def training_metrics(action_weights=DEFAULT_LOSS_WEIGHTS):
    """The metrics `model.fit` reports, to pass as `weighted_metrics`."""
    metrics = [
        NDCGFromLogits(action_weights=action_weights, k=10, name="ndcg@10"),
        HitRateFromLogits(action_weights=action_weights, k=10, name="hr@10"),
        MRRFromLogits(action_weights=action_weights, name="mrr"),
    ]
    for action in ACTION_NAMES:
        metrics += [
            ActionAUC(action),
            ActionBinaryAccuracy(action),
            MeanActionProbability(action, happened=True),
            MeanActionProbability(action, happened=False),
        ]
    return metrics
