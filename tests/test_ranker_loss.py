"""The weighted per-action cross-entropy against hand-computed values."""

import math

import keras
import numpy as np
import pytest

from app.ranker.loss import WeightedActionCrossEntropy


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


def test_label_smoothing_trains_towards_softened_targets():
    labels = np.array([[[1, 0, 1], [0, 0, 1]]], "float32")  # [1, 2, 3]
    logits = np.array([[[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]]], "float32")
    weights = (10.0, 3.0, 1.0)
    smoothed = labels * 0.8 + 0.1
    expected = sum(
        weights[a] * bce(smoothed[0, c, a], logits[0, c, a]) for c in range(2) for a in range(3)
    ) / 2
    loss = WeightedActionCrossEntropy(weights, label_smoothing=0.2)(labels, logits)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_listwise_term_is_the_softmax_cross_entropy_over_each_lists_positives():
    labels = np.array(
        [[[1, 0, 1], [0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 1, 0]]], "float32"
    )  # [2, 3, 3]: list 0 has one transaction and two views, list 1 one add-to-cart
    logits = np.random.default_rng(1).normal(size=(2, 3, 3)).astype("float32")
    weights = (10.0, 3.0, 1.0)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))  # over the candidates
    list_terms = (
        weights[0] * -log_softmax[0, 0, 0]  # the one transaction
        + weights[2] * -(log_softmax[0, 0, 2] + log_softmax[0, 1, 2]) / 2  # two views, half the target each
        + weights[1] * -log_softmax[1, 2, 1]  # the one add-to-cart
    )  # actions without a positive in a list add nothing
    pointwise = WeightedActionCrossEntropy(weights)(labels, logits)
    combined = WeightedActionCrossEntropy(weights, listwise_weight=0.5)(labels, logits)
    # Spread over each list's candidates: the mean over the 6 candidates adds 0.5 * (sum of list terms) / 6.
    assert float(combined) == pytest.approx(float(pointwise) + 0.5 * list_terms / 6, rel=1e-5)


def test_options_round_trip_and_are_validated():
    loss = WeightedActionCrossEntropy(label_smoothing=0.1, listwise_weight=2.0)
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (rebuilt.label_smoothing, rebuilt.listwise_weight) == (0.1, 2.0)
    with pytest.raises(ValueError, match="Received: label_smoothing=1.0"):
        WeightedActionCrossEntropy(label_smoothing=1.0)
    with pytest.raises(ValueError, match="Received: listwise_weight=-1"):
        WeightedActionCrossEntropy(listwise_weight=-1)
