"""The one decorator that registers this project's Keras objects for `.keras` loading."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

PACKAGE = "phoenix_retail"

serializable = keras.saving.register_keras_serializable(package=PACKAGE)
