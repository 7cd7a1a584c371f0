"""Hyperparameter search over the ranker with KerasTuner."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
