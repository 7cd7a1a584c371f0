"""The input pipeline's public entry points: endless training batches and fixed evaluation lists."""

from datasets.evaluation_lists import EvaluationLists
from datasets.held_out import held_out_split
from datasets.training_examples import DEFAULT_POPULARITY_ALPHA, TrainingExamples

__all__ = ["EvaluationLists", "TrainingExamples", "evaluation_lists", "training_dataset", "training_split_lists"]


def training_dataset(store, catalog, batch_size=128, seed=0, **example_settings):
    """Endless `tf.data.Dataset` of `(features, labels [B, C, A], candidate_mask [B, C])` training batches.

    `example_settings` are `TrainingExamples`' keyword arguments (history length, candidates, target window,
    negatives), which say how examples are cut and negatives drawn; the same seed gives the same batches.
    """
    return TrainingExamples(store, catalog, **example_settings).dataset(batch_size, seed=seed)


def evaluation_lists(
    store, catalog, history_length=64, list_length=100, popularity_alpha=DEFAULT_POPULARITY_ALPHA, seed=0
):
    """`EvaluationLists` of a validation or test store, identical for the same arguments."""
    return EvaluationLists.build(
        store,
        catalog,
        history_length=history_length,
        list_length=list_length,
        popularity_alpha=popularity_alpha,
        seed=seed,
    )


def training_split_lists(
    train_store, catalog, history_length=64, list_length=100, popularity_alpha=DEFAULT_POPULARITY_ALPHA, seed=0
):
    """`EvaluationLists` of the validation kind cut from the train split, to measure the generalisation gap.

    Each visitor's train events are split as the build splits a visitor's events: the last
    `max(1, round(0.1 n))` of `n >= 2` are the list's positives, the earlier ones its history (a visitor with one
    train event gives no list). The model has trained on these events, so its figures here against the validation
    lists' show how much it memorises.
    """
    held_out = held_out_split(train_store).held_out
    return evaluation_lists(held_out, catalog, history_length, list_length, popularity_alpha, seed)
