"""`python -m app.fit --config sessions`: both stages trained for next-item prediction on the session benchmark.

The recipe (chosen on the validation split, see README "Public benchmark"):
1. The training sessions are split by id: the oldest `STAGE_TWO_SHARE` train the ranker, the newer ones the
   retrieval model, so the ranker learns from shortlists of sessions the retriever never saw (out-of-sample
   scores, as at test time; shortlists of sessions it trained on put the target in the list far more often, and a
   ranker trained on them over-trusts the retrieval score).
2. Stage 1: the retrieval model on every position of the newer sessions (`train_session_retrieval`).
3. Stage 2: the ranker on every prefix of the oldest sessions whose next item is in its shortlist
   (`app.sessions.candidates`), with a softmax over each list's real candidates.
4. Every method on every validation case (`app.sessions.benchmark`), the peers fitted on all training sessions.

Writes `<output_dir>/<run>.keras` (the ranker), `<run>.retrieval.keras` and `<run>.json` (both configs, the
dataset, timings, per-epoch validation figures and `metrics.validation`).
"""

import dataclasses
import logging
import time

import keras
import numpy as np

from app.errors import UserError
from app.evaluation.report import run_report
from app.evaluation.report import write_report
from app.ranker.list_softmax_loss import ListSoftmaxCrossEntropy
from app.sessions.baselines import LastItemTransitions
from app.sessions.benchmark import RetrievalScorer, TwoStageScorer, benchmark_entry, benchmark_table, sessions_of_stores
from app.sessions.candidates import CANDIDATE_FEATURES, SessionShortlists
from app.training.flow import fit_model
from app.training.ranker import compiled_ranker, export_ranker, list_batches
from app.training.retrieval import train_session_retrieval
from app.training.saved_runs import load_ranker, load_retriever
from app.training.session_validation import SessionValidation, even_sample
from datasets.actions import ACTION_NAMES
from datasets.retail_rocket.session_files import prefix_cases

logger = logging.getLogger("app.training.sessions")

STAGE_TWO_SHARE = 0.2
"""The oldest share of the training sessions whose prefixes train the ranker (the others train the retriever)."""

VALIDATION_SAMPLE = 5_000
"""Validation cases scored after every epoch (a fixed, evenly spaced subset); all are scored at the end."""

MONITOR = "val_hr@20"


def training_lists(shortlists, cases, chunk_size=2048, verbose=0):
    """The ranker's training lists: every case whose target is in its shortlist, with its one-hot view label.

    `verbose` is Keras' `verbose` for a progress bar over the cases.

    Returns:
        `(features, labels [N, M, A], mask [N, M], statistics)`.
    """
    parts, dropped = [], 0
    progress = keras.utils.Progbar(len(cases), verbose=verbose, unit_name="case") if verbose else None
    for start in range(0, len(cases), chunk_size):
        chunk = cases.select(start, min(start + chunk_size, len(cases)))
        features = shortlists.shortlists(chunk.offsets, chunk.items, targets=chunk.target)
        hit = features["candidate_item_id"] == chunk.target[:, None]  # [n, M]
        keep = hit.any(axis=1)  # [n]
        dropped += int((~keep).sum())
        labels = np.zeros(hit.shape + (len(ACTION_NAMES),), np.float32)  # [n, M, A]
        labels[..., ACTION_NAMES.index("view")] = hit
        parts.append(({name: value[keep] for name, value in features.items()}, labels[keep]))
        if progress:
            progress.update(start + len(chunk))
    features = {name: np.concatenate([part[0][name] for part in parts]) for name in parts[0][0]}
    labels = np.concatenate([part[1] for part in parts])
    mask = (features["candidate_item_id"] > 0).astype(np.float32)
    statistics = {"cases": len(cases), "lists": len(labels), "target_not_shortlisted": dropped}
    return features, labels, mask, statistics


def compiled_session_ranker(config):
    """A `PhoenixRanker` for `config` (which takes the shortlists' candidate features), compiled by
    `compiled_ranker` with the list softmax."""
    if config.num_candidate_features != len(CANDIDATE_FEATURES) or (
            config.num_candidates != config.retrieved + config.history_length):
        raise UserError(
            f"The session ranker takes the {len(CANDIDATE_FEATURES)} shortlist features and `retrieved` + "
            "`history_length` candidates. Received: "
            f"num_candidate_features={config.num_candidate_features}, num_candidates={config.num_candidates}, "
            f"retrieved={config.retrieved}, history_length={config.history_length}."
        )
    return compiled_ranker(config, with_metrics=False, loss=ListSoftmaxCrossEntropy("view"))


