import numpy as np
import pytest
from event_frames import random_event_frame, stores_of, unique_item_frame

from datasets.event_store import SPLITS, EventStore, ItemCatalog
from datasets.pipeline import EvaluationLists, evaluation_lists

HOUR_MS = 3_600_000
GRADE = {3: 3, 2: 2, 1: 1}


@pytest.fixture(scope="module")
def frame():
    return random_event_frame(seed=21, num_visitors=70)


@pytest.fixture(scope="module")
def stores(frame):
    return stores_of(frame, SPLITS[1:])


def oracle_list(frame, visitor, split, history_length, max_positives):
    """History, positives (item -> labels, category), kept positives and reference time, by plain Python."""
    earlier = SPLITS[: SPLITS.index(split)]
    rows = frame[frame["visitor_id"] == visitor].sort_values(["timestamp_ms", "action"], kind="stable")
    context = [e for e in rows.itertuples() if e.split in earlier]
    own = [e for e in rows.itertuples() if e.split == split]
    positives, first_seen, grade = {}, {}, {}
    for order, event in enumerate(own):
        entry = positives.setdefault(event.item_id, [[0, 0, 0], event.category_id])
        entry[0][3 - event.action] = 1
        first_seen.setdefault(event.item_id, order)
        grade[event.item_id] = max(grade.get(event.item_id, 0), GRADE[event.action])
    kept = sorted(positives, key=lambda item: (-grade[item], first_seen[item]))[:max_positives]
    return context[-history_length:], positives, kept, own[0].timestamp_ms


@pytest.mark.parametrize("split", ["validation", "test"])
def test_lists_match_a_plain_python_oracle(frame, stores, split):
    split_stores, catalog = stores
    history_length, list_length = 7, 8  # list_length // 2 = 4 positives at most: some lists truncate
    lists = evaluation_lists(split_stores[split], catalog, history_length=history_length, list_length=list_length)
    visitors = np.sort(frame.loc[frame["split"] == split, "visitor_id"].unique())
    np.testing.assert_array_equal(lists.features["visitor_id"], visitors)
    truncated = 0
    for n, visitor in enumerate(visitors):
        history, positives, kept, reference = oracle_list(frame, visitor, split, history_length, list_length // 2)
        truncated += len(positives) - len(kept)
        pad = history_length - len(history)
        assert np.all(lists.features["history_item_id"][n, :pad] == 0)
        assert lists.features["history_item_id"][n, pad:].tolist() == [e.item_id for e in history]
        assert lists.features["history_action"][n, pad:].tolist() == [e.action for e in history]
        ages = [(reference - e.timestamp_ms) / HOUR_MS for e in history]
        np.testing.assert_allclose(lists.features["history_age_hours"][n, pad:], ages, rtol=1e-6)
        items = lists.features["candidate_item_id"][n].tolist()
        assert len(set(items)) == list_length and lists.mask[n].all()
        assert set(kept) <= set(items)
        for slot, item in enumerate(items):
            if item in kept:
                assert lists.labels[n, slot].tolist() == positives[item][0]
                assert lists.features["candidate_category_id"][n, slot] == positives[item][1]
            else:
                assert item not in positives  # neither a kept nor a truncated positive
                assert lists.labels[n, slot].tolist() == [0, 0, 0]
    assert lists.statistics["positives_truncated"] == truncated > 0
    assert lists.statistics["lists"] == lists.num_lists == len(visitors)


def test_every_list_has_a_positive_and_a_negative(stores):
    split_stores, catalog = stores
    for store in split_stores.values():
        for list_length in (2, 5, 30):
            lists = evaluation_lists(store, catalog, history_length=4, list_length=list_length)
            relevant = lists.labels.sum(axis=-1) > 0  # [N, L]
            assert np.all(relevant.sum(axis=1) >= 1)
            assert np.all(((~relevant) & (lists.mask > 0)).sum(axis=1) >= 1)


def test_same_seed_gives_identical_lists(stores):
    split_stores, catalog = stores

    def arrays(seed, chunk_size=8192):
        lists = EvaluationLists.build(split_stores["test"], catalog, history_length=5, list_length=20, seed=seed,
                                      chunk_size=chunk_size)
        return [*lists.features.values(), lists.labels, lists.mask], lists.statistics

    first, statistics = arrays(3)
    again, again_statistics = arrays(3)
    chunked, _ = arrays(3, chunk_size=7)  # lists depend on (seed, visitor), not on how they are built
    other, _ = arrays(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert statistics == again_statistics
    assert all(np.array_equal(a, b) for a, b in zip(first, chunked))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_history_comes_only_from_before_the_split():
    frame = unique_item_frame(seed=9)
    train = EventStore.from_frame(frame, "train")
    split_of = dict(zip(frame["item_id"], frame["split"]))
    for split in ("validation", "test"):
        lists = evaluation_lists(EventStore.from_frame(frame, split), ItemCatalog.from_store(train),
                                 history_length=10, list_length=12)
        history = lists.features["history_item_id"]
        assert history.any()
        assert all(SPLITS.index(split_of[i]) < SPLITS.index(split) for i in history[history > 0])
        positives = lists.features["candidate_item_id"][lists.labels.sum(axis=-1) > 0]
        assert all(split_of[i] == split for i in positives)
        assert np.all(lists.features["history_age_hours"] >= 0)


def test_dataset_is_finite_and_in_list_order(stores):
    split_stores, catalog = stores
    lists = evaluation_lists(split_stores["validation"], catalog, history_length=4, list_length=6)
    batches = list(lists.dataset(batch_size=16).as_numpy_iterator())
    assert sum(labels.shape[0] for _, labels, _ in batches) == lists.num_lists
    np.testing.assert_array_equal(np.concatenate([f["candidate_item_id"] for f, _, _ in batches]),
                                  lists.features["candidate_item_id"])
    np.testing.assert_array_equal(np.concatenate([m for _, _, m in batches]), lists.mask)
    features, labels, mask = batches[0]
    assert features["history_age_hours"].dtype == np.float32 and labels.dtype == mask.dtype == np.float32
    assert all(features[n].dtype == np.int32 for n in features if n != "history_age_hours")
    assert labels.shape == (16, 6, 3)
