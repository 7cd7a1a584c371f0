"""The retrieval model's run config: a dataclass checked field by field that round-trips to JSON."""

from dataclasses import dataclass

from app.config.base import ModelConfig
from app.config.base import constructor_defaults
from app.errors import ConfigError
from app.retrieval.model import RetrievalModel

_RETRIEVAL_DEFAULTS = constructor_defaults(RetrievalModel)


@dataclass(frozen=True)
class RetrievalConfig(ModelConfig):
    """Everything a retrieval run depends on, saved beside its model.

    Model fields go to `app.retrieval.model.RetrievalModel` (with its
    defaults). The two trainers of `app.training.retrieval` read different data
    fields (`UNUSED_ON_VISITORS`, `UNUSED_ON_SESSIONS`: what each leaves unread):

    - `train_retrieval` (one cut per example, event stores): each training
      example brings `negatives_per_example` items drawn by
      `popularity ** popularity_alpha`, and all `batch_size *
      negatives_per_example` of them are shared by the batch; `model.fit` runs
      `steps_per_epoch` steps per epoch, keeps the epoch with the best
      validation recall@200 and stops after `patience` epochs without a better
      one.
    - `train_session_retrieval` (every position of a session at once,
      `datasets.session_sequences.SessionSequences`): batches of about
      `batch_tokens` slots bucketed by session length, `batch_negatives`
      sampled items shared by a batch, one epoch a pass over every target;
      the last epoch is kept, and each epoch's HR/MRR@10/20 is logged on
      `eval_cases` evenly spaced validation cases (0: all of them).

    `learning_rate_schedule` is "constant", or "warmup_cosine": a linear
    warm-up from 0 over `warmup_steps` steps (at most a tenth of the run),
    then a cosine decay to 5% of `learning_rate` at the end of the run.
    """

    MODEL_CLASS = RetrievalModel
    MINIMUMS = {
        "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 2,
        "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
        "num_age_buckets": 2, "history_length": 1, "negatives_per_example": 0, "min_history_events": 0,
        "batch_size": 2, "eval_batch_size": 1, "epochs": 1, "steps_per_epoch": 1, "patience": 0, "seed": 0,
        "batch_tokens": 1, "batch_negatives": 0, "eval_cases": 0, "warmup_steps": 0,
    }
    POSITIVE = ("widening_factor", "max_age_hours", "logit_cap", "temperature", "learning_rate")
    NON_NEGATIVE = ("popularity_alpha", "weight_decay", "dropout_rate")
    SCHEDULES = ("constant", "warmup_cosine")
    UNUSED_ON_VISITORS = ("batch_tokens", "batch_negatives", "eval_cases")
    UNUSED_ON_SESSIONS = ("negatives_per_example", "min_history_events", "batch_size", "eval_batch_size",
                          "steps_per_epoch", "patience")

    # Model: the fields named like `RetrievalModel` arguments, with its defaults.
    emb_size: int = _RETRIEVAL_DEFAULTS["emb_size"]
    num_layers: int = _RETRIEVAL_DEFAULTS["num_layers"]
    num_query_heads: int = _RETRIEVAL_DEFAULTS["num_query_heads"]
    num_key_value_heads: int = _RETRIEVAL_DEFAULTS["num_key_value_heads"]
    key_size: int = _RETRIEVAL_DEFAULTS["key_size"]
    widening_factor: float = _RETRIEVAL_DEFAULTS["widening_factor"]
    num_hashes: int = _RETRIEVAL_DEFAULTS["num_hashes"]
    visitor_buckets: int = _RETRIEVAL_DEFAULTS["visitor_buckets"]
    item_buckets: int = _RETRIEVAL_DEFAULTS["item_buckets"]
    category_buckets: int = _RETRIEVAL_DEFAULTS["category_buckets"]
    num_age_buckets: int = _RETRIEVAL_DEFAULTS["num_age_buckets"]
    max_age_hours: float = _RETRIEVAL_DEFAULTS["max_age_hours"]
    logit_cap: float = _RETRIEVAL_DEFAULTS["logit_cap"]
    temperature: float = _RETRIEVAL_DEFAULTS["temperature"]
    use_age_embedding: bool = _RETRIEVAL_DEFAULTS["use_age_embedding"]
    normalize: bool = _RETRIEVAL_DEFAULTS["normalize"]
    item_bias: bool = _RETRIEVAL_DEFAULTS["item_bias"]
    tied_item_tower: bool = _RETRIEVAL_DEFAULTS["tied_item_tower"]
    dropout_rate: float = _RETRIEVAL_DEFAULTS["dropout_rate"]
    # Data.
    history_length: int = 32
    negatives_per_example: int = 4
    popularity_alpha: float = 0.75
    min_history_events: int = 1
    batch_tokens: int = 4_096
    batch_negatives: int = 1_024
    eval_cases: int = 5_000
    # Training.
    batch_size: int = 256
    eval_batch_size: int = 512
    epochs: int = 16
    steps_per_epoch: int = 25
    learning_rate: float = 3e-3
    learning_rate_schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.01
    patience: int = 4
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.dropout_rate >= 1:
            raise ConfigError(f"`dropout_rate` must be below 1. Received: dropout_rate={self.dropout_rate}.")
        if self.learning_rate_schedule not in self.SCHEDULES:
            raise ConfigError(f"`learning_rate_schedule` must be one of {', '.join(self.SCHEDULES)}. Received: "
                              f"learning_rate_schedule={self.learning_rate_schedule!r}.")
        if self.batch_tokens < self.history_length:
            raise ConfigError("`batch_tokens` must be at least `history_length` (a batch holds one full-length "
                              f"session). Received: batch_tokens={self.batch_tokens}, "
                              f"history_length={self.history_length}.")
