"""A stack of decoder blocks."""

import keras

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
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `trainable`, `dtype` etc.

    Call arguments:
        h: tensor `[B, T, D]`.
        positions: int tensor `[B, T]`.
        attention_mask: bool tensor `[B, T, T]`, True where query `t` may
            attend to key `s`.

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(
                f"`num_layers` must be at least 1. Received: num_layers={num_layers}"
            )
        self.num_layers = num_layers
        self.block_kwargs = {
            "num_query_heads": num_query_heads,
            "num_key_value_heads": num_key_value_heads,
            "key_size": key_size,
            "widening_factor": widening_factor,
            "attn_output_multiplier": attn_output_multiplier,
            "logit_cap": logit_cap,
            "epsilon": epsilon,
        }
        check_head_arguments(num_query_heads, num_key_value_heads, key_size)

    def build(self, h_shape, positions_shape=None, attention_mask_shape=None):
        self.blocks = []
        for i in range(self.num_layers):
            block = DecoderBlock(**self.block_kwargs, name=f"block_{i}", dtype=self.dtype_policy)
            block.build(h_shape, positions_shape, attention_mask_shape)
            self.blocks.append(block)
        self.built = True

    def call(self, h, positions, attention_mask):
        for block in self.blocks:
            h = block(h, positions, attention_mask)  # [B, T, D]
        return h

    def compute_output_shape(self, h_shape, positions_shape=None, attention_mask_shape=None):
        return h_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, **self.block_kwargs})
        return config
