"""The one scoring code of the session benchmark: full-catalogue rank of the target, HR@K and MRR@K.

Every method (the session baselines, a model) gives dense scores `[n, I + 1]`, column = item id, column 0 never
ranked; all items 1..I are ranked. Ties are broken by training popularity (more popular first), then by item id
(smaller first), so the target's rank is exact without a sort: 1 + the items scoring higher + the items scoring
equal that come first under the tie rule. Prefix items stay in the ranking.
"""

import keras
import numpy as np

CUTOFFS = (10, 20)
DEFAULT_CHUNK_SIZE = 256


def tie_order(item_popularity: np.ndarray) -> np.ndarray:
    """`[I + 1]` each item's place under the tie rule (0 first): more popular first, then smaller id.

    Column 0 gets the last place; it is never ranked.
    """
    item_popularity = np.asarray(item_popularity)
    order = np.lexsort((np.arange(len(item_popularity) - 1), -item_popularity[1:].astype(np.float64)))  # [I]
    place = np.empty(len(item_popularity), dtype=np.int64)  # [I + 1]
    place[order + 1] = np.arange(len(order))
    place[0] = len(order)
    return place


def target_ranks(scores: np.ndarray, targets: np.ndarray, item_popularity: np.ndarray,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """The target's rank among items 1..I (1 is best), ties broken by popularity then item id.

    Args:
        scores: `[n, I + 1]` float scores, column = item id; column 0 is ignored.
        targets: `[n]` target item ids in 1..I.
        item_popularity: `[I + 1]` training popularity (event counts) of each item id.
        chunk_size: cases compared at a time (bounds the `[chunk, I]` temporaries).

    Returns:
        `[n]` int64 ranks.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    num_columns = len(item_popularity)
    if scores.ndim != 2 or scores.shape[1] != num_columns or targets.shape != scores.shape[:1]:
        raise ValueError(f"Expected scores [n, I + 1] with I + 1 = len(item_popularity) = {num_columns} and "
                         f"targets [n]. Received: scores.shape={scores.shape}, targets.shape={targets.shape}")
    outside = (targets < 1) | (targets >= num_columns)
    if outside.any():
        raise ValueError(f"Targets must be item ids in 1..{num_columns - 1}; make the catalogue cover every "
                         f"target. Received: targets={targets[outside][:5].tolist()} (first ones outside)")
    place = tie_order(item_popularity)[1:]  # [I]
    ranks = np.empty(len(targets), dtype=np.int64)
    for start in range(0, len(targets), chunk_size):
        rows = slice(start, start + chunk_size)
        chunk = scores[rows, 1:]  # [c, I]
        if np.isnan(chunk).any():
            raise ValueError(f"Scores hold NaN in cases {start}..{start + len(chunk) - 1}. Received: "
                             f"{int(np.isnan(chunk).sum())} NaN value(s)")
        target_score = scores[rows][np.arange(len(chunk)), targets[rows]][:, None]  # [c, 1]
        target_place = place[targets[rows] - 1][:, None]  # [c, 1]
        ahead = (chunk > target_score) | ((chunk == target_score) & (place < target_place))  # [c, I]
        ranks[rows] = 1 + ahead.sum(axis=1)
    return ranks


def ranking_metrics(ranks: np.ndarray, cutoffs: tuple[int, ...] = CUTOFFS) -> dict:
    """HR@K (share of cases whose target is in the top K) and MRR@K (mean of 1/rank, 0 beyond K), as fractions.

    Returns:
        `{"hr@10", "mrr@10", "hr@20", "mrr@20", "cases"}` for the default cutoffs.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    if len(ranks) == 0:
        raise ValueError("Cannot score zero cases. Received: ranks of length 0")
    metrics = {}
    for k in cutoffs:
        hit = ranks <= k  # [n]
        metrics[f"hr@{k}"] = float(hit.mean())
        metrics[f"mrr@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean())
    metrics["cases"] = len(ranks)
    return metrics


def case_ranks(scorer, cases, item_popularity: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE,
               verbose: int = 0) -> np.ndarray:
    """Ranks of every case's target under `scorer`, scoring `chunk_size` cases at a time.

    Args:
        scorer: anything with `scores(prefix_offsets, prefix_items) -> [n, I + 1]` (a session baseline).
        cases: `SessionCases`.
        item_popularity: `[I + 1]` training popularity, for the tie rule.
        chunk_size: cases scored at a time (bounds memory at `chunk_size * (I + 1)` scores).
        verbose: Keras' `verbose` for a progress bar over the cases (0: none, 2: one line at the end).

    Returns:
        `[N]` int64 ranks.
    """
    ranks = np.empty(len(cases), dtype=np.int64)
    progress = keras.utils.Progbar(len(cases), verbose=verbose, unit_name="case") if verbose else None
    for start in range(0, len(cases), chunk_size):
        chunk = cases.select(start, min(start + chunk_size, len(cases)))
        scores = scorer.scores(chunk.offsets, chunk.items)  # [c, I + 1]
        ranks[start:start + len(chunk)] = target_ranks(scores, chunk.target, item_popularity, chunk_size)
        if progress:
            progress.update(start + len(chunk))
    return ranks


def evaluate_scorer(scorer, cases, item_popularity: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE,
                    verbose: int = 0) -> dict:
    """`ranking_metrics` of `scorer` over all `cases` (see `case_ranks`)."""
    return ranking_metrics(case_ranks(scorer, cases, item_popularity, chunk_size, verbose))
