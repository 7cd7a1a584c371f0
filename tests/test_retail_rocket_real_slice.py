"""The shared real slice, built through TFDS with filters 2 and 1, against an independent pandas computation;
and the record-level invariants of that build."""

import os

import numpy as np
import pandas as pd
import pytest
from commands import SAMPLE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def built(real_slice_data_dir):
    import tensorflow_datasets as tfds

    from datasets.retail_rocket import make_builder

    builder = make_builder("full", data_dir=real_slice_data_dir, manual_dir=SAMPLE, min_visitor_events=2,
                           min_item_events=1)
    assert builder.is_prepared()
    records = {split: list(tfds.as_numpy(builder.as_dataset(split=split))) for split in ("train", "validation",
                                                                                       "test")}
    return builder, records


def _independent_expectation():
    """Counts written from the rules, with pandas only: dedupe, filter until stable, split 80/10/10 per visitor."""
    events = pd.read_csv(SAMPLE / "events.csv").drop_duplicates()
    while True:
        size = len(events)
        events = events[events.groupby("visitorid")["itemid"].transform("size") >= 2]
        events = events[events.groupby("itemid")["visitorid"].transform("size") >= 1]
        if len(events) == size:
            break
    n = events.groupby("visitorid").size()
    holdout = ((n * 0.1 + 0.5) // 1).clip(lower=1)
    n_test = holdout.where(n >= 2, 0)
    n_validation = holdout.where(n >= 3, 0)
    n_train = n - n_test - n_validation
    return {
        "events": len(events), "visitors": events["visitorid"].nunique(), "items": events["itemid"].nunique(),
        "events_per_split": {"train": int(n_train.sum()), "validation": int(n_validation.sum()),
                             "test": int(n_test.sum())},
        "records_per_split": {"train": int((n_train > 0).sum()), "validation": int((n_validation > 0).sum()),
                              "test": int((n_test > 0).sum())},
    }


def test_counts_match_independent_computation(built):
    builder, records = built
    metadata = builder.info.metadata
    expected = _independent_expectation()
    for key in ("events", "visitors", "items", "events_per_split", "records_per_split"):
        assert metadata[key] == expected[key], key
    for split, count in expected["records_per_split"].items():
        assert builder.info.splits[split].num_examples == count == len(records[split])
        own = sum(len(r["events"]["item_id"]) - r["context_end"] for r in records[split])
        assert own == expected["events_per_split"][split]
    assert builder.builder_config.name == "full_v2_i1"
    assert metadata["raw"]["duplicate_events_dropped"] == 19
    assert metadata["raw"]["layout"] == "single item_properties.csv"


def test_categories_come_from_the_slice(built):
    builder, records = built
    properties = pd.read_csv(SAMPLE / "item_properties.csv")
    category_of = dict(zip(properties["itemid"], properties["value"]))
    events = records["test"]
    items = np.concatenate([r["events"]["item_id"] for r in events])
    categories = np.concatenate([r["events"]["category_id"] for r in events])
    expected = np.array([category_of.get(item, 0) for item in items])
    np.testing.assert_array_equal(categories, expected)
    assert builder.info.metadata["parent_categories"] == 0  # no category_tree.csv in the slice


def test_record_invariants(built):
    _, records = built
    by_split = {split: {int(r["visitor_id"]): r for r in rows} for split, rows in records.items()}
    assert set(by_split["validation"]) <= set(by_split["train"])
    assert set(by_split["test"]) == set(by_split["train"])
    for split, rows in by_split.items():
        for record in rows.values():
            events = record["events"]
            key = events["timestamp_ms"] * 4 + events["action"]
            assert np.all(np.diff(key) >= 0), "events must be in time order, ties by action"
            assert 0 <= record["context_end"] < len(events["item_id"])
            assert set(np.unique(events["action"])) <= {1, 2, 3}
            if split == "train":
                assert record["context_end"] == 0
    for visitor, record in by_split["validation"].items():
        train = by_split["train"][visitor]["events"]
        assert record["context_end"] == len(train["item_id"])
        for name, values in train.items():
            np.testing.assert_array_equal(record["events"][name][: record["context_end"]], values)
    for visitor, record in by_split["test"].items():
        earlier = by_split["validation"].get(visitor, by_split["train"][visitor])["events"]
        assert record["context_end"] == len(earlier["item_id"])
        for name, values in earlier.items():
            np.testing.assert_array_equal(record["events"][name][: record["context_end"]], values)
