"""Root-mean-square layer normalisation."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class RMSNorm(keras.layers.Layer):
    """Scales the last axis by its inverse root mean square and a learned scale.

    `y = x / sqrt(mean(x**2) + epsilon) * scale`, computed in float32 whatever
    the dtype policy and returned in the compute dtype. `scale` starts at ones.

    Args:
        epsilon: float, added to the mean square for stability.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        x: tensor `[..., D]`.

    Returns:
        Tensor `[..., D]` in the compute dtype.
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.epsilon = epsilon

    def build(self, x_shape):
        self.scale = self.add_weight(
            name="scale",
            shape=(x_shape[-1],),
            initializer="ones",
        )
        self.built = True

    def call(self, x):
        x = ops.cast(x, "float32")  # [..., D]
        mean_square = ops.mean(ops.square(x), axis=-1, keepdims=True)  # [..., 1]
        normed = x * ops.rsqrt(mean_square + self.epsilon)  # [..., D]
        normed = normed * ops.cast(self.scale, "float32")  # [..., D]
        return ops.cast(normed, self.compute_dtype)

    def compute_output_shape(self, x_shape):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
