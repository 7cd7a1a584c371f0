"""`python -m app.fit --config default [--model ranker|retrieval]`: train a model and report it beside baselines.

The ranker (`--model ranker`, the default) writes `<output_dir>/<run>.keras` (inference-only, raw ids in, logits out),
`<output_dir>/<run>.json` (config, dataset, timings, and validation and test metrics: first the whole catalogue
ranked, the baselines and candidate generators beside the model when `--exhaustive` asks for the ranker alone over
every item, then the sampled lists), `<run>.curves.png` and `<run>.comparison.png`,
and keeps TensorBoard logs, the CSV log and the resumable backup in
`<output_dir>/<run>/`. Run the same command again after an interruption and it
resumes from the last finished epoch.

With `--shortlist_cuts N` (and `--num_candidate_features 12`) the ranker trains on its real lists instead of
popularity-sampled ones: the candidate generators' union shortlists of N held-out cuts of the training events
(`app.training.shortlist_training`); its catalogue tables are the two stages (that shortlist ordered by the ranker)
beside every generator and the gradient-boosted reranker of the same shortlist, and it has no sampled tables. The
`default` preset trains so, and with `--refit true` (its setting) trains the ranker again for the chosen epochs on
the training and validation events (`app.training.refit`): `<run>.keras` is that ranker, of the test figures, and
`<run>/validation_fit.keras` the one of the validation figures.

The retrieval model (`--model retrieval`) writes `<output_dir>/<run>.keras` and
`<run>.json` with recall@K over the whole catalogue beside popularity and
history-then-popularity.

`--config NAME` names a preset of `app.config.presets`, which pairs both
models' settings; `--F` sets the ranker's field F, `--retrieval_F` the
retrieval model's. A flag for a model that is not trained, or for a field its
trainer does not read, is refused. `--config sessions` trains both stages on
the public session benchmark (`retail_rocket/sessions`, `app.training.sessions`):
`<run>.keras` (the ranker), `<run>.retrieval.keras` and `<run>.json` with every
method's validation figures.
"""

import app.cli.environment  # noqa: F401  (first: the backend and a quiet TensorFlow)

import argparse
import dataclasses
import logging
import time
from datetime import datetime
from pathlib import Path

import keras

from app.cli.data import SESSIONS_DATASET
from app.cli.data import load_data
from app.cli.data import resolved_data_flags
from app.cli.shared import add_data_flags
from app.cli.shared import exits_cleanly_on_user_error
from app.cli.shared import setup_logging
from app.cli.shared import training_verbosity
from app.config.flags import STAGES
from app.config.flags import add_config_flags
from app.config.flags import preset_from_args
from app.config.flags import refuse_flags
from app.errors import UserError
from app.evaluation.lists import evaluation_lists_for
from app.training.distribution import add_distribution_flag
from app.training.distribution import applied
from app.training.distribution import make_distribution
from app.training.retrieval import train_retrieval
from app.training.run import find_interrupted_run
from app.training.run import start_run_dir
from app.training.run import train_and_report
from app.training.shortlist_training import check_shortlist_config

logger = logging.getLogger("app.fit")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m app.fit", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        choices=STAGES,
        default="ranker",
        help="ranker: the candidate-isolated transformer; retrieval: the two-tower retrieval model "
        "(default: %(default)s)",
    )
    add_config_flags(parser)
    add_data_flags(parser)
    add_distribution_flag(parser)
    parser.add_argument(
        "--run_name",
        default=None,
        help="name of the run's files (default: <config>-<timestamp>, or the interrupted run "
        "of the same command, which then resumes)",
    )
    parser.add_argument(
        "--output_dir", default="saved_models", help="where the run's files go (default: %(default)s)"
    )
    parser.add_argument(
        "--exhaustive", action="store_true",
        help="ranker: also rank every catalogue item with the ranker alone in the report's catalogue tables (a "
        "ranker pass over the whole catalogue per visitor: slow on real data); without it those tables hold the "
        "baselines and candidate generators only",
    )
    return parser


