"""`python -m app.fit --config default`: train the ranker and report it beside the baselines.

Writes `<output_dir>/<run>.keras` (inference-only, raw ids in, logits out),
`<output_dir>/<run>.json` (config, dataset, timings, validation and test metrics
of the model and the baselines), `<run>.curves.png` and `<run>.comparison.png`,
and keeps TensorBoard logs, the CSV log and the resumable backup in
`<output_dir>/<run>/`. Run the same command again after an interruption and it
resumes from the last finished epoch.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported: the commands run on JAX by default

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from app.cli import add_data_flags  # noqa: E402
from app.cli import exits_cleanly_on_user_error  # noqa: E402
from app.cli import setup_logging  # noqa: E402
from app.config import add_config_flags  # noqa: E402
from app.config import config_from_args  # noqa: E402
from app.data import load_data  # noqa: E402
from app.data import resolved_data_flags  # noqa: E402
from app.list_evaluation import evaluation_lists_for  # noqa: E402
from app.training_run import find_interrupted_run  # noqa: E402
from app.training_run import start_run_dir  # noqa: E402
from app.training_run import train_and_report  # noqa: E402

logger = logging.getLogger("app.fit")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m app.fit",
        description="Train the Phoenix-style ranker on Retail Rocket (JAX backend) and report it "
        "beside random, popularity and history-recency baselines on the same candidate lists.",
    )
    add_config_flags(parser)
    add_data_flags(parser)
    parser.add_argument(
        "--run_name",
        default=None,
        help="name of the run's files (default: <config>-<timestamp>, or the interrupted run "
        "of the same command, which then resumes)",
    )
    parser.add_argument(
        "--output_dir", default="saved_models", help="where the run's files go (default: %(default)s)"
    )
    return parser


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    config = config_from_args(args)
    output_dir = Path(args.output_dir)
    flags = resolved_data_flags(args)

    started = time.perf_counter()
    data = load_data(**flags)
    lists = evaluation_lists_for(config, data, ("train", "validation", "test"))
    data_seconds = time.perf_counter() - started
    logger.info("Data ready in %.1f s: %s %s.", data_seconds, data.name, data.version)

    # The run's folder is made only now, so a run that fails on its data leaves nothing behind.
    request = {"config": dataclasses.asdict(config), "data": flags}
    run_name = args.run_name or find_interrupted_run(output_dir, request)
    run_name = run_name or f"{args.config}-{datetime.now():%Y%m%d-%H%M%S}"
    if start_run_dir(output_dir, run_name, request):
        logger.info("Resuming the interrupted run %s from its backup.", run_name)
    train_and_report(config, data, lists, flags, output_dir, run_name, data_seconds)


if __name__ == "__main__":
    main()
