"""The three actions the ranker predicts, their loss weights, grades and the ranking score."""


import numpy as np
from keras import ops

ACTION_NAMES = ("transaction", "addtocart", "view")
"""Order of the last axis of labels and logits `[B, C, A]`."""

DEFAULT_LOSS_WEIGHTS = (10.0, 3.0, 1.0)
"""Loss weight per action, also the weights of the default ranking score."""

RELEVANCE_GRADES = (3.0, 2.0, 1.0)
"""Graded relevance of a candidate: its strongest action (transaction 3, addtocart 2, view 1, none 0)."""

def ranking_scores(probabilities, weights=DEFAULT_LOSS_WEIGHTS):
    """One score per candidate: the weighted sum of the action probabilities.

    Args:
        probabilities: `[B, C, A]` action probabilities.
        weights: `A` weights, by default the loss weights.

    Returns:
        `[B, C]` scores.
    """
    weights = ops.convert_to_tensor(weights, dtype=probabilities.dtype)  # [A]
    return ops.sum(probabilities * weights, axis=-1)  # [B, C]


def numpy_probabilities_and_scores(logits, weights=DEFAULT_LOSS_WEIGHTS):
    """Action probabilities `[..., A]` and ranking scores `[...]` of numpy logits `[..., A]`."""
    probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float32)))  # [..., A]
    return probabilities, probabilities @ np.asarray(weights, dtype=np.float32)


def relevance(labels):
    """Graded relevance `[B, C]` from per-action labels `[B, C, A]` (0 where no action happened)."""
    grades = ops.convert_to_tensor(RELEVANCE_GRADES, dtype=labels.dtype)  # [A]
    return ops.max(labels * grades, axis=-1)  # [B, C]
