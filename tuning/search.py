"""`python -m tuning.search --config smoke`: search the ranker's size and learning rate with KerasTuner.

Each trial trains the base config with the drawn values for its epochs and is
scored by `val_ndcg@10` on the validation lists (the metric `app.fit` keeps
the best epoch by). Trials leave only their metadata in
`<directory>/<project>/trial_*/trial.json`, so the same command resumes an
interrupted search without running finished trials again. At the end the
leaderboard is printed and saved as `<directory>/<project>/leaderboard.csv`,
and the best configuration is retrained from scratch and saved, with the same
report `app.fit` writes, as `<output_dir>/tuned-<project>.keras` and `.json`;
`python -m app.evaluate <output_dir>/tuned-<project>.keras` reproduces it.
"""

import app.cli.environment  # noqa: F401  (first: the backend and a quiet TensorFlow)

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import keras
from keras_tuner.engine.trial import TrialStatus

from app.cli.data import load_data
from app.cli.data import resolved_data_flags
from app.cli.shared import add_data_flags
from app.cli.shared import add_hidden_alias
from app.cli.shared import exits_cleanly_on_user_error
from app.cli.shared import setup_logging
from app.cli.shared import training_verbosity
from app.config.flags import add_config_flags
from app.config.flags import preset_from_args
from app.errors import UserError
from app.evaluation.lists import evaluation_lists_for
from app.training.distribution import add_distribution_flag
from app.training.flow import BACKUP_DIR
from app.training.flow import BEST_WEIGHTS_FILE
from app.training.run import start_run_dir
from app.training.run import train_and_report
from app.training.shortlist_training import check_shortlist_config
from tuning.leaderboard import leaderboard_markdown
from tuning.leaderboard import leaderboard_rows
from tuning.leaderboard import write_leaderboard_csv
from tuning.ranker_hyper_model import RankerHyperModel
from tuning.ranker_hyper_model import SEARCHED_FIELDS
from tuning.ranker_tuner import RankerTuner
from tuning.ranker_tuner import TUNERS
from tuning.ranker_tuner import make_oracle
from tuning.search_space import SEARCH_SPACES

logger = logging.getLogger("tuning.search")

SEARCH_REQUEST_FILE = "search_request.json"
LEADERBOARD_FILE = "leaderboard.csv"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tuning.search",
        description="Search the ranker's depth, width, attention heads, feed-forward widening, "
        "learning rate and history length with KerasTuner (objective: val_ndcg@10, maximised), "
        "then retrain the best configuration and save it with app.fit's report. Run the same "
        "command again to resume an interrupted search (finished trials are not run again) or, "
        "with a larger --max_trials, to extend a finished one. The config flags of searched fields "
        f"({', '.join('--' + name for name in SEARCHED_FIELDS)}) are refused.",
    )
    add_config_flags(parser, stages=("ranker",))
    add_data_flags(parser)
    add_distribution_flag(parser, applies_to="the retraining of the best configuration (trials run on one device)")
    parser.add_argument(
        "--space",
        default=None,
        help=f"named search space: {', '.join(SEARCH_SPACES)} (default: the one named like "
        "--config, else default). See tuning/search_space.py for the ranges.",
    )
    parser.add_argument(
        "--tuner",
        default="bayesian",
        help=f"search algorithm: {', '.join(TUNERS)} (default: %(default)s). Bayesian optimisation "
        "because every new model size recompiles under JAX: a few full-length trials, each "
        "chosen from the ones before, use the time better than Hyperband's many short ones "
        "(which, here, also restart promoted trials from scratch rather than keep checkpoints). "
        "random draws uniformly",
    )
    parser.add_argument(
        "--max_trials",
        type=int,
        default=10,
        help="trials in all, counting finished ones of an earlier run of the same search "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--directory",
        default="tuning_runs",
        help="where the tuner keeps its projects (default: %(default)s)",
    )
    parser.add_argument(
        "--project_name",
        default=None,
        help="the search's folder in --directory and the name of its model "
        "(default: <config>-<tuner>)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start the project over instead of resuming it (default: resume)",
    )
    parser.add_argument(
        "--output_dir",
        default="saved_models",
        help="where the retrained best model and its report go (default: %(default)s)",
    )
    add_hidden_alias(parser, "--max-trials", "max_trials", type=int)
    add_hidden_alias(parser, "--project-name", "project_name")
    add_hidden_alias(parser, "--output-dir", "output_dir")
    return parser


def checked_request(args):
    """The base config and search space of the command line, or a `UserError` saying what is wrong."""
    if args.tuner not in TUNERS:
        raise UserError(f"Unknown --tuner {args.tuner!r}. Expected one of: {', '.join(TUNERS)}.")
    if args.max_trials < 1:
        raise UserError(f"--max_trials must be at least 1. Received: --max_trials {args.max_trials}.")
    searched = [name for name in SEARCHED_FIELDS if getattr(args, name, None) is not None]
    if searched:
        raise UserError(
            f"{', '.join('--' + name for name in searched)} is searched, not set: "
            "change its range in tuning/search_space.py instead."
        )
    preset = preset_from_args(args)
    if preset.data_kind != "visitors":
        raise UserError(f"tuning.search tunes the ranker on visitor data; --config {args.config} is made for "
                        f"{preset.data_kind} (python -m app.fit --config {args.config} trains it).")
    config = preset.ranker
    check_shortlist_config(config)
    space_name = args.space or (args.config if args.config in SEARCH_SPACES else "default")
    if space_name not in SEARCH_SPACES:
        raise UserError(f"Unknown --space {space_name!r}. Expected one of: {', '.join(SEARCH_SPACES)}.")
    return config, SEARCH_SPACES[space_name]


