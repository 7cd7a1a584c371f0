"""Grouped-query self-attention with rotary positions and soft-capped logits."""

import keras
from keras import ops

from layers.masked_logit import MASKED_LOGIT
from layers.registration import serializable
from layers.rotary_embedding import RotaryEmbedding


def check_head_arguments(num_query_heads, num_key_value_heads, key_size, use_rotary=True):
    """Raises `ValueError` unless the head counts and size make a valid attention.

    Args:
        num_query_heads: int, `H`; a multiple of `num_key_value_heads`.
        num_key_value_heads: int, `K`; at least 1.
        key_size: int, width of every head; positive, and even with rotary.
        use_rotary: bool, whether rotary embeddings will be applied.
    """
    if num_key_value_heads < 1 or num_query_heads < 1 or num_query_heads % num_key_value_heads:
        raise ValueError(
            "`num_query_heads` must be a positive multiple of `num_key_value_heads`. "
            f"Received: num_query_heads={num_query_heads}, "
            f"num_key_value_heads={num_key_value_heads}"
        )
    if key_size < 1 or (use_rotary and key_size % 2):
        raise ValueError(
            "`key_size` must be positive, and even when `use_rotary=True`. "
            f"Received: key_size={key_size}, use_rotary={use_rotary}"
        )


@serializable
class GroupedQueryAttention(keras.layers.Layer):
    """Self-attention in which groups of query heads share one key/value head.

    Query head `n` reads key/value head `n // (H // K)`. Queries and keys are
    rotated by `RotaryEmbedding` when `use_rotary`; logits are multiplied by
    `attn_output_multiplier`, soft-capped with `cap * tanh(logits / cap)`,
    masked and normalised in float32. A query row whose mask is all False
    attends to nothing and outputs exact zeros. No projection has a bias.

    Args:
        num_query_heads: int, `H`.
        num_key_value_heads: int, `K`; must divide `H`.
        key_size: int, `Dh`, the width of every head; even when `use_rotary`.
        attn_output_multiplier: float, scale of the logits; `None` means
            `key_size**-0.5`.
        logit_cap: float, soft cap of the logits; `None` disables capping.
        use_rotary: bool, whether to rotate queries and keys by position.
        max_wavelength: float, the rotary embedding's longest wavelength.
        kernel_initializer: initializer of the projection kernels.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        x: tensor `[B, T, D]`.
        positions: int tensor `[B, T]`, used by the rotary embedding.
        attention_mask: bool tensor `[B, T, T]`; True where query `t` may
            attend to key `s`.

    Returns:
        Tensor `[B, T, D]` in the compute dtype.

    References:
        - [Ainslie et al., 2023](https://arxiv.org/abs/2305.13245)
    """

    def __init__(
        self,
        num_query_heads,
        num_key_value_heads,
        key_size,
        attn_output_multiplier=None,
        logit_cap=30.0,
        use_rotary=True,
        max_wavelength=10000,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_head_arguments(num_query_heads, num_key_value_heads, key_size, use_rotary)
        if logit_cap is not None and logit_cap <= 0:
            raise ValueError(
                f"`logit_cap` must be positive or None. Received: logit_cap={logit_cap}"
            )
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.key_size = key_size
        self.attn_output_multiplier = attn_output_multiplier
        self.logit_cap = logit_cap
        self.use_rotary = use_rotary
        self.max_wavelength = max_wavelength
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _dense(self, equation, output_shape, name):
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()
            ),
            name=name,
            dtype=self.dtype_policy,
        )

    def build(self, x_shape, positions_shape=None, attention_mask_shape=None):
        model_dim = x_shape[-1]
        heads, kv_heads, head_dim = (
            self.num_query_heads,
            self.num_key_value_heads,
            self.key_size,
        )
        self.query_dense = self._dense("btd,dnh->btnh", (None, heads, head_dim), "query")
        self.query_dense.build(x_shape)
        self.key_dense = self._dense("bsd,dkh->bskh", (None, kv_heads, head_dim), "key")
        self.key_dense.build(x_shape)
        self.value_dense = self._dense("bsd,dkh->bskh", (None, kv_heads, head_dim), "value")
        self.value_dense.build(x_shape)
        self.output_dense = self._dense("btnh,nhd->btd", (None, model_dim), "attention_output")
        self.output_dense.build(tuple(x_shape[:-1]) + (heads, head_dim))
        if self.use_rotary:
            self.rotary = RotaryEmbedding(
                max_wavelength=self.max_wavelength,
                name="rotary",
                dtype=self.dtype_policy,
            )
            self.rotary.build(tuple(x_shape[:-1]) + (heads, head_dim))
        self.built = True

    def call(self, x, positions, attention_mask):
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        kv_heads = self.num_key_value_heads
        groups = self.num_query_heads // kv_heads
        query = self.query_dense(x)  # [B, T, H, Dh]
        if self.use_rotary:
            query = self.rotary(query, positions)  # [B, T, H, Dh]
        key, value = self.keys_and_values(x, positions)  # [B, T, K, Dh] each
        # Fold each key/value head's query group into the query axis: one
        # batched matmul per key/value head, which XLA runs faster than a
        # five-axis einsum.
        query = ops.reshape(
            query, (batch, time, kv_heads, groups, self.key_size)
        )  # [B, T, K, G, Dh]
        query = ops.reshape(
            ops.transpose(query, (0, 2, 3, 1, 4)), (batch, kv_heads, groups * time, self.key_size)
        )  # [B, K, G*T, Dh]
        key = ops.transpose(key, (0, 2, 1, 3))  # [B, K, T, Dh]
        value = ops.transpose(value, (0, 2, 1, 3))  # [B, K, T, Dh]
        logits = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))  # [B, K, G*T, T]
        mask = ops.tile(
            ops.cast(attention_mask, "bool")[:, None, :, :], (1, 1, groups, 1)
        )  # [B, 1, G*T, T]
        probs = self._attention_weights(logits, mask)  # [B, K, G*T, T]
        encoded = ops.matmul(probs, value)  # [B, K, G*T, Dh]
        encoded = ops.reshape(
            encoded, (batch, kv_heads, groups, time, self.key_size)
        )  # [B, K, G, T, Dh]
        encoded = ops.reshape(
            ops.transpose(encoded, (0, 3, 1, 2, 4)),
            (batch, time, self.num_query_heads, self.key_size),
        )  # [B, T, H, Dh]
        return self.output_dense(encoded)  # [B, T, D]

    def keys_and_values(self, x, positions):
        """The rotated keys and the values of the tokens `x`, as `call` computes them.

        A prefix's keys and values, once computed, can be cached and attended
        to by later tokens with `attend_to_prefix`.

        Args:
            x: tensor `[B, T, D]`.
            positions: int tensor `[B, T]`.

        Returns:
            `(key, value)`, tensors `[B, T, K, Dh]` in the compute dtype.
        """
        key = self.key_dense(x)  # [B, T, K, Dh]
        value = self.value_dense(x)  # [B, T, K, Dh]
        if self.use_rotary:
            key = self.rotary(key, positions)  # [B, T, K, Dh]
        return key, value

    def attend_to_prefix(self, x, prefix_key, prefix_value, prefix_mask, query_mask):
        """Attends each token of `x` to the valid keys of a cached prefix and to itself only.

        All the tokens of `x` share one position `p` (the ranker's candidates
        do). A rotary dot product depends only on the difference of the two
        positions, so with the prefix keys rotated to `prefix_positions - p`
        (`keys_and_values(prefix, prefix_positions - p)`) the tokens' queries
        and their own keys need no rotation at all. Each token's output then
        equals that of `call` over `[prefix, x]` with the candidate-isolation
        mask (the token sees the valid prefix tokens and itself), without the
        `[C, C]` attention among the tokens of `x` that the mask throws away.
        A token whose `query_mask` is False outputs zeros, like an all-False
        row in `call`.

        Args:
            x: tensor `[B, C, D]`, one query token per candidate.
            prefix_key: tensor `[B, P, K, Dh]`, the prefix's keys rotated to
                `prefix_positions - p`.
            prefix_value: tensor `[B, P, K, Dh]`, the prefix's values.
            prefix_mask: bool tensor `[B, P]`, True on the prefix keys to attend to.
            query_mask: bool tensor `[B, C]`, True on real tokens.

        Returns:
            Tensor `[B, C, D]` in the compute dtype.
        """
        batch, count = ops.shape(x)[0], ops.shape(x)[1]
        kv_heads = self.num_key_value_heads
        groups = self.num_query_heads // kv_heads
        query = self.query_dense(x)  # [B, C, H, Dh]
        key = self.key_dense(x)  # [B, C, K, Dh]
        value = self.value_dense(x)  # [B, C, K, Dh]
        # As in `call`, each key/value head's query group is folded into the
        # query axis: one batched matmul per key/value head against the prefix
        # (on CPU twice as fast as the five-axis einsum).
        query = ops.transpose(
            ops.reshape(query, (batch, count, kv_heads, groups, self.key_size)),
            (0, 2, 1, 3, 4),
        )  # [B, K, C, G, Dh]
        key = ops.expand_dims(ops.transpose(key, (0, 2, 1, 3)), 3)  # [B, K, C, 1, Dh]
        value = ops.expand_dims(ops.transpose(value, (0, 2, 1, 3)), 3)  # [B, K, C, 1, Dh]
        prefix_logits = ops.matmul(
            ops.reshape(query, (batch, kv_heads, count * groups, self.key_size)),
            ops.transpose(prefix_key, (0, 2, 3, 1)),
        )  # [B, K, C*G, P]
        own_logits = ops.reshape(
            ops.sum(query * key, axis=-1), (batch, kv_heads, count * groups, 1)
        )  # [B, K, C*G, 1]
        logits = ops.concatenate([prefix_logits, own_logits], axis=-1)  # [B, K, C*G, P+1]
        key_mask = ops.concatenate(
            [ops.cast(prefix_mask, "bool"), ops.ones((batch, 1), dtype="bool")], axis=1
        )  # [B, P+1]
        query_mask = ops.repeat(ops.cast(query_mask, "bool"), groups, axis=1)  # [B, C*G]
        mask = ops.logical_and(
            query_mask[:, None, :, None], key_mask[:, None, None, :]
        )  # [B, 1, C*G, P+1]
        probs = self._attention_weights(logits, mask)  # [B, K, C*G, P+1]
        encoded = ops.matmul(
            probs[..., :-1], ops.transpose(prefix_value, (0, 2, 1, 3))
        )  # [B, K, C*G, Dh]
        encoded = ops.reshape(
            encoded, (batch, kv_heads, count, groups, self.key_size)
        )  # [B, K, C, G, Dh]
        own_probs = ops.reshape(
            probs[..., -1], (batch, kv_heads, count, groups, 1)
        )  # [B, K, C, G, 1]
        encoded = encoded + own_probs * value  # [B, K, C, G, Dh]
        encoded = ops.reshape(
            ops.transpose(encoded, (0, 2, 1, 3, 4)),
            (batch, count, self.num_query_heads, self.key_size),
        )  # [B, C, H, Dh]
        return self.output_dense(encoded)  # [B, C, D]

    def _attention_weights(self, logits, mask):
        """Scaled, capped, masked softmax over the last axis, in float32.

        `mask` broadcasts against `logits`; a row whose mask is all False
        gets all-zero weights.
        """
        logits = ops.cast(logits, "float32") * self._multiplier()
        if self.logit_cap is not None:
            logits = self.logit_cap * ops.tanh(logits / self.logit_cap)
        logits = ops.where(mask, logits, MASKED_LOGIT)
        probs = ops.softmax(logits, axis=-1)
        has_key = ops.cast(ops.any(mask, axis=-1, keepdims=True), "float32")
        return ops.cast(probs * has_key, self.compute_dtype)

    def _multiplier(self):
        if self.attn_output_multiplier is None:
            return float(self.key_size) ** -0.5
        return float(self.attn_output_multiplier)

    def compute_output_shape(self, x_shape, positions_shape=None, attention_mask_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "key_size": self.key_size,
                "attn_output_multiplier": self.attn_output_multiplier,
                "logit_cap": self.logit_cap,
                "use_rotary": self.use_rotary,
                "max_wavelength": self.max_wavelength,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
