"""The ranker, its training and evaluation commands."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
