"""Named training configurations: dataclasses that round-trip to JSON and to command-line flags."""

import argparse
import dataclasses
import inspect
import json
import math
from dataclasses import dataclass

from app.errors import ConfigError
from app.ranker.model import PhoenixRanker


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
"""Keras dtype policies a run may train under (evaluation always runs in float32)."""

def constructor_defaults(model_class):
    """The default of every constructor argument of `model_class` that has one."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(model_class.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


class ModelConfig:
    """What the run configs share: checks, the model's constructor arguments, and the JSON round trip.

    A subclass is a frozen dataclass naming its model (`MODEL_CLASS`) and the
    bounds of its fields: `MINIMUMS` (integers), `POSITIVE` and `NON_NEGATIVE`
    (numbers). Every float field must be finite; attention heads must divide
    and the head width must be even (rotary embeddings rotate pairs).
    """

    MODEL_CLASS = None
    MINIMUMS = {}
    POSITIVE = ()
    NON_NEGATIVE = ()

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ConfigError(f"`{field.name}` must be a finite number. Received: {field.name}={value}.")
            if field.type is int and not isinstance(value, int):
                raise ConfigError(f"`{field.name}` must be an integer. Received: {field.name}={value!r}.")
        for name, minimum in self.MINIMUMS.items():
            if getattr(self, name) < minimum:
                raise ConfigError(f"`{name}` must be at least {minimum}. Received: {name}={getattr(self, name)}.")
        for name in self.POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"`{name}` must be positive. Received: {name}={getattr(self, name)}.")
        for name in self.NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ConfigError(f"`{name}` must be at least 0. Received: {name}={getattr(self, name)}.")
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
        """Constructor arguments of `MODEL_CLASS`: every field named like one of its arguments."""
        arguments = constructor_defaults(self.MODEL_CLASS)
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name in arguments}

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict, refusing unknown fields by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown {cls.__name__} field(s) {unknown}. Expected some of: {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


_RANKER_DEFAULTS = constructor_defaults(PhoenixRanker)


@dataclass(frozen=True)
class TrainConfig(ModelConfig):
    """Everything a ranker's training run depends on, saved beside its model.

    Model fields go to `app.ranker.model.PhoenixRanker` (with its defaults); data
    fields to the input pipeline (`eval_max_lists` > 0 scores a fixed random
    subset of that many lists per split, the same for the model and every
    baseline; 0 scores all; `retrieved` is the retrieval shortlist a two-stage
    ranking gives the ranker); the rest to `model.fit`.
    """

    MODEL_CLASS = PhoenixRanker
    MINIMUMS = {
        "emb_size": 1, "num_layers": 1, "num_query_heads": 1, "num_key_value_heads": 1, "key_size": 1,
        "num_hashes": 1, "visitor_buckets": 2, "item_buckets": 2, "category_buckets": 2,
        "num_age_buckets": 2, "history_length": 1, "num_candidates": 1, "eval_list_length": 2,
        "eval_max_lists": 0, "target_window_events": 1, "same_category_negatives": 0, "retrieved": 1, "batch_size": 1, "eval_batch_size": 1,
        "epochs": 1, "steps_per_epoch": 1, "patience": 0, "steps_per_execution": 1, "seed": 0,
    }
    POSITIVE = ("learning_rate", "widening_factor", "max_age_hours", "logit_cap")
    NON_NEGATIVE = (
        "weight_decay", "transaction_weight", "addtocart_weight", "view_weight", "popularity_alpha",
        "dropout_rate", "embedding_dropout", "embedding_l2",
    )
    BELOW_ONE = ("dropout_rate", "embedding_dropout")

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


CONFIGS = {
    # The seed's default run: emb 128, 4 layers, history 64, 16 candidates,
    # batch 128, 10 epochs x 500 steps, AdamW lr 1e-4; with the candidate's
    # category matched against the history's (chosen on the real slice's
    # validation split: NDCG@10 0.43 -> 0.72 over 4 x 200 steps).
    "default": TrainConfig(use_category_match=True),
    # The seed's large run.
    "full": TrainConfig(emb_size=256, num_layers=6, batch_size=256, epochs=20, use_category_match=True),
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
        use_category_match=True,
    ),
    # The session benchmark's ranker (stage 2, `app.training.sessions`), chosen on its validation split: a small
    # transformer over the prefix's last 20 views and a shortlist of 50 retrieved items plus the prefix's own,
    # with the shortlist's features (`app.sessions.candidates`), trained with a softmax over each list. Sessions
    # have no visitor, categories or other actions; ages count views. Only the view logit ranks.
    "sessions": TrainConfig(
        emb_size=32,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=2,
        key_size=16,
        widening_factor=4.0,
        visitor_buckets=2,
        item_buckets=65_536,
        category_buckets=2,
        num_age_buckets=16,
        max_age_hours=64.0,
        num_candidate_features=5,
        use_visitor_embedding=False,
        history_length=20,
        retrieved=50,
        num_candidates=70,
        batch_size=256,
        epochs=3,
        steps_per_epoch=1,
        learning_rate=2e-3,
        weight_decay=1e-4,
        transaction_weight=0.0,
        addtocart_weight=0.0,
        view_weight=1.0,
        patience=1,
    ),
}
# Seconds on 2 CPU cores: the session recipe at toy sizes, for tests.
CONFIGS["sessions_smoke"] = dataclasses.replace(
    CONFIGS["sessions"], emb_size=16, key_size=8, widening_factor=2.0, item_buckets=4_096, history_length=8,
    retrieved=12, num_candidates=20, batch_size=32, epochs=1,
)


def named_config(name, configs=None):
    """The config called `name` in `configs` (the ranker's by default), or a ConfigError listing the names."""
    configs = CONFIGS if configs is None else configs
    if name not in configs:
        raise ConfigError(f"Unknown config {name!r}. Expected one of: {', '.join(configs)}.")
    return configs[name]


def parse_bool(text):
    """`true`/`false` (also `1`/`0`, `yes`/`no`) from the command line."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_flags(parser, config_sets=None):
    """Adds `--config NAME` and one `--<field>` flag per field of the configs' classes.

    Args:
        parser: the command's `argparse.ArgumentParser`.
        config_sets: `{model: {name: config}}`, the named configs of each model the command trains
            (default: the ranker's `CONFIGS`); a field shared by several models has one flag.
    """
    config_sets = {"ranker": CONFIGS} if config_sets is None else config_sets
    names = sorted({name for configs in config_sets.values() for name in configs})
    parser.add_argument(
        "--config",
        default="default",
        help=f"named configuration to start from: {', '.join(names)} (default: %(default)s)",
    )
    flags = {}
    for model, configs in config_sets.items():
        defaults = configs["default"]
        for field in dataclasses.fields(defaults):
            flags.setdefault(field.name, (field.type, []))[1].append(f"{model} {getattr(defaults, field.name)}")
    parser.set_defaults(config_flag_names=tuple(flags))
    for name, (kind, defaults) in flags.items():
        parser.add_argument(
            f"--{name}",
            type=parse_bool if kind is bool else kind,
            default=None,
            metavar=kind.__name__.upper(),
            help=f"override the config's {name} (default config: {', '.join(defaults)})",
        )


def config_from_args(args, configs=None):
    """The config named by `--config` in `configs` (the ranker's by default), with the field flags given on top.

    A flag for a field the chosen config does not have is a `ConfigError`.
    """
    config = named_config(args.config, configs)
    fields = {field.name for field in dataclasses.fields(config)}
    given = {name: getattr(args, name) for name in args.config_flag_names if getattr(args, name) is not None}
    foreign = sorted(name for name in given if name not in fields)
    if foreign:
        raise ConfigError(
            f"{', '.join('--' + name for name in foreign)} is not a field of {type(config).__name__} "
            f"(the config of this model). Expected some of: {', '.join('--' + name for name in sorted(fields))}."
        )
    return dataclasses.replace(config, **{name: value for name, value in given.items() if name in fields})
