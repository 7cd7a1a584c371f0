"""Resuming an interrupted run exactly: atomic backups, the data stream and early stopping where they were."""

import json
import os
from pathlib import Path

import keras


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore`, writing each backup beside the old one and renaming it into place.

    Keras writes the weights file in place, so a run killed while it saves
    leaves a corrupt file that the next start cannot read. Here the weights and
    the epoch counter are written to temporary files first and moved over the
    previous backup with `os.replace`, which is atomic: a kill leaves either the
    old backup or the new one.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"{self._weights_path[: -len('.weights.h5')]}.partial.weights.h5"
        metadata = f"{self._training_metadata_path}.partial"
        self.model.save_weights(filepath=weights, overwrite=True)
        with open(metadata, "w") as file:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, file)
        os.replace(weights, self._weights_path)
        os.replace(metadata, self._training_metadata_path)


def completed_epochs(backup_dir):
    """Epochs a backup in `backup_dir` has finished (0 without one): where a restarted run goes on."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that starts from the scores an interrupted run already logged.

    Plain `EarlyStopping` forgets its best score and patience count at every
    start, so each restart would lengthen the patience.

    Args:
        previous_scores: the monitored value of each epoch already run, in order.
        **kwargs: as for `keras.callbacks.EarlyStopping` (`mode` must be "max").
    """

    def __init__(self, previous_scores=(), **kwargs):
        super().__init__(**kwargs)
        self.previous_scores = list(previous_scores)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.previous_scores:
            best_epoch = max(range(len(self.previous_scores)), key=self.previous_scores.__getitem__)
            self.best = self.previous_scores[best_epoch]
            self.best_epoch = best_epoch
            self.wait = len(self.previous_scores) - 1 - best_epoch
