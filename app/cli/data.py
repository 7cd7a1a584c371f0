"""Which Retail Rocket build a command uses, and loading it with user errors as one line."""

import logging
from app.errors import UserError

logger = logging.getLogger("app.cli.data")

SESSIONS_DATASET = "retail_rocket/sessions"
"""The public session benchmark's build."""

DATASET_CHOICES = (
    "auto", "retail_rocket/full", "retail_rocket/synthetic", "retail_rocket/synthetic_full", SESSIONS_DATASET
)

DATA_FLAG_NAMES = (
    "dataset", "data_dir", "manual_dir", "min_visitor_events", "min_item_events", "data_engine", "beam_options"
)
"""The data flags every command shares (`app.cli.shared.add_data_flags`), saved in each run's report."""

SYNTHETIC_BANNER = """
==============================================================================
 No Kaggle files found in the manual directory ({manual_dir}):
 training on the SYNTHETIC twin of Retail Rocket (retail_rocket/synthetic).
 Its numbers say nothing about real shoppers. For the real data:
   kaggle datasets download -d retailrocket/ecommerce-dataset
   unzip ecommerce-dataset.zip -d {manual_dir}
 then run again (or pass --dataset retail_rocket/full --manual_dir <folder>).
==============================================================================
"""


def resolve_dataset(dataset, data_dir, manual_dir):
    """`retail_rocket/<config>` for `--dataset`; `auto` picks `full` when the Kaggle files are present."""
    from datasets.loading import default_manual_dir
    from datasets.retail_rocket import manual_files_present

    dataset = dataset or "auto"
    if dataset not in DATASET_CHOICES:
        raise UserError(f"Unknown --dataset {dataset!r}. Expected one of: {', '.join(DATASET_CHOICES)}.")
    if dataset != "auto":
        return dataset
    manual_dir = manual_dir or default_manual_dir(data_dir)
    if manual_files_present(manual_dir):
        logger.info("Kaggle files found in %s: using retail_rocket/full.", manual_dir)
        return "retail_rocket/full"
    logger.warning(SYNTHETIC_BANNER.format(manual_dir=manual_dir))
    return "retail_rocket/synthetic"


def resolved_data_flags(args):
    """The data flags of a command line with `--dataset auto` resolved, as a run's report saves them.

    Saving the resolved name means `app.evaluate` and `app.recommend` read the
    same build later, even once Kaggle files appear in (or leave) the manual folder.
    """
    flags = {name: getattr(args, name) for name in DATA_FLAG_NAMES}
    flags["dataset"] = resolve_dataset(flags["dataset"], flags["data_dir"], flags["manual_dir"])
    for name in ("data_dir", "manual_dir"):
        flags[name] = None if flags[name] is None else str(flags[name])
    return flags


def load_data(dataset, data_dir, manual_dir, min_visitor_events, min_item_events, if_stale="rebuild",
              data_engine=None, beam_options=None):
    """Prepares (if needed) and reads the Retail Rocket build.

    A cached build made from other raw files than the current ones is rebuilt
    (`if_stale="rebuild"`, what training wants) or refused (`"error"`, what
    commands scoring a trained model want). A build is made in this process
    (`data_engine` "memory" or None) or as an Apache Beam pipeline ("beam",
    run with `beam_options`). Missing or malformed files, a stale
    build and impossible filter values become a one-line `UserError`.
    """
    from datasets.loading import load_retail_rocket

    config = resolve_dataset(dataset, data_dir, manual_dir).split("/", 1)[1]
    try:
        return load_retail_rocket(
            config=config, data_dir=data_dir, manual_dir=manual_dir, min_visitor_events=min_visitor_events,
            min_item_events=min_item_events, if_stale=if_stale, engine=data_engine or "memory",
            beam_options=beam_options,
        )
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error)) from error


def merged_data_flags(args, report):
    """The run's data flags, overridden by any the user gave on this command line."""
    flags = {name: (report or {}).get("data_flags", {}).get(name) for name in DATA_FLAG_NAMES}
    flags.update({name: getattr(args, name) for name in DATA_FLAG_NAMES if getattr(args, name) is not None})
    return flags
