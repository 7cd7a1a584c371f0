"""Embedding of raw integer ids through several independent hash functions."""

import keras
from keras import ops

from layers.registration import serializable

_UINT32 = 0xFFFFFFFF
_NONNEGATIVE = 0x7FFFFFFF
# Murmur3 finaliser multipliers 0x85EBCA6B and 0xC2B2AE35 as signed int32.
_FMIX_MULTIPLIER_1 = -2048144789
_FMIX_MULTIPLIER_2 = -1028477387


def _to_int32(value):
    """Maps a Python int to the signed int32 with the same low 32 bits."""
    value &= _UINT32
    return value - (1 << 32) if value >= (1 << 31) else value


def _fmix32_python(value):
    """Murmur3's 32-bit finaliser on a Python int, used to derive constants."""
    value &= _UINT32
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & _UINT32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & _UINT32
    value ^= value >> 16
    return value


def hash_constants(seed, index):
    """Returns the `(salt, multiplier)` int32 pair of hash function `index`.

    Args:
        seed: int, the layer's seed.
        index: int, which hash function.
    """
    salt = _fmix32_python(seed * 0x9E3779B1 + 2 * index + 1)
    multiplier = _fmix32_python(salt ^ 0x27D4EB2F) | 1
    return _to_int32(salt), _to_int32(multiplier)


def _logical_right_shift(x, shift):
    """`x >>> shift` on int32: an arithmetic shift with the sign bits cleared."""
    return ops.bitwise_and(ops.right_shift(x, shift), (1 << (32 - shift)) - 1)


def _fmix32(x):
    """Murmur3's 32-bit finaliser on int32 tensors with wrapping multiplies."""
    x = ops.bitwise_xor(x, _logical_right_shift(x, 16))
    x = ops.multiply(x, ops.convert_to_tensor(_FMIX_MULTIPLIER_1, "int32"))
    x = ops.bitwise_xor(x, _logical_right_shift(x, 13))
    x = ops.multiply(x, ops.convert_to_tensor(_FMIX_MULTIPLIER_2, "int32"))
    return ops.bitwise_xor(x, _logical_right_shift(x, 16))


