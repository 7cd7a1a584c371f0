import numpy as np
import pytest
from event_frames import random_event_frame, stores_of, unique_item_frame

from datasets.event_store import EventStore, ItemCatalog
from datasets.pipeline import TrainingExamples, training_dataset

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def frame():
    return random_event_frame(seed=11, num_visitors=60)


@pytest.fixture(scope="module")
def train(frame):
    stores, catalog = stores_of(frame, ["train"])
    return stores["train"], catalog


def oracle_catalog_category(frame):
    """Latest known train category per item, by a plain loop."""
    category = {}
    for row in frame[frame["split"] == "train"].sort_values("timestamp_ms", kind="stable").itertuples():
        category.setdefault(row.item_id, 0)
        if row.category_id:
            category[row.item_id] = row.category_id
    return category


def oracle_example(frame, visitor, position, history_length, window_events, window_hours):
    """History and positives of the example cut at the visitor's `position`-th train event, by plain Python."""
    rows = frame[(frame["visitor_id"] == visitor) & (frame["split"] == "train")]
    events = list(rows.sort_values(["timestamp_ms", "action"], kind="stable").itertuples())
    cut = events[position]
    history = events[max(0, position - history_length) : position]
    positives = {}  # item -> [labels (transaction, addtocart, view), category of the first target event]
    for event in events[position : position + window_events]:
        if window_hours is not None and event.timestamp_ms - cut.timestamp_ms > window_hours * HOUR_MS:
            break
        entry = positives.setdefault(event.item_id, [[0, 0, 0], event.category_id])
        entry[0][3 - event.action] = 1
    return cut, history, positives


def batch_of_every_cut(examples, seed=0):
    positions = np.arange(examples.num_cut_points)
    return examples.batch(positions, np.random.default_rng(seed))


@pytest.mark.parametrize(
    "history_length, num_candidates, window_events, window_hours",
    [(5, 6, 4, None), (3, 3, 6, 48.0)],  # the second truncates positives and caps the window in time
)
def test_batches_match_a_plain_python_oracle(frame, train, history_length, num_candidates, window_events, window_hours):
    store, catalog = train
    examples = TrainingExamples(
        store,
        catalog,
        history_length=history_length,
        num_candidates=num_candidates,
        target_window_events=window_events,
        target_window_hours=window_hours,
    )
    features, labels, mask = batch_of_every_cut(examples)
    catalog_category = oracle_catalog_category(frame)
    truncated = 0
    for b, (cut_index, record) in enumerate(zip(examples.cut_points, examples.cut_records)):
        visitor = store.visitor_id[record]
        position = cut_index - store.offsets[record]
        cut, history, positives = oracle_example(
            frame, visitor, position, history_length, window_events, window_hours
        )
        assert features["visitor_id"][b] == visitor
        pad = history_length - len(history)
        assert np.all(features["history_item_id"][b, :pad] == 0)
        assert np.all(features["history_age_hours"][b, :pad] == 0)
        assert features["history_item_id"][b, pad:].tolist() == [e.item_id for e in history]
        assert features["history_category_id"][b, pad:].tolist() == [e.category_id for e in history]
        assert features["history_action"][b, pad:].tolist() == [e.action for e in history]
        ages = [(cut.timestamp_ms - e.timestamp_ms) / HOUR_MS for e in history]
        np.testing.assert_allclose(features["history_age_hours"][b, pad:], ages, rtol=1e-6)

        kept = list(positives)[:num_candidates]  # dict order is first-touched order
        truncated += len(positives) - len(kept)
        assert mask[b].tolist() == [1.0] * num_candidates
        items = features["candidate_item_id"][b].tolist()
        assert len(set(items)) == num_candidates
        for slot, item in enumerate(items):
            if item in kept:
                assert labels[b, slot].tolist() == positives[item][0]
                assert features["candidate_category_id"][b, slot] == positives[item][1]
            else:
                assert item not in positives
                assert labels[b, slot].tolist() == [0, 0, 0]
                assert features["candidate_category_id"][b, slot] == catalog_category[item]
        assert set(kept) <= set(items)
    assert examples.statistics["positives_truncated"] == truncated
    if num_candidates < window_events:
        assert truncated > 0


def test_no_negative_is_a_positive_of_its_window(frame, train):
    store, catalog = train
    examples = TrainingExamples(store, catalog, history_length=4, num_candidates=8, target_window_events=8)
    for seed in range(3):
        features, labels, _ = batch_of_every_cut(examples, seed)
        for b, (cut_index, record) in enumerate(zip(examples.cut_points, examples.cut_records)):
            _, _, positives = oracle_example(
                frame, store.visitor_id[record], cut_index - store.offsets[record], 4, 8, None
            )
            negatives = features["candidate_item_id"][b][labels[b].sum(axis=-1) == 0]
            assert not set(negatives.tolist()) & set(positives)


