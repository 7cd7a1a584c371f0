"""Categories as of the event, filters and splits, each against a plain reference on random inputs."""

import numpy as np
import pandas as pd
import pytest

from datasets.retail_rocket import preprocess


def _reference_category(events, snapshots, parents):
    """Per-event loop: latest snapshot at or before the event, else the earliest after it, else 0."""
    parent_of = dict(zip(parents["category_id"], parents["parent_id"]))
    result = []
    for timestamp, item in zip(events["timestamp_ms"], events["item_id"]):
        mine = snapshots[snapshots["item_id"] == item].sort_values("timestamp_ms", kind="stable")
        before = mine[mine["timestamp_ms"] <= timestamp]
        after = mine[mine["timestamp_ms"] > timestamp]
        category = int(before["category_id"].iloc[-1]) if len(before) else (
            int(after["category_id"].iloc[0]) if len(after) else 0)
        result.append((timestamp, item, category, int(parent_of.get(category, 0)) if category else 0))
    return sorted(result)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attach_categories_matches_reference(seed):
    rng = np.random.default_rng(seed)
    events = pd.DataFrame({"timestamp_ms": rng.integers(0, 50, 200), "visitor_id": rng.integers(0, 9, 200),
                           "item_id": rng.integers(0, 12, 200).astype(np.int32), "action": np.ones(200, np.int8)})
    snapshots = pd.DataFrame({"timestamp_ms": rng.integers(0, 50, 30), "item_id": rng.integers(0, 10, 30),
                              "category_id": rng.integers(1, 6, 30)}).drop_duplicates(["timestamp_ms", "item_id"])
    parents = pd.DataFrame({"category_id": [1, 2, 3], "parent_id": [7, 7, 8]})
    got, stats = preprocess.attach_categories(events, snapshots, parents)
    fast = sorted(zip(got["timestamp_ms"], got["item_id"], got["category_id"], got["parent_category_id"]))
    assert [tuple(int(x) for x in row) for row in fast] == _reference_category(events, snapshots, parents)
    assert sum(stats.values()) == len(events)


def test_attach_categories_cases():
    events = pd.DataFrame({"timestamp_ms": [5, 10, 20, 30, 5], "visitor_id": [1] * 5,
                           "item_id": np.array([1, 1, 1, 1, 2], np.int32), "action": np.ones(5, np.int8)})
    snapshots = pd.DataFrame({"timestamp_ms": [10, 25], "item_id": [1, 1], "category_id": [3, 4]})
    got, stats = preprocess.attach_categories(events, snapshots, pd.DataFrame({"category_id": [3],
                                                                              "parent_id": [9]}))
    by_time = got[got["item_id"] == 1].sort_values("timestamp_ms")
    assert by_time["category_id"].tolist() == [3, 3, 3, 4]  # 5: earliest after; 10: at; 20: before; 30: changed
    assert by_time["parent_category_id"].tolist() == [9, 9, 9, 0]
    assert got.loc[got["item_id"] == 2, "category_id"].tolist() == [0]
    assert stats == {"events_category_from_earlier_snapshot": 3, "events_category_from_later_snapshot": 1,
                     "events_without_category": 1}


def _reference_filter(visitors, items, min_visitor, min_item):
    rows = list(zip(visitors, items))
    while True:
        visitor_count = pd.Series([v for v, _ in rows]).value_counts().to_dict()
        kept = [(v, i) for v, i in rows if visitor_count[v] >= min_visitor]
        item_count = pd.Series([i for _, i in kept], dtype=np.int64).value_counts().to_dict()
        kept = [(v, i) for v, i in kept if item_count[i] >= min_item]
        if len(kept) == len(rows) or not kept:
            return sorted(kept)
        rows = kept


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_filter_until_stable_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n = 400
    events = pd.DataFrame({"visitor_id": rng.zipf(1.6, n) % 60, "item_id": rng.zipf(1.5, n) % 80})
    got, iterations = preprocess.filter_until_stable(events, 4, 3)
    assert sorted(zip(got["visitor_id"], got["item_id"])) == _reference_filter(
        events["visitor_id"], events["item_id"], 4, 3)
    assert iterations[-1]["events_before"] == iterations[-1]["events_after"] == len(got)
    if len(got):
        assert got.groupby("visitor_id").size().min() >= 4 and got.groupby("item_id").size().min() >= 3


def test_per_visitor_split_sizes():
    n = np.array([1, 2, 3, 4, 9, 10, 14, 15, 25, 100])
    train, validation, test = preprocess.per_visitor_split_sizes(n)
    assert train.tolist() == [1, 1, 1, 2, 7, 8, 12, 11, 19, 80]
    assert validation.tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 3, 10]
    assert test.tolist() == [0, 1, 1, 1, 1, 1, 1, 2, 3, 10]


def _events(rows):
    frame = pd.DataFrame(rows, columns=["visitor_id", "timestamp_ms", "action", "item_id"])
    return frame.assign(category_id=1, parent_category_id=0)


def test_group_and_split_orders_ties_by_action():
    events = _events([(7, 100, 3, 5), (7, 100, 1, 5), (7, 100, 2, 5), (7, 50, 1, 6), (3, 10, 1, 1)])
    sequences = preprocess.group_and_split(events, preprocess.PreprocessOptions(1, 1))
    assert sequences.visitor_id.tolist() == [3, 7]
    assert sequences.action.tolist() == [1, 1, 1, 2, 3]
    assert sequences.item_id.tolist() == [1, 6, 5, 5, 5]
    assert (sequences.train_end.tolist(), sequences.validation_end.tolist()) == ([1, 3], [1, 4])
    assert sequences.statistics["records_per_split"] == {"train": 2, "validation": 1, "test": 1}


def test_global_split_uses_cutoffs():
    events = _events([(1, t, 1, 9) for t in (10, 20, 30, 40)] + [(2, 35, 1, 9), (3, 5, 1, 9)])
    options = preprocess.PreprocessOptions(1, 1, split="global", validation_start_ms=20, test_start_ms=35)
    sequences = preprocess.group_and_split(events, options)
    assert sequences.statistics["events_per_split"] == {"train": 2, "validation": 2, "test": 2}
    assert sequences.statistics["records_per_split"] == {"train": 2, "validation": 1, "test": 2}
    records = dict(sequences.records("test"))
    assert records["1"]["context_end"] == 3 and records["2"]["context_end"] == 0


def test_options_are_validated():
    with pytest.raises(ValueError, match="Received: split='random'"):
        preprocess.PreprocessOptions(split="random")
    with pytest.raises(ValueError, match="min_visitor_events=0"):
        preprocess.PreprocessOptions(min_visitor_events=0)
