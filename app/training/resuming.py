"""Resuming an interrupted run exactly: atomic backups, the data stream and early stopping where they were."""

import json
import os
import shutil
from pathlib import Path

import keras

BACKUP_WEIGHTS_FILE = "latest.weights.h5"
BACKUP_METADATA_FILE = "training_metadata.json"


def completed_epochs(backup_dir):
    """Epochs a backup in `backup_dir` has finished (0 without one): where a restarted run goes on."""
    metadata = Path(backup_dir) / BACKUP_METADATA_FILE
    return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0


class EpochBackup(keras.callbacks.Callback):
    """Backs up the weights and optimizer state after every epoch, and restores them when training begins.

    Each backup is written to temporary files first and moved over the
    previous one with `os.replace`, which is atomic: a run killed while it
    saves leaves either the old backup or the new one, never a corrupt file.
    The backup directory is deleted when training ends normally. Start `fit`
    with `initial_epoch=completed_epochs(backup_dir)` so that the epoch count
    goes on where the backup left it.

    Args:
        backup_dir: folder of the backup (`latest.weights.h5` and
            `training_metadata.json`, whose `epoch` is the epochs completed).
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def on_train_begin(self, logs=None):
        weights = self.backup_dir / BACKUP_WEIGHTS_FILE
        if weights.is_file():
            self.model.load_weights(weights)

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights = self.backup_dir / BACKUP_WEIGHTS_FILE
        metadata = self.backup_dir / BACKUP_METADATA_FILE
        partial_weights = self.backup_dir / f"partial.{BACKUP_WEIGHTS_FILE}"
        partial_metadata = self.backup_dir / f"partial.{BACKUP_METADATA_FILE}"
        self.model.save_weights(partial_weights, overwrite=True)
        partial_metadata.write_text(json.dumps({"epoch": epoch + 1}))
        os.replace(partial_weights, weights)
        os.replace(partial_metadata, metadata)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.backup_dir, ignore_errors=True)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that starts from the scores an interrupted run already logged.

    Plain `EarlyStopping` forgets its best score and patience count at every
    start, so each restart would lengthen the patience.

    Args:
        previous_scores: the monitored value of each epoch already run, in order.
        **kwargs: as for `keras.callbacks.EarlyStopping`; `mode` must be "max"
            or "min" (not "auto"), so that the best earlier epoch is defined.
    """

    def __init__(self, previous_scores=(), **kwargs):
        super().__init__(**kwargs)
        if self.mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'. Received: mode={self.mode!r}")
        self.previous_scores = list(previous_scores)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.previous_scores:
            pick = max if self.mode == "max" else min
            best_epoch = pick(range(len(self.previous_scores)), key=self.previous_scores.__getitem__)
            self.best = self.previous_scores[best_epoch]
            self.best_epoch = best_epoch
            self.wait = len(self.previous_scores) - 1 - best_epoch
