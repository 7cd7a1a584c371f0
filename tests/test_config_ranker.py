"""The ranker's config: the seed's values, JSON round trips, command-line overrides and clear refusals."""

import argparse
import dataclasses

import pytest

from app.config.flags import add_config_flags
from app.config.flags import preset_from_args
from app.config.presets import PRESETS
from app.config.ranker import TrainConfig
from app.errors import ConfigError


def test_default_is_the_seeds_model_trained_on_its_real_lists():
    config = PRESETS["default"].ranker
    assert (config.emb_size, config.num_layers, config.history_length, config.num_candidates) == (128, 4, 64, 16)
    assert (config.batch_size, config.weight_decay) == (128, 0.01)
    assert config.action_weights == (10.0, 3.0, 1.0)
    assert (config.shortlist_cuts, config.num_candidate_features) == (4, 12)
    assert (config.learning_rate, config.epochs, config.patience) == (1e-3, 4, 1)
    full = PRESETS["full"].ranker
    assert (full.emb_size, full.num_layers, full.batch_size, full.epochs) == (256, 6, 256, 20)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name):
    assert TrainConfig.from_json(PRESETS[name].ranker.to_json()) == PRESETS[name].ranker


def test_every_field_is_a_flag():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--config", "smoke", "--emb_size", "48", "--use_history_match", "false"])
    config = preset_from_args(args).ranker
    assert config == dataclasses.replace(PRESETS["smoke"].ranker, emb_size=48, use_history_match=False)
    flags = {action.dest for action in parser._actions}
    assert {field.name for field in dataclasses.fields(TrainConfig)} <= flags


def test_refusals_name_what_was_wrong():
    with pytest.raises(ConfigError, match=r"Unknown TrainConfig field\(s\) \['colour'\]"):
        TrainConfig.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="Received: precision='fp8'"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="Received: batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="`dropout_rate` must be below 1. Received: dropout_rate=1.0"):
        TrainConfig(dropout_rate=1.0)
    with pytest.raises(ConfigError, match="`embedding_l2` must be at least 0. Received: embedding_l2=-0.5"):
        TrainConfig(embedding_l2=-0.5)


def test_regularisers_are_flags_that_reach_the_ranker():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(
        ["--config", "smoke", "--dropout_rate", "0.2", "--embedding_dropout", "0.1", "--embedding_l2", "0.5",
         "--use_visitor_embedding", "false"]
    )  # fmt: skip
    kwargs = preset_from_args(args).ranker.model_kwargs()
    assert (kwargs["dropout_rate"], kwargs["embedding_dropout"], kwargs["embedding_l2"]) == (0.2, 0.1, 0.5)
    assert kwargs["use_visitor_embedding"] is False
