"""Scores fixed candidate lists with the model and every baseline, into one report entry."""

import dataclasses

import numpy as np

from app.errors import UserError
from app.evaluation.baselines import action_weighted_popularity, history_recency_scores, popularity_scores, random_scores
from app.evaluation.list_metrics import score_lists
from app.evaluation.report import with_relative_differences
from app.ranker.actions import numpy_probabilities_and_scores

CATEGORY_WEIGHT = 0.1
"""What a history event of another item in a candidate's category counts in the `history_category_recency`
baseline, against 1 for an event of the candidate itself."""


def predict_logits(model, features, batch_size, verbose=0):
    """The model's logits `[N, C, A]` for a dict of numpy features, in batches (`verbose`: Keras' progress bar)."""
    return np.asarray(model.predict(features, batch_size=batch_size, verbose=verbose), dtype=np.float32)


def evaluate_lists(model, lists, item_ids, item_popularity, action_weights, batch_size, seed, verbose=0):
    """One report entry `M`: the model and the baselines on exactly the same lists.

    Args:
        model: a ranker taking the input dict and returning logits `[N, C, A]`.
        lists: evaluation lists with `features`, `labels [N, C, A]`, `mask [N, C]`.
        item_ids: `[I]` sorted catalog item ids (training split).
        item_popularity: `[I]` action-weighted training counts.
        action_weights: the ranking score's weights (transaction, addtocart, view).
        batch_size: lists scored per model call.
        seed: seed of the random baseline.
        verbose: Keras' `verbose` for the progress bar over the model's batches.

    Returns:
        `{"model": R, "baselines": {"random": R, "popularity": R, "history_recency": R,
        "history_category_recency": R}}` with each `R` as in `app.evaluation.list_metrics.score_lists`
        (`history_category_recency` also counts the history's other items of a candidate's category,
        at `CATEGORY_WEIGHT`).
    """
    features, labels, mask = lists.features, lists.labels, lists.mask
    candidates = features["candidate_item_id"]  # [N, C]
    probabilities, model_scores = numpy_probabilities_and_scores(
        predict_logits(model, features, batch_size, verbose), action_weights
    )  # [N, C, A], [N, C]
    return {
        "model": score_lists(labels, mask, model_scores, action_scores=probabilities),
        "baselines": {
            "random": score_lists(labels, mask, random_scores(candidates, seed)),
            "popularity": score_lists(
                labels, mask, popularity_scores(candidates, item_ids, item_popularity)
            ),
            "history_recency": score_lists(
                labels, mask, history_recency_scores(features, action_weights)
            ),
            "history_category_recency": score_lists(
                labels, mask, history_recency_scores(features, action_weights, category_weight=CATEGORY_WEIGHT)
            ),
        },
    }


def hashed_subset(visitor_id, max_count, seed):
    """Sorted positions of a fixed subset of at most `max_count` visitors, chosen by a hash of the id and `seed`.

    The choice depends only on the visitors, so every scorer and every process
    gets the same subset; `max_count` 0 keeps all.
    """
    from datasets.evaluation_lists import hashed_uniform

    if max_count <= 0 or len(visitor_id) <= max_count:
        return np.arange(len(visitor_id))
    keys = hashed_uniform(seed, visitor_id, 0, stream=(1 << 21))  # [N]
    return np.sort(np.argsort(keys, kind="stable")[:max_count])  # [n] in the original order


def subsample_lists(lists, max_lists, seed):
    """A fixed subset of at most `max_lists` lists (`hashed_subset` of their visitors); 0 keeps all."""
    if max_lists <= 0 or lists.num_lists <= max_lists:
        return lists
    keep = hashed_subset(lists.features["visitor_id"], max_lists, seed)
    return dataclasses.replace(
        lists,
        features={name: value[keep] for name, value in lists.features.items()},
        labels=lists.labels[keep],
        mask=lists.mask[keep],
        statistics={**lists.statistics, "lists_scored": int(keep.size), "lists_built": lists.num_lists},
    )


TRAINING_LISTS_MAX = 2_000
"""Training-split lists scored each epoch for the generalisation gap (a fixed hash-chosen subset)."""


def evaluation_lists_for(config, data, splits=("validation", "test")):
    """Each split's candidate lists, fixed by the config's seed: the same for every scorer.

    "train" gives lists of the same kind cut from the training split
    (`datasets.pipeline.training_split_lists`), at most `eval_max_lists` or
    `TRAINING_LISTS_MAX` of them. Settings the data cannot serve (a split
    without lists, say) are a `UserError`.
    """
    from datasets.pipeline import evaluation_lists, training_split_lists

    lists = {}
    for split in splits:
        build = training_split_lists if split == "train" else evaluation_lists
        try:
            built = build(getattr(data, split), data.catalog, history_length=config.history_length,
                          list_length=config.eval_list_length, popularity_alpha=config.popularity_alpha,
                          seed=config.seed)
        except ValueError as error:
            raise UserError(f"Cannot build the {split} lists of {data.name}: {error}") from error
        max_lists = config.eval_max_lists or (TRAINING_LISTS_MAX if split == "train" else 0)
        lists[split] = subsample_lists(built, max_lists, config.seed)
    return lists


def evaluate_all(model, config, data, lists, verbose=0):
    """`{split: M}`: the model and the baselines on each split's lists, with relative differences (`verbose`:
    Keras' progress bar over the model's batches)."""
    popularity = action_weighted_popularity(data.catalog.action_counts, config.action_weights)
    return {
        split: with_relative_differences(
            evaluate_lists(
                model,
                split_lists,
                data.catalog.item_id,
                popularity,
                config.action_weights,
                config.eval_batch_size,
                config.seed,
                verbose,
            )
        )
        for split, split_lists in lists.items()
    }


def sampled_description(config):
    """One line saying what the sampled tables hold."""
    return (f"sampled protocol: lists of {config.eval_list_length} candidates, the split's items and "
            "popularity-sampled negatives")
