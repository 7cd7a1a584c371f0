"""The session baselines on tiny hand-computed cases, and the vectorised kNN against a plain-Python oracle."""

import fractions
import math

import numpy as np
import pytest

from app.sessions.baselines import BASELINES
from app.sessions.baselines import LastItemTransitions
from app.sessions.baselines import Popularity
from app.sessions.baselines import SessionKnn
from app.sessions.baselines import vsknn
from datasets.retail_rocket.session_files import Sessions

# Training sessions 1..4 over the catalogue 1..6; item 6 is never seen in training.
TRAIN = [[1, 2, 3], [2, 3, 2, 4], [1, 4], [3, 5, 3]]
NUM_ITEMS = 6


def _sessions(item_lists, first_id=1):
    lengths = [len(items) for items in item_lists]
    return Sessions(session_id=np.arange(first_id, first_id + len(item_lists), dtype=np.int64),
                    offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                    items=np.array([item for items in item_lists for item in items], dtype=np.int32))


def _scores(baseline, *prefixes, train=TRAIN, num_items=NUM_ITEMS):
    baseline.fit(_sessions(train), num_items=num_items)
    offsets = np.concatenate([[0], np.cumsum([len(prefix) for prefix in prefixes])])
    scores = baseline.scores(offsets, np.array([item for prefix in prefixes for item in prefix]))
    assert scores.shape == (len(prefixes), num_items + 1)
    assert (scores[:, 0] == 0).all()
    return scores


def test_popularity_is_training_event_counts():
    scores = _scores(Popularity(), [1], [6, 2])
    np.testing.assert_array_equal(scores, [[0, 2, 3, 4, 2, 1, 0]] * 2)


def test_transitions_follow_the_last_item():
    # From 1: 1->2 (session 1), 1->4 (session 3). From 3: 3->2, 3->5. From 2: 2->3 twice, 2->4.
    scores = _scores(LastItemTransitions(), [4, 1], [3], [2, 3, 2], [1, 6], [1, 99])
    np.testing.assert_array_equal(scores, [
        [0, 0, 1, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 1, 0],
        [0, 0, 0, 2, 1, 0, 0],
        [0] * 7,  # the last item 6 was never seen in training
        [0] * 7,  # 99 is beyond the catalogue
    ])


def test_sknn_by_hand():
    # Prefix {1, 2} (2 repeated): overlaps 2, 1, 1, 0 with sessions {1,2,3}, {2,3,4}, {1,4}, {3,5}.
    s1, s2, s3 = 2 / math.sqrt(2 * 3), 1 / math.sqrt(2 * 3), 1 / math.sqrt(2 * 2)
    expected = [0, s1 + s3, s1 + s2, s1 + s2, s2 + s3, 0, 0]
    np.testing.assert_allclose(_scores(SessionKnn(), [2, 1, 2])[0], expected)
    # k = 2 keeps sessions 1 and 3 (cosine 0.82 and 0.5 beat 0.41).
    np.testing.assert_allclose(_scores(SessionKnn(neighbours=2), [2, 1, 2])[0], [0, s1 + s3, s1, s1, s3, 0, 0])


def test_vsknn_by_hand():
    # Prefix 2, 1, 2 (L = 3): item 2 keeps its largest weight 3/3, item 1 weighs 2/3; ||w|| = sqrt(13) / 3.
    norm = math.sqrt(13) / 3
    s1 = (1 + 2 / 3) / (norm * math.sqrt(3))  # {1, 2, 3}
    s2 = 1 / (norm * math.sqrt(3))  # {2, 3, 4}
    s3 = (2 / 3) / (norm * math.sqrt(2))  # {1, 4}
    np.testing.assert_allclose(_scores(vsknn(), [2, 1, 2])[0], [0, s1 + s3, s1 + s2, s1 + s2, s2 + s3, 0, 0])
    # Weighting reorders the neighbours: with k = 2 session 2 (0.48) now beats session 3 (0.39), unlike in SKNN.
    np.testing.assert_allclose(_scores(vsknn(neighbours=2), [2, 1, 2])[0], [0, s1, s1 + s2, s1 + s2, s2, 0, 0])


