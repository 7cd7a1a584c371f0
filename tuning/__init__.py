"""Hyperparameter search over the ranker with KerasTuner."""

