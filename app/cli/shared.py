"""What every command shares: logging format, training verbosity, user errors as one line, the data flags."""

import argparse
import functools
import logging
import os
import sys

from app.errors import ConfigError
from app.errors import UserError

LOG_FORMAT = "%(asctime)s | %(name)s | %(levelname)s | %(message)s"


def setup_logging(level=logging.INFO):
    """Logs as `time | name | level | message` and quietens TensorFlow's and JAX's chatter."""
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S", force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("jax").setLevel(logging.WARNING)


def training_verbosity():
    """Keras' `verbose` for a command's long work (training, catalogue scoring): one line per epoch or split where
    `CI` is set (logs), else a progress bar."""
    return 2 if os.environ.get("CI") else 1


def exits_cleanly_on_user_error(main):
    """Runs `main`; a `UserError` or `ConfigError` prints one line on stderr and exits 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except (UserError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def add_data_flags(parser):
    """The dataset flags shared by `app.fit`, `app.evaluate`, `app.recommend` and `tuning.search`."""
    parser.add_argument(
        "--dataset",
        default=None,
        help="auto (default: retail_rocket/full when the Kaggle files are in the manual "
        "directory, else the synthetic twin; retail_rocket/sessions for the sessions configs), "
        "retail_rocket/full, retail_rocket/synthetic, retail_rocket/synthetic_full or retail_rocket/sessions "
        "(the public session benchmark's train_sessions.csv)",
    )
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (TFDS default)")
    parser.add_argument(
        "--manual_dir",
        default=None,
        help="folder holding the Kaggle files for retail_rocket/full "
        "(TFDS default: <data_dir>/downloads/manual)",
    )
    parser.add_argument(
        "--min_visitor_events",
        type=int,
        default=None,
        help="keep visitors with at least this many events (builder default 10; "
        "use 2 for the small real slice)",
    )
    parser.add_argument(
        "--min_item_events",
        type=int,
        default=None,
        help="keep items with at least this many events (builder default 5; use 1 for the slice)",
    )
    parser.add_argument(
        "--data_engine",
        choices=("memory", "beam"),
        default=None,
        help="where a dataset build runs: memory (in this process, the default) or beam (an Apache Beam "
        "pipeline: the DirectRunner, or a cluster runner named in --beam_options; needs the beam extra); both "
        "make the same build",
    )
    parser.add_argument(
        "--beam_options",
        default=None,
        help="Beam pipeline options for --data_engine beam, as one string (default: --runner=DirectRunner; "
        "e.g. '--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp')",
    )


def add_rebuild_flag(parser):
    """`--rebuild_data`, for the commands that score a trained model on the build it was trained on."""
    parser.add_argument(
        "--rebuild_data",
        action="store_true",
        help="if the raw files changed since the dataset was built, rebuild it from the current files "
        "instead of stopping (the model is then scored on data it was not trained on)",
    )


def add_hidden_alias(parser, alias, dest, type=str):
    """Accepts an older flag spelling (e.g. `--max-trials` for `--max_trials`) without listing it in `--help`."""
    parser.add_argument(alias, dest=dest, type=type, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
