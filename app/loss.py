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

    Args:
        action_weights: one weight per action, in the order of
            `datasets.actions.ACTION_NAMES` (transaction, addtocart, view).

    Call arguments:
        y_true: `[B, C, A]` labels in {0, 1}.
        y_pred: `[B, C, A]` logits.
        sample_weight: `[B, C]` candidate mask.
    """

    def __init__(
        self,
        action_weights=DEFAULT_LOSS_WEIGHTS,
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
        self.action_weights = action_weights

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")  # [B, C, A]
        y_pred = ops.cast(y_pred, "float32")  # [B, C, A]
        per_action = ops.binary_crossentropy(y_true, y_pred, from_logits=True)  # [B, C, A]
        weights = ops.convert_to_tensor(self.action_weights, dtype="float32")  # [A]
        return ops.sum(per_action * weights, axis=-1)  # [B, C]

    def get_config(self):
        config = super().get_config()
        config.update({"action_weights": list(self.action_weights)})
        return config
