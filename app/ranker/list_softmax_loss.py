"""A listwise loss: softmax cross-entropy over each list's real candidates, for lists with one kind of positive."""

import keras
from keras import ops

from datasets.actions import ACTION_NAMES
from layers.masked_logit import MASKED_LOGIT
from layers.registration import serializable


@serializable
class ListSoftmaxCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy of one action's logits over each list's real candidates, against its positives.

    The target distribution of a list spreads evenly over its candidates where that action happened (one for
    next-item lists); padding candidates (`sample_weight` 0) drop out of the softmax altogether; a list without a
    positive contributes nothing, and the loss is the mean over the lists that have one. Computed in float32.

    Args:
        action: whose logits and labels are used (`datasets.actions.ACTION_NAMES`).

    Call arguments:
        y_true: `[B, C, A]` labels in {0, 1}.
        y_pred: `[B, C, A]` logits.
        sample_weight: `[B, C]` candidate mask (1 real, 0 padding); all real when omitted.
    """

    def __init__(self, action="view", name="list_softmax_cross_entropy", **kwargs):
        super().__init__(name=name, dtype="float32", **kwargs)
        if action not in ACTION_NAMES:
            raise ValueError(f"`action` must be one of {ACTION_NAMES}. Received: action={action!r}")
        self.action = action
        self._index = ACTION_NAMES.index(action)

    def __call__(self, y_true, y_pred, sample_weight=None):
        real = None if sample_weight is None else ops.cast(ops.greater(sample_weight, 0), "float32")  # [B, C]
        per_list, has_positive = self._per_list(y_true, y_pred, real)  # [B], [B]
        return ops.sum(per_list * has_positive) / ops.maximum(ops.sum(has_positive), 1.0)

    def call(self, y_true, y_pred):
        return self._per_list(y_true, y_pred, None)[0]  # [B]: every candidate real

    def _per_list(self, y_true, y_pred, real):
        """Each list's cross-entropy `[B]` and whether it has a positive `[B]` (float32)."""
        labels = ops.cast(y_true, "float32")[..., self._index]  # [B, C]
        logits = ops.cast(y_pred, "float32")[..., self._index]  # [B, C]
        if real is not None:
            labels = labels * real  # [B, C]
            logits = ops.where(real > 0, logits, MASKED_LOGIT)  # [B, C]
        positives = ops.sum(labels, axis=1)  # [B]
        targets = labels / ops.maximum(positives, 1.0)[:, None]  # [B, C]
        per_list = -ops.sum(targets * ops.log_softmax(logits, axis=1), axis=1)  # [B]
        return per_list, ops.cast(positives > 0, "float32")

    def get_config(self):
        return {"name": self.name, "action": self.action}
