"""Selects the candidate tokens at the end of the token sequence."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class CandidateTokens(keras.layers.Layer):
    """Takes the last `C` tokens of `[customer, history (S), candidates (C)]`.

    `C` is read from the candidate ids at call time, so one model serves any
    number of candidates.

    Call arguments:
        tokens: `[B, T, D]` hidden states, `T = 1 + S + C`.
        candidate_ids: `[B, C]` candidate item ids (only the shape is used).

    Returns:
        `[B, C, D]` hidden states of the candidates.
    """

    def call(self, tokens, candidate_ids):
        num_candidates = ops.shape(candidate_ids)[1]
        return tokens[:, -num_candidates:, :]  # [B, C, D]

    def compute_output_shape(self, tokens_shape, candidate_ids_shape):
        return (tokens_shape[0], candidate_ids_shape[1], tokens_shape[2])
