"""A report's catalogue tables: the model beside every baseline and candidate generator, on each split's visitors.

The model row of a ranker trained on union shortlists (`TrainConfig.shortlist_cuts` > 0) is always its two stages:
the generators' union shortlist ordered by the ranker. For a ranker trained on sampled lists it is the two stages
when a retriever is given (its shortlist plus the visitor's own items, ordered by the ranker), the ranker alone
over every item when asked (`exhaustive`: a ranker pass over the whole catalogue for every visitor, slow on a real
catalogue), and absent otherwise: the tables then hold the baselines and the generators alone, and say so.
"""

import logging
import time

import numpy as np

from app.candidates.co_visitation import DEFAULT_WINDOW_HOURS
from app.candidates.peers import GENERATOR_NAMES
from app.candidates.peers import fitted_generators
from app.candidates.shortlist import DEFAULT_TOP, UnionShortlister
from app.errors import UserError
from app.evaluation.boosted_reranker import BoostedReranker
from app.evaluation.catalogue import catalogue_queries
from app.evaluation.catalogue import evaluate_catalogue
from app.two_stage.catalogue_ranker import CatalogueRanker, scores_on_catalogue
from app.two_stage.shortlist_ranker import ShortlistRanker

logger = logging.getLogger(__name__)

BOOSTED_RERANKER = "boosted_reranker"
PEER_NAMES = (*GENERATOR_NAMES, BOOSTED_RERANKER)
"""Every peer a catalogue table can hold: the candidate generators (the default peers) and, on request, the
gradient-boosted reranker of their union shortlist (`app.evaluation.boosted_reranker`, learned from held-out train
lists: seconds to a minute on the real slice)."""

NO_MODEL_NOTE = ("no model row: the ranker alone is ranked over the whole catalogue only on request (--exhaustive), "
                 "and two stages need a retriever")


def catalogue_description(num_items, retriever=None, retrieved=None, exhaustive=False, max_visitors=0,
                          window_hours=DEFAULT_WINDOW_HOURS, shortlists=False, refit=False):
    """One line saying what the catalogue tables hold: equal lines mean tables of the same figures (`shortlists`:
    the ranker was trained on union shortlists, and orders them; `refit`: the test figures come from the refit on
    training and validation events, `app.training.refit`)."""
    if shortlists:
        top = ", ".join(f"{name} {k}" for name, k in DEFAULT_TOP.items())
        model = f"model: two stages, the ranker over the union shortlist ({top})"
    elif retriever is not None:
        model = f"model: two stages, {retrieved} retrieved + the visitor's own items"
    elif exhaustive:
        model = "model: the ranker alone over every item"
    else:
        model = NO_MODEL_NOTE
    visitors = f"at most {max_visitors} visitors (a fixed hashed subset)" if max_visitors else "every visitor"
    fits = ("; validation: the ranker and peers fitted on the training split; test: the ranker refit and the peers "
            "fitted on the training and validation events, ranking their catalogue" if refit else "")
    return (f"catalogue protocol: every one of {num_items} catalogue items ranked for {visitors} of the split; "
            f"{model}; co-visitation window {window_hours:g} h{fits}")


