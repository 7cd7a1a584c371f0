"""Named retrieval configurations: a dataclass that round-trips to JSON, checked field by field."""

from dataclasses import dataclass

from app.config import ConfigError, ModelConfig
from app.retrieval_model import RetrievalModel


@dataclass(frozen=True)
class RetrievalConfig(ModelConfig):
    """Everything a retrieval run depends on, saved beside its model.

    Model fields go to `app.retrieval_model.RetrievalModel`; data fields to
    `datasets.retrieval_examples.RetrievalExamples` (each training example brings
    `negatives_per_example` items drawn by `popularity ** popularity_alpha`, and
    all `batch_size * negatives_per_example` of them are shared by the batch);
    the rest to `model.fit`, which keeps the epoch with the best validation
    recall@200 and stops after `patience` epochs without a better one.
    """

    MODEL_CLASS = RetrievalModel
    MINIMUMS = {
        "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 2,
        "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
        "num_age_buckets": 2, "history_length": 1, "negatives_per_example": 0, "min_history_events": 0,
        "batch_size": 2, "eval_batch_size": 1, "epochs": 1, "steps_per_epoch": 1, "patience": 0, "seed": 0,
    }
    POSITIVE = ("widening_factor", "max_age_hours", "logit_cap", "temperature", "learning_rate")
    NON_NEGATIVE = ("popularity_alpha", "weight_decay")

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
    # Data.
    history_length: int = 32
    negatives_per_example: int = 4
    popularity_alpha: float = 0.75
    min_history_events: int = 1
    # Training.
    batch_size: int = 256
    eval_batch_size: int = 512
    epochs: int = 16
    steps_per_epoch: int = 25
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    patience: int = 4
    seed: int = 0


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
}


def named_retrieval_config(name):
    """The retrieval config called `name`, or a ConfigError listing the names there are."""
    if name not in RETRIEVAL_CONFIGS:
        raise ConfigError(f"Unknown retrieval config {name!r}. Expected one of: {', '.join(RETRIEVAL_CONFIGS)}.")
    return RETRIEVAL_CONFIGS[name]