def test_unseen_prefix_items_match_nothing_but_count_in_the_norm():
    s1, s3 = 1 / math.sqrt(2 * 3), 1 / math.sqrt(2 * 2)  # prefix {6, 1} or {99, 1}: |p| = 2
    expected = [0, s1 + s3, s1, s1, s3, 0, 0]
    np.testing.assert_allclose(_scores(SessionKnn(), [6, 1], [99, 1]), [expected, expected])
    np.testing.assert_array_equal(_scores(SessionKnn(), [6])[0], [0] * 7)


def test_ties_at_the_kth_neighbour_go_to_the_recent_session_or_are_all_kept():
    # Prefix {3}: session 4 {3, 5} has cosine 1/sqrt(2); sessions 1 and 2 tie at 1/sqrt(3).
    a, b = 1 / math.sqrt(2), 1 / math.sqrt(3)
    recent = _scores(SessionKnn(neighbours=2), [3])[0]
    np.testing.assert_allclose(recent, [0, 0, b, a + b, b, a, 0])  # session 2 {2, 3, 4} kept, session 1 not
    kept_all = _scores(SessionKnn(neighbours=2, neighbour_ties="all"), [3])[0]
    np.testing.assert_allclose(kept_all, [0, b, 2 * b, a + 2 * b, b, a, 0])


def _oracle_knn(train, prefix, k, weighted, ties):
    """Plain-Python session kNN: exact similarities as fractions, sorted neighbour list, summed scores."""
    weights = {}
    for position, item in enumerate(prefix):
        weights[item] = max(weights.get(item, 0), position + 1 if weighted else 1)
    prefix_norm = math.sqrt(sum(weight ** 2 for weight in weights.values()))
    candidates = []
    for session_id, items in enumerate(train, start=1):
        dot = sum(weights.get(item, 0) for item in set(items))
        if dot:
            candidates.append((fractions.Fraction(dot * dot, len(set(items))), session_id, dot, set(items)))
    candidates.sort(key=lambda c: (-c[0], -c[1]))
    if ties == "all" and len(candidates) > k:
        chosen = [c for c in candidates if c[0] >= candidates[k - 1][0]]
    else:
        chosen = candidates[:k]
    scores = np.zeros(NUM_ITEMS + 1)
    for _, _, dot, items in chosen:
        for item in items:
            scores[item] += dot / (prefix_norm * math.sqrt(len(items)))
    return scores


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", ["recent", "all"])
def test_knn_matches_the_plain_oracle_on_random_sessions(weighted, ties):
    rng = np.random.default_rng(7 + weighted)
    train = [rng.integers(1, NUM_ITEMS, size=rng.integers(1, 6)).tolist() for _ in range(40)]
    prefixes = [rng.integers(1, NUM_ITEMS + 1, size=rng.integers(1, 7)).tolist() for _ in range(30)]
    knn = SessionKnn(neighbours=3, position_weighted=weighted, neighbour_ties=ties)
    scores = _scores(knn, *prefixes, train=train)
    expected = [_oracle_knn(train, prefix, 3, weighted, ties) for prefix in prefixes]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_every_baseline_by_name_fits_and_scores():
    for name, make in BASELINES.items():
        scores = _scores(make(), [2, 1], [5])
        assert scores.dtype == np.float64 and scores[:, 1:].max() > 0, name


@pytest.mark.parametrize("offsets, items, message", [
    ([0, 0, 1], [1], "at least one item"),
    ([0, 2], [1], "from 0 to len"),
    ([0, 1], [0], "start at 1"),
])
def test_bad_prefixes_are_rejected(offsets, items, message):
    knn = SessionKnn().fit(_sessions(TRAIN))
    with pytest.raises(ValueError, match=message):
        knn.scores(np.array(offsets), np.array(items))


def test_catalogue_must_cover_the_training_items():
    with pytest.raises(ValueError, match="num_items=4"):
        Popularity().fit(_sessions(TRAIN), num_items=4)
    with pytest.raises(ValueError, match="neighbour_ties='oldest'"):
        SessionKnn(neighbour_ties="oldest")
