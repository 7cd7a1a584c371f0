import numpy as np
import pandas as pd
import pytest
from event_frames import random_event_frame

from datasets.actions import label_column
from datasets.event_store import SPLITS, EventStore, ItemCatalog


@pytest.fixture(scope="module")
def frame():
    return random_event_frame(seed=3)


def visitor_events(frame, visitor, splits):
    """The visitor's events of `splits`, in store order, as a list of row tuples (plain pandas)."""
    rank = {name: i for i, name in enumerate(SPLITS)}
    rows = frame[(frame["visitor_id"] == visitor) & frame["split"].isin(splits)].copy()
    rows["_rank"] = rows["split"].map(rank)
    return rows.sort_values(["_rank", "timestamp_ms", "action"], kind="stable")


@pytest.mark.parametrize("split", SPLITS)
def test_from_frame_records_hold_context_then_own_events(frame, split):
    store = EventStore.from_frame(frame, split)
    earlier = SPLITS[: SPLITS.index(split)]
    expected_visitors = np.sort(frame.loc[frame["split"] == split, "visitor_id"].unique())
    np.testing.assert_array_equal(store.visitor_id, expected_visitors)
    for record, visitor in enumerate(store.visitor_id):
        rows = visitor_events(frame, visitor, earlier + (split,))
        events = slice(store.offsets[record], store.offsets[record + 1])
        assert store.context_end[record] == int(rows["split"].isin(earlier).sum())
        for name in ("item_id", "category_id", "parent_category_id", "action", "timestamp_ms"):
            np.testing.assert_array_equal(getattr(store, name)[events], rows[name].to_numpy())


def test_train_records_have_no_context(frame):
    assert np.all(EventStore.from_frame(frame, "train").context_end == 0)


def test_own_event_index_lists_own_events_per_record(frame):
    store = EventStore.from_frame(frame, "validation")
    records = np.array([4, 0, 2])
    event_index, record = store.own_event_index(records)
    expected = [(i, r) for r in records for i in range(store.own_start[r], store.record_end[r])]
    assert list(zip(event_index.tolist(), record.tolist())) == expected


def test_history_is_most_recent_last_padded_at_the_front(frame):
    store = EventStore.from_frame(frame, "train")
    length = 6
    records = np.arange(store.num_visitors)
    stop = store.offsets[:-1] + np.minimum(np.diff(store.offsets), 4)
    reference = store.timestamp_ms[np.maximum(stop - 1, 0)] + 3_600_000
    history = store.history(records, stop, length, reference)
    for r in records:
        index = list(range(max(store.offsets[r], stop[r] - length), stop[r]))
        pad = length - len(index)
        assert np.all(history["history_item_id"][r, :pad] == 0)
        assert np.all(history["history_action"][r, :pad] == 0)
        assert np.all(history["history_age_hours"][r, :pad] == 0)
        np.testing.assert_array_equal(history["history_item_id"][r, pad:], store.item_id[index])
        np.testing.assert_array_equal(history["history_category_id"][r, pad:], store.category_id[index])
        np.testing.assert_array_equal(history["history_action"][r, pad:], store.action[index])
        ages = (reference[r] - store.timestamp_ms[index]) / 3_600_000
        np.testing.assert_allclose(history["history_age_hours"][r, pad:], ages, rtol=1e-6)
    assert history["history_age_hours"].dtype == np.float32
    assert all(history[name].dtype == np.int32 for name in ("history_item_id", "history_category_id"))


def test_label_column_follows_model_output_order():
    np.testing.assert_array_equal(label_column([3, 2, 1]), [0, 1, 2])


def test_rejects_events_out_of_time_order():
    frame = pd.DataFrame(
        {
            "visitor_id": [1, 1],
            "item_id": [5, 6],
            "category_id": [0, 0],
            "parent_category_id": [0, 0],
            "action": [1, 1],
            "timestamp_ms": [20, 10],
            "context_end": [0, 0],
        }
    )
    store = EventStore.from_frame(frame)  # from_frame sorts by time
    np.testing.assert_array_equal(store.timestamp_ms, [10, 20])
    with pytest.raises(ValueError, match="time order"):
        EventStore(
            visitor_id=[1],
            offsets=[0, 2],
            context_end=[0],
            item_id=[5, 6],
            category_id=[0, 0],
            parent_category_id=[0, 0],
            action=[1, 1],
            timestamp_ms=[20, 10],
        )


def test_rejects_inconsistent_offsets_and_actions():
    arrays = dict(
        visitor_id=[1, 2],
        offsets=[0, 1, 2],
        context_end=[0, 0],
        item_id=[5, 6],
        category_id=[0, 0],
        parent_category_id=[0, 0],
        action=[1, 3],
        timestamp_ms=[1, 2],
    )
    EventStore(**arrays)
    with pytest.raises(ValueError, match="offsets"):
        EventStore(**{**arrays, "offsets": [0, 1, 3]})
    with pytest.raises(ValueError, match="action"):
        EventStore(**{**arrays, "action": [1, 4]})
    with pytest.raises(ValueError, match="context_end"):
        EventStore(**{**arrays, "context_end": [0, 2]})


def test_catalog_counts_and_latest_known_category_match_a_plain_loop(frame):
    catalog = ItemCatalog.from_store(EventStore.from_frame(frame, "train"))
    train = frame[frame["split"] == "train"].sort_values(["timestamp_ms"], kind="stable")
    expected_counts, expected_category = {}, {}
    for row in train.itertuples():
        counts = expected_counts.setdefault(row.item_id, [0, 0, 0])
        counts[3 - row.action] += 1
        if row.category_id != 0:
            expected_category[row.item_id] = row.category_id
    np.testing.assert_array_equal(catalog.item_id, sorted(expected_counts))
    np.testing.assert_array_equal(catalog.action_counts, [expected_counts[i] for i in catalog.item_id])
    np.testing.assert_array_equal(catalog.category_id, [expected_category.get(i, 0) for i in catalog.item_id])
    np.testing.assert_array_equal(catalog.popularity, [sum(expected_counts[i]) for i in catalog.item_id])
    assert catalog.category_id.max() > 10  # the generator changes categories half-way: the latest one wins


def test_catalog_categories_lookup_gives_zero_outside_the_catalog():
    catalog = ItemCatalog(item_id=[3, 7, 9], category_id=[30, 70, 90], action_counts=np.ones((3, 3)))
    np.testing.assert_array_equal(catalog.categories([[9, 4], [3, 100]]), [[90, 0], [30, 0]])


def test_catalog_sampling_cdf_follows_popularity_to_the_power_alpha():
    counts = np.zeros((3, 3))
    counts[:, 2] = [1, 4, 16]
    catalog = ItemCatalog(item_id=[1, 2, 3], category_id=[0, 0, 0], action_counts=counts)
    np.testing.assert_allclose(np.diff(catalog.sampling_cdf(0.0), prepend=0), [1 / 3] * 3)
    np.testing.assert_allclose(np.diff(catalog.sampling_cdf(0.5), prepend=0), [1 / 7, 2 / 7, 4 / 7])
    with pytest.raises(ValueError, match="alpha"):
        catalog.sampling_cdf(-1)
