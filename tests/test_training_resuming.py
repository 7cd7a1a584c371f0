"""Resuming: a backup interrupted mid-write, the epochs done, early stopping's state."""

import json

import keras
import numpy as np
import pytest

from app.training.resuming import EpochBackup, ResumableEarlyStopping, completed_epochs


class Killed(Exception):
    """Stands in for the process dying in the middle of a save."""


def test_an_interrupted_save_keeps_the_previous_backup(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    backup = EpochBackup(tmp_path)
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


def test_completed_epochs_reads_the_backup(tmp_path):
    assert completed_epochs(tmp_path) == 0
    (tmp_path / "training_metadata.json").write_text(json.dumps({"epoch": 3, "batch": 0}))
    assert completed_epochs(tmp_path) == 3


def test_early_stopping_resumes_with_its_best_score_and_patience():
    stopping = ResumableEarlyStopping([0.1, 0.3, 0.2], monitor="val_ndcg@10", mode="max", patience=2)
    stopping.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopping.on_train_begin()
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.3, 1, 1)
    stopping.on_epoch_end(3, {"val_ndcg@10": 0.25})  # a second epoch without improvement: patience 2 is spent
    assert stopping.model.stop_training


def test_early_stopping_resumes_in_min_mode_and_refuses_auto():
    stopping = ResumableEarlyStopping([0.5, 0.2, 0.4], monitor="val_loss", mode="min", patience=3)
    stopping.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopping.on_train_begin()
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.2, 1, 1)
    with pytest.raises(ValueError, match="Received: mode='auto'"):
        ResumableEarlyStopping([0.1], monitor="val_ndcg@10", mode="auto")


def test_a_backup_restores_weights_and_optimizer_state_and_is_removed_at_the_end(tmp_path):
    def compiled():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
        return model

    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    trained = compiled()
    trained.fit(x, y, epochs=2, verbose=0, callbacks=[EpochBackup(tmp_path / "backup")])
    assert not (tmp_path / "backup").exists()  # a finished run leaves no backup

    interrupted = compiled()
    backup = EpochBackup(tmp_path / "backup")
    interrupted.fit(x, y, epochs=1, verbose=0, callbacks=[backup])
    backup.on_epoch_end(0)  # the state after epoch 1, as a run killed before its end would leave it
    assert completed_epochs(tmp_path / "backup") == 1
    resumed = compiled()
    resumed.fit(x, y, epochs=1, verbose=0)  # builds the optimizer: its state is then overwritten
    restore = EpochBackup(tmp_path / "backup")
    restore.set_model(resumed)
    restore.on_train_begin()
    for expected, actual in zip(interrupted.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))
    for expected, actual in zip(interrupted.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(actual, expected)
