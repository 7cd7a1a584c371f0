"""`BackupAndRestore` whose backup a kill can never leave half-written."""

import json
import os

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
