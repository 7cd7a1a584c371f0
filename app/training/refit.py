"""The refit: the ranker trained again on the training and validation events, for the epochs chosen on validation.

The validation split chooses the epochs (and every other setting); the test figures and the saved model then come
from a ranker trained from scratch (its weights drawn from the random state the command seeded) on every visitor's
training and validation events, its shortlist generators and catalogue fitted on those events too. The test split's
events are in neither. An interrupted refit is not resumed: the run starts again.
"""

import dataclasses
import logging
from pathlib import Path

import numpy as np

from app.evaluation.catalogue_report import catalogue_metrics
from app.evaluation.plots import read_training_log
from app.training.distribution import applied
from app.training.flow import LOG_FILE, fit_model
from app.training.progress import CompactProgressBar
from app.training.ranker import MONITOR, compiled_ranker
from app.training.shortlist_training import shortlist_batches
from datasets.event_store import EVENT_FIELDS, EventStore, ItemCatalog

logger = logging.getLogger(__name__)

VALIDATION_FIT_FILE = "validation_fit.keras"
"""The ranker of the validation figures (trained on the training split), in the run's folder, when the run refits."""


def validation_fit_path(model_path):
    """Where the run of `model_path` (`<output_dir>/<run>.keras`) keeps the ranker of its validation figures."""
    return Path(model_path).with_suffix("") / VALIDATION_FIT_FILE


def events_through_validation(train, validation):
    """An `EventStore` of every visitor's training events followed by their validation events, all its own (no
    context).

    A validation record holds its visitor's training events as context, so it is that visitor's record here;
    visitors without validation events keep their training record.
    """
    visitor_id = np.union1d(train.visitor_id, validation.visitor_id)  # [V]
    in_validation = np.isin(visitor_id, validation.visitor_id)  # [V]
    train_start, train_end = _record_bounds(train, visitor_id)  # [V], [V]
    validation_start, validation_end = _record_bounds(validation, visitor_id)  # [V], [V]
    starts = np.where(in_validation, validation_start + train.num_events, train_start)  # [V] in the events of both
    lengths = np.where(in_validation, validation_end - validation_start, train_end - train_start)  # [V]
    offsets = np.concatenate([[0], np.cumsum(lengths)])  # [V + 1]
    events = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])  # [N']
    return EventStore(
        visitor_id=visitor_id,
        offsets=offsets,
        context_end=np.zeros(visitor_id.size, dtype=np.int32),
        **{name: np.concatenate([getattr(train, name), getattr(validation, name)])[events] for name in EVENT_FIELDS},
    )


def _record_bounds(store, visitor_id):
    """int64 `[V]` first and one-past-last event of each visitor's record in `store` (0 and 0 where it has none)."""
    record = np.searchsorted(store.visitor_id, visitor_id)  # [V], num_visitors where absent at the end
    return np.append(store.record_start, 0)[record], np.append(store.record_end, 0)[record]


def refit_data(data):
    """`data` with its training split replaced by the training and validation events (`events_through_validation`)
    and the catalogue of those events: what the refit ranker and the test split's peers are fitted on."""
    train = events_through_validation(data.train, data.validation)
    return dataclasses.replace(data, train=train, catalog=ItemCatalog.from_store(train))


def best_epoch_count(run_dir):
    """The epochs up to the best validation epoch (by `MONITOR`) in the training log of the run in `run_dir`."""
    return int(np.argmax(read_training_log(run_dir / LOG_FILE)[MONITOR])) + 1


def refit_ranker(config, data, run_dir, distribution=None, verbose=1):
    """`(model, epochs, epoch_seconds, statistics)`: a fresh ranker of `config` trained on `refit_data(data)`'s
    held-out shortlists for the epoch count of the run's best validation epoch (its training log in `run_dir`).

    The weights are drawn from the global random state, which the command seeded before the first fit.
    """
    epochs = best_epoch_count(run_dir)
    refit = refit_data(data)
    batches, steps, statistics = shortlist_batches(config, refit.train, f"{data.name} (training + validation)")
    logger.info("Refitting on the training and validation events: %d epochs of %d steps.", epochs, steps)
    with applied(distribution):
        model = compiled_ranker(config)
        result = fit_model(model, batches, epochs=epochs, steps_per_epoch=steps,
                           progress_bar=CompactProgressBar(verbose=verbose), learning_rate=config.learning_rate)
    return model, epochs, result.epoch_seconds, statistics


def refit_catalogue_metrics(validation_ranker, refit_ranker, config, data, splits, **options):
    """`catalogue_metrics` of each split from the fit it belongs to: validation from `validation_ranker` (trained on
    the training split) beside peers fitted on the training split; test from `refit_ranker` beside peers fitted on
    the training and validation events, ranking those events' catalogue. `options` go to `catalogue_metrics`."""
    metrics = {}
    for split in splits:
        ranker, split_data = (validation_ranker, data) if split == "validation" else (refit_ranker, refit_data(data))
        metrics.update(catalogue_metrics(ranker, config, split_data, (split,), **options))
    return metrics
