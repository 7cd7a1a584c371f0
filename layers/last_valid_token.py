"""The hidden state of each sequence's last valid token."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class LastValidToken(keras.layers.Layer):
    """Gathers, per row, the hidden state at the last position where `mask` is True.

    With a causal mask that state has seen every valid token of the row and
    nothing after it: it summarises the sequence. A row without any valid token
    returns position 0.

    Call arguments:
        hidden: tensor `[B, T, D]`.
        mask: bool tensor `[B, T]`, True on valid tokens.

    Returns:
        Tensor `[B, D]` in the dtype of `hidden`.

    Example:

    ```python
    hidden = np.arange(6, dtype="float32").reshape(1, 3, 2)
    LastValidToken()(hidden, np.array([[True, True, False]]))  # [[2., 3.]]
    ```
    """

    def call(self, hidden, mask):
        mask = ops.cast(ops.cast(mask, "bool"), "int32")  # [B, T]
        positions = ops.arange(ops.shape(mask)[1], dtype="int32")  # [T]
        last = ops.max(positions[None, :] * mask, axis=1)  # [B]
        gathered = ops.take_along_axis(hidden, last[:, None, None], axis=1)  # [B, 1, D]
        return ops.squeeze(gathered, axis=1)  # [B, D]

    def compute_output_shape(self, hidden_shape, mask_shape=None):
        return (hidden_shape[0], hidden_shape[2])
