import json

import numpy as np
import pandas as pd
import pytest
from commands import SAMPLE

from datasets.actions import ACTION_IDS
from datasets.event_store import EVENT_FIELDS, SPLITS, EventStore
from datasets.loading import load_retail_rocket, prepare_builder
from datasets.pipeline import TrainingExamples, evaluation_lists


@pytest.fixture(scope="module")
def real_slice(real_slice_data_dir):
    """The shared real slice, prepared with filters 2 (visitors) and 1 (items)."""
    arguments = dict(config="full", data_dir=real_slice_data_dir, manual_dir=SAMPLE, min_visitor_events=2,
                     min_item_events=1)
    return load_retail_rocket(**arguments), prepare_builder(**arguments)


def assert_consistent_splits(data):
    """A record's context is the visitor's own events of the earlier splits, in split order."""
    assert np.all(data.train.context_end == 0)
    own = {}  # (split, visitor) -> flat indices of the visitor's own events in that split's store
    for split in SPLITS:
        store = getattr(data, split)
        assert np.all(store.own_event_counts > 0)
        for record, visitor in enumerate(store.visitor_id):
            own[split, visitor] = np.arange(store.own_start[record], store.record_end[record])
    for position, split in enumerate(SPLITS[1:], start=1):
        store = getattr(data, split)
        context = np.concatenate([np.arange(store.offsets[r], store.own_start[r]) for r in range(store.num_visitors)])
        for name in EVENT_FIELDS:
            expected = [
                getattr(getattr(data, earlier), name)[own[earlier, visitor]]
                for visitor in store.visitor_id
                for earlier in SPLITS[:position]
                if (earlier, visitor) in own
            ]
            np.testing.assert_array_equal(getattr(store, name)[context], np.concatenate(expected))


def test_synthetic_build_loads_into_consistent_stores(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    assert data.name == "retail_rocket/synthetic"
    assert data.version == "1.1.0"
    assert json.loads(json.dumps(data.statistics)) == data.statistics
    assert data.statistics["events_per_split"] == {
        split: int(getattr(data, split).own_event_counts.sum()) for split in SPLITS
    }
    assert_consistent_splits(data)
    assert data.catalog.popularity.sum() == data.train.num_events


def test_pipeline_runs_on_the_synthetic_build(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    examples = TrainingExamples(data.train, data.catalog, history_length=16, num_candidates=8)
    features, labels, mask = next(examples.batches(32, seed=0))
    assert features["history_item_id"].shape == (32, 16) and labels.shape == (32, 8, 3) and mask.all()
    assert np.all(labels.sum(axis=(1, 2)) >= 1)
    for split in ("validation", "test"):
        lists = evaluation_lists(getattr(data, split), data.catalog, history_length=16, list_length=20)
        relevant = lists.labels.sum(axis=-1) > 0
        assert lists.num_lists == getattr(data, split).num_visitors
        assert np.all(relevant.any(axis=1)) and np.all((~relevant).any(axis=1))


def test_from_builder_matches_a_record_by_record_read(real_slice):
    _, builder = real_slice
    for split in ("train[:1000]", "validation[:1000]", "test[-1000:]"):  # TFDS slices keep the test quick
        store = EventStore.from_builder(builder, split)
        records = sorted(builder.as_dataset(split=split).as_numpy_iterator(), key=lambda r: r["visitor_id"])
        np.testing.assert_array_equal(store.visitor_id, [r["visitor_id"] for r in records])
        np.testing.assert_array_equal(store.context_end, [r["context_end"] for r in records])
        np.testing.assert_array_equal(np.diff(store.offsets), [len(r["events"]["item_id"]) for r in records])
        for name in EVENT_FIELDS:
            np.testing.assert_array_equal(getattr(store, name), np.concatenate([r["events"][name] for r in records]))


def test_real_slice_events_come_from_the_csv_and_split_per_visitor(real_slice):
    data, _ = real_slice
    assert data.name == "retail_rocket/full_v2_i1"
    assert_consistent_splits(data)
    raw = pd.read_csv(SAMPLE / "events.csv")
    raw_events = set(zip(raw["visitorid"], raw["itemid"], raw["event"].map(ACTION_IDS), raw["timestamp"]))
    seen = set()
    for split in SPLITS:
        store = getattr(data, split)
        own, record = store.own_event_index()
        events = set(zip(store.visitor_id[record].tolist(), store.item_id[own].tolist(),
                         store.action[own].tolist(), store.timestamp_ms[own].tolist()))
        assert events <= raw_events
        assert not events & seen  # an event belongs to one split only
        seen |= events
    test = data.test  # its records hold every event of the visitor: at least 2 each (min_visitor_events=2)
    assert np.all(np.diff(test.offsets) >= 2)
    # Per-visitor split: a visitor's validation and test events come after all of their train events.
    first_own = test.timestamp_ms[test.own_start]
    last_context = test.timestamp_ms[np.maximum(test.own_start - 1, 0)]
    assert np.all(first_own[test.context_end > 0] >= last_context[test.context_end > 0])


def test_missing_manual_files_fail_with_the_expected_paths(tmp_path):
    with pytest.raises(ValueError, match="events.csv"):
        load_retail_rocket(config="full", data_dir=tmp_path / "tfds", manual_dir=tmp_path / "empty")
