"""Which Retail Rocket build a command uses, loaded once, with the lists every scorer is judged on."""

import logging

from app.cli import UserError

logger = logging.getLogger("app.data")

DATASET_CHOICES = ("auto", "retail_rocket/full", "retail_rocket/synthetic", "retail_rocket/synthetic_full")

SYNTHETIC_BANNER = """
==============================================================================
 No Kaggle files found in the manual directory ({manual_dir}):
 training on the SYNTHETIC twin of Retail Rocket (retail_rocket/synthetic).
 Its numbers say nothing about real shoppers. For the real data:
   kaggle datasets download -d retailrocket/ecommerce-dataset
   unzip ecommerce-dataset.zip -d <manual_dir>
 then run again (or pass --dataset retail_rocket/full --manual_dir <folder>).
==============================================================================
"""


def resolve_dataset(dataset, manual_dir):
    """The builder config to use for `--dataset` (`auto` picks full when its files are present)."""
    from datasets.retail_rocket import manual_files_present

    dataset = dataset or "auto"
    if dataset not in DATASET_CHOICES:
        raise UserError(f"Unknown --dataset {dataset!r}. Expected one of: {', '.join(DATASET_CHOICES)}.")
    if dataset != "auto":
        return dataset.split("/", 1)[1]
    if manual_files_present(manual_dir):
        logger.info("Kaggle files found in the manual directory: using retail_rocket/full.")
        return "full"
    logger.warning(SYNTHETIC_BANNER.format(manual_dir=manual_dir or "the TFDS default"))
    return "synthetic"


def load_data(dataset, data_dir, manual_dir, min_visitor_events, min_item_events):
    """Prepares (if needed) and reads the Retail Rocket build; bad or missing files become a `UserError`."""
    from datasets.loading import load_retail_rocket
    from datasets.retail_rocket.raw_files import RawFileError

    config = resolve_dataset(dataset, manual_dir)
    try:
        return load_retail_rocket(
            config=config,
            data_dir=data_dir,
            manual_dir=manual_dir,
            min_visitor_events=min_visitor_events,
            min_item_events=min_item_events,
        )
    except (FileNotFoundError, RawFileError) as error:
        raise UserError(str(error)) from error


def data_flags(args):
    """The data flags of a command line, as saved in a run's report for `app.evaluate` to reuse."""
    return {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "manual_dir": args.manual_dir,
        "min_visitor_events": args.min_visitor_events,
        "min_item_events": args.min_item_events,
    }
