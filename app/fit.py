"""`python -m app.fit --config default`: train the ranker and report it beside the baselines.

Writes `<output_dir>/<run>.keras` (inference-only, raw ids in, logits out),
`<output_dir>/<run>.json` (config, dataset, timings, validation and test metrics
of the model and the baselines), `<run>.curves.png` and `<run>.comparison.png`,
and keeps TensorBoard logs, the CSV log and the resumable backup in
`<output_dir>/<run>/`. Run the same command again after an interruption and it
resumes from the last finished epoch.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402

from app.resuming import EpochBackup  # noqa: E402
from app.resuming import ResumableEarlyStopping  # noqa: E402
from app.resuming import completed_epochs  # noqa: E402
from app.cli import add_data_flags  # noqa: E402
from app.cli import exits_cleanly_on_user_error  # noqa: E402
from app.cli import setup_logging  # noqa: E402
from app.config import add_config_flags  # noqa: E402
from app.config import config_from_args  # noqa: E402
from app.data import resolved_data_flags  # noqa: E402
from app.data import load_data  # noqa: E402
from app.evaluation import dataset_entry  # noqa: E402
from app.evaluation import evaluate_all  # noqa: E402
from app.evaluation import evaluation_lists_for  # noqa: E402
from app.plots import plot_comparison  # noqa: E402
from app.plots import plot_training_curves  # noqa: E402
from app.plots import read_training_log  # noqa: E402
from app.report import comparison_table  # noqa: E402
from app.report import write_report  # noqa: E402
from app.saved_runs import load_ranker  # noqa: E402
from app.training import MONITOR  # noqa: E402
from app.training import compiled_ranker  # noqa: E402
from app.training import export_ranker  # noqa: E402
from app.training import training_batches  # noqa: E402

logger = logging.getLogger("app.fit")

REQUEST_FILE = "request.json"
BACKUP_DIR = "backup"
LOG_FILE = "training_log.csv"
BEST_WEIGHTS_FILE = "best.weights.h5"


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


def find_interrupted_run(output_dir, request):
    """The name of an unfinished run (its backup still there) started with the same request."""
    for request_path in sorted(output_dir.glob(f"*/{REQUEST_FILE}")):
        run_dir = request_path.parent
        if (run_dir / BACKUP_DIR).exists() and json.loads(request_path.read_text()) == request:
            return run_dir.name
    return None


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch (the first includes compilation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train(config, data, run_dir, lists):
    """Fits with validation every epoch, keeping the best weights by `val_ndcg@10`.

    A run resumed from its backup goes on exactly where it stopped: from the
    backed-up weights and epoch, at the same place in the training stream, with
    early stopping's and the checkpoint's best score as they were.

    Returns:
        The model with its best epoch's weights, and the seconds of each epoch run now.
    """
    model = compiled_ranker(config)
    log_path = run_dir / LOG_FILE
    best_weights = run_dir / BEST_WEIGHTS_FILE
    done = completed_epochs(run_dir / BACKUP_DIR)
    previous_scores = read_training_log(log_path).get(MONITOR, [])[:done] if log_path.exists() else []
    timer = EpochTimer()
    callbacks = [
        EpochBackup(run_dir / BACKUP_DIR),
        keras.callbacks.ModelCheckpoint(
            str(best_weights),
            monitor=MONITOR,
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=max(previous_scores, default=None),
        ),
        ResumableEarlyStopping(
            previous_scores, monitor=MONITOR, mode="max", patience=config.patience
        ),
        keras.callbacks.CSVLogger(str(log_path), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
        timer,
    ]
    model.fit(
        training_batches(config, data).skip(done * config.steps_per_epoch),
        epochs=config.epochs,
        initial_epoch=done,
        steps_per_epoch=config.steps_per_epoch,
        validation_data=lists["validation"].dataset(config.eval_batch_size),
        callbacks=callbacks,
        verbose=2 if os.environ.get("CI") else "auto",
    )
    if best_weights.exists():
        model.load_weights(best_weights)
    return model, timer.seconds


def train_and_report(config, data, lists, flags, output_dir, run_name, data_seconds):
    """Trains in `<output_dir>/<run_name>/`, then writes `<run_name>.keras`, `.json` and the plots.

    Shared by `main` and `tuning.search` (which retrains its best configuration
    here), so both write the report `app.evaluate` reproduces. The run
    directory must exist; a backup in it is resumed.

    Args:
        config: the `TrainConfig` to train.
        data: the loaded dataset (`app.data.load_data`).
        lists: `{split: EvaluationLists}` for validation and test.
        flags: the data flags, saved in the report for `app.evaluate`.
        output_dir: `Path` of the run's files.
        run_name: name of the run's files.
        data_seconds: time it took to load `data` and `lists`, for the report.

    Returns:
        The report written to `<output_dir>/<run_name>.json`.
    """
    run_dir = output_dir / run_name
    model, epoch_seconds = train(config, data, run_dir, lists)
    model_path = export_ranker(model, config, output_dir / f"{run_name}.keras")

    # Report what the saved file does, exactly as `app.evaluate` will see it.
    started = time.perf_counter()
    metrics = evaluate_all(load_ranker(model_path), config, data, lists)
    evaluation_seconds = time.perf_counter() - started
    steady = epoch_seconds[1:] or epoch_seconds
    examples_per_epoch = config.steps_per_epoch * config.batch_size
    report = {
        "config": dataclasses.asdict(config),
        "dataset": dataset_entry(data),
        "data_flags": flags,
        "run_name": run_name,
        "model_path": str(model_path),
        "backend": keras.backend.backend(),
        "timings": {
            "data_seconds": data_seconds,
            "epoch_seconds": epoch_seconds,
            "train_seconds": sum(epoch_seconds),
            "examples_per_s": examples_per_epoch * len(steady) / sum(steady) if steady else None,
            "evaluation_seconds": evaluation_seconds,
            "note": "epochs run in this process; the first includes JIT compilation",
        },
        "metrics": metrics,
    }
    write_report(output_dir / f"{run_name}.json", report)
    plot_training_curves(read_training_log(run_dir / LOG_FILE), output_dir / f"{run_name}.curves.png")
    plot_comparison(metrics["test"], output_dir / f"{run_name}.comparison.png", f"{run_name}: test")
    for split in ("validation", "test"):
        print(comparison_table(metrics[split], f"{run_name}: {split}"), end="\n\n")
    print(f"Saved {model_path} and {output_dir / (run_name + '.json')}")
    return report


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    config = config_from_args(args)
    keras.utils.set_random_seed(config.seed)
    output_dir = Path(args.output_dir)
    flags = resolved_data_flags(args)
    request = {"config": dataclasses.asdict(config), "data": flags}
    run_name = args.run_name or find_interrupted_run(output_dir, request)
    if run_name and (output_dir / run_name / BACKUP_DIR).exists():
        logger.info("Resuming the interrupted run %s from its backup.", run_name)
    else:
        run_name = run_name or f"{args.config}-{datetime.now():%Y%m%d-%H%M%S}"
        shutil.rmtree(output_dir / run_name, ignore_errors=True)
    run_dir = output_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / REQUEST_FILE).write_text(json.dumps(request, indent=2))

    started = time.perf_counter()
    data = load_data(**flags)
    lists = evaluation_lists_for(config, data)
    data_seconds = time.perf_counter() - started
    logger.info("Data ready in %.1f s: %s %s.", data_seconds, data.name, data.version)

    train_and_report(config, data, lists, flags, output_dir, run_name, data_seconds)


if __name__ == "__main__":
    main()
