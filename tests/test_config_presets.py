"""The preset table and its flags: each preset pairs both stages; every flag sets one field of one model."""

import argparse
import dataclasses

import pytest

from app.config.flags import add_config_flags
from app.config.flags import preset_from_args
from app.config.flags import refuse_flags
from app.config.presets import PRESETS
from app.config.presets import Preset
from app.config.presets import named_preset
from app.config.ranker import TrainConfig
from app.config.retrieval import RetrievalConfig
from app.errors import ConfigError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_names_both_stages(name):
    preset = PRESETS[name]
    assert isinstance(preset.ranker, TrainConfig) and isinstance(preset.retrieval, RetrievalConfig)
    assert preset.data_kind == ("sessions" if name.startswith("sessions") else "visitors")


def parse(argv, stages=("ranker", "retrieval")):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, stages)
    return parser.parse_args(argv)


def test_a_field_shared_by_both_models_has_one_flag_per_model():
    args = parse(["--config", "sessions_smoke", "--emb_size", "24", "--retrieval_emb_size", "40",
                  "--retrieval_tied_item_tower", "false"])
    preset = preset_from_args(args)
    assert preset.ranker == dataclasses.replace(PRESETS["sessions_smoke"].ranker, emb_size=24)
    assert preset.retrieval == dataclasses.replace(PRESETS["sessions_smoke"].retrieval, emb_size=40,
                                                   tied_item_tower=False)
    assert preset.data_kind == "sessions"


def test_every_field_of_both_models_is_a_flag():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    flags = {action.dest for action in parser._actions}
    assert {field.name for field in dataclasses.fields(TrainConfig)} <= flags
    assert {f"retrieval_{field.name}" for field in dataclasses.fields(RetrievalConfig)} <= flags


def test_a_command_of_one_stage_has_only_its_flags():
    with pytest.raises(SystemExit):
        parse(["--retrieval_emb_size", "8"], stages=("ranker",))
    assert preset_from_args(parse(["--emb_size", "8"], stages=("ranker",))).ranker.emb_size == 8


def test_refused_flags_are_named_in_one_line():
    args = parse(["--retrieval_batch_size", "8", "--retrieval_patience", "2", "--emb_size", "8"])
    refuse_flags(args, "ranker", ("batch_size",), "unused")  # not given: nothing to refuse
    with pytest.raises(ConfigError, match=r"^--retrieval_batch_size, --retrieval_patience: why; leave them out\.$"):
        refuse_flags(args, "retrieval", ("batch_size", "patience", "seed"), "why")


def test_unknown_preset_and_data_kind():
    with pytest.raises(ConfigError, match="Unknown config 'huge'. Expected one of: default, full, smoke"):
        named_preset("huge")
    with pytest.raises(ConfigError, match="`data_kind` must be one of visitors, sessions. Received: 'clicks'"):
        Preset(ranker=TrainConfig(), retrieval=RetrievalConfig(), data_kind="clicks")