@ops.custom_gradient
def _add_gradient(rows, scale):
    """Identity on `rows [..., F]`; its backward pass adds `scale [..., 1] * rows` to the rows' gradient.

    `scale * rows` is the gradient of `sum(scale * rows**2) / 2`; `scale` gets no gradient.
    """

    def gradient(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return upstream + scale * rows, ops.zeros_like(scale)

    return rows, gradient


@serializable
class MultiHashEmbedding(keras.layers.Layer):
    """Embeds raw integer ids through `num_hashes` independent hash tables.

    Each hash function `i` maps an id to a bucket of its own table with
    `1 + (fmix32((id ^ salt_i) * multiplier_i) & 0x7FFFFFFF) % (num_buckets - 1)`,
    where `fmix32` is the Murmur3 finaliser in wrapping int32 arithmetic and
    `(salt_i, multiplier_i)` are derived from `(seed, i)`. The `num_hashes`
    looked-up rows are concatenated and projected back to `output_dim`
    without bias. Ids `<= 0` are padding: they use bucket 0 of every table
    (no real id lands there), their output is exactly zero, and
    `compute_mask` returns `ids > 0`.

    Two regularisers act in training only, and only on what a call looks up:
    `dropout_rate` drops output elements (seeded from `seed`), and `rows_l2`
    is an L2 penalty on the looked-up rows, `rows_l2 * mean over the call's
    real ids of sum_i ||row_i||^2` (the `num_hashes` rows each id looks up):
    the rows no id of the batch touches get nothing from it, unlike weight
    decay, which shrinks every row every step. The penalty enters as its
    gradient, added to the rows' gradient in the backward pass, not as an
    `add_loss` term: Keras keeps only the last call's `add_loss` of a layer
    called twice in a functional model when it trains (`stateless_call`), and
    the model calls the item and category embeddings twice (history and
    candidates). So the logged training loss does not include the penalty.

    Args:
        num_buckets: int, rows per table including the padding row 0; at
            least 2.
        output_dim: int, width of the output embedding.
        num_hashes: int, number of independent hash functions and tables.
        seed: int, seed from which the hash constants and the dropout masks
            are derived.
        embeddings_initializer: initializer of the tables; `None` means
            `TruncatedNormal(stddev=0.02)`.
        dropout_rate: float in [0, 1), dropout on the output while training.
        rows_l2: float >= 0, weight of the penalty on the looked-up rows.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        ids: integer tensor of any shape `[...]`; any integer dtype, cast to
            int32.
        training: bool, the regularisers act only when True.

    Returns:
        Tensor `[..., output_dim]` in the compute dtype.

    Example:

    ```python
    layer = MultiHashEmbedding(num_buckets=1000, output_dim=16)
    layer(np.array([[0, 461686, 5411]]))  # [1, 3, 16], row 0 all zeros
    ```
    """

    def __init__(
        self,
        num_buckets,
        output_dim,
        num_hashes=2,
        seed=0,
        embeddings_initializer=None,
        dropout_rate=0.0,
        rows_l2=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_buckets < 2:
            raise ValueError(
                "`num_buckets` must be at least 2 (bucket 0 is reserved for "
                f"padding). Received: num_buckets={num_buckets}"
            )
        if output_dim < 1:
            raise ValueError(
                f"`output_dim` must be at least 1. Received: output_dim={output_dim}"
            )
        if num_hashes < 1:
            raise ValueError(
                f"`num_hashes` must be at least 1. Received: num_hashes={num_hashes}"
            )
        if not 0 <= dropout_rate < 1:
            raise ValueError(
                f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}"
            )
        if not rows_l2 >= 0:
            raise ValueError(f"`rows_l2` must be at least 0. Received: rows_l2={rows_l2}")
        self.num_buckets = num_buckets
        self.output_dim = output_dim
        self.num_hashes = num_hashes
        self.seed = seed
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.dropout_rate = dropout_rate
        self.rows_l2 = rows_l2
        if dropout_rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self._hash_constants = [hash_constants(seed, i) for i in range(num_hashes)]

    def build(self, ids_shape):
        self.tables = []
        for i in range(self.num_hashes):
            table = keras.layers.Embedding(
                self.num_buckets,
                self.output_dim,
                embeddings_initializer=self.embeddings_initializer,
                name=f"table_{i}",
                dtype=self.dtype_policy,
            )
            table.build(ids_shape)
            self.tables.append(table)
        self.projection = keras.layers.Dense(
            self.output_dim,
            use_bias=False,
            name="projection",
            dtype=self.dtype_policy,
        )
        self.projection.build(tuple(ids_shape) + (self.num_hashes * self.output_dim,))
        self.built = True

    def hash_buckets(self, ids):
        """Returns the int32 bucket of every id in every table, `[..., num_hashes]`."""
        ids = ops.cast(ids, "int32")  # [...]
        buckets = []
        for salt, multiplier in self._hash_constants:
            mixed = ops.bitwise_xor(ids, ops.convert_to_tensor(salt, "int32"))
            mixed = ops.multiply(mixed, ops.convert_to_tensor(multiplier, "int32"))
            mixed = ops.bitwise_and(_fmix32(mixed), _NONNEGATIVE)  # [...]
            bucket = 1 + ops.mod(mixed, self.num_buckets - 1)  # [...]
            buckets.append(ops.where(ids > 0, bucket, 0))
        return ops.stack(buckets, axis=-1)  # [..., num_hashes]

    def call(self, ids, training=None):
        ids = ops.cast(ids, "int32")  # [...]
        buckets = self.hash_buckets(ids)  # [..., num_hashes]
        rows = ops.concatenate(
            [table(buckets[..., i]) for i, table in enumerate(self.tables)], axis=-1
        )  # [..., num_hashes * D]
        valid = ops.greater(ids, 0)  # [...]
        if training and self.rows_l2 > 0:
            rows = self._with_rows_penalty_gradient(rows, valid)  # [..., num_hashes * D]
        embedded = self.projection(rows)  # [..., D]
        if training and self.dropout_rate > 0:
            embedded = keras.random.dropout(embedded, self.dropout_rate, seed=self.seed_generator)
        return embedded * ops.expand_dims(ops.cast(valid, embedded.dtype), -1)  # [..., D]

    def _with_rows_penalty_gradient(self, rows, valid):
        """`rows` unchanged, with the gradient of the rows penalty added to theirs on the way back."""
        valid = ops.cast(valid, rows.dtype)  # [...]
        scale = 2.0 * self.rows_l2 * valid / ops.maximum(ops.sum(valid), 1.0)  # [...]
        return _add_gradient(rows, ops.expand_dims(scale, -1))

    def compute_mask(self, ids, mask=None):
        return ops.greater(ops.cast(ids, "int32"), 0)

    def compute_output_shape(self, ids_shape):
        return tuple(ids_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "output_dim": self.output_dim,
                "num_hashes": self.num_hashes,
                "seed": self.seed,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
                "dropout_rate": self.dropout_rate,
                "rows_l2": self.rows_l2,
            }
        )
        return config
