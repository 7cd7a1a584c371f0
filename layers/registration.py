"""The one decorator that registers this project's Keras objects for `.keras` loading."""

import keras

PACKAGE = "phoenix_retail"

serializable = keras.saving.register_keras_serializable(package=PACKAGE)