def catalogue_metrics(ranker, config, data, splits, retriever=None, retrieved=None, exhaustive=False,
                      max_visitors=0, peers=GENERATOR_NAMES, window_hours=DEFAULT_WINDOW_HOURS, verbose=0):
    """`{split: M}` on the catalogue protocol: the model, the baselines, the candidate generators
    (`app.candidates.peers`, fitted on the training split) and, with a retriever, the retrieval model alone
    (`baselines.retrieval`).

    Args:
        ranker: the `PhoenixRanker`.
        config: the run's `TrainConfig` (history length, action weights, seed, `retrieved` by default).
        data: the loaded dataset.
        splits: the splits to score.
        retriever: a `RetrievalModel` for the two stages, or None.
        retrieved: items the retriever passes on (default: `config.retrieved`).
        exhaustive: without a retriever, rank every catalogue item with the ranker alone (else no model row). A
            ranker trained on shortlists (`config.shortlist_cuts` > 0) takes neither: it orders the union shortlist
            of the generators fitted on the training split.
        max_visitors: > 0 scores a fixed hashed subset of this many visitors per split.
        peers: the names of `PEER_NAMES` reported beside the baselines.
        window_hours: the co-visitation generators' window.
        verbose: Keras' `verbose` for the progress bar over each split's visitors.
    """
    if retriever is not None and exhaustive:
        raise ValueError("Either two stages (a retriever) or the ranker alone (exhaustive), not both.")
    if config.shortlist_cuts and (retriever is not None or exhaustive):
        raise ValueError("A ranker trained on shortlists orders its union shortlist: no retriever, no exhaustive pass.")
    retrieved = config.retrieved if retrieved is None else retrieved
    model_scores = None
    if config.shortlist_cuts:
        shortlister = UnionShortlister(data.catalog, action_weights=config.action_weights).fit(data.train)
        model_scores = ShortlistRanker(ranker, shortlister, config.action_weights).catalogue_scores
    elif retriever is not None or exhaustive:
        model_scores = _model_scores(CatalogueRanker(ranker, data.catalog, config.action_weights, retriever,
                                                     retrieved), data.catalog)
    others = {}
    if retriever is not None:
        items = retriever.item_embeddings(data.catalog.item_id, data.catalog.category_id)  # [I, D]
        others["retrieval"] = lambda features: retriever.user_embeddings(features) @ items.T  # [n, I]
    started = time.perf_counter()
    generator_names = [name for name in peers if name != BOOSTED_RERANKER]
    generators = fitted_generators(data.train, data.catalog, config.action_weights, generator_names, window_hours)
    if BOOSTED_RERANKER in peers:
        generators[BOOSTED_RERANKER] = BoostedReranker(data.catalog, config.history_length,
                                                       action_weights=config.action_weights,
                                                       seed=config.seed).fit(data.train)
    logger.info("Peers fitted on %d training events in %.1f s.", data.train.num_events, time.perf_counter() - started)
    others.update({name: generators[name].score for name in peers})
    metrics = {}
    for split in splits:
        try:
            queries = catalogue_queries(getattr(data, split), config.history_length, max_visitors, config.seed)
        except ValueError as error:
            raise UserError(f"Cannot score the {split} split of {data.name} on the catalogue protocol: {error}. "
                            "Filters (--min_visitor_events, --min_item_events) or too little data can leave a split "
                            "without visitors: loosen them or add events.") from error
        metrics[split] = evaluate_catalogue(model_scores, queries, data.catalog, config.action_weights, config.seed,
                                            other_scorers=others, verbose=verbose)
        if config.shortlist_cuts:
            metrics[split]["shortlist"] = shortlist_reach(shortlister, queries)
    return metrics


def shortlist_reach(shortlister, queries, chunk_size=256):
    """`{"reach", "visitors", "mean_candidates"}`: the share of the queries' visitors whose union shortlist holds at
    least one of their relevant items (no ordering can do better than that for HR@K), and the shortlists' mean
    number of candidates."""
    hits = candidates = 0
    for start in range(0, queries.num_visitors, chunk_size):
        chunk = queries.select(np.arange(start, min(start + chunk_size, queries.num_visitors)))
        shortlists = shortlister.shortlists(chunk.features)
        counts = chunk.target_counts  # [n]
        rows = np.repeat(np.arange(len(counts)), counts)  # [m] each target's visitor
        within = np.arange(counts.sum()) - np.repeat(chunk.target_offsets[:-1], counts)  # [m] its place there
        relevant = np.zeros((len(counts), counts.max()), dtype=np.int64)  # [n, R], 0 = padding
        relevant[rows, within] = chunk.target_item_id
        share, visitors = shortlists.reach(relevant)
        hits += share * visitors
        candidates += int(np.count_nonzero(shortlists.item_id))
    return {"reach": hits / queries.num_visitors, "visitors": queries.num_visitors,
            "mean_candidates": candidates / queries.num_visitors}


def _model_scores(scorer, catalog):
    """`f(features) -> [n, I]`: the `CatalogueRanker`'s scores on the catalogue, below any score where it did not
    rank an item (outside a two-stage shortlist)."""

    def model_scores(features):
        items, _, scores = scorer.score(features)  # [n, M], [n, M]
        if scorer.retriever is None:
            return scores  # every catalogue item, in catalogue order
        return scores_on_catalogue(catalog, items, scores, -1.0)  # below any score

    return model_scores
