"""The attention mask that keeps candidates from seeing one another."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class CandidateIsolationMask(keras.layers.Layer):
    """Builds the `[B, T, T]` attention mask over `[customer, history, candidates]`.

    Tokens are ordered customer (1), history (S), candidates (C), so
    `T = 1 + S + C`. The customer token is always valid. Customer and history
    tokens attend causally among themselves (query `t` may attend key
    `s <= t`); each candidate attends to every valid customer/history token
    and to itself, never to another candidate, so a candidate's output does not
    depend on the other candidates. Padding keys are never attended, and a
    padding query row attends to nothing (all False), which
    `GroupedQueryAttention` turns into a zero output.

    Call arguments:
        history_mask: bool tensor `[B, S]`, True on real history events.
        candidate_mask: bool tensor `[B, C]`, True on real candidates.

    Returns:
        Bool tensor `[B, T, T]`, True where query `t` may attend to key `s`.
    """

    def call(self, history_mask, candidate_mask):
        history_mask = ops.cast(history_mask, "bool")  # [B, S]
        candidate_mask = ops.cast(candidate_mask, "bool")  # [B, C]
        batch = ops.shape(history_mask)[0]
        customer = ops.ones((batch, 1), dtype="bool")  # [B, 1]
        valid = ops.concatenate([customer, history_mask, candidate_mask], axis=1)  # [B, T]
        prefix = 1 + ops.shape(history_mask)[1]
        index = ops.arange(ops.shape(valid)[1])  # [T]
        query, key = index[:, None], index[None, :]  # [T, 1], [1, T]
        allowed = ops.logical_or(
            ops.logical_and(key < prefix, key <= query), key == query
        )  # [T, T]
        return ops.logical_and(
            allowed[None, :, :],
            ops.logical_and(valid[:, :, None], valid[:, None, :]),
        )  # [B, T, T]
