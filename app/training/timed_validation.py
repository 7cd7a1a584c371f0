"""A Keras callback base that validates after every epoch, times the validation and logs one line."""

import logging
import time

import keras

logger = logging.getLogger("app.training.timed_validation")


class TimedValidation(keras.callbacks.Callback):
    """Calls `validate(epoch, logs)` at every epoch's end, keeps the seconds it took, logs a line.

    Subclasses implement `validate`, which adds its figures to `logs` and returns a short summary of them; the
    line logged is `Epoch N: <summary>, loss L; validation V s.` `validation_seconds[e]` is epoch `e`'s validation
    time (the epoch's own times are `app.training.flow.EpochTimer`'s).
    """

    def __init__(self):
        super().__init__()
        self.validation_seconds = []

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        summary = self.validate(epoch, logs)
        self.validation_seconds.append(time.perf_counter() - started)
        logger.info("Epoch %d: %s, loss %.4f; validation %.0f s.", epoch + 1, summary, logs.get("loss", float("nan")),
                    self.validation_seconds[-1])

    def validate(self, epoch, logs):
        """Adds epoch `epoch`'s validation figures to `logs`; returns their summary for the log line."""
        raise NotImplementedError
