"""The training loss: binary cross-entropy per action, weighted by action, over valid candidates."""

import keras
from keras import ops

from datasets.actions import DEFAULT_LOSS_WEIGHTS
from layers.registration import serializable


@serializable
class WeightedActionCrossEntropy(keras.losses.Loss):
    """Sigmoid cross-entropy per action, summed with per-action weights.

    Pass the candidate mask `[B, C]` as `sample_weight`: padding candidates then
    contribute nothing, and the default reduction `"mean_with_sample_weight"`
    divides by the number of valid candidates rather than by `B * C`. Computed in
    float32 whatever the dtype policy.

    Two optional terms regularise the ranking. `label_smoothing` trains each
    sigmoid towards `y * (1 - e) + e / 2` instead of `y`. `listwise_weight`
    adds, per action, the softmax cross-entropy over the list's candidates
    against the list's positives of that action (`y / sum_c y`; a list without
    one contributes nothing), weighted like the per-action terms: each
    candidate carries its own `-q_c log softmax_c`, so the mean over candidates
    is the mean list cross-entropy divided by `C`. The softmax runs over all
    `C` slots: a padding slot (which training lists hold only when the sampler
    cannot fill them) counts in its denominator.

    Args:
        action_weights: one weight per action, in the order of
            `datasets.actions.ACTION_NAMES` (transaction, addtocart, view).
        label_smoothing: `e` in [0, 1).
        listwise_weight: weight of the listwise term, >= 0.

    Call arguments:
        y_true: `[B, C, A]` labels in {0, 1}.
        y_pred: `[B, C, A]` logits.
        sample_weight: `[B, C]` candidate mask.
    """

    def __init__(
        self,
        action_weights=DEFAULT_LOSS_WEIGHTS,
        label_smoothing=0.0,
        listwise_weight=0.0,
        name="weighted_action_cross_entropy",
        reduction="mean_with_sample_weight",
        dtype="float32",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)
        action_weights = tuple(float(w) for w in action_weights)
        if not action_weights or any(w < 0 for w in action_weights):
            raise ValueError(
                "`action_weights` must be non-empty and non-negative, one per "
                f"action. Received: action_weights={action_weights}"
            )
        if not 0 <= label_smoothing < 1:
            raise ValueError(
                f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}"
            )
        if not listwise_weight >= 0:
            raise ValueError(
                f"`listwise_weight` must be at least 0. Received: listwise_weight={listwise_weight}"
            )
        self.action_weights = action_weights
        self.label_smoothing = float(label_smoothing)
        self.listwise_weight = float(listwise_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")  # [B, C, A]
        y_pred = ops.cast(y_pred, "float32")  # [B, C, A]
        targets = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing  # [B, C, A]
        per_action = ops.binary_crossentropy(targets, y_pred, from_logits=True)  # [B, C, A]
        if self.listwise_weight > 0:
            positives = ops.sum(y_true, axis=1, keepdims=True)  # [B, 1, A]
            shares = y_true / ops.maximum(positives, 1.0)  # [B, C, A]
            listwise = -shares * ops.log_softmax(y_pred, axis=1)  # [B, C, A]
            per_action = per_action + self.listwise_weight * listwise  # [B, C, A]
        weights = ops.convert_to_tensor(self.action_weights, dtype="float32")  # [A]
        return ops.sum(per_action * weights, axis=-1)  # [B, C]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "action_weights": list(self.action_weights),
                "label_smoothing": self.label_smoothing,
                "listwise_weight": self.listwise_weight,
            }
        )
        return config
