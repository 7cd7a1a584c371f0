"""Token positions that depend only on the valid events, never on padding."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class SequencePositions(keras.layers.Layer):
    """Computes int32 positions `[B, T]` over `[customer, history, candidates]`.

    The customer token is position 0; the k-th valid history event is
    position k (1-based count of valid events, so padding anywhere in the
    history moves no valid token); every valid candidate gets the same
    position `n_valid_history + 1`, so a candidate's score does not depend on
    its slot. Padding tokens get 0.

    Call arguments:
        history_mask: bool tensor `[B, S]`, True on real history events.
        candidate_mask: bool tensor `[B, C]`, True on real candidates.

    Returns:
        Int32 tensor `[B, T]` with `T = 1 + S + C`.
    """

    def call(self, history_mask, candidate_mask):
        history = ops.cast(ops.cast(history_mask, "bool"), "int32")  # [B, S]
        candidates = ops.cast(ops.cast(candidate_mask, "bool"), "int32")  # [B, C]
        history_positions = ops.cumsum(history, axis=1) * history  # [B, S]
        next_position = ops.sum(history, axis=1, keepdims=True) + 1  # [B, 1]
        candidate_positions = next_position * candidates  # [B, C]
        customer = ops.zeros_like(next_position)  # [B, 1]
        return ops.concatenate(
            [customer, history_positions, candidate_positions], axis=1
        )  # [B, T]
