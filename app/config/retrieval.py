"""Named retrieval configurations: a dataclass that round-trips to JSON, checked field by field."""

import dataclasses
from dataclasses import dataclass

from app.config.ranker import ModelConfig
from app.errors import ConfigError
from app.retrieval.model import RetrievalModel


@dataclass(frozen=True)
class RetrievalConfig(ModelConfig):
    """Everything a retrieval run depends on, saved beside its model.

    Model fields go to `app.retrieval.model.RetrievalModel`. The two trainers
    of `app.training.retrieval` read different data fields:

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

    # Model.
    emb_size: int = 64
    num_layers: int = 2
    num_query_heads: int = 2
    num_key_value_heads: int = 1
    key_size: int = 32
    widening_factor: float = 2.0
    num_hashes: int = 2
    visitor_buckets: int = 16_384
    item_buckets: int = 32_768
    category_buckets: int = 1_024
    num_age_buckets: int = 32
    max_age_hours: float = 24.0 * 180
    logit_cap: float = 30.0
    temperature: float = 0.1
    use_age_embedding: bool = True
    normalize: bool = True
    item_bias: bool = False
    tied_item_tower: bool = False
    dropout_rate: float = 0.0
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


RETRIEVAL_CONFIGS = {
    # Chosen on the real slice's validation split (learning rate, temperature, epoch length): the model
    # overfits from the second pass over the ~25K train cuts on, so epochs are short (25 steps of 256)
    # and early stopping picks the best one. A few minutes on 2 CPU cores.
    "default": RetrievalConfig(),
    # Seconds on 2 CPU cores: for tests and first contact.
    "smoke": RetrievalConfig(
        emb_size=16,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        key_size=8,
        visitor_buckets=1_024,
        item_buckets=4_096,
        category_buckets=256,
        num_age_buckets=8,
        history_length=8,
        negatives_per_example=2,
        batch_size=32,
        eval_batch_size=256,
        epochs=2,
        steps_per_epoch=20,
        learning_rate=3e-3,
        patience=1,
    ),
    # The public session benchmark (`retail_rocket/sessions`, trained by `train_session_retrieval`): a SASRec-style
    # stage 1 found by the session-model research on its validation split. Every position of a session is trained
    # at once; a batch's own items (a session's other items above all) and 1,024 popularity^0.75 items are the
    # negatives; the item tower is the history's item embedding (tied) with a bias and a plain dot product;
    # no age embedding (ages would differ per position; rotary positions give the order). 10 epochs.
    "sessions": RetrievalConfig(
        emb_size=64,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=2,
        key_size=32,
        widening_factor=4.0,
        visitor_buckets=2,
        item_buckets=65_536,
        category_buckets=2,
        temperature=1.0,
        use_age_embedding=False,
        normalize=False,
        item_bias=True,
        tied_item_tower=True,
        dropout_rate=0.2,
        history_length=50,
        popularity_alpha=0.75,
        batch_tokens=2_048,
        batch_negatives=1_024,
        eval_cases=5_000,
        epochs=10,
        learning_rate=3e-3,
        learning_rate_schedule="warmup_cosine",
        warmup_steps=200,
        weight_decay=0.0,
    ),
}
# The sessions recipe in miniature, seconds on 2 CPU cores: for tests.
RETRIEVAL_CONFIGS["sessions_smoke"] = dataclasses.replace(
    RETRIEVAL_CONFIGS["sessions"], emb_size=16, num_layers=1, key_size=8, widening_factor=2.0, item_buckets=1_024,
    dropout_rate=0.1, history_length=8, batch_tokens=64, batch_negatives=32, eval_cases=200, epochs=3,
    learning_rate=1e-2, warmup_steps=5,
)


def named_retrieval_config(name):
    """The retrieval config called `name`, or a ConfigError listing the names there are."""
    if name not in RETRIEVAL_CONFIGS:
        raise ConfigError(f"Unknown retrieval config {name!r}. Expected one of: {', '.join(RETRIEVAL_CONFIGS)}.")
    return RETRIEVAL_CONFIGS[name]
