"""Command-line flags for the presets: `--config NAME`, then one flag per field of each stage's config.

A ranker field `F` is `--F`; a retrieval field is `--retrieval_F`, so that every flag means one setting of one
model whatever else the command line says.
"""

import argparse
import dataclasses

from app.config.presets import PRESETS
from app.config.presets import named_preset
from app.errors import ConfigError

STAGES = ("ranker", "retrieval")
FLAG_PREFIXES = {"ranker": "", "retrieval": "retrieval_"}


def parse_bool(text):
    """`true`/`false` (also `1`/`0`, `yes`/`no`) from the command line."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def flag_name(stage, field):
    """The flag (without `--`) that sets `field` of `stage`'s config."""
    return FLAG_PREFIXES[stage] + field


def add_config_flags(parser, stages=STAGES):
    """Adds `--config NAME` and one flag per field of each of `stages`' configs (default: both stages)."""
    parser.add_argument(
        "--config",
        default="default",
        help=f"named configuration to start from: {', '.join(PRESETS)} (default: %(default)s)",
    )
    defaults = PRESETS["default"]
    for stage in stages:
        for field in dataclasses.fields(defaults.stage(stage)):
            kind = field.type
            parser.add_argument(
                f"--{flag_name(stage, field.name)}",
                type=parse_bool if kind is bool else kind,
                default=None,
                metavar=kind.__name__.upper(),
                help=f"the {stage}'s {field.name} (default config: {getattr(defaults.stage(stage), field.name)})",
            )
    parser.set_defaults(config_stages=tuple(stages))


def given_fields(args, stage):
    """`{field: value}` of the flags of `stage` given on the command line."""
    if stage not in args.config_stages:
        return {}
    names = (field.name for field in dataclasses.fields(PRESETS["default"].stage(stage)))
    return {name: value for name in names if (value := getattr(args, flag_name(stage, name))) is not None}


def refuse_flags(args, stage, fields, reason):
    """A `ConfigError` naming the flags of `fields` of `stage` that were given, with `reason`; none given: nothing."""
    given = given_fields(args, stage)
    refused = [f"--{flag_name(stage, name)}" for name in fields if name in given]
    if refused:
        raise ConfigError(f"{', '.join(refused)}: {reason}; leave {'them' if len(refused) > 1 else 'it'} out.")


def preset_from_args(args):
    """The preset named by `--config`, with every field flag given on top."""
    preset = named_preset(args.config)
    return dataclasses.replace(preset, **{
        stage: dataclasses.replace(preset.stage(stage), **given_fields(args, stage)) for stage in args.config_stages
    })
