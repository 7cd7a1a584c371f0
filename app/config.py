"""Named training configurations: dataclasses that round-trip to JSON and to command-line flags."""

import argparse
import dataclasses
import inspect
import json
import math
from dataclasses import dataclass

from app.model import PhoenixRanker


class ConfigError(ValueError):
    """An unknown config name or field."""


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
"""Keras dtype policies a run may train under (evaluation always runs in float32)."""

_RANKER_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(PhoenixRanker.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _ranker_default(name):
    """`PhoenixRanker`'s own default for a model field: the one source of both defaults."""
    return _RANKER_DEFAULTS[name]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, saved beside its model.

    Model fields go to `app.model.PhoenixRanker`; data fields to the input
    pipeline (`eval_max_lists` > 0 scores a fixed random subset of that many
    lists per split, the same for the model and every baseline; 0 scores all);
    the rest to `model.fit`.
    """

    # Model: the fields named like `PhoenixRanker` arguments, with its defaults.
    emb_size: int = _ranker_default("emb_size")
    num_layers: int = _ranker_default("num_layers")
    num_query_heads: int = _ranker_default("num_query_heads")
    num_key_value_heads: int = _ranker_default("num_key_value_heads")
    key_size: int = _ranker_default("key_size")
    widening_factor: float = _ranker_default("widening_factor")
    num_hashes: int = _ranker_default("num_hashes")
    visitor_buckets: int = _ranker_default("visitor_buckets")
    item_buckets: int = _ranker_default("item_buckets")
    category_buckets: int = _ranker_default("category_buckets")
    num_age_buckets: int = _ranker_default("num_age_buckets")
    max_age_hours: float = _ranker_default("max_age_hours")
    logit_cap: float = _ranker_default("logit_cap")
    use_history_match: bool = _ranker_default("use_history_match")
    # Data.
    history_length: int = 64
    num_candidates: int = 16
    eval_list_length: int = 100
    eval_max_lists: int = 0
    target_window_events: int = 5
    popularity_alpha: float = 0.75
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
    steps_per_execution: int = 1
    precision: str = "float32"
    seed: int = 0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ConfigError(f"`{field.name}` must be a finite number. Received: {field.name}={value}.")
        for name in ("learning_rate", "widening_factor", "max_age_hours", "logit_cap"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"`{name}` must be positive. Received: {name}={getattr(self, name)}.")
        for name in ("weight_decay", "transaction_weight", "addtocart_weight", "view_weight", "popularity_alpha"):
            if getattr(self, name) < 0:
                raise ConfigError(f"`{name}` must be at least 0. Received: {name}={getattr(self, name)}.")
        if not any(self.action_weights):
            raise ConfigError(
                "At least one action weight must be positive. Received: transaction_weight, addtocart_weight "
                "and view_weight all 0."
            )
        minimums = {
            "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 1,
            "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
            "num_age_buckets": 2, "history_length": 1, "num_candidates": 1, "eval_list_length": 2,
            "eval_max_lists": 0, "target_window_events": 1, "batch_size": 1, "eval_batch_size": 1,
            "epochs": 1, "steps_per_epoch": 1, "patience": 0, "steps_per_execution": 1, "seed": 0,
        }
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ConfigError(
                    f"`{name}` must be at least {minimum}. Received: {name}={getattr(self, name)}."
                )
        if self.num_query_heads % self.num_key_value_heads:
            raise ConfigError(
                "`num_query_heads` must be a multiple of `num_key_value_heads`. Received: "
                f"num_query_heads={self.num_query_heads}, num_key_value_heads={self.num_key_value_heads}."
            )
        if self.key_size % 2:
            raise ConfigError(
                f"`key_size` must be even (rotary embeddings rotate pairs). Received: key_size={self.key_size}."
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"`precision` must be one of {', '.join(PRECISIONS)}. Received: precision={self.precision!r}."
            )

    @property
    def action_weights(self):
        """Loss weights in the order (transaction, addtocart, view)."""
        return (self.transaction_weight, self.addtocart_weight, self.view_weight)

    def model_kwargs(self):
        """Constructor arguments of `PhoenixRanker`: every field named like one of its arguments."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name in _RANKER_DEFAULTS
        }

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict, refusing unknown fields by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown config field(s) {unknown}. Expected some of: {sorted(known)}."
            )
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


CONFIGS = {
    # The seed's default run: emb 128, 4 layers, history 64, 16 candidates,
    # batch 128, 10 epochs x 500 steps, AdamW lr 1e-4.
    "default": TrainConfig(),
    # The seed's large run.
    "full": TrainConfig(emb_size=256, num_layers=6, batch_size=256, epochs=20),
    # About a minute on 2 CPU cores: for tests and first contact.
    "smoke": TrainConfig(
        emb_size=32,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        key_size=16,
        visitor_buckets=1_024,
        item_buckets=4_096,
        category_buckets=256,
        history_length=16,
        num_candidates=8,
        eval_list_length=50,
        eval_max_lists=1_500,
        batch_size=32,
        eval_batch_size=128,
        epochs=2,
        steps_per_epoch=30,
        learning_rate=3e-3,
        patience=2,
    ),
}


def named_config(name):
    """The config called `name`, or a ConfigError listing the names there are."""
    if name not in CONFIGS:
        raise ConfigError(f"Unknown config {name!r}. Expected one of: {', '.join(CONFIGS)}.")
    return CONFIGS[name]


def parse_bool(text):
    """`true`/`false` (also `1`/`0`, `yes`/`no`) from the command line."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_flags(parser):
    """Adds `--config NAME` and one `--<field>` flag per config field (default: the named config's)."""
    parser.add_argument(
        "--config",
        default="default",
        help=f"named configuration to start from: {', '.join(CONFIGS)} (default: %(default)s)",
    )
    defaults = CONFIGS["default"]
    for field in dataclasses.fields(TrainConfig):
        kind = field.type
        parser.add_argument(
            f"--{field.name}",
            type=parse_bool if kind is bool else kind,
            default=None,
            metavar=kind.__name__.upper(),
            help=f"override the config's {field.name} "
            f"(default config: {getattr(defaults, field.name)})",
        )


def config_from_args(args):
    """The named config with every flag the user gave applied on top."""
    config = named_config(args.config)
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    return dataclasses.replace(config, **overrides)

