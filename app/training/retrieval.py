"""Training the retrieval model with `model.fit`: the sampled-softmax trainers (one cut per example, every position of
a session), validation recall and session HR/MRR, the run report."""

import logging
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from app.errors import UserError
from app.evaluation.report import run_report
from app.evaluation.report import write_report
from app.evaluation.retrieval_recall import RECALL_KS, RetrievalQueries, baseline_recalls, model_recall
from app.retrieval.model import ITEM_FEATURES, USER_FEATURES, RetrievalModel, user_feature_inputs
from app.training.flow import fit_model
from app.training.saved_runs import load_retriever
from app.training.session_validation import SessionValidation, even_sample
from app.training.timed_validation import TimedValidation
from layers import SampledSoftmaxLogits
from layers.masked_logit import MASKED_LOGIT

logger = logging.getLogger("app.training.retrieval")

MONITOR = "val_recall@200"
"""The validation metric that picks the best epoch."""

FINAL_LEARNING_RATE_SHARE = 0.05
"""Where the "warmup_cosine" schedule ends, as a share of the peak learning rate."""


def retrieval_trainer(model, negatives_per_example):
    """The functional training model around `model`'s towers: batches in, sampled-softmax logits out.

    Takes a `datasets.retrieval_examples.RetrievalExamples` batch and returns
    the logits `[B, B + B * G]` of `SampledSoftmaxLogits` (row `b`'s label is
    column `b`), with the towers' weights shared with `model`.
    """
    inputs = user_feature_inputs()
    for name in ITEM_FEATURES:
        inputs[name] = keras.Input(shape=(), dtype="int32", name=name)
    inputs["item_sampling_probability"] = keras.Input(shape=(), dtype="float32", name="item_sampling_probability")
    for name, dtype in (("item_id", "int32"), ("category_id", "int32"), ("sampling_probability", "float32")):
        inputs[f"negative_{name}"] = keras.Input(shape=(negatives_per_example,), dtype=dtype, name=f"negative_{name}")
    user = model.user_tower({name: inputs[name] for name in USER_FEATURES})  # [B, D]
    positives = model.item_tower({name: inputs[name] for name in ITEM_FEATURES})  # [B, D]
    negative_item_id = ops.reshape(inputs["negative_item_id"], (-1,))  # [N]
    negative_category_id = ops.reshape(inputs["negative_category_id"], (-1,))  # [N]
    negatives = model.item_tower({"item_id": negative_item_id, "category_id": negative_category_id})  # [N, D]
    logits = SampledSoftmaxLogits(temperature=model.temperature, name="sampled_softmax_logits")(
        user,
        positives,
        negatives,
        inputs["item_id"],
        negative_item_id,
        inputs["item_sampling_probability"],
        ops.reshape(inputs["negative_sampling_probability"], (-1,)),
    )  # [B, B + N]
    return keras.Model(inputs, logits, name="retrieval_trainer")


def compiled_retrieval_trainer(config, sessions=None):
    """A fresh `RetrievalModel` for `config` and its trainer, compiled with AdamW and the sampled softmax loss.

    Without `sessions` the trainer takes one cut per example (`retrieval_trainer`) for `config.epochs *
    config.steps_per_epoch` steps; with the `SessionSequences` it is trained on, every position of a session
    (`session_retrieval_trainer`) for `config.epochs` passes over them, its loss averaged over the real targets.
    """
    model = RetrievalModel(**config.model_kwargs())
    if sessions is None:
        trainer = retrieval_trainer(model, config.negatives_per_example)
        total_steps, reduction = config.epochs * config.steps_per_epoch, "sum_over_batch_size"
    else:
        trainer = session_retrieval_trainer(model, config.batch_negatives)
        total_steps, reduction = config.epochs * sessions.steps_per_epoch, "mean_with_sample_weight"
    trainer.compile(
        optimizer=retrieval_optimizer(config, total_steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction),
    )
    return model, trainer


