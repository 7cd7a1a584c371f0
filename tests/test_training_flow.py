"""The one training flow (`app.training.flow.fit_model`) on a tiny model with a scripted validation figure: the best
epoch's weights kept (in memory or in a run folder), early stopping, timing, and a non-finite loss refused."""

import keras
import numpy as np
import pytest

from app.errors import UserError
from app.training.flow import BACKUP_DIR, BEST_WEIGHTS_FILE, LOG_FILE, fit_model

SCORES = [0.1, 0.5, 0.2, 0.3, 0.4, 0.9]
"""The validation figure of each epoch: best at epoch 2, then two epochs without a better one."""


class ScriptedValidation(keras.callbacks.Callback):
    """Logs `val_score` from `SCORES` and keeps the weights each epoch ended with."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = SCORES[epoch]
        self.weights.append(self.model.get_weights())


def batches(target=1.0):
    rng = np.random.default_rng(0)
    while True:
        features = rng.normal(size=(8, 3)).astype("float32")  # [B, 3]
        yield features, np.full((8, 1), target, "float32")


def tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def assert_same_weights(model, weights):
    assert all(np.array_equal(ours, theirs) for ours, theirs in zip(model.get_weights(), weights))


@pytest.mark.parametrize("in_a_run_folder", [False, True])
def test_the_best_epoch_is_kept_and_patience_stops_the_run(tmp_path, in_a_run_folder):
    model, validation = tiny_model(), ScriptedValidation()
    run_dir = tmp_path / "run" if in_a_run_folder else None
    if run_dir:
        run_dir.mkdir()
    result = fit_model(model, batches(), epochs=len(SCORES), steps_per_epoch=3, validation=validation,
                       monitor="val_score", patience=2, run_dir=run_dir, verbose=0)
    assert result.history["val_score"] == SCORES[:4]  # stopped after epoch 4
    assert len(result.epoch_seconds) == len(result.train_seconds) == 4
    assert all(0 < train <= epoch for train, epoch in zip(result.train_seconds, result.epoch_seconds))
    assert result.history["loss"][3] < result.history["loss"][0]
    assert_same_weights(model, validation.weights[1])  # epoch 2's, not the last epoch's
    if run_dir:
        assert len((run_dir / LOG_FILE).read_text().splitlines()) == 1 + 4
        assert (run_dir / BEST_WEIGHTS_FILE).is_file() and not (run_dir / BACKUP_DIR).exists()


def test_without_a_monitor_every_epoch_runs_and_the_last_weights_stay():
    model, validation = tiny_model(), ScriptedValidation()
    result = fit_model(model, batches(), epochs=3, steps_per_epoch=2, validation=validation, verbose=0)
    assert result.history["val_score"] == SCORES[:3]
    assert_same_weights(model, validation.weights[-1])


def test_a_non_finite_loss_stops_the_run_and_leaves_no_weights_behind(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(UserError, match=r"The training loss became nan at epoch 1, step 1; .*Lower --learning_rate "
                                        r"\(it was 0.05\)"):
        fit_model(tiny_model(), batches(target=np.nan), epochs=2, steps_per_epoch=2, validation=ScriptedValidation(),
                  monitor="val_score", run_dir=run_dir, verbose=0, learning_rate=0.05)
    assert not (run_dir / BEST_WEIGHTS_FILE).exists() and not (run_dir / BACKUP_DIR).exists()
