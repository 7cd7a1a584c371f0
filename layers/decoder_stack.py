"""A stack of decoder blocks."""

import keras
from keras import ops

from layers.decoder_block import DecoderBlock
from layers.grouped_query_attention import check_head_arguments
from layers.registration import serializable


@serializable
class DecoderStack(keras.layers.Layer):
    """Applies `num_layers` `DecoderBlock`s in sequence.

    Args:
        num_layers: int, number of blocks; at least 1.
        num_query_heads: int, `H`.
        num_key_value_heads: int, `K`; must divide `H`.
        key_size: int, width of every attention head; even.
        widening_factor: float, see `ffn_width`.
        attn_output_multiplier: float, attention logit scale; `None` means
            `key_size**-0.5`.
        logit_cap: float, soft cap of the attention logits; `None` disables it.
        epsilon: float, the `RMSNorm` epsilon.
        dropout_rate: float in [0, 1), each block's dropout on its attention
            and feed-forward outputs while training; 0 disables it.
        seed: int, dropout seed; block `i` draws its masks from `seed + i`.
            `None` draws them from Keras' global seed.
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
    """

    def __init__(
        self,
        num_layers,
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
        if num_layers < 1:
            raise ValueError(
                f"`num_layers` must be at least 1. Received: num_layers={num_layers}"
            )
        if not 0 <= dropout_rate < 1:
            raise ValueError(
                f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}"
            )
        self.num_layers = num_layers
        self.seed = seed
        self.block_kwargs = {
            "num_query_heads": num_query_heads,
            "num_key_value_heads": num_key_value_heads,
            "key_size": key_size,
            "widening_factor": widening_factor,
            "attn_output_multiplier": attn_output_multiplier,
            "logit_cap": logit_cap,
            "epsilon": epsilon,
            "dropout_rate": dropout_rate,
        }
        check_head_arguments(num_query_heads, num_key_value_heads, key_size)

    def build(self, h_shape, positions_shape=None, attention_mask_shape=None):
        self.blocks = []
        for i in range(self.num_layers):
            block = DecoderBlock(
                **self.block_kwargs,
                seed=None if self.seed is None else self.seed + i,
                name=f"block_{i}",
                dtype=self.dtype_policy,
            )
            block.build(h_shape, positions_shape, attention_mask_shape)
            self.blocks.append(block)
        self.built = True

    def call(self, h, positions, attention_mask, training=None):
        for block in self.blocks:
            h = block(h, positions, attention_mask, training=training)  # [B, T, D]
        return h

    def prefix_keys_and_values(self, h, positions, attention_mask, query_position):
        """Every block's keys and values of a prefix, the cache for `attend_to_prefix`.

        Runs the prefix through the blocks as `call` does (the last block's
        output is not needed, so only its keys and values are computed). No
        prefix token attends to a later one (candidates see the customer and
        the history, never the reverse), so the prefix's keys and values alone
        are those inside the full sequence. The keys are rotated to
        `positions - query_position`, the positions relative to the later
        tokens' shared position (see `GroupedQueryAttention.attend_to_prefix`).

        Args:
            h: tensor `[B, P, D]`, the prefix tokens.
            positions: int tensor `[B, P]`.
            attention_mask: bool tensor `[B, P, P]`.
            query_position: int tensor `[B, 1]`, the position of the tokens
                that will attend to the prefix.

        Returns:
            `(keys, values)`, tensors `[B, L, P, K, Dh]` with `L = num_layers`.
        """
        relative_positions = positions - query_position  # [B, P]
        keys, values = [], []
        for index, block in enumerate(self.blocks):
            key, value = block.keys_and_values(h, relative_positions)  # [B, P, K, Dh] each
            keys.append(key)
            values.append(value)
            if index + 1 < len(self.blocks):
                h = block(h, positions, attention_mask)  # [B, P, D]
        return ops.stack(keys, axis=1), ops.stack(values, axis=1)  # [B, L, P, K, Dh] each

    def attend_to_prefix(self, h, prefix_keys, prefix_values, prefix_mask, query_mask):
        """The stack over tokens that attend to a cached prefix and to themselves only.

        Equals the outputs of `call` at these tokens over `[prefix, h]` with the
        candidate-isolation mask (each token sees the valid prefix tokens and
        itself), all of them at the `query_position` given to
        `prefix_keys_and_values`.

        Args:
            h: tensor `[B, C, D]`, one token per candidate.
            prefix_keys: tensor `[B, L, P, K, Dh]` from `prefix_keys_and_values`.
            prefix_values: tensor `[B, L, P, K, Dh]`.
            prefix_mask: bool tensor `[B, P]`, True on the valid prefix tokens.
            query_mask: bool tensor `[B, C]`, True on real tokens.

        Returns:
            Tensor `[B, C, D]`.
        """
        for index, block in enumerate(self.blocks):
            h = block.attend_to_prefix(
                h, prefix_keys[:, index], prefix_values[:, index], prefix_mask, query_mask
            )  # [B, C, D]
        return h

    def compute_output_shape(self, h_shape, positions_shape=None, attention_mask_shape=None):
        return h_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, **self.block_kwargs, "seed": self.seed})
        return config
