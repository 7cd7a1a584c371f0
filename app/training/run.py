"""One training run in its folder: train with validation and backups, export, report. Shared by `app.fit` and
`tuning.search`.

A run `<output_dir>/<run_name>/` holds `request.json` (the config and data flags that started it), the backup
while it trains, the CSV and TensorBoard logs and the best epoch's weights; the run writes
`<output_dir>/<run_name>.keras`, `.json` and two plots beside it.
"""

import json
import logging
import shutil
import time

from app.candidates.peers import GENERATOR_NAMES
from app.evaluation.catalogue_report import PEER_NAMES, catalogue_description, catalogue_metrics
from app.evaluation.lists import evaluate_all, sampled_description
from app.evaluation.plots import plot_comparison, plot_training_curves, read_training_log
from app.evaluation.report import comparison_table, run_report, write_report
from app.training.distribution import applied, describe, make_distribution
from app.training.epoch_evaluation import TRAINING_LISTS_PREFIX, VALIDATION_PREFIX, EpochListMetrics
from app.training.flow import BACKUP_DIR, LOG_FILE, fit_model
from app.training.progress import CompactProgressBar
from app.training.ranker import MONITOR, compiled_ranker, export_ranker, training_batches
from app.training.refit import refit_catalogue_metrics, refit_ranker, validation_fit_path
from app.training.saved_runs import load_ranker
from app.training.shortlist_training import shortlist_training

logger = logging.getLogger("app.training.run")

REPORTED_SPLITS = ("validation", "test")
REQUEST_FILE = "request.json"


def find_interrupted_run(output_dir, request):
    """The name of an unfinished run (its backup still there) started with the same request."""
    for request_path in sorted(output_dir.glob(f"*/{REQUEST_FILE}")):
        run_dir = request_path.parent
        if (run_dir / BACKUP_DIR).exists() and json.loads(request_path.read_text()) == request:
            return run_dir.name
    return None


def start_run_dir(output_dir, run_name, request):
    """Creates (or keeps, to resume) the folder of run `run_name` and records its request.

    A folder whose backup was made by the same request is kept and resumed;
    anything else under that name is removed first.

    Returns:
        True when the run resumes from a backup.
    """
    run_dir = output_dir / run_name
    request_path = run_dir / REQUEST_FILE
    resuming = (run_dir / BACKUP_DIR).exists() and request_path.is_file() and (
        json.loads(request_path.read_text()) == request
    )
    if not resuming:
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    request_path.write_text(json.dumps(request, indent=2))
    return resuming


def training_inputs(config, data, per_epoch_lists):
    """`(batches, steps_per_epoch, validation, list_statistics)` of a ranker's training in `fit_model`.

    On popularity-sampled lists (`config.shortlist_cuts` 0): the endless sampled batches, `steps_per_epoch`, and
    `EpochListMetrics` over `per_epoch_lists` (`{prefix: EvaluationLists}`); no list statistics. On held-out
    shortlists: `app.training.shortlist_training`'s (`per_epoch_lists` unused, None).
    """
    if config.shortlist_cuts:
        return shortlist_training(config, data)
    validation = EpochListMetrics(per_epoch_lists, config.action_weights, config.eval_batch_size)
    return training_batches(config, data), config.steps_per_epoch, validation, None


def train(config, data, run_dir, lists, distribution=None, verbose=1):
    """Fits, keeping the best epoch by `val_ndcg@10`.

    On popularity-sampled lists (`config.shortlist_cuts` 0) the validation lists are scored every epoch as the report
    scores them, and the training-split lists of `lists["train"]` too (`train_lists_*` in the log), for the
    generalisation gap. On held-out shortlists (`shortlist_cuts` > 0, `app.training.shortlist_training`) each epoch
    is one pass over them, validated by the catalogue protocol on the validation visitors.

    Under a `distribution` (`app.training.distribution.make_distribution`) the model is built, trained and given its
    best weights in that distribution's scope, so its variables are laid out across the devices from the start.
    The weights are drawn from the global random state: the command seeds it (`keras.utils.set_random_seed`).
    The run folder's backup, logs, resuming and non-finite stop are `app.training.flow.fit_model`'s.

    Returns:
        The model with its best epoch's weights, the seconds of each epoch run now, the steps of an epoch, and the
        shortlist lists' statistics (None on sampled lists).
    """
    with applied(distribution):
        model = compiled_ranker(config)
        per_epoch_lists = None if lists is None else {VALIDATION_PREFIX: lists["validation"],
                                                      TRAINING_LISTS_PREFIX: lists["train"]}
        batches, steps, validation, list_statistics = training_inputs(config, data, per_epoch_lists)
        result = fit_model(
            model,
            batches,
            epochs=config.epochs,
            steps_per_epoch=steps,
            validation=validation,
            monitor=MONITOR,
            patience=config.patience,
            run_dir=run_dir,
            progress_bar=CompactProgressBar(verbose=verbose),
            learning_rate=config.learning_rate,
        )
        return model, result.epoch_seconds, steps, list_statistics


