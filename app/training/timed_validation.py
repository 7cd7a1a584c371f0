"""A Keras callback base that validates after every epoch, times training and validation, and logs one line."""

import logging
import time

import keras

logger = logging.getLogger("app.training.timed_validation")


class TimedValidation(keras.callbacks.Callback):
    """Calls `validate(epoch, logs)` at every epoch's end, keeps the seconds spent on each part, logs a line.

    Subclasses implement `validate`, which adds its figures to `logs` and
    returns a short summary of them; the line logged is `Epoch N: <summary>,
    loss L; train T s, validation V s.` `train_seconds[e]` is epoch `e`'s
    training time, `evaluation_seconds[e]` its validation time.
    """

    def __init__(self):
        super().__init__()
        self.train_seconds = []
        self.evaluation_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        self.train_seconds.append(started - self._started)
        summary = self.validate(epoch, logs)
        self.evaluation_seconds.append(time.perf_counter() - started)
        logger.info("Epoch %d: %s, loss %.4f; train %.0f s, validation %.0f s.", epoch + 1, summary,
                    logs.get("loss", float("nan")), self.train_seconds[-1], self.evaluation_seconds[-1])

    def validate(self, epoch, logs):
        """Adds epoch `epoch`'s validation figures to `logs`; returns their summary for the log line."""
        raise NotImplementedError