def check_sessions_request(args, preset):
    """A sessions preset trains both stages on the session benchmark: refuse what contradicts that."""
    refuse_flags(args, "ranker", type(preset.ranker).UNUSED_ON_SESSIONS,
                 f"--config {args.config}'s ranker does not read them (an epoch is one pass over its training "
                 "shortlists, and every validation case is scored)")
    refuse_flags(args, "retrieval", type(preset.retrieval).UNUSED_ON_SESSIONS,
                 f"--config {args.config}'s retrieval model does not read them (an epoch is one pass over every "
                 "position of every session, and the last epoch is kept)")
    if args.model != "ranker":
        raise UserError(
            f"--config {args.config} trains both stages (the retrieval model and the ranker): leave --model out."
        )
    if args.dataset not in (None, "auto", SESSIONS_DATASET):
        raise UserError(f"--config {args.config} trains on {SESSIONS_DATASET}. Received: --dataset {args.dataset}.")
    if args.distribution != "none":
        raise UserError(f"--config {args.config} runs on one device. Received: --distribution {args.distribution}.")
    if args.exhaustive:
        raise UserError(f"--exhaustive applies to a ranker trained alone; --config {args.config} reports the session "
                        "benchmark, which ranks every item already.")


def check_one_stage_request(args, preset):
    """`--model M` on visitor data trains M alone: refuse the other stage's flags and the fields M does not read."""
    other = next(stage for stage in STAGES if stage != args.model)
    refuse_flags(args, other, [field.name for field in dataclasses.fields(preset.stage(other))],
                 f"--model {args.model} trains the {args.model} model alone")
    config = preset.stage(args.model)
    refuse_flags(args, args.model, type(config).UNUSED_ON_VISITORS,
                 f"the {args.model} model reads them on the session benchmark only (--config sessions)")
    if args.model == "retrieval" and args.exhaustive:
        raise UserError("--exhaustive applies to --model ranker: the retrieval report ranks every item already.")
    if args.model == "ranker":
        check_shortlist_config(config)
    if args.model == "ranker" and config.shortlist_cuts:
        refuse_flags(args, "ranker", type(config).UNUSED_ON_SHORTLISTS,
                     f"a ranker trained on union shortlists (--shortlist_cuts {config.shortlist_cuts}) does not read "
                     "them (an epoch is one pass over its lists, drawn from the shortlists, and it is scored on the "
                     "catalogue protocol alone)")
        if args.exhaustive:
            raise UserError("--exhaustive: a ranker trained on union shortlists (--shortlist_cuts) orders its "
                            "shortlist; leave --exhaustive out.")


def seed_after_data(seed):
    """Seeds Keras, NumPy and Python right before the weights are drawn.

    Not earlier: building a dataset consumes Python's global random state (TFDS), so a seed set before loading
    the data would give other weights in the run that built it than in the runs that found it built.
    """
    keras.utils.set_random_seed(seed)


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    verbose = training_verbosity()
    preset = preset_from_args(args)
    sessions = preset.data_kind == "sessions"
    if sessions:
        check_sessions_request(args, preset)
        args.dataset = SESSIONS_DATASET
    else:
        check_one_stage_request(args, preset)
    config = preset.stage(args.model)
    output_dir = Path(args.output_dir)
    flags = resolved_data_flags(args)

    started = time.perf_counter()
    data = load_data(**flags)
    if sessions:
        from app.training.sessions import train_sessions

        run_name = args.run_name or f"{args.config}-{datetime.now():%Y%m%d-%H%M%S}"
        seed_after_data(config.seed)
        train_sessions(preset.ranker, preset.retrieval, data, output_dir, run_name, flags, verbose)
        return
    if args.model == "retrieval":
        run_name = args.run_name or f"{args.config}-retrieval-{datetime.now():%Y%m%d-%H%M%S}"
        seed_after_data(config.seed)
        with applied(make_distribution(args.distribution, config)):
            train_retrieval(config, data, output_dir, run_name, data_flags=flags, verbose=verbose)
        return
    lists = None if config.shortlist_cuts else evaluation_lists_for(config, data, ("train", "validation", "test"))
    data_seconds = time.perf_counter() - started
    logger.info("Data ready in %.1f s: %s %s.", data_seconds, data.name, data.version)

    # The run's folder is made only now, so a run that fails on its data leaves nothing behind.
    request = {"config": dataclasses.asdict(config), "data": flags}
    run_name = args.run_name or find_interrupted_run(output_dir, request)
    run_name = run_name or f"{args.config}-{datetime.now():%Y%m%d-%H%M%S}"
    if start_run_dir(output_dir, run_name, request):
        logger.info("Resuming the interrupted run %s from its backup.", run_name)
    seed_after_data(config.seed)
    train_and_report(config, data, lists, flags, output_dir, run_name, data_seconds, args.distribution, verbose,
                     args.exhaustive)


if __name__ == "__main__":
    main()
