"""One Grok-style transformer decoder block."""

import keras
from keras import ops

from layers.grouped_query_attention import GroupedQueryAttention, check_head_arguments
from layers.registration import serializable
from layers.rms_norm import RMSNorm


def ffn_width(model_dim, widening_factor):
    """Returns the gated feed-forward hidden width used by `DecoderBlock`.

    `int(widening_factor * model_dim) * 2 // 3`, rounded up to a multiple of 8
    (the gated network has three matrices instead of two, so two thirds of
    the width keeps the parameter count of a plain feed-forward network).

    Args:
        model_dim: int, `D`.
        widening_factor: float, width of the plain network relative to `D`.
    """
    width = int(widening_factor * model_dim) * 2 // 3
    return -(-width // 8) * 8


@serializable
class DecoderBlock(keras.layers.Layer):
    """Attention and gated feed-forward sub-blocks, each normalised before and after.

    `h = h + norm2(attention(norm1(h)))` then
    `h = h + norm4(W2(gelu(W1 norm3(h)) * V norm3(h)))`, without biases,
    where the hidden width is `ffn_width(D, widening_factor)`. With
    `dropout_rate > 0`, both sub-block outputs (after `norm2` and `norm4`) go
    through dropout before they join the residual stream, in training only.

    Args:
        num_query_heads: int, `H`.
        num_key_value_heads: int, `K`; must divide `H`.
        key_size: int, width of every attention head; even.
        widening_factor: float, see `ffn_width`.
        attn_output_multiplier: float, attention logit scale; `None` means
            `key_size**-0.5`.
        logit_cap: float, soft cap of the attention logits; `None` disables it.
        epsilon: float, the `RMSNorm` epsilon.
        dropout_rate: float in [0, 1), dropout on the attention and
            feed-forward outputs while training; 0 disables it.
        seed: int, seed of the dropout masks (a `keras.random.SeedGenerator`),
            so that a seeded run draws the same masks; `None` draws it from
            Keras' global seed.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        h: tensor `[B, T, D]`.
        positions: int tensor `[B, T]`.
        attention_mask: bool tensor `[B, T, T]`, True where query `t` may
            attend to key `s`.
        training: bool, dropout is applied only when True.

    Returns:
        Tensor `[B, T, D]` in the compute dtype.

    References:
        - [xai-org/grok-1](https://github.com/xai-org/grok-1)
    """

    def __init__(
        self,
        num_query_heads,
        num_key_value_heads,
        key_size,
        widening_factor=2.0,
        attn_output_multiplier=None,
        logit_cap=30.0,
        epsilon=1e-6,
        dropout_rate=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if widening_factor <= 0:
            raise ValueError(
                "`widening_factor` must be positive. "
                f"Received: widening_factor={widening_factor}"
            )
        if not 0 <= dropout_rate < 1:
            raise ValueError(
                f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}"
            )
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.key_size = key_size
        self.widening_factor = widening_factor
        self.attn_output_multiplier = attn_output_multiplier
        self.logit_cap = logit_cap
        self.epsilon = epsilon
        self.dropout_rate = dropout_rate
        self.seed = seed
        if dropout_rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        check_head_arguments(num_query_heads, num_key_value_heads, key_size)

    def build(self, h_shape, positions_shape=None, attention_mask_shape=None):
        model_dim = h_shape[-1]
        hidden = ffn_width(model_dim, self.widening_factor)
        self.norms = []
        for i in range(1, 5):
            norm = RMSNorm(epsilon=self.epsilon, name=f"norm_{i}", dtype=self.dtype_policy)
            norm.build(h_shape)
            self.norms.append(norm)
        self.attention = GroupedQueryAttention(
            self.num_query_heads,
            self.num_key_value_heads,
            self.key_size,
            attn_output_multiplier=self.attn_output_multiplier,
            logit_cap=self.logit_cap,
            name="attention",
            dtype=self.dtype_policy,
        )
        self.attention.build(h_shape, positions_shape, attention_mask_shape)
        hidden_shape = tuple(h_shape[:-1]) + (hidden,)
        self.gate_dense = keras.layers.Dense(
            hidden, use_bias=False, name="ffn_gate", dtype=self.dtype_policy
        )
        self.gate_dense.build(h_shape)
        self.linear_dense = keras.layers.Dense(
            hidden, use_bias=False, name="ffn_linear", dtype=self.dtype_policy
        )
        self.linear_dense.build(h_shape)
        self.output_dense = keras.layers.Dense(
            model_dim, use_bias=False, name="ffn_output", dtype=self.dtype_policy
        )
        self.output_dense.build(hidden_shape)
        self.built = True

    def call(self, h, positions, attention_mask, training=None):
        attended = self.attention(self.norms[0](h), positions, attention_mask)  # [B, T, D]
        return self._residual_and_feed_forward(h, attended, training)  # [B, T, D]

    def keys_and_values(self, h, positions):
        """The attention's keys and values of the tokens `h`, as `call` computes them.

        Args:
            h: tensor `[B, T, D]`, the block's input.
            positions: int tensor `[B, T]`.

        Returns:
            `(key, value)`, tensors `[B, T, K, Dh]`.
        """
        return self.attention.keys_and_values(self.norms[0](h), positions)

    def attend_to_prefix(self, h, prefix_key, prefix_value, prefix_mask, query_mask):
        """The block over tokens that attend to a cached prefix and to themselves only.

        See `GroupedQueryAttention.attend_to_prefix`: the tokens share one
        position `p` and the prefix keys are rotated to `prefix_positions - p`.
        The feed-forward sub-block is the same as in `call`.

        Args:
            h: tensor `[B, C, D]`, the block's input for the new tokens.
            prefix_key: tensor `[B, P, K, Dh]`, this block's
                `keys_and_values(prefix, prefix_positions - p)`.
            prefix_value: tensor `[B, P, K, Dh]`.
            prefix_mask: bool tensor `[B, P]`, True on the prefix keys to attend to.
            query_mask: bool tensor `[B, C]`, True on real tokens.

        Returns:
            Tensor `[B, C, D]`.
        """
        attended = self.attention.attend_to_prefix(
            self.norms[0](h), prefix_key, prefix_value, prefix_mask, query_mask
        )  # [B, C, D]
        return self._residual_and_feed_forward(h, attended)  # [B, C, D]

    def _residual_and_feed_forward(self, h, attended, training=None):
        _, norm_2, norm_3, norm_4 = self.norms
        h = h + self._dropout(norm_2(attended), training)  # [B, T, D]
        x = norm_3(h)  # [B, T, D]
        gated = ops.gelu(self.gate_dense(x)) * self.linear_dense(x)  # [B, T, F]
        return h + self._dropout(norm_4(self.output_dense(gated)), training)  # [B, T, D]

    def _dropout(self, x, training):
        if not training or self.dropout_rate == 0:
            return x
        return keras.random.dropout(x, self.dropout_rate, seed=self.seed_generator)

    def compute_output_shape(self, h_shape, positions_shape=None, attention_mask_shape=None):
        return h_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "key_size": self.key_size,
                "widening_factor": self.widening_factor,
                "attn_output_multiplier": self.attn_output_multiplier,
                "logit_cap": self.logit_cap,
                "epsilon": self.epsilon,
                "dropout_rate": self.dropout_rate,
                "seed": self.seed,
            }
        )
        return config
