"""A gradient-boosted reranker of the union shortlist: the strong simple peer a neural ranker must beat."""

import logging
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from app.candidates.category_popularity import CategoryPopularity
from app.candidates.co_visitation import CoVisitation
from app.candidates.own_items import OwnItems
from app.candidates.popularity import Popularity
from app.candidates.shortlist import target_action_labels, union_shortlists
from app.evaluation.catalogue import catalogue_queries
from datasets.actions import DEFAULT_LOSS_WEIGHTS
from datasets.event_store import ItemCatalog
from datasets.held_out import held_out_split

logger = logging.getLogger(__name__)

DEFAULT_TOP = {"own_items": 50, "co_visitation": 100, "category_popularity": 100, "popularity": 20}
"""How many of each generator's best items enter the shortlist (own items, then co-visited, category, popular)."""


def shortlist_generators(catalog, action_weights=DEFAULT_LOSS_WEIGHTS):
    """The generators whose union is the shortlist, unfitted, in feature order."""
    return {
        "own_items": OwnItems(catalog, action_weights),
        "co_visitation": CoVisitation(catalog, action_weights=action_weights),
        "category_popularity": CategoryPopularity(catalog, action_weights),
        "popularity": Popularity(catalog, action_weights),
    }


class BoostedReranker:
    """scikit-learn's `HistGradientBoostingClassifier` over the union shortlist's per-candidate features.

    `fit(store)` learns from out-of-sample lists: each visitor's last train events are held out
    (`datasets.held_out`), the generators and their catalogue are fitted on the earlier events, and every
    held-out visitor's shortlist is labelled by the held-out actions: a candidate the visitor touched is a positive,
    weighted by its strongest action's weight (transaction 10, addtocart 3, view 1). The generators are then fitted
    again on the whole training split, as they are for scoring. `score(features)` ranks a visitor's shortlist by
    the classifier's probability above every other catalogue item (those score 0).

    Args:
        catalog: the training `ItemCatalog` (the item axis of the scores).
        history_length: events of history of a held-out visitor, as the scoring queries have.
        top: `{generator: k}`, see `DEFAULT_TOP`.
        action_weights: the generators' and the positives' action weights.
        batch_size: visitors shortlisted at a time.
        seed: the classifier's `random_state`.
    """

    def __init__(self, catalog, history_length=64, top=None, action_weights=DEFAULT_LOSS_WEIGHTS, batch_size=256,
                 seed=0):
        self.catalog = catalog
        self.history_length = history_length
        self.top = dict(DEFAULT_TOP if top is None else top)
        self.action_weights = np.asarray(action_weights, dtype=np.float32)
        self.batch_size = batch_size
        self.seed = seed
        self.generators = None
        self.classifier = None

    def fit(self, store):
        """Learns from `store` (the training split's `EventStore`); returns `self`. Logs the held-out lists: how
        many, how many hold a positive (the shortlist's reach on them) and how many filled slots they average."""
        started = time.perf_counter()
        split = held_out_split(store)
        earlier_catalog = ItemCatalog.from_store(split.earlier)
        generators = {name: g.fit(split.earlier) for name, g in shortlist_generators(earlier_catalog).items()}
        queries = catalogue_queries(split.held_out, self.history_length)
        features, labels, weights = [], [], []
        lists_with_positive = 0
        for start in range(0, queries.num_visitors, self.batch_size):
            chunk = queries.select(np.arange(start, min(start + self.batch_size, queries.num_visitors)))
            shortlists = self._shortlists(generators, earlier_catalog, chunk.features)
            actions = target_action_labels(split.held_out, chunk.features["visitor_id"], shortlists.item_id)
            filled = shortlists.item_id > 0  # [V, M]
            lists_with_positive += int(np.count_nonzero(actions.max(axis=(1, 2))))
            features.append(shortlists.candidate_features()[filled])  # [n, 3G]
            strongest = (actions * self.action_weights).max(axis=-1)[filled]  # [n]
            labels.append(strongest > 0)
            weights.append(np.where(strongest > 0, strongest, 1.0))
        lists = max(queries.num_visitors, 1)
        self.classifier = HistGradientBoostingClassifier(random_state=self.seed)
        self.classifier.fit(np.concatenate(features), np.concatenate(labels), sample_weight=np.concatenate(weights))
        self.generators = {name: g.fit(store) for name, g in shortlist_generators(self.catalog).items()}
        logger.info("Boosted reranker fitted in %.1f s on %d held-out lists: %d (%.1f%%) hold a positive in their "
                    "shortlist, %.1f candidates per list.", time.perf_counter() - started, queries.num_visitors,
                    lists_with_positive, 100 * lists_with_positive / lists,
                    sum(len(chunk) for chunk in labels) / lists)
        return self

    def score(self, features):
        """float32 `[V, I]`: `1 + P(touched)` on the visitor's shortlist, 0 elsewhere."""
        if self.classifier is None:
            raise ValueError("BoostedReranker must be fitted (`fit(store)`) before it scores.")
        shortlists = self._shortlists(self.generators, self.catalog, features)
        filled = shortlists.item_id > 0  # [V, M]
        probability = self.classifier.predict_proba(shortlists.candidate_features()[filled])[:, 1]  # [n]
        rows = np.nonzero(filled)[0]
        slots = np.searchsorted(self.catalog.item_id, shortlists.item_id[filled])  # [n]
        scores = np.zeros((len(filled), self.catalog.num_items), dtype=np.float32)  # [V, I]
        scores[rows, slots] = 1.0 + probability
        return scores

    def _shortlists(self, generators, catalog, features):
        tables = {name: generator.score(features) for name, generator in generators.items()}
        return union_shortlists(tables, catalog, self.top)
