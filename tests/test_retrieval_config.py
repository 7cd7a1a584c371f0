"""Retrieval configs: JSON round trips, the model's arguments, clear refusals."""

import dataclasses

import pytest

from app.config import ConfigError
from app.retrieval_config import RETRIEVAL_CONFIGS, RetrievalConfig, named_retrieval_config
from app.retrieval_model import RetrievalModel


@pytest.mark.parametrize("name", sorted(RETRIEVAL_CONFIGS))
def test_json_round_trip(name):
    assert RetrievalConfig.from_json(RETRIEVAL_CONFIGS[name].to_json()) == RETRIEVAL_CONFIGS[name]


def test_model_kwargs_are_the_models_constructor_arguments():
    config = named_retrieval_config("smoke")
    model = RetrievalModel(**config.model_kwargs())
    assert {key: model.get_config()[key] for key in config.model_kwargs()} == config.model_kwargs()
    assert set(config.model_kwargs()) <= {field.name for field in dataclasses.fields(RetrievalConfig)}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 1, "Received: batch_size=1"),
        ("history_length", 2.5, "Received: history_length=2.5"),
        ("temperature", 0.0, "Received: temperature=0.0"),
        ("popularity_alpha", -1.0, "Received: popularity_alpha=-1.0"),
        ("key_size", 7, "Received: key_size=7"),
        ("num_key_value_heads", 3, "num_query_heads=2, num_key_value_heads=3"),
    ],
)
def test_refusals_name_what_was_wrong(field, value, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(RETRIEVAL_CONFIGS["default"], **{field: value})


def test_unknown_names_and_fields():
    with pytest.raises(ConfigError, match="Unknown retrieval config 'huge'. Expected one of: default, smoke"):
        named_retrieval_config("huge")
    with pytest.raises(ConfigError, match=r"Unknown retrieval config field\(s\) \['colour'\]"):
        RetrievalConfig.from_dict({"colour": "red"})
