"""Ranking and per-action metrics against hand-computed values: padding, ties, lists with no positive."""

import math

import keras
import numpy as np
import pytest
from layer_checks import run_metric_test

from app.evaluation.list_metrics import METRIC_KEYS, roc_auc, score_lists
from app.ranker.metrics import (
    ActionAUC,
    ActionBinaryAccuracy,
    HitRate,
    HitRateFromLogits,
    MeanActionProbability,
    MRRFromLogits,
    NDCGFromLogits,
    training_metrics,
)

# Per-action labels (transaction, addtocart, view) of the grades used below.
TRANSACTION = [1.0, 1.0, 1.0]  # grade 3
VIEW = [0.0, 0.0, 1.0]  # grade 1
NONE = [0.0, 0.0, 0.0]  # grade 0


def test_ndcg_mrr_hr_on_a_hand_computed_list():
    labels = np.array([[NONE, TRANSACTION, VIEW]])  # grades [0, 3, 1]
    scores = np.array([[0.9, 0.8, 0.1]])  # ranking: none, transaction, view
    mask = np.ones((1, 3))
    dcg = (2**3 - 1) / math.log2(3) + (2**1 - 1) / math.log2(4)
    ideal = (2**3 - 1) / math.log2(2) + (2**1 - 1) / math.log2(3)
    report = score_lists(labels, mask, scores)
    assert report["ndcg@10"] == pytest.approx(dcg / ideal, rel=1e-5)
    assert report["mrr"] == pytest.approx(0.5)
    assert report["hr@10"] == 1.0
    assert report["lists"] == 1
    assert set(report) == set(METRIC_KEYS)


def test_padding_that_ties_with_a_real_candidate_never_ranks_above_it():
    # keras-rs moves masked scores just below the minimum; in float32 5.0 - 1e-7 == 5.0, so the
    # padding ties with the real candidate scored 5.0 and must still rank after it.
    labels = np.array([[VIEW, NONE, TRANSACTION, TRANSACTION]])  # the last two are padding
    scores = np.array([[5.0, 1e6, 5.0, 1e6]], dtype="float32")
    mask = np.array([[1.0, 1.0, 0.0, 0.0]])
    report = score_lists(labels, mask, scores)
    assert report["mrr"] == pytest.approx(0.5)  # the view is second of the two real candidates
    assert report["ndcg@10"] == pytest.approx(1 / math.log2(3), rel=1e-5)  # ideal DCG is 1
    assert report["auc_view"] == 0.0  # the view scored below the non-event
    hit_at_1 = HitRate(k=1, seed=0)
    hit_at_1.update_state(np.array([[1.0, 0.0, 3.0, 3.0]]), scores, sample_weight=mask)
    assert float(hit_at_1.result()) == 0.0


def test_a_list_with_no_positive_counts_as_zero():
    labels = np.array([[TRANSACTION, NONE], [NONE, NONE]])
    scores = np.array([[0.9, 0.1], [0.9, 0.1]])
    report = score_lists(labels, np.ones((2, 2)), scores)
    assert report["ndcg@10"] == pytest.approx(0.5)
    assert report["mrr"] == pytest.approx(0.5)
    assert report["hr@10"] == pytest.approx(0.5)
    assert report["lists"] == 2


def test_all_padding_lists_are_not_counted():
    labels = np.array([[TRANSACTION, NONE], [TRANSACTION, NONE]])
    mask = np.array([[1.0, 1.0], [0.0, 0.0]])
    report = score_lists(labels, mask, np.array([[0.9, 0.1], [0.1, 0.9]]))
    assert report["lists"] == 1
    assert report["ndcg@10"] == pytest.approx(1.0)


def test_ties_among_real_candidates_are_broken_by_a_fixed_seed():
    labels = np.array([[VIEW, NONE, NONE, NONE]] * 400)  # the positive always comes first
    scores = np.zeros((400, 4))
    first = score_lists(labels, np.ones((400, 4)), scores)
    assert first == score_lists(labels, np.ones((400, 4)), scores)
    # Random tie-breaking ranks the positive first in a quarter of the lists; keeping the
    # list order would give 1, and any fixed other order 0.
    hit_at_1 = HitRate(k=1, seed=0)
    hit_at_1.update_state(labels.max(axis=-1), scores, sample_weight=np.ones((400, 4)))
    assert float(hit_at_1.result()) == pytest.approx(0.25, abs=0.07)


def test_roc_auc_hand_computed_with_ties_and_one_class():
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([0, 0, 0], [0.1, 0.2, 0.3]) is None


def test_per_action_auc_ignores_padding():
    labels = np.array([[TRANSACTION, NONE, TRANSACTION]])
    action_scores = np.array([[[0.9, 0.9, 0.9], [0.2, 0.2, 0.2], [0.0, 0.0, 0.0]]])
    mask = np.array([[1.0, 1.0, 0.0]])
    report = score_lists(labels, mask, action_scores.sum(-1), action_scores=action_scores)
    assert report["auc_transaction"] == 1.0  # the padded positive scored 0 would make it 0.5