def retrieval_optimizer(config, total_steps):
    """AdamW with `config`'s weight decay and `learning_rate_schedule(config, total_steps)`."""
    return keras.optimizers.AdamW(learning_rate=learning_rate_schedule(config, total_steps),
                                  weight_decay=config.weight_decay)


def learning_rate_schedule(config, total_steps):
    """`config.learning_rate`, or for "warmup_cosine" the schedule over a run of `total_steps` steps."""
    if config.learning_rate_schedule == "constant":
        return config.learning_rate
    warmup_steps = min(config.warmup_steps, total_steps // 10)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=total_steps - warmup_steps,
        alpha=FINAL_LEARNING_RATE_SHARE,
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
    )


def session_retrieval_trainer(model, negatives):
    """The functional training model of every position of a session: bucketed batches in, logits out.

    Takes a `datasets.session_sequences.SessionSequences` batch (rows R, width
    W, N = R * W slots) and returns the `SampledSoftmaxLogits` `[N, N + R + G]`
    of the user embedding at every slot (`model.sequence_tower()`) against the
    batch's targets (slot `n`'s label is column `n`), the rows' first items and
    the `G` sampled negatives, log-Q corrected, with the accidental hits and
    the padding candidates (item 0) at `MASKED_LOGIT`. Padded slots get
    meaningless rows; their sample weight is 0. The towers' weights are
    `model`'s.

    Args:
        model: a `RetrievalModel` without age embedding (ages differ per position).
        negatives: G.
    """
    if model.use_age_embedding:
        raise ValueError("Training on every position needs a RetrievalModel without age embedding (a history's "
                         "ages are counted back from its end, which differs per position). Received: "
                         "use_age_embedding=True")
    inputs = user_feature_inputs()
    for name, shape, batch_size, dtype in (
        ("target_item_id", (None,), None, "int32"),  # [R, W]
        ("target_sampling_probability", (None,), None, "float32"),  # [R, W]
        ("first_item_id", (), None, "int32"),  # [R]
        ("first_item_sampling_probability", (), None, "float32"),  # [R]
        ("negative_item_id", (negatives,), 1, "int32"),  # [1, G]
        ("negative_sampling_probability", (negatives,), 1, "float32"),  # [1, G]
    ):
        inputs[name] = keras.Input(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    users = model.sequence_tower()({name: inputs[name] for name in USER_FEATURES})  # [R, W, E]
    users = ops.reshape(users, (-1, model.embedding_size))  # [N, E]
    target_id = ops.reshape(inputs["target_item_id"], (-1,))  # [N]
    other_id = ops.concatenate(
        [inputs["first_item_id"], ops.reshape(inputs["negative_item_id"], (-1,))], axis=0
    )  # [R + G]
    targets = model.item_tower({"item_id": target_id, "category_id": ops.zeros_like(target_id)})  # [N, E]
    others = model.item_tower({"item_id": other_id, "category_id": ops.zeros_like(other_id)})  # [R + G, E]
    logits = SampledSoftmaxLogits(temperature=model.temperature, name="sampled_softmax_logits")(
        users,
        targets,
        others,
        target_id,
        other_id,
        ops.reshape(inputs["target_sampling_probability"], (-1,)),
        ops.concatenate(
            [inputs["first_item_sampling_probability"], ops.reshape(inputs["negative_sampling_probability"], (-1,))],
            axis=0,
        ),
    )  # [N, N + R + G]
    real_candidate = ops.greater(ops.concatenate([target_id, other_id], axis=0), 0)  # [N + R + G]
    logits = ops.where(real_candidate[None, :], logits, MASKED_LOGIT)  # [N, N + R + G]
    return keras.Model(inputs, logits, name="session_retrieval_trainer")


class ValidationRecall(TimedValidation):
    """Adds the exact full-catalogue `val_recall@K` of `model` to every epoch's logs, and times itself.

    The numbers come from `app.evaluation.retrieval_recall.model_recall`, the function
    the final report uses. Put it before callbacks that read `val_recall@K`.

    Args:
        model: the `RetrievalModel` being trained (the trainer shares its weights).
        queries: validation `RetrievalQueries`.
        catalog: the train `ItemCatalog`.
        baselines: the baselines' recall on the same queries, logged beside the model's.
        batch_size: visitors embedded per call.
    """

    def __init__(self, model, queries, catalog, baselines, batch_size):
        super().__init__()
        self.retrieval_model = model
        self.queries = queries
        self.catalog = catalog
        self.baselines = baselines
        self.batch_size = batch_size

    def validate(self, epoch, logs):
        recall = model_recall(self.retrieval_model, self.queries, self.catalog, RECALL_KS, self.batch_size)
        for k in RECALL_KS:
            logs[f"val_recall@{k}"] = recall[f"recall@{k}"]
        return (f"validation recall@200 {recall['recall@200']:.4f} (popularity "
                f"{self.baselines['popularity']['recall@200']:.4f}, history_then_popularity "
                f"{self.baselines['history_then_popularity']['recall@200']:.4f})")


def train_retrieval(config, data, output_dir, run_name, data_flags=None, verbose=1):
    """Fits the retrieval model, keeps its best epoch by validation recall@200, saves and reports it.

    Writes `<output_dir>/<run_name>.keras` (the `RetrievalModel`, no optimizer)
    and `<output_dir>/<run_name>.json`: config, dataset, timings, the per-epoch
    history, and `metrics.validation` / `metrics.test`, each
    `{"model": R, "baselines": {"popularity": R, "history_then_popularity": R}}`
    with `R = {"recall@10", "recall@50", "recall@100", "recall@200", "recall@500",
    "visitors"}`, computed by the saved file reloaded.

    Args:
        config: a `RetrievalConfig`.
        data: what `app.cli.data.load_data` returns (train/validation/test stores, train catalog).
        output_dir: folder of the run's files (created if needed).
        run_name: name of the run's files.
        data_flags: the data flags the data was loaded with, saved in the report.
        verbose: `model.fit`'s verbosity (2: one line per epoch, for logs).

    Returns:
        The report written to `<run_name>.json`.
    """
    from datasets.retrieval_examples import RetrievalExamples

    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        examples = RetrievalExamples(
            data.train, data.catalog, history_length=config.history_length,
            negatives_per_example=config.negatives_per_example, popularity_alpha=config.popularity_alpha,
            min_history_events=config.min_history_events,
        )
        queries = {
            split: RetrievalQueries.build(getattr(data, split), config.history_length)
            for split in ("validation", "test")
        }
    except ValueError as error:
        raise UserError(f"Cannot build retrieval examples from {data.name}: {error}") from error
    if data.catalog.num_items < max(RECALL_KS):
        raise UserError(
            f"Recall@{max(RECALL_KS)} needs at least {max(RECALL_KS)} catalog items. Received: "
            f"{data.catalog.num_items} items in {data.name}"
        )
    baselines = {split: baseline_recalls(split_queries, data.catalog) for split, split_queries in queries.items()}
    preparation_seconds = time.perf_counter() - started

    model, trainer = compiled_retrieval_trainer(config)
    validation_recall = ValidationRecall(
        model, queries["validation"], data.catalog, baselines["validation"], config.eval_batch_size
    )
    result = fit_model(
        trainer,
        examples.dataset(config.batch_size, seed=config.seed),
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        validation=validation_recall,
        monitor=MONITOR,
        patience=config.patience,
        verbose=verbose,
        learning_rate=config.learning_rate,
    )
    model_path = output_dir / f"{run_name}.keras"
    model.save(model_path)

    evaluation_started = time.perf_counter()
    saved = load_retriever(model_path)
    metrics = {
        split: {"model": model_recall(saved, split_queries, data.catalog, RECALL_KS, config.eval_batch_size),
                "baselines": baselines[split]}
        for split, split_queries in queries.items()
    }
    evaluation_seconds = time.perf_counter() - evaluation_started
    train_seconds = result.train_seconds
    steady = train_seconds[1:] or train_seconds
    report = run_report(
        config, data, data_flags, model_path,
        run_name=run_name,
        best_epoch=int(np.argmax(result.history[MONITOR])) + 1,
        epochs_run=len(result.epoch_seconds),
        history={name: [float(value) for value in values] for name, values in result.history.items()},
        examples=examples.statistics,
        queries={split: split_queries.statistics(data.catalog) for split, split_queries in queries.items()},
        timings={
            "preparation_seconds": preparation_seconds,
            "epoch_train_seconds": train_seconds,
            "epoch_validation_seconds": validation_recall.validation_seconds,
            "fit_seconds": sum(result.epoch_seconds),
            "examples_per_s": config.batch_size * config.steps_per_epoch * len(steady) / sum(steady),
            "evaluation_seconds": evaluation_seconds,
            "total_seconds": time.perf_counter() - started,
            "note": "the first epoch includes JIT compilation; examples_per_s leaves it out when there are more",
        },
        metrics=metrics,
    )
    write_report(output_dir / f"{run_name}.json", report)
    for split in ("validation", "test"):
        print(f"{run_name}: {split} recall over the whole catalogue {recall_table(metrics[split])}", end="\n\n")
    print(f"Saved {model_path} and {output_dir / (run_name + '.json')}")
    return report


def recall_table(entry):
    """One line per scorer: `name recall@10 ... recall@500` of a report entry."""
    rows = {"model": entry["model"], **entry["baselines"]}
    header = "scorer".ljust(24) + "".join(f"recall@{k}".rjust(12) for k in RECALL_KS)
    lines = [name.ljust(24) + "".join(f"{row[f'recall@{k}']:12.4f}" for k in RECALL_KS) for name, row in rows.items()]
    return "\n".join([f"({entry['model']['visitors']} visitors)", header, *lines])


def train_session_retrieval(config, sessions, validation_cases, item_popularity, verbose=1):
    """Fits the retrieval model on every position of `sessions` (the session benchmark's stage 1).

    Batches come from `datasets.session_sequences.SessionSequences` (bucketed,
    every target once per epoch), the loss is the sampled softmax of
    `session_retrieval_trainer` averaged over real targets, the optimizer
    `retrieval_optimizer`'s over `config.epochs` passes. Nothing is saved and
    there is no early stopping: the model after the last epoch is returned.
    Keras averages an epoch's logged `loss` over its batches weighted by their
    rows, so short sessions' batches (more rows) weigh more in it.

    Args:
        config: a `RetrievalConfig` whose model has no age embedding (the "sessions" preset).
        sessions: `Sessions` to train on.
        validation_cases: `SessionCases` of which `config.eval_cases` (evenly spaced, `even_sample`; 0: all) are
            scored after every epoch (`SessionValidation`), or None to score nothing.
        item_popularity: `[I + 1]` training event counts per item id: negative sampling, log-Q, ties.
        verbose: `model.fit`'s verbosity (2: one line per epoch, for logs).

    Returns:
        `(model, history)`: the trained `RetrievalModel` and `{name: [value per epoch]}` (`loss`, and `val_hr@10`,
        `val_mrr@10`, `val_hr@20`, `val_mrr@20` with validation cases).
    """
    from datasets.session_sequences import SessionSequences

    sequences = SessionSequences(
        sessions,
        item_popularity,
        history_length=config.history_length,
        batch_tokens=config.batch_tokens,
        negatives=config.batch_negatives,
        popularity_alpha=config.popularity_alpha,
    )
    logger.info("Session training data: %s.", sequences.statistics)
    model, trainer = compiled_retrieval_trainer(config, sequences)
    validation = None
    if validation_cases is not None:
        from app.sessions.benchmark import RetrievalScorer

        validation = SessionValidation(
            lambda: RetrievalScorer(model, len(item_popularity) - 1, config.history_length),
            even_sample(validation_cases, config.eval_cases),
            item_popularity,
        )
    result = fit_model(
        trainer,
        sequences.dataset(seed=config.seed),
        epochs=config.epochs,
        steps_per_epoch=sequences.steps_per_epoch,
        validation=validation,
        verbose=verbose,
        learning_rate=config.learning_rate,
    )
    return model, result.history
