"""The ranker's candidates on the session benchmark: the retrieval shortlist plus the prefix's own items, and the
features computed outside the ranker beside each candidate.

For each case (a session prefix) the retrieval model scores every item; its `retrieved` best catalogue items and
the prefix's distinct items among its last `history_length` (most recent first) make the shortlist, padded to
`retrieved + history_length` slots. Beside each candidate the ranker gets `CANDIDATE_FEATURES`:

- `retrieval_score_gap`: its retrieval score minus the case's best one (<= 0);
- `log_retrieval_rank`: log(1 + its place in the retrieval order), the place `retrieved` for a prefix item the
  retriever did not shortlist;
- `log_popularity`: log(1 + its training views);
- `log_transitions`, `transition_share`: log(1 + how often it directly followed the prefix's last item in the
  training sessions), and that count over all the transitions out of that item.

The ranker itself sees how often and how recently the prefix touched the candidate (`CandidateHistoryMatch`). A
training case's own transition (its last item to its target) is left out of the counts: counting it would leak the
answer, since the transitions come from the training sessions the case is cut from.
"""

import numpy as np

from app.two_stage.catalogue_ranker import shortlist_with_history
from datasets.actions import VIEW

def case_features(prefix_offsets, prefix_items, history_length):
    """The models' input features `[n]`, `[n, S]` of a CSR batch of session prefixes.

    The history is the prefix's last `history_length` items, front-padded with 0; the j-th of L prefix items is
    `L - j` hours old, as a training event `L - j` positions before its target.
    """
    offsets = np.asarray(prefix_offsets, dtype=np.int64)
    ends = offsets[1:]  # [n]
    index = ends[:, None] - history_length + np.arange(history_length)  # [n, S]
    valid = index >= offsets[:-1, None]  # [n, S]
    items = np.where(valid, np.asarray(prefix_items)[np.where(valid, index, 0)], 0).astype(np.int32)  # [n, S]
    steps_back = (ends[:, None] - index).astype(np.float32)  # [n, S], 1 for the last prefix item
    return {
        "visitor_id": np.zeros(len(ends), np.int32),
        "history_item_id": items,
        "history_category_id": np.zeros_like(items),
        "history_action": np.where(valid, VIEW, 0).astype(np.int32),
        "history_age_hours": np.where(valid, steps_back, 0.0).astype(np.float32),
    }


CANDIDATE_FEATURES = (
    "retrieval_score_gap", "log_retrieval_rank", "log_popularity", "log_transitions", "transition_share",
)


class SessionShortlists:
    """Shortlists and candidate features of session cases (see the module docstring).

    Args:
        retrieval: a `RetrievalScorer` (the retrieval model over items 1..I).
        catalog: the training `ItemCatalog`: the items the retriever may shortlist.
        item_popularity: `[I + 1]` training views per item id.
        transitions: `[I + 1, I + 1]` scipy sparse counts of item a directly followed by item b in training.
        retrieved: retrieval items per shortlist, `K`.
        history_length: `S`, the prefix items the ranker sees (and that join the shortlist).
    """

    def __init__(self, retrieval, catalog, item_popularity, transitions, retrieved, history_length):
        self.retrieval = retrieval
        self.catalog_items = catalog.item_id
        self.log_popularity = np.log1p(np.asarray(item_popularity, np.float64)).astype(np.float32)  # [I + 1]
        self.transitions = transitions.tocsr()
        self.transitions_out = np.asarray(self.transitions.sum(axis=1)).ravel()  # [I + 1]
        self.retrieved = min(retrieved, len(self.catalog_items))
        self.history_length = history_length

    @property
    def num_candidates(self):
        """Slots of a shortlist, `K + S`."""
        return self.retrieved + self.history_length

    def shortlists(self, prefix_offsets, prefix_items, targets=None):
        """The ranker's inputs for a CSR batch of prefixes.

        Args:
            prefix_offsets, prefix_items: the prefixes.
            targets: `[n]` the next items of training cases, whose own transition is then left out of the
                counts; None for cases to score.

        Returns:
            The model features: `visitor_id [n]`, `history_* [n, S]`, `candidate_item_id`, `candidate_category_id`
            `[n, K + S]` (0 on padding) and `candidate_features [n, K + S, F']`.
        """
        features = case_features(prefix_offsets, prefix_items, self.history_length)
        scores = self.retrieval.scores(prefix_offsets, prefix_items)[:, 1:]  # [n, I], column j = item j + 1
        on_catalog = scores[:, self.catalog_items - 1]  # [n, I']
        best = np.argpartition(-on_catalog, self.retrieved - 1, axis=1)[:, : self.retrieved]  # [n, K]
        best = np.take_along_axis(best, np.argsort(-np.take_along_axis(on_catalog, best, 1), axis=1), 1)
        retrieved = self.catalog_items[best]  # [n, K] best first
        candidates = shortlist_with_history(retrieved, features["history_item_id"])  # [n, K + S]
        real = candidates > 0  # [n, M]
        rows = np.arange(len(candidates))[:, None]
        columns = np.clip(candidates - 1, 0, scores.shape[1] - 1)  # [n, M]
        score = np.where(real, scores[rows, columns], 0.0)  # [n, M]
        place = np.full(candidates.shape, self.retrieved, dtype=np.float32)  # [n, M]
        matches = candidates[:, :, None] == retrieved[:, None, :]  # [n, M, K]
        found = matches.any(axis=2)
        place[found] = np.argmax(matches, axis=2)[found]
        last = np.asarray(prefix_items)[np.asarray(prefix_offsets)[1:] - 1]  # [n]
        counts = np.asarray(self.transitions[np.repeat(last, candidates.shape[1]), candidates.ravel()]).reshape(
            candidates.shape
        )  # [n, M]
        out = np.repeat(self.transitions_out[last][:, None], candidates.shape[1], axis=1).astype(np.float64)  # [n, M]
        if targets is not None:
            own = candidates == np.asarray(targets)[:, None]  # [n, M]
            counts = counts - own
            out = out - 1.0
        candidate_features = np.stack([
            score - scores.max(axis=1, keepdims=True),
            np.log1p(place),
            self.log_popularity[candidates],
            np.log1p(np.maximum(counts, 0)),
            np.maximum(counts, 0) / np.maximum(out, 1.0),
        ], axis=-1)  # [n, M, F']
        features.update(
            candidate_item_id=candidates,
            candidate_category_id=np.zeros_like(candidates),
            candidate_features=np.where(real[..., None], candidate_features, 0.0).astype(np.float32),
        )
        return features