def test_training_ndcg_from_logits_matches_the_report():
    rng = np.random.default_rng(0)
    labels = (rng.random((16, 8, 3)) < 0.2).astype("float32")
    logits = rng.normal(size=(16, 8, 3)).astype("float32")
    mask = (rng.random((16, 8)) < 0.8).astype("float32")
    metric = NDCGFromLogits(k=10)
    metric.update_state(labels, logits, sample_weight=mask)
    probabilities = 1 / (1 + np.exp(-logits))
    report = score_lists(labels, mask, probabilities @ np.array([10.0, 3.0, 1.0]))
    assert float(metric.result()) == pytest.approx(report["ndcg@10"], rel=1e-5)


def test_action_readouts_hand_computed():
    labels = np.array([[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]], "float32")
    logits = np.array([[[2.0, -1.0, 0.0], [-2.0, 1.0, 3.0], [5.0, 5.0, 5.0]]], "float32")
    mask = np.array([[1.0, 1.0, 0.0]], "float32")
    accuracy = ActionBinaryAccuracy("transaction")
    accuracy.update_state(labels, logits, sample_weight=mask)
    assert float(accuracy.result()) == 1.0
    positive = MeanActionProbability("transaction", happened=True)
    positive.update_state(labels, logits, sample_weight=mask)
    assert float(positive.result()) == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-5)
    negative = MeanActionProbability("transaction", happened=False)
    negative.update_state(labels, logits, sample_weight=mask)
    assert float(negative.result()) == pytest.approx(1 / (1 + math.exp(2.0)), rel=1e-5)
    auc = ActionAUC("addtocart")
    auc.update_state(labels, logits, sample_weight=mask)
    assert float(auc.result()) == 0.0  # no addtocart among the valid candidates: Keras reports 0


def test_training_metric_names():
    names = [metric.name for metric in training_metrics()]
    assert names[:3] == ["ndcg@10", "hr@10", "mrr"]
    assert "auc_transaction" in names and "p_view_neg" in names


# One batch without ties for the metric checks: list 0 ranks its transaction 2nd, list 1 its view 1st; the last
# candidate of list 1 is padding.
CHECK_LABELS = np.array([[NONE, TRANSACTION, NONE], [VIEW, NONE, TRANSACTION]], "float32")
CHECK_LOGITS = np.array(
    [[[3.0, 3.0, 3.0], [1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]], [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]],
    "float32",
)
CHECK_MASK = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], "float32")
CHECK_GRADES = np.array([[0.0, 3.0, 0.0], [1.0, 0.0, 3.0]], "float32")
def sigmoid(x):
    return 1 / (1 + math.exp(-x))


CHECK_SCORES = np.array([[0.9, 0.5, 0.1], [0.8, 0.2, 0.9]], "float32")


@pytest.mark.parametrize(
    "metric_class, init_kwargs, inputs, expected",
    [
        (HitRate, {"k": 1, "seed": 3, "name": "hr@1"}, "scores", 0.5),
        (HitRateFromLogits, {"k": 1, "name": "hr@1"}, "logits", 0.5),
        (NDCGFromLogits, {"k": 10, "name": "ndcg@10"}, "logits", ((7 / math.log2(3)) / 7 + 1.0) / 2),
        (MRRFromLogits, {"name": "mrr"}, "logits", (0.5 + 1.0) / 2),
        (ActionAUC, {"action": "view"}, "logits", 2 / 3),
        (ActionBinaryAccuracy, {"action": "transaction"}, "logits", 3 / 5),
        (MeanActionProbability, {"action": "view", "happened": True}, "logits", (sigmoid(1.0) + sigmoid(2.0)) / 2),
    ],
)
def test_metric_checks(metric_class, init_kwargs, inputs, expected):
    if inputs == "scores":
        run_metric_test(metric_class, init_kwargs, CHECK_GRADES, CHECK_SCORES, CHECK_MASK, expected)
    else:
        run_metric_test(metric_class, init_kwargs, CHECK_LABELS, CHECK_LOGITS, CHECK_MASK, expected, rtol=1e-5)


def test_training_auc_stays_within_0_005_of_the_exact_auc_on_a_confident_model():
    # A confident model: most negatives' probabilities far below 1/200, where probability bins tie them.
    rng = np.random.default_rng(5)
    labels = np.zeros((64, 16, 3), "float32")
    labels[..., 0] = rng.random((64, 16)) < 0.1
    logits = np.where(labels > 0, rng.normal(-4.0, 2.5, labels.shape), rng.normal(-9.0, 2.5, labels.shape))
    logits = logits.astype("float32")
    mask = np.ones((64, 16), "float32")
    exact = roc_auc(labels[..., 0].ravel(), logits[..., 0].ravel())
    on_logit_scale = ActionAUC("transaction")
    on_logit_scale.update_state(labels, logits, sample_weight=mask)
    assert abs(float(on_logit_scale.result()) - exact) < 0.005
    probability_bins = keras.metrics.AUC()  # what the training log used before: it contradicts the report
    probability_bins.update_state(labels[..., 0], 1 / (1 + np.exp(-logits[..., 0])), sample_weight=mask)
    assert abs(float(probability_bins.result()) - exact) > 0.01
