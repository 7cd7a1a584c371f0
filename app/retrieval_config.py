"""Named retrieval configurations: a dataclass that round-trips to JSON, checked field by field."""

import dataclasses
import json
from dataclasses import dataclass

from app.config import ConfigError


@dataclass(frozen=True)
class RetrievalConfig:
    """Everything a retrieval run depends on, saved beside its model.

    Model fields go to `app.retrieval_model.RetrievalModel`; data fields to
    `datasets.retrieval_examples.RetrievalExamples` (each training example brings
    `negatives_per_example` items drawn by `popularity ** popularity_alpha`, and
    all `batch_size * negatives_per_example` of them are shared by the batch);
    the rest to `model.fit`, which keeps the epoch with the best validation
    recall@200 and stops after `patience` epochs without a better one.
    """

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

    def __post_init__(self):
        minimums = {
            "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 2,
            "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
            "num_age_buckets": 2, "history_length": 1, "negatives_per_example": 0, "min_history_events": 0,
            "batch_size": 2, "eval_batch_size": 1, "epochs": 1, "steps_per_epoch": 1, "patience": 0, "seed": 0,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if int(value) != value or value < minimum:
                raise ConfigError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value}.")
        for name in ("widening_factor", "max_age_hours", "logit_cap", "temperature", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"`{name}` must be positive. Received: {name}={getattr(self, name)}.")
        for name in ("popularity_alpha", "weight_decay"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"`{name}` must be >= 0. Received: {name}={getattr(self, name)}.")
        if self.num_query_heads % self.num_key_value_heads:
            raise ConfigError(
                "`num_query_heads` must be a multiple of `num_key_value_heads`. Received: "
                f"num_query_heads={self.num_query_heads}, num_key_value_heads={self.num_key_value_heads}."
            )
        if self.key_size % 2:
            raise ConfigError(
                f"`key_size` must be even (rotary embeddings rotate pairs). Received: key_size={self.key_size}."
            )

    def model_kwargs(self):
        """Constructor arguments of `RetrievalModel`."""
        names = (
            "emb_size num_layers num_query_heads num_key_value_heads key_size widening_factor num_hashes "
            "visitor_buckets item_buckets category_buckets num_age_buckets max_age_hours logit_cap temperature"
        ).split()
        return {name: getattr(self, name) for name in names}

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict, refusing unknown fields by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown retrieval config field(s) {unknown}. Expected some of: {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


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
