"""The session benchmark's scoring: exact target ranks under the tie rule, HR@K and MRR@K, by hand and by oracle."""

import numpy as np
import pytest

from app.sessions.baselines import LastItemTransitions
from app.sessions.metrics import case_ranks
from app.sessions.metrics import evaluate_scorer
from app.sessions.metrics import ranking_metrics
from app.sessions.metrics import target_ranks
from app.sessions.metrics import tie_order
from datasets.retail_rocket.session_files import SessionCases
from datasets.retail_rocket.session_files import Sessions

#                     item: 0    1    2    3    4    5
POPULARITY = np.array([0, 5, 9, 5, 5, 1])


def _sorted_rank(scores, target, popularity):
    """Oracle: sort items 1..I by (score desc, popularity desc, id asc) and find the target."""
    items = np.arange(1, len(popularity))
    order = np.lexsort((items, -popularity[1:], -scores[1:]))
    return int(np.flatnonzero(items[order] == target)[0]) + 1


def test_tie_order_puts_popular_then_small_ids_first():
    # Item 2 (9 events), then items 1, 3, 4 (5 events each) by id, then item 5; column 0 last.
    assert tie_order(POPULARITY).tolist() == [5, 1, 0, 2, 3, 4]


def test_ranks_by_hand():
    scores = np.array([
        [99.0, 0.3, 0.7, 0.3, 0.3, 0.1],  # target 3: item 2 higher, item 1 tied and wins on id, item 4 loses
        [99.0, 0.3, 0.7, 0.3, 0.3, 0.1],  # target 4: item 2 higher, items 1 and 3 tied and win on id
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # target 5: everything tied, item 5 the least popular
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # target 2: everything tied, item 2 the most popular
        [0.0, 0.1, 0.0, 0.0, 0.0, 0.2],  # target 5: the best score; column 0 never counts
    ])
    ranks = target_ranks(scores, np.array([3, 4, 5, 2, 5]), POPULARITY)
    assert ranks.tolist() == [3, 4, 5, 1, 1]


def test_ranks_match_a_full_sort_on_random_ties():
    rng = np.random.default_rng(3)
    popularity = np.concatenate([[0], rng.integers(0, 4, size=60)])
    scores = rng.integers(0, 5, size=(40, 61)).astype(np.float32)
    targets = rng.integers(1, 61, size=40)
    expected = [_sorted_rank(row, target, popularity) for row, target in zip(scores, targets)]
    assert target_ranks(scores, targets, popularity, chunk_size=7).tolist() == expected


def test_metrics_by_hand():
    metrics = ranking_metrics(np.array([1, 3, 10, 11, 20, 21]))
    assert metrics["cases"] == 6
    assert metrics["hr@10"] == pytest.approx(3 / 6)
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 10) / 6)
    assert metrics["hr@20"] == pytest.approx(5 / 6)
    assert metrics["mrr@20"] == pytest.approx((1 + 1 / 3 + 1 / 10 + 1 / 11 + 1 / 20) / 6)


@pytest.mark.parametrize("targets, scores, message", [
    ([0], np.zeros((1, 6)), "1..5"),
    ([6], np.zeros((1, 6)), "1..5"),
    ([1], np.zeros((1, 5)), "scores.shape=\\(1, 5\\)"),
    ([1], np.full((1, 6), np.nan), "NaN"),
])
def test_bad_input_is_rejected(targets, scores, message):
    with pytest.raises(ValueError, match=message):
        target_ranks(scores, np.array(targets), POPULARITY)


def test_chunked_evaluation_does_not_depend_on_the_chunk_size():
    train = Sessions(session_id=np.arange(1, 4), offsets=np.array([0, 3, 6, 8]),
                     items=np.array([1, 2, 3, 2, 3, 1, 3, 2], dtype=np.int32))
    cases = SessionCases(case_id=np.arange(1, 6), offsets=np.array([0, 1, 3, 4, 5, 7]),
                         items=np.array([1, 1, 2, 3, 4, 2, 3], dtype=np.int32),
                         target=np.array([2, 3, 2, 1, 1], dtype=np.int32))
    scorer = LastItemTransitions().fit(train, num_items=4)
    popularity = train.item_counts(4)
    # Transitions 1->2, 2->3 (twice), 3->1, 3->2; popularity 1: 2, 2: 3, 3: 3, 4: 0. Case 4's last item 4 has
    # no transitions: all tie and items 2 and 3 (more popular) come before 1. Case 5: 1 ties with 2 and loses.
    assert case_ranks(scorer, cases, popularity, chunk_size=2).tolist() == [1, 1, 1, 3, 2]
    assert evaluate_scorer(scorer, cases, popularity, chunk_size=1) == evaluate_scorer(scorer, cases, popularity)


def test_a_progress_bar_counts_the_cases_only_when_asked(capsys):
    train = Sessions(session_id=np.arange(1, 3), offsets=np.array([0, 2, 4]), items=np.array([1, 2, 2, 3], np.int32))
    cases = SessionCases(case_id=np.arange(1, 4), offsets=np.array([0, 1, 2, 3]), items=np.array([1, 2, 3], np.int32),
                         target=np.array([2, 3, 1], dtype=np.int32))
    scorer = LastItemTransitions().fit(train, num_items=3)
    quiet = case_ranks(scorer, cases, train.item_counts(3), chunk_size=2)
    assert capsys.readouterr().out == ""
    shown = case_ranks(scorer, cases, train.item_counts(3), chunk_size=2, verbose=2)  # one line at the end, for logs
    assert shown.tolist() == quiet.tolist() and capsys.readouterr().out.startswith("3/3 - ")
