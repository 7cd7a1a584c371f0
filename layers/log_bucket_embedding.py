"""Embedding of non-negative ages through logarithmic buckets."""

import math

import keras
from keras import ops

from layers.registration import serializable


@serializable
class LogBucketEmbedding(keras.layers.Layer):
    """Embeds float ages (hours, `>= 0`) by logarithmic bucket.

    `bucket = 1 + floor(log1p(age) / log1p(max_value) * (num_buckets - 1))`,
    clipped to `[1, num_buckets - 1]`; negative ages count as 0. Row 0 is
    never used, so the layer does not mask padding: the model does. Ages are
    bucketed in float32 even under mixed precision.

    Args:
        num_buckets: int, rows of the table; at least 2.
        output_dim: int, width of the embedding.
        max_value: float, the age from which every age shares the last bucket.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        ages: float tensor `[...]`.

    Returns:
        Tensor `[..., output_dim]` in the compute dtype.
    """

    def __init__(self, num_buckets, output_dim, max_value, **kwargs):
        super().__init__(**kwargs)
        if num_buckets < 2:
            raise ValueError(
                f"`num_buckets` must be at least 2. Received: num_buckets={num_buckets}"
            )
        if output_dim < 1:
            raise ValueError(
                f"`output_dim` must be at least 1. Received: output_dim={output_dim}"
            )
        if max_value <= 0:
            raise ValueError(
                f"`max_value` must be positive. Received: max_value={max_value}"
            )
        self.num_buckets = num_buckets
        self.output_dim = output_dim
        self.max_value = max_value

    @property
    def input_dtype(self):
        return "float32"

    def build(self, ages_shape):
        self.embedding = keras.layers.Embedding(
            self.num_buckets,
            self.output_dim,
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embedding",
            dtype=self.dtype_policy,
        )
        self.embedding.build(ages_shape)
        self.built = True

    def buckets(self, ages):
        """Returns the int32 bucket of every age, `[...]`."""
        ages = ops.maximum(ops.cast(ages, "float32"), 0.0)  # [...]
        scaled = ops.log1p(ages) / math.log1p(self.max_value) * (self.num_buckets - 1)
        bucket = 1 + ops.cast(ops.floor(scaled), "int32")  # [...]
        return ops.clip(bucket, 1, self.num_buckets - 1)

    def call(self, ages):
        return self.embedding(self.buckets(ages))  # [..., D]

    def compute_output_shape(self, ages_shape):
        return tuple(ages_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "output_dim": self.output_dim,
                "max_value": self.max_value,
            }
        )
        return config
