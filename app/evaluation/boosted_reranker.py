"""A gradient-boosted reranker of the union shortlist: the strong simple peer a neural ranker must beat."""

import logging
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from app.candidates.held_out_lists import held_out_lists
from app.candidates.shortlist import UnionShortlister
from datasets.actions import DEFAULT_LOSS_WEIGHTS

logger = logging.getLogger(__name__)


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
        top: `{generator: k}`, see `app.candidates.shortlist.DEFAULT_TOP` (the default).
        action_weights: the generators' and the positives' action weights.
        batch_size: visitors shortlisted at a time.
        seed: the classifier's `random_state`.
    """

    def __init__(self, catalog, history_length=64, top=None, action_weights=DEFAULT_LOSS_WEIGHTS, batch_size=256,
                 seed=0):
        self.catalog = catalog
        self.history_length = history_length
        self.top = top
        self.action_weights = np.asarray(action_weights, dtype=np.float32)
        self.batch_size = batch_size
        self.seed = seed
        self.shortlister = None
        self.classifier = None

    def fit(self, store):
        """Learns from `store` (the training split's `EventStore`); returns `self`. Logs the held-out lists: how
        many, how many hold a positive (the shortlist's reach on them) and how many filled slots they average."""
        started = time.perf_counter()
        features, labels, weights = [], [], []
        lists = lists_with_positive = 0
        for chunk in held_out_lists(store, self.history_length, self.top, self.action_weights,
                                    batch_size=self.batch_size):
            filled = chunk.shortlists.item_id > 0  # [V, M]
            lists += len(filled)
            lists_with_positive += int(np.count_nonzero(chunk.labels.max(axis=(1, 2))))
            features.append(chunk.shortlists.candidate_features()[filled])  # [n, 3G]
            strongest = (chunk.labels * self.action_weights).max(axis=-1)[filled]  # [n]
            labels.append(strongest > 0)
            weights.append(np.where(strongest > 0, strongest, 1.0))
        self.classifier = HistGradientBoostingClassifier(random_state=self.seed)
        self.classifier.fit(np.concatenate(features), np.concatenate(labels), sample_weight=np.concatenate(weights))
        self.shortlister = UnionShortlister(self.catalog, self.top, self.action_weights).fit(store)
        logger.info("Boosted reranker fitted in %.1f s on %d held-out lists: %d (%.1f%%) hold a positive in their "
                    "shortlist, %.1f candidates per list.", time.perf_counter() - started, lists,
                    lists_with_positive, 100 * lists_with_positive / max(lists, 1),
                    sum(len(chunk) for chunk in labels) / max(lists, 1))
        return self

    def score(self, features):
        """float32 `[V, I]`: `1 + P(touched)` on the visitor's shortlist, 0 elsewhere."""
        if self.classifier is None:
            raise ValueError("BoostedReranker must be fitted (`fit(store)`) before it scores.")
        shortlists = self.shortlister.shortlists(features)
        filled = shortlists.item_id > 0  # [V, M]
        probability = self.classifier.predict_proba(shortlists.candidate_features()[filled])[:, 1]  # [n]
        rows = np.nonzero(filled)[0]
        slots = np.searchsorted(self.catalog.item_id, shortlists.item_id[filled])  # [n]
        scores = np.zeros((len(filled), self.catalog.num_items), dtype=np.float32)  # [V, I]
        scores[rows, slots] = 1.0 + probability
        return scores
