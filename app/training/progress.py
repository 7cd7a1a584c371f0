"""A training progress bar narrow enough to read: the loss and a few ranking figures."""

import keras

SHOWN_IN_EPOCH = ("loss", "ndcg@10")
"""Shown while an epoch runs (running means over its batches; training lists of `num_candidates`)."""

SHOWN_AT_EPOCH_END = ("val_loss", "val_ndcg@10", "val_hr@10")
"""Added when the epoch ends (the validation lists)."""


class CompactProgressBar(keras.callbacks.Callback):
    """Keras' progress bar with the loss and three ranking figures, for `fit(..., verbose=0)`.

    Every other figure still reaches the logs (CSV, TensorBoard, the report);
    this only decides what a person watching the terminal reads.

    Args:
        verbose: 1 for a bar updated every step, 2 for one line per epoch (logs and CI).
    """

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params['epochs']}")
        shown = SHOWN_IN_EPOCH + SHOWN_AT_EPOCH_END
        self._bar = keras.utils.Progbar(self.params["steps"], verbose=self.verbose, stateful_metrics=shown)

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 < self.params["steps"]:  # the last step's update comes with the epoch's end
            logs = logs or {}
            self._bar.update(batch + 1, values=[(name, logs[name]) for name in SHOWN_IN_EPOCH if name in logs])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = [(name, logs[name]) for name in SHOWN_IN_EPOCH + SHOWN_AT_EPOCH_END if name in logs]
        self._bar.update(self.params["steps"], values=shown, finalize=True)