def check_resumable(project_dir, request, overwrite):
    """Refuses to resume a project started with other settings (its trials would not compare)."""
    request_path = project_dir / SEARCH_REQUEST_FILE
    if overwrite or not request_path.is_file():
        return
    previous = json.loads(request_path.read_text())
    if previous != request:
        changed = sorted(key for key in request if previous.get(key) != request[key])
        raise UserError(
            f"{project_dir} holds a search started with other settings ({', '.join(changed)} "
            "differ). Pass --overwrite to start it over, or --project_name to start another."
        )


def directory_size(path):
    """Bytes in the files under `path`."""
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())


class TrialsFromTheSeed(RankerHyperModel):
    """Every trial starts from a fresh Keras session and the config's seed, as `app.fit` starts a run.

    So trials differ only by their values, and the best one retrained (`retrain_best`) gets its trial's weights.
    """

    def build(self, hp):
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.base_config.seed)
        return super().build(hp)


def retrain_best(best_config, data, flags, output_dir, run_name, data_seconds, distribution="none", verbose=1):
    """Retrains `best_config` from scratch as app.fit would (under `--distribution`), unless that run is saved."""
    request = {"config": dataclasses.asdict(best_config), "data": flags}
    report_path = output_dir / f"{run_name}.json"
    unfinished = (output_dir / run_name / BACKUP_DIR).exists()
    if not unfinished and report_path.is_file() and (output_dir / f"{run_name}.keras").is_file():
        report = json.loads(report_path.read_text())
        if report.get("config") == request["config"] and report.get("data_flags") == flags:
            logger.info("The best configuration is already retrained in %s: keeping it.", report_path)
            return
    if start_run_dir(output_dir, run_name, request):
        logger.info("Resuming the interrupted retraining in %s.", output_dir / run_name)
    else:
        logger.info("Retraining the best configuration from scratch as %s.", run_name)
    started = time.perf_counter()
    lists = None if best_config.shortlist_cuts else evaluation_lists_for(best_config, data,
                                                                         ("train", "validation", "test"))
    keras.backend.clear_session()
    keras.utils.set_random_seed(best_config.seed)
    train_and_report(
        best_config,
        data,
        lists,
        flags,
        output_dir,
        run_name,
        data_seconds + time.perf_counter() - started,
        distribution,
        verbose,
    )
    # The best epoch's weights are in `<run_name>.keras` now; keep one copy only.
    (output_dir / run_name / BEST_WEIGHTS_FILE).unlink(missing_ok=True)


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    config, space = checked_request(args)
    project_name = args.project_name or f"{args.config}-{args.tuner}"
    project_dir = Path(args.directory) / project_name
    flags = resolved_data_flags(args)
    request = {
        "config": dataclasses.asdict(config),
        "space": space.to_dict(),
        "tuner": args.tuner,
        "data": flags,
    }
    check_resumable(project_dir, request, args.overwrite)
    search_started = time.perf_counter()

    started = time.perf_counter()
    data = load_data(**flags)
    data_seconds = time.perf_counter() - started
    logger.info("Data ready in %.1f s: %s %s.", data_seconds, data.name, data.version)

    hypermodel = TrialsFromTheSeed(
        config, data, space, verbose=training_verbosity()
    )
    tuner = RankerTuner(
        oracle=make_oracle(args.tuner, args.max_trials, config.epochs, config.seed),
        hypermodel=hypermodel,
        directory=args.directory,
        project_name=project_name,
        overwrite=args.overwrite,
    )
    (project_dir / SEARCH_REQUEST_FILE).write_text(json.dumps(request, indent=2))
    finished = sorted(
        trial.trial_id
        for trial in tuner.oracle.trials.values()
        if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    )
    if finished:
        logger.info(
            "Resuming %s: %d finished trial(s) kept, not run again: %s.",
            project_dir,
            len(finished),
            ", ".join(finished),
        )
    tuner.search(epochs=config.epochs)
    ran = sorted(set(tuner.oracle.trials) - set(finished))
    logger.info(
        "Search done in %.1f s: %d trial(s) run now (%s), %d reused.",
        time.perf_counter() - search_started,
        len(ran),
        ", ".join(ran) or "none",
        len(finished),
    )

    rows = leaderboard_rows(tuner.oracle, config.epochs)
    write_leaderboard_csv(rows, project_dir / LEADERBOARD_FILE)
    print(f"**Leaderboard: {project_name}** (objective val_ndcg@10, best first)\n")
    print(leaderboard_markdown(rows), end="\n\n")
    best_trials = tuner.oracle.get_best_trials(1)
    if not best_trials:
        raise UserError(f"No trial of {project_dir} finished; the leaderboard's notes say why.")
    best = best_trials[0]
    logger.info("Best trial: %s (val_ndcg@10 %.4f).", best.trial_id, best.score)
    output_dir = Path(args.output_dir)
    retrain_best(
        hypermodel.trial_config(best.hyperparameters),
        data,
        flags,
        output_dir,
        f"tuned-{project_name}",
        data_seconds,
        args.distribution,
        verbose=training_verbosity(),
    )
    logger.info(
        "Disk: %s holds %.1f KB (trial metadata only); %s holds %.1f KB.",
        project_dir,
        directory_size(project_dir) / 1024,
        output_dir,
        directory_size(output_dir) / 1024,
    )
    logger.info("Wall time: %.1f s.", time.perf_counter() - search_started)


if __name__ == "__main__":
    main()
