"""Figures logged after every epoch, computed exactly as the report computes them."""

import math

import keras
import numpy as np

from app.evaluation.list_metrics import score_lists
from app.evaluation.lists import predict_logits
from app.evaluation.report import COMPARED_KEYS
from app.ranker.actions import numpy_probabilities_and_scores
from app.ranker.loss import WeightedActionCrossEntropy

VALIDATION_PREFIX = "val"
TRAINING_LISTS_PREFIX = "train_lists"
"""Logged as `train_lists_ndcg@10`, ...: lists of the validation kind cut from the training split."""


class EpochListMetrics(keras.callbacks.Callback):
    """Scores fixed candidate lists after every epoch with the report's own code, and logs the figures.

    For each `{prefix: EvaluationLists}` it logs `<prefix>_<metric>` for the
    report's metrics (NDCG@10, HR@10, MRR and exact per-action ROC-AUC; an AUC
    undefined on the lists is logged as NaN) and `<prefix>_loss`, the training
    loss on those lists. Put it first among the callbacks: the checkpoint, early
    stopping and the CSV and TensorBoard logs read what it adds. It skips an
    epoch whose training loss is not finite (the run is being stopped).

    Args:
        lists: `{prefix: EvaluationLists}`, e.g. `{"val": validation lists}`.
        action_weights: the ranking score's and the loss's action weights.
        batch_size: lists per model call.
    """

    def __init__(self, lists, action_weights, batch_size):
        super().__init__()
        self.lists = lists
        self.action_weights = tuple(action_weights)
        self.batch_size = batch_size
        self.loss = WeightedActionCrossEntropy(action_weights=action_weights)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not math.isfinite(float(logs.get("loss", 0.0))):
            return
        for prefix, lists in self.lists.items():
            logits = predict_logits(self.model, lists.features, self.batch_size)  # [N, C, A]
            probabilities, scores = numpy_probabilities_and_scores(logits, self.action_weights)
            report = score_lists(lists.labels, lists.mask, scores, action_scores=probabilities)
            for key in COMPARED_KEYS:
                logs[f"{prefix}_{key}"] = math.nan if report[key] is None else report[key]
            loss = self.loss(lists.labels, logits, sample_weight=lists.mask)
            logs[f"{prefix}_loss"] = float(np.asarray(keras.ops.convert_to_numpy(loss)))
