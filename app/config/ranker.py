"""The ranker's run config: a dataclass checked field by field that round-trips to JSON."""

from dataclasses import dataclass

from app.config.base import ModelConfig
from app.config.base import constructor_defaults
from app.errors import ConfigError
from app.ranker.model import PhoenixRanker

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
"""Keras dtype policies a run may train under (evaluation always runs in float32)."""


_RANKER_DEFAULTS = constructor_defaults(PhoenixRanker)


@dataclass(frozen=True)
class TrainConfig(ModelConfig):
    """Everything a ranker's training run depends on, saved beside its model.

    Model fields go to `app.ranker.model.PhoenixRanker` (with its defaults); data
    fields to the input pipeline (`eval_max_lists` > 0 scores a fixed random
    subset of that many lists per split, the same for the model and every
    baseline; 0 scores all; `retrieved` is the retrieval shortlist a two-stage
    ranking gives the ranker; `shortlist_cuts` > 0 trains on the ranker's real
    lists instead of popularity-sampled ones, the union shortlists of that many
    held-out cuts of each visitor's training events, each epoch one pass over
    them: `app.training.shortlist_training`); the rest to `model.fit`. `refit`
    (on shortlists only) trains the ranker again, for the epochs chosen on
    validation, on the training and validation events before the test figures
    and the saved model (`app.training.refit`). The session
    benchmark's stage 2 (`app.training.sessions`) does not read the fields of
    `UNUSED_ON_SESSIONS`: an epoch is one pass over its training shortlists, and
    it scores every validation case.
    """

    MODEL_CLASS = PhoenixRanker
    MINIMUMS = {
        "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 1,
        "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
        "num_age_buckets": 2, "history_length": 1, "num_candidates": 1, "eval_list_length": 2,
        "eval_max_lists": 0, "target_window_events": 1, "same_category_negatives": 0, "retrieved": 1,
        "shortlist_cuts": 0,
        "batch_size": 1, "eval_batch_size": 1, "epochs": 1, "steps_per_epoch": 1, "patience": 0,
        "steps_per_execution": 1, "seed": 0,
    }
    POSITIVE = ("learning_rate", "widening_factor", "max_age_hours", "logit_cap")
    NON_NEGATIVE = (
        "weight_decay", "transaction_weight", "addtocart_weight", "view_weight", "popularity_alpha",
        "dropout_rate", "embedding_dropout", "embedding_l2",
    )
    BELOW_ONE = ("dropout_rate", "embedding_dropout")
    UNUSED_ON_SESSIONS = ("steps_per_epoch", "eval_list_length", "eval_max_lists", "eval_batch_size",
                          "target_window_events", "popularity_alpha", "same_category_negatives", "shortlist_cuts",
                          "refit")
    UNUSED_ON_VISITORS = ()
    UNUSED_ON_SHORTLISTS = ("steps_per_epoch", "eval_list_length", "target_window_events", "popularity_alpha",
                            "same_category_negatives", "retrieved")
    """Fields a ranker trained on union shortlists (`shortlist_cuts` > 0) does not read: an epoch is one pass over
    its lists, their candidates come from the shortlist, and it is scored on the catalogue protocol alone."""

    # Model: the fields named like `PhoenixRanker` arguments, with its defaults.
    emb_size: int = _RANKER_DEFAULTS["emb_size"]
    num_layers: int = _RANKER_DEFAULTS["num_layers"]
    num_query_heads: int = _RANKER_DEFAULTS["num_query_heads"]
    num_key_value_heads: int = _RANKER_DEFAULTS["num_key_value_heads"]
    key_size: int = _RANKER_DEFAULTS["key_size"]
    widening_factor: float = _RANKER_DEFAULTS["widening_factor"]
    num_hashes: int = _RANKER_DEFAULTS["num_hashes"]
    visitor_buckets: int = _RANKER_DEFAULTS["visitor_buckets"]
    item_buckets: int = _RANKER_DEFAULTS["item_buckets"]
    category_buckets: int = _RANKER_DEFAULTS["category_buckets"]
    num_age_buckets: int = _RANKER_DEFAULTS["num_age_buckets"]
    max_age_hours: float = _RANKER_DEFAULTS["max_age_hours"]
    logit_cap: float = _RANKER_DEFAULTS["logit_cap"]
    use_history_match: bool = _RANKER_DEFAULTS["use_history_match"]
    use_category_match: bool = _RANKER_DEFAULTS["use_category_match"]
    num_candidate_features: int = _RANKER_DEFAULTS["num_candidate_features"]
    use_visitor_embedding: bool = _RANKER_DEFAULTS["use_visitor_embedding"]
    dropout_rate: float = _RANKER_DEFAULTS["dropout_rate"]
    embedding_dropout: float = _RANKER_DEFAULTS["embedding_dropout"]
    embedding_l2: float = _RANKER_DEFAULTS["embedding_l2"]
    # Data.
    history_length: int = 64
    num_candidates: int = 16
    eval_list_length: int = 100
    eval_max_lists: int = 0
    target_window_events: int = 5
    popularity_alpha: float = 0.75
    same_category_negatives: int = 0
    retrieved: int = 200
    shortlist_cuts: int = 0
    # Training.
    batch_size: int = 128
    eval_batch_size: int = 256
    epochs: int = 10
    steps_per_epoch: int = 500
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    transaction_weight: float = 10.0
    addtocart_weight: float = 3.0
    view_weight: float = 1.0
    patience: int = 3
    refit: bool = False
    steps_per_execution: int = 1
    precision: str = "float32"
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        if not any(self.action_weights):
            raise ConfigError(
                "At least one action weight must be positive. Received: transaction_weight, addtocart_weight "
                "and view_weight all 0."
            )
        for name in self.BELOW_ONE:
            if getattr(self, name) >= 1:
                raise ConfigError(f"`{name}` must be below 1. Received: {name}={getattr(self, name)}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"`precision` must be one of {', '.join(PRECISIONS)}. Received: precision={self.precision!r}."
            )

    @property
    def action_weights(self):
        """Loss weights in the order (transaction, addtocart, view)."""
        return (self.transaction_weight, self.addtocart_weight, self.view_weight)
