"""The weighted per-action cross-entropy against hand-computed values."""

import math

import keras
import numpy as np
import pytest

from app.loss import WeightedActionCrossEntropy


def bce(label, logit):
    probability = 1 / (1 + math.exp(-logit))
    return -(label * math.log(probability) + (1 - label) * math.log(1 - probability))


def test_weighted_sum_over_actions_divided_by_valid_candidates():
    labels = np.array([[[1, 0, 1], [0, 0, 1], [0, 0, 0]]], "float32")  # [1, 3, 3]
    logits = np.array([[[2.0, -1.0, 0.5], [0.0, 1.0, -2.0], [9.0, 9.0, 9.0]]], "float32")
    mask = np.array([[1.0, 1.0, 0.0]], "float32")  # the third candidate is padding
    weights = (10.0, 3.0, 1.0)
    expected = sum(
        weights[a] * bce(labels[0, c, a], logits[0, c, a]) for c in range(2) for a in range(3)
    ) / 2  # two valid candidates, not B * C = 3
    loss = WeightedActionCrossEntropy(weights)(labels, logits, sample_weight=mask)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_padding_contributes_nothing():
    rng = np.random.default_rng(0)
    labels = (rng.random((2, 4, 3)) < 0.5).astype("float32")
    logits = rng.normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], "float32")
    loss = WeightedActionCrossEntropy()
    changed = logits.copy()
    changed[mask == 0] = 50.0
    assert float(loss(labels, logits, sample_weight=mask)) == pytest.approx(
        float(loss(labels, changed, sample_weight=mask)), rel=1e-6
    )


def test_config_round_trip_and_validation():
    loss = WeightedActionCrossEntropy((5.0, 2.0, 1.0))
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert rebuilt.action_weights == (5.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="Received"):
        WeightedActionCrossEntropy((1.0, -1.0, 1.0))
