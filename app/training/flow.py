"""The one training flow: `fit_model` fits a compiled model with its validation, keeps the best epoch, stops early,
times the epochs, stops on a non-finite loss and, given a run folder, backs up, resumes and logs.

Every model kind trains through it (the ranker's runs, the tuner's trials); what differs is the compiled model, its
batches and the validation callback that adds the monitored figure to each epoch's logs.
"""

import dataclasses
import math
import shutil
import time

import keras

from app.errors import UserError
from app.evaluation.plots import read_training_log
from app.training.resuming import EpochBackup, ResumableEarlyStopping, completed_epochs

BACKUP_DIR = "backup"
LOG_FILE = "training_log.csv"
BEST_WEIGHTS_FILE = "best.weights.h5"


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch: `train_seconds` its batches (the first includes compilation), `seconds`
    all of it, validation, checkpoints and backups included. Put it first among the callbacks."""

    def __init__(self):
        super().__init__()
        self.train_seconds = []
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._close_epoch()
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds.append(time.perf_counter() - self._start)  # before every other callback's epoch end

    def on_train_end(self, logs=None):
        self._close_epoch()

    def _close_epoch(self):
        """Ends the epoch begun last, once every callback has finished with it."""
        if self._start is not None and len(self.seconds) < len(self.train_seconds):
            self.seconds.append(time.perf_counter() - self._start)


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Keras' `TerminateOnNaN`, remembering where the loss stopped being finite instead of printing it.

    After `fit`, `non_finite` is `None`, or `(epoch, batch, loss)` of the first
    batch whose loss was NaN or infinite.
    """

    def __init__(self):
        super().__init__()
        self.non_finite = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.non_finite is None:
            self.non_finite = (self._epoch, batch, float(loss))
            self.model.stop_training = True


@dataclasses.dataclass
class FitResult:
    """What `fit_model` leaves besides the trained weights.

    Args:
        history: `{name: [value per epoch]}` of the epochs run in this call.
        epoch_seconds: wall-clock seconds of each of those epochs, validation included.
        train_seconds: the seconds of each epoch's training batches alone.
    """

    history: dict
    epoch_seconds: list
    train_seconds: list


def fit_model(model, batches, epochs, steps_per_epoch, validation=None, monitor=None, patience=0, run_dir=None,
              callbacks=(), verbose=1, progress_bar=None, learning_rate=None):
    """Fits the compiled `model` on `batches`, and leaves it with its best epoch's weights.

    Args:
        model: a compiled Keras model.
        batches: the training stream (seeded, endless or of `epochs * steps_per_epoch` batches).
        epochs: epochs to run in all (a resumed run counts those already done).
        steps_per_epoch: batches per epoch.
        validation: a callback that adds the epoch's validation figures to its logs (`monitor` among them), or
            None. It runs first, so everything after it sees its figures.
        monitor: the logged figure that picks the best epoch (higher is better) and stops early after `patience`
            epochs without a better one; None: no best epoch, no early stopping.
        patience: epochs without a better `monitor` before stopping.
        run_dir: a `Path` for the run's files (`backup/`, `training_log.csv`, `tensorboard/`, the best weights):
            the run then resumes from its backup where an interrupted one stopped. None: nothing on disk, the
            best epoch's weights are kept in memory.
        callbacks: more callbacks, after the validation.
        verbose: Keras' `verbose` for the progress bar.
        progress_bar: a callback drawing the progress bar instead of Keras' own, or None.
        learning_rate: the learning rate to name in the error when the loss turns non-finite.

    Returns:
        A `FitResult`.

    Raises:
        UserError: when the loss becomes NaN or infinite; the run's weights on disk (backup and best epoch) are
            deleted, so no model file is left behind.
    """
    stopper = StopOnNonFiniteLoss()
    timer = EpochTimer()
    done = completed_epochs(run_dir / BACKUP_DIR) if run_dir is not None else 0
    chosen = [timer, stopper, *([validation] if validation is not None else []), *callbacks]
    if run_dir is not None:
        chosen += _run_folder_callbacks(run_dir, done, monitor, patience)
    elif monitor is not None:
        chosen.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=patience,
                                                    restore_best_weights=True))
    if progress_bar is not None:
        chosen.append(progress_bar)
    history = model.fit(
        batches.skip(done * steps_per_epoch) if done else batches,
        epochs=epochs,
        initial_epoch=done,
        steps_per_epoch=steps_per_epoch,
        callbacks=chosen,
        shuffle=False,  # the pipelines shuffle, seeded
        verbose=0 if progress_bar is not None else verbose,
    )
    best_weights = run_dir / BEST_WEIGHTS_FILE if run_dir is not None else None
    if stopper.non_finite is not None:
        epoch, batch, loss = stopper.non_finite
        if run_dir is not None:
            best_weights.unlink(missing_ok=True)
            shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
        advice = f"Lower --learning_rate (it was {learning_rate:g})" if learning_rate else "Lower the learning rate"
        raise UserError(f"The training loss became {loss} at epoch {epoch + 1}, step {batch + 1}; training stopped "
                        f"and no model was saved. {advice} or check the data.")
    if best_weights is not None and best_weights.exists():
        model.load_weights(best_weights)
    return FitResult({name: list(values) for name, values in history.history.items()}, timer.seconds,
                     timer.train_seconds)


def _run_folder_callbacks(run_dir, done, monitor, patience):
    """Backup and resume, the best epoch's weights on disk, early stopping from the logged scores, CSV and
    TensorBoard logs, all in `run_dir`."""
    log_path = run_dir / LOG_FILE
    previous_scores = read_training_log(log_path).get(monitor, [])[:done] if log_path.exists() else []
    callbacks = [EpochBackup(run_dir / BACKUP_DIR)]
    if monitor is not None:
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                str(run_dir / BEST_WEIGHTS_FILE),
                monitor=monitor,
                mode="max",
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=max(previous_scores, default=None),
            ),
            ResumableEarlyStopping(previous_scores, monitor=monitor, mode="max", patience=patience),
        ]
    return callbacks + [
        keras.callbacks.CSVLogger(str(log_path), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
    ]
