"""The retrieval model's config: JSON round trips, the sessions presets, clear refusals."""

import dataclasses

import pytest

from app.config.base import constructor_defaults
from app.config.presets import PRESETS
from app.config.retrieval import RetrievalConfig
from app.retrieval.model import RetrievalModel
from app.errors import ConfigError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name):
    assert RetrievalConfig.from_json(PRESETS[name].retrieval.to_json()) == PRESETS[name].retrieval


def test_model_fields_are_every_constructor_argument_with_the_models_own_default():
    assert RetrievalConfig().model_kwargs() == constructor_defaults(RetrievalModel)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 1, "Received: batch_size=1"),
        ("history_length", 2.5, "Received: history_length=2.5"),
        ("temperature", 0.0, "Received: temperature=0.0"),
        ("popularity_alpha", -1.0, "Received: popularity_alpha=-1.0"),
        ("key_size", 7, "Received: key_size=7"),
        ("num_key_value_heads", 3, "num_query_heads=2, num_key_value_heads=3"),
        ("dropout_rate", 1.0, "Received: dropout_rate=1.0"),
        ("learning_rate_schedule", "cosine", "Received: learning_rate_schedule='cosine'"),
        ("batch_tokens", 16, "Received: batch_tokens=16, history_length=32"),
        ("batch_negatives", -1, "Received: batch_negatives=-1"),
    ],
)
def test_refusals_name_what_was_wrong(field, value, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(PRESETS["default"].retrieval, **{field: value})


def test_unknown_fields():
    with pytest.raises(ConfigError, match=r"Unknown RetrievalConfig field\(s\) \['colour'\]"):
        RetrievalConfig.from_dict({"colour": "red"})


def test_sessions_presets_build_a_model_that_can_train_on_every_position():
    for name in ("sessions", "sessions_smoke"):
        config = PRESETS[name].retrieval
        assert not config.use_age_embedding and not config.normalize and config.item_bias and config.tied_item_tower
        assert config.batch_tokens >= config.history_length