def train_and_report(config, data, lists, flags, output_dir, run_name, data_seconds, distribution="none",
                     verbose=1, exhaustive=False):
    """Trains in `<output_dir>/<run_name>/`, then writes `<run_name>.keras`, `.json` and the plots.

    The report is what `app.evaluate` reproduces: `metrics.catalogue.{validation,test}` first (every catalogue item
    ranked, the baselines and candidate generators beside the model; `app.evaluation.catalogue_report`), then for a
    ranker trained on sampled lists `metrics.sampled.{validation,test}` (the fixed lists it was selected on; a ranker
    trained on shortlists reads their features, which those lists lack). Both score at most
    `config.eval_max_lists` lists or visitors per split. With `config.refit` the ranker chosen on validation is kept
    as `<run_name>/validation_fit.keras` for the validation figures, and `<run_name>.keras` is the refit ranker
    (`app.training.refit`) of the test figures. The run directory must exist (`start_run_dir`); a backup in it is
    resumed.

    Args:
        config: the `TrainConfig` to train.
        data: the loaded dataset (`app.cli.data.load_data`).
        lists: `{split: EvaluationLists}` for train (the generalisation gap), validation and test; None for a
            ranker trained on shortlists.
        flags: the data flags, saved in the report for `app.evaluate`.
        output_dir: `Path` of the run's files.
        run_name: name of the run's files.
        data_seconds: time it took to load `data` and `lists`, for the report.
        distribution: `--distribution`, one of `app.training.distribution.MODES`: how training spreads over devices
            (evaluation runs on one device, from the saved file).
        verbose: the progress bar's verbosity, as Keras' `verbose` (2: one line per epoch, for logs).
        exhaustive: also rank the whole catalogue with the ranker alone in the catalogue tables (slow on a real
            catalogue); without it they hold no model row.

    Returns:
        The report written to `<output_dir>/<run_name>.json`.
    """
    run_dir = output_dir / run_name
    keras_distribution = make_distribution(distribution, config)
    model, epoch_seconds, steps, list_statistics = train(config, data, run_dir, lists, keras_distribution, verbose)
    refit = {}
    if config.refit:
        validation_fit = export_ranker(model, config, validation_fit_path(output_dir / f"{run_name}.keras"))
        started = time.perf_counter()
        model, epochs, refit_epoch_seconds, refit_lists = refit_ranker(config, data, run_dir, keras_distribution,
                                                                       verbose)
        refit = {"epochs": epochs, "epoch_seconds": refit_epoch_seconds, "training_lists": refit_lists,
                 "seconds": time.perf_counter() - started, "validation_fit": str(validation_fit)}
    model_path = export_ranker(model, config, output_dir / f"{run_name}.keras")

    # Report what the saved files do, exactly as `app.evaluate` will see them.
    ranker = load_ranker(model_path)
    started = time.perf_counter()
    peers = PEER_NAMES if config.shortlist_cuts else GENERATOR_NAMES
    options = dict(exhaustive=exhaustive, max_visitors=config.eval_max_lists, peers=peers, verbose=verbose)
    if config.refit:
        metrics = {"catalogue": refit_catalogue_metrics(load_ranker(validation_fit), ranker, config, data,
                                                        REPORTED_SPLITS, **options)}
    else:
        metrics = {"catalogue": catalogue_metrics(ranker, config, data, REPORTED_SPLITS, **options)}
    catalogue_seconds = time.perf_counter() - started
    protocols = {"catalogue": catalogue_description(data.catalog.num_items, exhaustive=exhaustive,
                                                    max_visitors=config.eval_max_lists,
                                                    shortlists=bool(config.shortlist_cuts), refit=config.refit)}
    if not config.shortlist_cuts:  # a ranker of shortlists reads their features, which sampled lists lack
        metrics["sampled"] = evaluate_all(ranker, config, data, {split: lists[split] for split in REPORTED_SPLITS},
                                          verbose)
        protocols["sampled"] = sampled_description(config)
    sampled_seconds = time.perf_counter() - started - catalogue_seconds
    steady = epoch_seconds[1:] or epoch_seconds
    examples_per_epoch = steps * config.batch_size
    report = run_report(
        config, data, flags, model_path,
        run_name=run_name,
        distribution=describe(distribution, keras_distribution),
        timings={
            "data_seconds": data_seconds,
            "epoch_seconds": epoch_seconds,
            "train_seconds": sum(epoch_seconds),
            "examples_per_s": examples_per_epoch * len(steady) / sum(steady) if steady else None,
            "catalogue_seconds": catalogue_seconds,
            "sampled_seconds": sampled_seconds,
            "note": "epochs run in this process; the first includes JIT compilation",
        },
        protocols=protocols,
        **({"training_lists": list_statistics} if list_statistics else {}),  # a ranker of shortlists' lists
        **({"refit": refit} if refit else {}),
        metrics=metrics,
    )
    write_report(output_dir / f"{run_name}.json", report)
    plot_training_curves(
        read_training_log(run_dir / LOG_FILE),
        output_dir / f"{run_name}.curves.png",
        config.num_candidates,
        ("validation (the whole catalogue, the union shortlist ranked)" if config.shortlist_cuts
         else f"validation (lists of {config.eval_list_length})"),
    )
    plot_comparison({protocol: metrics[protocol]["test"] for protocol in metrics},
                    output_dir / f"{run_name}.comparison.png", f"{run_name}: test")
    for protocol in metrics:
        print(report["protocols"][protocol], end="\n\n")
        for split in REPORTED_SPLITS:
            print(comparison_table(metrics[protocol][split], f"{run_name}: {split}, {protocol}"), end="\n\n")
    print(f"Saved {model_path} and {output_dir / (run_name + '.json')}")
    return report
