"""Rotary position embedding with explicit positions."""

import keras
from keras import ops

from layers.registration import serializable


@serializable
class RotaryEmbedding(keras.layers.Layer):
    """Rotates pairs of features by angles proportional to the token position.

    Feature `j` of the first half of the head is paired with feature `j` of
    the second half and rotated by `position * max_wavelength**(-2j / Dh)`, so
    the dot product of a rotated query and key depends only on the difference
    of their positions. Sines and cosines are computed in float32.

    Args:
        max_wavelength: float, the longest wavelength of the rotation.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        x: tensor `[B, T, N, Dh]` with `Dh` even.
        positions: int or float tensor `[B, T]`.

    Returns:
        Tensor `[B, T, N, Dh]` in the compute dtype.

    References:
        - [Su et al., 2021](https://arxiv.org/abs/2104.09864)
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        if max_wavelength <= 0:
            raise ValueError(
                "`max_wavelength` must be positive. "
                f"Received: max_wavelength={max_wavelength}"
            )
        self.max_wavelength = max_wavelength

    def build(self, x_shape, positions_shape=None):
        head_dim = x_shape[-1]
        if head_dim is not None and head_dim % 2:
            raise ValueError(
                "The last axis of `x` (the head size) must be even. "
                f"Received: x.shape={tuple(x_shape)}"
            )
        self.built = True

    def call(self, x, positions):
        half = ops.shape(x)[-1] // 2
        exponents = ops.arange(half, dtype="float32") / ops.cast(half, "float32")
        inverse_frequency = ops.power(float(self.max_wavelength), -exponents)  # [Dh/2]
        angles = ops.cast(positions, "float32")[..., None] * inverse_frequency  # [B, T, Dh/2]
        cos = ops.expand_dims(ops.cos(angles), 2)  # [B, T, 1, Dh/2]
        sin = ops.expand_dims(ops.sin(angles), 2)  # [B, T, 1, Dh/2]
        x = ops.cast(x, "float32")
        first, second = x[..., :half], x[..., half:]  # [B, T, N, Dh/2]
        rotated = ops.concatenate(
            [first * cos - second * sin, second * cos + first * sin], axis=-1
        )  # [B, T, N, Dh]
        return ops.cast(rotated, self.compute_dtype)

    def compute_output_shape(self, x_shape, positions_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
