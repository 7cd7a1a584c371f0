"""The environment every command runs in, set before Keras or TensorFlow is imported: import it first.

Only the `python -m` commands import this module (no library module chooses a backend): JAX is the backend unless
`KERAS_BACKEND` says otherwise, and TensorFlow, which serves only `tf.data` and TFDS here, prints no C++ log lines
(its oneDNN notice among them) at start. Figures are drawn to files only (matplotlib's Agg backend: no window,
no display needed).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ["MPLBACKEND"] = "Agg"
