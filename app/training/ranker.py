"""Building, compiling and exporting the ranker for a config: shared by `app.fit` and `tuning`."""

import keras

from app.errors import UserError
from app.ranker.loss import WeightedActionCrossEntropy
from app.ranker.metrics import training_metrics
from app.ranker.model import PhoenixRanker

MONITOR = "val_ndcg@10"
"""The validation metric that picks the best epoch (and the tuner's objective)."""


def compiled_ranker(config, with_metrics=True, loss=None):
    """A fresh `PhoenixRanker` for `config` in `config.precision`, compiled with AdamW and the weighted loss.

    `with_metrics` adds the training metrics `app.fit` reports; without them the
    compiled step does only the loss and the update (what `app.bench` compares
    with the plain-JAX step). `loss` replaces the weighted per-action
    cross-entropy (the session benchmark's stage 2 trains on a list softmax).
    """
    model = PhoenixRanker(**config.model_kwargs(), dtype=config.precision)
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=config.learning_rate, weight_decay=config.weight_decay
        ),
        loss=loss or WeightedActionCrossEntropy(action_weights=config.action_weights),
        weighted_metrics=training_metrics(config.action_weights) if with_metrics else None,
        steps_per_execution=config.steps_per_execution,
    )
    return model


def training_batches(config, data):
    """The endless training `tf.data.Dataset` of `config`'s shapes and sampling, from `data.train`.

    Settings the data cannot serve (more candidates than items, say) are a `UserError`.
    """
    from datasets.pipeline import training_dataset

    try:
        return training_dataset(
            data.train, data.catalog, batch_size=config.batch_size, history_length=config.history_length,
            num_candidates=config.num_candidates, target_window_events=config.target_window_events,
            popularity_alpha=config.popularity_alpha, same_category_negatives=config.same_category_negatives,
            seed=config.seed,
        )
    except ValueError as error:
        raise UserError(f"Cannot build training examples from {data.name}: {error}") from error


def list_batches(features, labels, mask, batch_size, seed):
    """The endless `tf.data.Dataset` of `(features, labels, mask)` batches of fixed training lists, reshuffled (seeded)
    every pass."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((features, labels, mask))
    dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)


def export_ranker(model, config, path):
    """Saves an inference-only copy of `model` (no optimizer, no compile state) as `.keras`.

    The file is self-contained: raw ids in, logits out; `import app.ranker.model`
    before `keras.saving.load_model` registers what it needs. It is saved in
    float32 whatever the training precision (the weights are float32 in every
    policy), so evaluation and serving run in float32.
    """
    exported = PhoenixRanker(**config.model_kwargs(), dtype="float32")
    exported.set_weights(model.get_weights())
    exported.save(path)
    return path
