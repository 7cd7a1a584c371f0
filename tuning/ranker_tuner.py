"""A KerasTuner `Tuner` that keeps trial metadata only: no per-trial checkpoints on disk."""

import copy
import logging
import time

import keras_tuner
import numpy as np

from app.training.ranker import MONITOR
from tuning.peak_memory import PeakMemory

logger = logging.getLogger("tuning.ranker_tuner")

OBJECTIVE = keras_tuner.Objective(MONITOR, "max")

TUNERS = ("bayesian", "hyperband", "random")
"""The oracles `make_oracle` offers; Bayesian is the default (see `tuning.search`)."""

def best_epoch_metrics(history):
    """Every metric `model.fit` logged (`{name: [value per epoch]}`), at the epoch with the best `val_ndcg@10`."""
    best = int(np.argmax(history[MONITOR]))
    return {name: values[best] for name, values in history.items()}


def make_oracle(tuner, max_trials, max_epochs, seed):
    """The KerasTuner oracle called `tuner`, stopping after `max_trials` trials.

    Args:
        tuner: one of `TUNERS`.
        max_trials: trials to run in all, finished ones of an earlier run included.
        max_epochs: epochs of a trial (Hyperband: of its last round).
        seed: seed of the oracle's draws.
    """
    if tuner == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            objective=OBJECTIVE, max_trials=max_trials, seed=seed
        )
    if tuner == "random":
        return keras_tuner.oracles.RandomSearchOracle(
            objective=OBJECTIVE, max_trials=max_trials, seed=seed
        )
    if tuner == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(
            objective=OBJECTIVE, max_epochs=max_epochs, factor=3, seed=seed
        )
        oracle.max_trials = max_trials
        return oracle
    raise ValueError(f"Unknown tuner. Received: tuner={tuner!r}; expected one of {TUNERS}.")


class RankerTuner(keras_tuner.Tuner):
    """Runs one fit per trial and records its best-epoch metrics, time, size and peak memory.

    Unlike `keras_tuner.Tuner`, it saves no weights per trial: a trial leaves
    only its `trial.json` (hyperparameters, metrics, status), which is all a
    resumed search needs. The best configuration is retrained afterwards
    instead of reloaded, so `load_model` refuses. Hyperband's promoted trials
    therefore train from scratch for their round's epochs rather than
    continuing from the checkpoint of the round before.

    Each completed trial's metrics hold, besides the `val_*` metrics of its
    best epoch, `parameters` (weights in the model), `seconds` (build, compile
    and fit) and `peak_rss_mb` (the process's peak resident memory during the
    trial).
    """

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:
            kwargs["epochs"] = hp.values["tuner/epochs"]
        callbacks = copy.deepcopy(kwargs.pop("callbacks", []))
        started = time.perf_counter()
        with PeakMemory() as memory:
            model = self.hypermodel.build(hp)
            result = self.hypermodel.fit(hp, model, *args, callbacks=callbacks, **kwargs)
        metrics = best_epoch_metrics(result.history)
        metrics.update(
            parameters=model.count_params(),
            seconds=time.perf_counter() - started,
            peak_rss_mb=memory.peak_mb,
        )
        logger.info(
            "Trial %s: %s=%.4f, %d parameters, %.1f s, peak RSS %.0f MB.",
            trial.trial_id,
            MONITOR,
            metrics[MONITOR],
            metrics["parameters"],
            metrics["seconds"],
            metrics["peak_rss_mb"],
        )
        return metrics

    def load_model(self, trial):
        raise NotImplementedError(
            "RankerTuner keeps no per-trial weights; retrain the trial's configuration "
            "(`python -m tuning.search` retrains the best one)."
        )