def train_sessions(config, retrieval_config, data, output_dir, run_name, data_flags, verbose=1):
    """Trains both stages on `data` (the `retail_rocket/sessions` build) and writes the run's files.

    Args:
        config: the ranker's `TrainConfig` (the `sessions` preset); `retrieved` + `history_length` candidates.
        retrieval_config: the retrieval model's `RetrievalConfig` (its `sessions` preset).
        data: `LoadedData` of `retail_rocket/sessions`.
        output_dir: `Path` of the run's files.
        run_name: name of the run's files.
        data_flags: the data flags, saved in the report.

    Returns:
        The report written to `<run_name>.json`.
    """
    started = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    training = sessions_of_stores(data.train)
    cut = round(STAGE_TWO_SHARE * len(training))
    stage_two_sessions, stage_one_sessions = training.select(0, cut), training.select(cut, len(training))
    validation_cases = prefix_cases(sessions_of_stores(data.validation))
    sample = even_sample(validation_cases, VALIDATION_SAMPLE)
    num_items = int(max(training.items.max(), validation_cases.items.max(), validation_cases.target.max()))
    transitions = LastItemTransitions().fit(training, num_items)
    popularity = transitions.item_popularity

    retriever, retrieval_history = train_session_retrieval(
        retrieval_config, stage_one_sessions, sample, popularity, verbose
    )
    retriever_path = output_dir / f"{run_name}.retrieval.keras"
    retriever.save(retriever_path)
    stage_one_seconds = time.perf_counter() - started

    retrieval = RetrievalScorer(retriever, num_items, retrieval_config.history_length)
    shortlists = SessionShortlists(retrieval, data.catalog, popularity, transitions.transitions, config.retrieved,
                                   config.history_length)
    logger.info("Stage 2: shortlisting the prefixes of %d training sessions.", len(stage_two_sessions))
    features, labels, mask, list_statistics = training_lists(shortlists, prefix_cases(stage_two_sessions),
                                                             verbose=verbose)
    logger.info("Stage 2: %d training lists of %d candidates (%d cases without their target in the shortlist).",
                list_statistics["lists"], shortlists.num_candidates, list_statistics["target_not_shortlisted"])
    ranker = compiled_session_ranker(config)
    batches = list_batches(features, labels, mask, config.batch_size, config.seed)
    validation = SessionValidation(lambda: TwoStageScorer(ranker, shortlists, data.catalog, config.action_weights),
                                   sample, popularity)
    result = fit_model(ranker, batches, epochs=config.epochs, steps_per_epoch=len(labels) // config.batch_size,
                       validation=validation, monitor=MONITOR, patience=config.patience, verbose=2,
                       learning_rate=config.learning_rate)  # each epoch one pass over the lists
    model_path = export_ranker(ranker, config, output_dir / f"{run_name}.keras")
    train_seconds = time.perf_counter() - started

    # The figures of the saved files, as `app.evaluate` will compute them.
    metrics = {"validation": benchmark_entry(load_ranker(model_path), load_retriever(retriever_path), config,
                                             retrieval_config.history_length, data.catalog, training,
                                             validation_cases, verbose)}
    report = run_report(
        config, data, data_flags, model_path,
        run_name=run_name,
        retrieval_config=dataclasses.asdict(retrieval_config),
        retriever_path=str(retriever_path),
        recipe={"stage_two_share": STAGE_TWO_SHARE, "stage_one_sessions": len(stage_one_sessions),
                "stage_two_sessions": len(stage_two_sessions), "stage_two_lists": list_statistics,
                "validation_sample": len(sample)},
        history={"retrieval": _per_epoch(retrieval_history), "ranker": _per_epoch(result.history)},
        timings={"stage_one_seconds": stage_one_seconds, "train_seconds": train_seconds,
                 "total_seconds": time.perf_counter() - started},
        metrics=metrics,
    )
    write_report(output_dir / f"{run_name}.json", report)
    print(benchmark_table(metrics["validation"], f"{run_name}: validation"), end="\n\n")
    print(f"Saved {model_path}, {retriever_path} and {output_dir / (run_name + '.json')}")
    return report


def _per_epoch(history):
    """`{metric: [value per epoch]}` as JSON numbers."""
    return {key: [float(value) for value in values] for key, values in history.items()}
