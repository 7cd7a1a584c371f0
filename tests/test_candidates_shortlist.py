"""The union shortlist: order, deduplication, padding, every generator's score and rank, absent features, reach."""

import numpy as np
import pandas as pd
import pytest

from app.candidates.shortlist import target_action_labels, union_shortlists
from datasets.event_store import EventStore, ItemCatalog

CATALOG = ItemCatalog(item_id=[10, 20, 30, 40, 50, 60], category_id=np.zeros(6), action_counts=np.ones((6, 3)))


def tables():
    own = np.array([[0.0, 3.0, 0.0, 0.0, 1.0, 0.0],  # visitor 0 touched items 20 and 50
                    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # visitor 1 has no history
    popular = np.array([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]] * 2)
    co_visited = np.array([[0.0, 0.0, 2.0, 2.0, 0.0, 7.0],  # a tie between items 30 and 40
                           [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    return {"own": own, "popular": popular, "co_visited": co_visited}


def test_union_in_generator_order_without_repeats_padded_at_the_end():
    shortlists = union_shortlists(tables(), CATALOG, {"own": 3, "co_visited": 3, "popular": 2})
    assert shortlists.generators == ("own", "popular", "co_visited")
    # Own items (2 of them score above 0), then co-visited ones not in (the tie kept in catalogue order), then the
    # popular ones not in yet.
    np.testing.assert_array_equal(shortlists.item_id, [[20, 50, 60, 30, 40, 10, 0, 0],
                                                       [10, 20, 0, 0, 0, 0, 0, 0]])


def test_every_generator_gives_its_score_and_rank_beside_every_candidate():
    shortlists = union_shortlists(tables(), CATALOG, {"own": 3, "co_visited": 3, "popular": 2})
    row = 0
    for slot, item in enumerate(shortlists.item_id[row]):
        for g, name in enumerate(shortlists.generators):
            if item == 0:
                assert not shortlists.present[row, slot, g]
                continue
            table = tables()[name][row]
            score = table[list(CATALOG.item_id).index(item)]
            assert shortlists.present[row, slot, g] == (score > 0)
            if score > 0:  # rank: 1 + how many items it scores higher (a tie shares the best rank)
                assert shortlists.scores[row, slot, g] == score
                assert shortlists.log_ranks[row, slot, g] == pytest.approx(np.log(1 + np.sum(table > score)))
            else:  # absent: no score and no rank, and the mask says so
                assert shortlists.scores[row, slot, g] == 0 and shortlists.log_ranks[row, slot, g] == 0
    # Items 30 and 40 tie for the second co-visitation rank.
    co = shortlists.generators.index("co_visited")
    assert shortlists.log_ranks[0, 3, co] == shortlists.log_ranks[0, 4, co] == pytest.approx(np.log(2))


def test_the_same_scores_give_the_same_shortlists():
    first = union_shortlists(tables(), CATALOG, {"popular": 4, "own": 2})
    second = union_shortlists(tables(), CATALOG, {"popular": 4, "own": 2})
    for name in ("item_id", "scores", "log_ranks", "present"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


def test_reach_counts_visitors_with_a_relevant_item_in_their_shortlist():
    shortlists = union_shortlists(tables(), CATALOG, {"own": 3, "co_visited": 3, "popular": 2})
    # Visitor 0's relevant item 40 is in; visitor 1's 60 is not; a third row of padding would not count.
    assert shortlists.reach([[40, 0], [60, 0]]) == (0.5, 2)
    assert shortlists.reach([[0, 0], [20, 60]]) == (1.0, 1)
    assert shortlists.reach([[0], [0]]) == (None, 0)


def test_refusals():
    with pytest.raises(ValueError, match=r"`top` names generators without scores: \['retrieval'\]"):
        union_shortlists(tables(), CATALOG, {"retrieval": 5})
    with pytest.raises(ValueError, match="Score tables have 5 items; the catalogue has 6"):
        union_shortlists({"own": np.ones((1, 5))}, CATALOG, {"own": 2})


def test_candidate_features_are_log_scores_log_ranks_and_presence():
    shortlists = union_shortlists(tables(), CATALOG, {"own": 3, "co_visited": 3, "popular": 2})
    features = shortlists.candidate_features()
    assert features.shape == (2, 8, 9) and features.dtype == np.float32
    np.testing.assert_allclose(features[..., :3], np.log1p(shortlists.scores))
    np.testing.assert_array_equal(features[..., 3:6], shortlists.log_ranks)
    np.testing.assert_array_equal(features[..., 6:], shortlists.present)


def test_labels_are_the_target_windows_actions_per_candidate():
    rows = [(7, 20, 1, 0), (7, 20, 3, 1), (7, 30, 2, 2), (9, 10, 1, 0), (9, 60, 1, 1)]  # visitor, item, action, hour
    frame = pd.DataFrame(rows, columns=["visitor_id", "item_id", "action", "hour"])
    frame = frame.assign(category_id=1, parent_category_id=0, timestamp_ms=frame["hour"] * 3_600_000, split="test")
    store = EventStore.from_frame(frame, "test")
    labels = target_action_labels(store, [9, 7], [[60, 20, 0], [20, 30, 40]])
    # (transaction, addtocart, view): visitor 9 viewed 60 (its 20 is visitor 7's); visitor 7 viewed and bought 20
    # and carted 30; padding and untouched items are all 0.
    np.testing.assert_array_equal(labels, [[[0, 0, 1], [0, 0, 0], [0, 0, 0]],
                                           [[1, 0, 1], [0, 1, 0], [0, 0, 0]]])
    with pytest.raises(ValueError, match="Every visitor id must have a record"):
        target_action_labels(store, [8], [[20]])
