"""The public session benchmark: our two stages, the retrieval tower alone and the peers, one scoring code.

Every method scores all items 1..I for each case (a session prefix) and `app.sessions.metrics` ranks the target
with the benchmark's tie rule. The models see a case as the session data's records look (`retail_rocket/sessions`):
visitor id 0, the prefix's last `history_length` items as views without category, each aged by the number of views
since it (the target's position is the ranking moment).
"""

import logging
import time

import numpy as np

from app.sessions.baselines import BASELINES
from app.sessions.candidates import SessionShortlists, case_features
from app.sessions.metrics import evaluate_scorer
from app.two_stage.catalogue_ranker import CatalogueRanker
from datasets.retail_rocket.session_files import Sessions

logger = logging.getLogger(__name__)


def sessions_of_stores(*stores):
    """Session `EventStore`s (`retail_rocket/sessions` splits) as one `Sessions`, in the order given."""
    lengths = np.concatenate([np.diff(store.offsets) for store in stores])
    return Sessions(
        session_id=np.concatenate([store.visitor_id for store in stores]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        items=np.concatenate([store.item_id for store in stores]),
    )


class RetrievalScorer:
    """The retrieval tower alone: every item's score is its embedding's dot product with the prefix's.

    Args:
        retriever: a `RetrievalModel`.
        num_items: I; items 1..I are scored, each embedded through the item tower (category 0).
        history_length: S of the features.
    """

    def __init__(self, retriever, num_items, history_length):
        self.retriever = retriever
        self.history_length = history_length
        item_id = np.arange(1, num_items + 1, dtype=np.int32)
        self.item_embeddings = retriever.item_embeddings(item_id, np.zeros_like(item_id))  # [I, D]

    def scores(self, prefix_offsets, prefix_items):
        users = self.retriever.user_embeddings(case_features(prefix_offsets, prefix_items, self.history_length))
        scores = users @ self.item_embeddings.T  # [n, I]
        return np.concatenate([np.full((len(scores), 1), -np.inf, np.float32), scores], axis=1)  # [n, I + 1]


class TwoStageScorer:
    """Both stages: the ranker orders each case's shortlist (`SessionShortlists`) ahead of all other items.

    The other items keep the retriever's order below every shortlisted item, so that every item has a rank (the
    benchmark ranks all items).

    Args:
        ranker: a `PhoenixRanker` built with the shortlists' candidate features.
        shortlists: `SessionShortlists`.
        catalog: the training `ItemCatalog`.
        action_weights: the ranking score's action weights.
    """

    def __init__(self, ranker, shortlists, catalog, action_weights):
        self.shortlists = shortlists
        self.ranker = CatalogueRanker(ranker, catalog, action_weights, chunk_size=shortlists.num_candidates)

    def scores(self, prefix_offsets, prefix_items):
        scores = self.shortlists.retrieval.scores(prefix_offsets, prefix_items)  # [n, I + 1]
        features = self.shortlists.shortlists(prefix_offsets, prefix_items)
        items, _, ranked = self.ranker.score(features, features["candidate_item_id"], features["candidate_features"])
        scores -= np.max(scores[:, 1:], axis=1, keepdims=True) + 1.0  # below every ranker score (>= 0)
        inside = (items > 0) & (items < scores.shape[1])  # [n, M]
        scores[np.nonzero(inside)[0], items[inside]] = ranked[inside]
        return scores


def benchmark_entry(ranker, retriever, config, retrieval_history_length, catalog, peer_sessions, cases, verbose=0):
    """`{"model": R, "baselines": {"retrieval", "popularity", "transitions", "sknn", "vsknn"}}` on `cases`.

    `R = {"hr@10", "mrr@10", "hr@20", "mrr@20", "cases"}` (fractions). The peers are fitted on `peer_sessions`,
    whose counts also break ties for every method and feed the ranker's popularity and transition features;
    items 1..I are ranked, I covering every training, prefix and target item.

    Args:
        ranker, retriever: the two stages.
        config: the ranker's `TrainConfig` (history length, shortlist size `retrieved`, action weights).
        retrieval_history_length: the prefix items the retriever sees.
        catalog: the training `ItemCatalog` the retriever shortlists from.
        peer_sessions: `Sessions` the peers learn from (all the training sessions there are).
        cases: `SessionCases` to score.
        verbose: Keras' `verbose` for a progress bar over the cases of each method.
    """
    num_items = int(max(peer_sessions.items.max(), cases.items.max(), cases.target.max(), catalog.item_id.max()))
    peers = {name: make().fit(peer_sessions, num_items) for name, make in BASELINES.items()}
    popularity = peers["popularity"].item_popularity
    retrieval = RetrievalScorer(retriever, num_items, retrieval_history_length)
    shortlists = SessionShortlists(retrieval, catalog, popularity, peers["transitions"].transitions,
                                   config.retrieved, config.history_length)
    scorers = {"model": TwoStageScorer(ranker, shortlists, catalog, config.action_weights), "retrieval": retrieval,
               **peers}
    table = {}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        table[name] = evaluate_scorer(scorer, cases, popularity, verbose=verbose)
        logger.info("Session benchmark: %s ranked every item for %d cases in %.1f s.", name, len(cases),
                    time.perf_counter() - started)
    return {"model": table.pop("model"), "baselines": table}


def benchmark_table(entry, title):
    """A markdown table of a benchmark entry: one row per method, HR and MRR at 10 and 20 in percent."""
    rows = [f"**{title}** ({entry['model']['cases']} cases)", "", "| method | HR@10 | MRR@10 | HR@20 | MRR@20 |",
            "|---|---|---|---|---|"]
    for name, metrics in {"model (two stages)": entry["model"], **entry["baselines"]}.items():
        rows.append(f"| {name} | " + " | ".join(f"{100 * metrics[key]:.2f}" for key in BENCHMARK_KEYS) + " |")
    return "\n".join(rows)


BENCHMARK_KEYS = ("hr@10", "mrr@10", "hr@20", "mrr@20")
