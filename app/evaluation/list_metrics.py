"""The report's metrics for one scorer over fixed candidate lists (model and baselines alike)."""

import keras_rs
import numpy as np
from keras import ops
from sklearn.metrics import roc_auc_score

from app.ranker.actions import relevance
from app.ranker.metrics import TIE_SEED, HitRate
from datasets.actions import ACTION_NAMES

METRIC_KEYS = ("ndcg@10", "hr@10", "mrr") + tuple(f"auc_{a}" for a in ACTION_NAMES) + ("lists",)
"""Keys of one scorer's report entry `R` (a public contract, see README)."""

def _ranking_metric(metric, graded, scores, mask):
    metric.update_state(graded, scores, sample_weight=mask)
    return float(ops.convert_to_numpy(metric.result()))


def roc_auc(labels, scores):
    """Exact ROC-AUC with ties counted half, or `None` when only one class is present."""
    labels = np.asarray(labels)
    if labels.min(initial=1) == labels.max(initial=0):
        return None
    return float(roc_auc_score(labels, scores))


def score_lists(labels, mask, scores, action_scores=None):
    """Ranking and per-action metrics of one scorer over candidate lists.

    Args:
        labels: `[N, C, A]` per-action labels.
        mask: `[N, C]` 1 for real candidates, 0 for padding.
        scores: `[N, C]` the scorer's ranking scores.
        action_scores: optional `[N, C, A]` per-action scores for the AUCs (the
            model's probabilities); by default `scores` serves every action.

    Returns:
        A dict with the keys of `METRIC_KEYS`: NDCG@10, HR@10 and MRR over the
        lists (keras-rs, ties shuffled with a fixed seed, padding never ranked),
        ROC-AUC per action over the valid candidates (`None` where an action never
        happened), and the number of lists.
    """
    labels = np.asarray(labels, dtype="float32")
    mask = np.asarray(mask, dtype="float32")
    scores = np.asarray(scores, dtype="float32")
    graded = ops.convert_to_numpy(relevance(ops.convert_to_tensor(labels)))  # [N, C]
    report = {
        "ndcg@10": _ranking_metric(
            keras_rs.metrics.NDCG(k=10, seed=TIE_SEED), graded, scores, mask
        ),
        "hr@10": _ranking_metric(HitRate(k=10, seed=TIE_SEED), graded, scores, mask),
        "mrr": _ranking_metric(
            keras_rs.metrics.MeanReciprocalRank(seed=TIE_SEED), graded, scores, mask
        ),
    }
    valid = mask > 0  # [N, C]
    for index, action in enumerate(ACTION_NAMES):
        per_action = scores if action_scores is None else np.asarray(action_scores)[..., index]
        report[f"auc_{action}"] = roc_auc(labels[..., index][valid], per_action[valid])
    report["lists"] = int(np.count_nonzero(valid.any(axis=1)))
    return report
