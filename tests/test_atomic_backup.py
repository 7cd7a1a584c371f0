"""A backup interrupted while it is written leaves the previous one readable."""

import json

import keras
import numpy as np
import pytest

from app.atomic_backup import AtomicBackupAndRestore


class Killed(Exception):
    """Stands in for the process dying in the middle of a save."""


def test_an_interrupted_save_keeps_the_previous_backup(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    backup = AtomicBackupAndRestore(backup_dir=str(tmp_path))
    backup.set_model(model)
    backup.on_epoch_end(0)
    saved = [w.copy() for w in model.get_weights()]

    def dies_half_way(filepath, overwrite=True):
        with open(filepath, "wb") as file:
            file.write(b"\x89HDF\r\n half a file")
        raise Killed

    model.set_weights([w + 1.0 for w in saved])
    model.save_weights = dies_half_way
    with pytest.raises(Killed):
        backup.on_epoch_end(1)

    restored = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    restored.load_weights(tmp_path / "latest.weights.h5")
    for expected, actual in zip(saved, restored.get_weights()):
        np.testing.assert_array_equal(actual, expected)
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 1
