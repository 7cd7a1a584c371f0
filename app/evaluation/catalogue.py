"""The catalogue protocol: each visitor's items of a split ranked among the whole catalogue, model and baselines.

Every visitor with events in the split is a query: the history is the visitor's last `history_length` events
before the split (as in the sampled lists), the relevant items are the visitor's distinct items of the split,
graded by their strongest action (transaction 3, addtocart 2, view 1). Every scorer ranks all items of the
training catalogue; a relevant item outside it cannot be ranked by anyone, so it stays in the ideal DCG and never
in a top K. The ranking metrics are the sampled protocol's (the keras-rs NDCG and MRR and our HR, ties shuffled by
the same seed), at 10 and 20, and MRR over the whole ranking, computed from the relevant items' ranks
(`app.evaluation.rank_metrics`) instead of sorting the catalogue once per metric. Per-action ROC-AUC is not
computed here: over a catalogue of tens of thousands of items it would say only that unrelated items rank low.
"""

import logging
import time

import keras
import numpy as np

from app.candidates.own_items import OwnItems
from app.evaluation.baselines import action_weighted_popularity
from app.evaluation.lists import hashed_subset
from app.evaluation.rank_metrics import RANK_METRIC_KEYS, RankScorecard, TieBreaks
from app.evaluation.report import with_relative_differences
from app.evaluation.retrieval_recall import RetrievalQueries

CATALOGUE_METRIC_KEYS = (*RANK_METRIC_KEYS, "lists")
"""Keys of one scorer's entry: the ranking metrics at 10 and 20, MRR, and the number of visitors ranked."""

logger = logging.getLogger(__name__)

BASELINE_NAMES = ("random", "popularity", "history_recency")

UNRANKED = -1e30
"""The score of a relevant item outside the catalogue: below every scorer's scores."""


def _entry(card):
    """One scorer's report entry, in `CATALOGUE_METRIC_KEYS` order."""
    entry = card.result()
    return {key: entry[key] for key in CATALOGUE_METRIC_KEYS}


def relevance_columns(queries, catalog):
    """Graded relevance `[V, I + E]` over the catalogue's items, then `E` columns for relevant items outside it.

    Returns:
        `(graded [V, I + E] float32, extra [V, E] int32)`: `extra` holds the outside items (0 on padding).
    """
    visitor = np.repeat(np.arange(queries.num_visitors), queries.target_counts)  # [M]
    slot = np.clip(np.searchsorted(catalog.item_id, queries.target_item_id), 0, catalog.num_items - 1)  # [M]
    inside = catalog.item_id[slot] == queries.target_item_id  # [M]
    outside_rank = np.cumsum(~inside) - 1  # [M] running count of outside targets
    first_outside = np.concatenate([[0], np.cumsum(np.bincount(visitor[~inside], minlength=queries.num_visitors))])
    column = np.where(inside, slot, 0)
    extra_slot = outside_rank - first_outside[visitor]  # [M] position among the visitor's outside targets
    num_extra = int(extra_slot[~inside].max() + 1) if (~inside).any() else 0
    graded = np.zeros((queries.num_visitors, catalog.num_items + num_extra), dtype=np.float32)
    graded[visitor[inside], column[inside]] = queries.target_grade[inside]
    graded[visitor[~inside], catalog.num_items + extra_slot[~inside]] = queries.target_grade[~inside]
    extra = np.zeros((queries.num_visitors, num_extra), dtype=np.int32)
    extra[visitor[~inside], extra_slot[~inside]] = queries.target_item_id[~inside]
    return graded, extra


def evaluate_catalogue(model_scores, queries, catalog, action_weights, seed, chunk_size=32, other_scorers=None,
                       verbose=0, baselines=True):
    """`{"model": R, "baselines": {"random", "popularity", "history_recency", ...}}` on the catalogue protocol.

    `"model"` is `None` when `model_scores` is (the baselines alone). Logs the seconds each scorer took (its scores and their ranks), and shows a progress bar with `verbose`.

    Args:
        model_scores: `f(features) -> [n, I]` the model's ranking scores of every catalogue item (in
            `catalog.item_id` order) for a chunk of queries' features, or `None`.
        queries: `RetrievalQueries` of the split.
        catalog: the training `ItemCatalog`.
        action_weights: the baselines' action weights.
        seed: seed of the random baseline.
        chunk_size: visitors scored at a time (memory is `chunk * I` floats per scorer).
        other_scorers: `{name: f(features) -> [n, I]}` reported beside the baselines (e.g. the retrieval
            model alone, the candidate generators).
        verbose: Keras' `verbose` for the progress bar over the visitors (0: none, 2: one line at the end).
        baselines: False leaves out random, popularity and history_recency (a model's figures alone, e.g. after
            every epoch).
    """
    popularity = action_weighted_popularity(catalog.action_counts, action_weights).astype(np.float32)  # [I]
    history_recency = OwnItems(catalog, action_weights)  # `history_recency_scores` of every item, without [n, I, S]
    other_scorers = other_scorers or {}
    names = ["model"] if model_scores is not None else []
    names += [*(BASELINE_NAMES if baselines else ()), *other_scorers]
    cards = {name: RankScorecard() for name in names}
    seconds = dict.fromkeys(cards, 0.0)
    tie_breaks = TieBreaks()
    progress = keras.utils.Progbar(queries.num_visitors, verbose=verbose, unit_name="visitor") if verbose else None
    for start in range(0, queries.num_visitors, chunk_size):
        chunk = queries.select(np.arange(start, min(start + chunk_size, queries.num_visitors)))
        graded, extra = relevance_columns(chunk, catalog)  # [n, I + E], [n, E]
        unranked = np.full(extra.shape, UNRANKED, dtype=np.float32)  # [n, E]
        shape = (len(graded), catalog.num_items)
        rng = np.random.default_rng([seed, start])
        scorers = {
            **({"model": model_scores} if model_scores is not None else {}),
            "random": lambda features: rng.random(shape, dtype=np.float32),
            "popularity": lambda features: np.broadcast_to(popularity, shape),
            "history_recency": history_recency.score,
            **other_scorers,
        }
        scorers = {name: scorers[name] for name in names}
        ties = tie_breaks.draw(graded.shape)
        for name, score in scorers.items():
            began = time.perf_counter()
            cards[name].update(graded, np.concatenate([score(chunk.features), unranked], axis=1), ties)
            seconds[name] += time.perf_counter() - began
        if progress:
            progress.update(start + len(graded))
    logger.info("Catalogue protocol, %d visitors x %d items, seconds per scorer: %s.", queries.num_visitors,
                catalog.num_items, ", ".join(f"{name} {value:.1f}" for name, value in seconds.items()))
    return with_relative_differences({
        "model": _entry(cards["model"]) if model_scores is not None else None,
        "baselines": {name: _entry(card) for name, card in cards.items() if name != "model"},
    })


def catalogue_queries(store, history_length, max_visitors=0, seed=0):
    """The split's queries; `max_visitors` > 0 keeps a fixed subset (`hashed_subset` of the visitor ids)."""
    queries = RetrievalQueries.build(store, history_length)
    return queries.select(hashed_subset(queries.features["visitor_id"], max_visitors, seed))