def event_table(frame):
    """item id -> (visitor, split, position among the visitor's events, timestamp) for `unique_item_frame`."""
    ordered = frame.sort_values(["visitor_id", "timestamp_ms", "action"], kind="stable")
    position = ordered.groupby("visitor_id").cumcount()
    return {
        row.item_id: (row.visitor_id, row.split, pos, row.timestamp_ms)
        for row, pos in zip(ordered.itertuples(), position)
    }


def unique_item_batches(num_batches=12):
    frame = unique_item_frame(seed=2)
    store = EventStore.from_frame(frame, "train")
    dataset = training_dataset(
        store, ItemCatalog.from_store(store), batch_size=32, history_length=6, num_candidates=8, seed=4
    )
    return frame, [
        (features, labels) for features, labels, _ in dataset.take(num_batches).as_numpy_iterator()
    ]


def test_history_precedes_every_target_event():
    frame, batches = unique_item_batches()
    table = event_table(frame)
    for features, labels in batches:
        for b in range(labels.shape[0]):
            history = [table[i] for i in features["history_item_id"][b] if i]
            targets = [table[i] for i in features["candidate_item_id"][b][labels[b].sum(axis=-1) > 0]]
            assert history and targets
            visitor = features["visitor_id"][b]
            assert {event[0] for event in history + targets} == {visitor}
            assert max(event[2] for event in history) < min(event[2] for event in targets)
            assert max(event[3] for event in history) <= min(event[3] for event in targets)
            assert np.all(features["history_age_hours"][b] >= 0)


def test_examples_never_reach_into_validation_or_test_events():
    frame, batches = unique_item_batches()
    table = event_table(frame)
    later = frame[frame["split"] != "train"].groupby("visitor_id")["timestamp_ms"].min().to_dict()
    seen_visitors_with_later_events = 0
    for features, labels in batches:
        for b in range(labels.shape[0]):
            visitor = features["visitor_id"][b]
            used = [i for i in features["history_item_id"][b] if i]
            used += features["candidate_item_id"][b][labels[b].sum(axis=-1) > 0].tolist()
            assert all(table[i][1] == "train" for i in used)
            if visitor in later:
                seen_visitors_with_later_events += 1
                assert all(table[i][3] < later[visitor] for i in used)
    assert seen_visitors_with_later_events > 0


def test_dataset_shapes_dtypes_and_front_padding(train):
    import tensorflow as tf

    store, catalog = train
    dataset = training_dataset(store, catalog, batch_size=16, history_length=12, num_candidates=5, seed=0)
    features, labels, mask = dataset.element_spec
    int_shapes = {
        "visitor_id": [16],
        "history_item_id": [16, 12],
        "history_category_id": [16, 12],
        "history_action": [16, 12],
        "candidate_item_id": [16, 5],
        "candidate_category_id": [16, 5],
    }
    assert set(features) == set(int_shapes) | {"history_age_hours"}
    for name, shape in int_shapes.items():
        assert features[name] == tf.TensorSpec(shape, tf.int32), name
    assert features["history_age_hours"] == tf.TensorSpec([16, 12], tf.float32)
    assert labels == tf.TensorSpec([16, 5, 3], tf.float32)
    assert mask == tf.TensorSpec([16, 5], tf.float32)
    for features, labels, mask in dataset.take(5).as_numpy_iterator():
        item = features["history_item_id"]
        valid = item != 0
        assert np.all(np.diff(valid.astype(int), axis=1) >= 0)  # once real, real to the end: padding in front
        assert np.all(valid[:, -1])
        assert np.array_equal(features["history_action"] != 0, valid)
        assert np.all(features["history_age_hours"][~valid] == 0)
        assert np.all(np.diff(features["history_age_hours"], axis=1)[valid[:, :-1]] <= 0)  # most recent last
        assert np.all(labels.sum(axis=(1, 2)) >= 1)
        assert set(np.unique(labels)) <= {0.0, 1.0}


def test_same_seed_same_batches_other_seed_other_batches(train):
    store, catalog = train

    def first_batches(seed):
        dataset = training_dataset(store, catalog, batch_size=8, history_length=4, num_candidates=6, seed=seed)
        return list(dataset.take(3).as_numpy_iterator())

    def flat(batches):
        return [np.asarray(x) for f, labels, mask in batches for x in (*f.values(), labels, mask)]

    first, again, other = flat(first_batches(7)), flat(first_batches(7)), flat(first_batches(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_dataset_is_endless_and_covers_every_cut_point_each_epoch(train):
    store, catalog = train
    examples = TrainingExamples(store, catalog, history_length=4, num_candidates=6)
    positions = examples.positions(batch_size=7, seed=0)
    epochs = 3
    drawn = np.concatenate([next(positions) for _ in range(epochs * examples.num_cut_points // 7)])
    counts = np.bincount(drawn, minlength=examples.num_cut_points)
    assert counts.min() >= epochs - 1 and counts.max() <= epochs


def test_rejects_a_catalog_smaller_than_the_list(train):
    store, _ = train
    tiny = ItemCatalog(item_id=[1, 2], category_id=[0, 0], action_counts=np.ones((2, 3)))
    with pytest.raises(ValueError, match="num_candidates=4"):
        TrainingExamples(store, tiny, num_candidates=4)
