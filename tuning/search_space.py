"""The ranges the tuner draws from, named like the training configs they go with."""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of the searched `TrainConfig` fields (inclusive bounds).

    Query heads are drawn as `num_key_value_heads * queries_per_kv_head`, so
    every pair drawn satisfies `H % K == 0`. The head width (`key_size`) stays
    the base config's, as in Grok, where it does not depend on `emb_size`.

    Args:
        num_layers: (min, max) decoder blocks.
        emb_size: (min, max) model width D, in steps of `emb_size_step`.
        emb_size_step: step of `emb_size`.
        num_key_value_heads: choices of K.
        queries_per_kv_head: choices of H / K (1 is multi-head attention).
        widening_factor: (min, max) feed-forward widening, in steps of `widening_factor_step`.
        widening_factor_step: step of `widening_factor`.
        learning_rate: (min, max), drawn log-uniformly.
        history_length: (min, max) S, powers of two.
        dropout_rate: (min, max) decoder dropout, in steps of `dropout_step`.
        embedding_dropout: (min, max) dropout on the hashed embeddings, in steps of `dropout_step`.
        dropout_step: step of both dropout rates.
        embedding_l2: choices of the penalty on the looked-up hash-table rows.
        use_visitor_embedding: choices of whether the customer token embeds the visitor id.
    """

    num_layers: tuple = (1, 6)
    emb_size: tuple = (32, 256)
    emb_size_step: int = 32
    num_key_value_heads: tuple = (1, 2, 4)
    queries_per_kv_head: tuple = (1, 2, 4)
    widening_factor: tuple = (1.0, 4.0)
    widening_factor_step: float = 0.5
    learning_rate: tuple = (1e-4, 1e-2)
    history_length: tuple = (8, 128)
    dropout_rate: tuple = (0.0, 0.3)
    embedding_dropout: tuple = (0.0, 0.3)
    dropout_step: float = 0.05
    embedding_l2: tuple = (0.0, 0.1, 1.0)
    use_visitor_embedding: tuple = (True, False)

    def to_dict(self):
        """The ranges as plain JSON values (tuples become lists)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(self).items()
        }


SEARCH_SPACES = {
    "default": SearchSpace(),
    # Small models on short histories: a search of a few trials in minutes on CPU.
    "smoke": SearchSpace(
        num_layers=(1, 2),
        emb_size=(32, 64),
        num_key_value_heads=(1, 2),
        queries_per_kv_head=(1, 2),
        widening_factor=(1.0, 2.0),
        learning_rate=(1e-3, 1e-2),
        history_length=(8, 16),
        dropout_rate=(0.0, 0.2),
        embedding_dropout=(0.0, 0.2),
        dropout_step=0.1,
    ),
}
