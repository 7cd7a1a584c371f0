"""Keras metrics over candidate lists, fed logits `[B, C, A]`, labels `[B, C, A]` and the candidate mask.

All of them take the candidate mask `[B, C]` as `sample_weight`, so compile them
as `weighted_metrics`; padding candidates never count. The ranking metrics build
on keras-rs: a list is ranked by `app.actions.ranking_scores` of the action
probabilities and judged by `app.actions.relevance` (transaction 3, addtocart 2,
view 1, none 0). Padding is masked before sorting, so it never ties with a real
candidate; ties among real candidates are broken at random with a fixed seed
(keras-rs' `shuffle_ties`). A list with no positive counts as 0 (keras-rs).
"""

import keras
import keras_rs
from keras import ops
from keras_rs.src.metrics.ranking_metric import RankingMetric
from keras_rs.src.metrics.ranking_metrics_utils import get_list_weights, sort_by_scores

from app.actions import ranking_scores, relevance
from datasets.actions import ACTION_NAMES, DEFAULT_LOSS_WEIGHTS
from layers.registration import serializable

TIE_SEED = 1234
"""Seed of the tie-breaking shuffle, fixed so that reports reproduce."""


@serializable
class HitRate(RankingMetric):
    """Share of lists with at least one relevant item in the top `k` (HR@k).

    Same conventions as the keras-rs ranking metrics it sits beside: `y_true`
    `[B, C]` graded relevance (> 0 is a hit), `y_pred` `[B, C]` scores,
    `sample_weight` `[B, C]` with 0 on padding.
    """

    def compute_metric(self, y_true, y_pred, mask, sample_weight):
        (sorted_y_true,) = sort_by_scores(
            tensors_to_sort=[y_true],
            scores=y_pred,
            mask=mask,
            k=self.k,
            shuffle_ties=self.shuffle_ties,
            seed=self.seed_generator,
        )  # [B, k]
        hit = ops.cast(
            ops.any(ops.greater(sorted_y_true, 0), axis=1, keepdims=True), y_pred.dtype
        )  # [B, 1]
        is_relevant = ops.cast(ops.greater(y_true, 0), y_pred.dtype)  # [B, C]
        return hit, get_list_weights(weights=sample_weight, relevance=is_relevant)


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
    """ROC-AUC of one action's probability over the valid candidates."""

    def __init__(self, action, **kwargs):
        kwargs.setdefault("name", f"auc_{action}")
        super().__init__(**kwargs)
        self.action = action
        self._index = ACTION_NAMES.index(action)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(
            y_true[..., self._index],  # [B, C]
            ops.sigmoid(ops.cast(y_pred[..., self._index], "float32")),  # [B, C]
            sample_weight=sample_weight,
        )

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
