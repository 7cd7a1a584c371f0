"""The ranking score and graded relevance of per-action predictions and labels (the vocabulary is
`datasets.actions`)."""

import numpy as np
from keras import ops

from datasets.actions import DEFAULT_LOSS_WEIGHTS, RELEVANCE_GRADES


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
