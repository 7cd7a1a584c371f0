"""Session batches for training on every position: windows, buckets, padding, candidates' sampling probabilities."""

import numpy as np
import pytest

from datasets.actions import VIEW
from datasets.retail_rocket.session_files import Sessions
from datasets.session_sequences import SessionSequences


def distinct_item_sessions(lengths):
    """Sessions whose items are all different (1, 2, 3, ... in order), so an item id names its position."""
    lengths = np.asarray(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Sessions(session_id=np.arange(len(lengths)), offsets=offsets,
                    items=np.arange(1, offsets[-1] + 1, dtype=np.int32))


def popularity_of(sessions):
    return np.bincount(sessions.items, minlength=int(sessions.items.max()) + 1)


def epoch(sequences, seed=0):
    """One epoch's batches `(width, features, labels, weights)`."""
    rng = np.random.default_rng(seed)
    return [(width, *sequences.batch(width, windows, rng)) for width, windows in sequences.epoch_batches(rng)]


def test_an_epoch_has_every_target_position_once_after_its_own_prefix():
    lengths = [2, 3, 5, 9, 17, 30, 1, 4, 4, 6]
    sessions = distinct_item_sessions(lengths)
    sequences = SessionSequences(sessions, popularity_of(sessions), history_length=8, batch_tokens=16, negatives=5,
                                 bucket_widths=(2, 4))
    assert sequences.widths.tolist() == [2, 4, 8]
    batches = epoch(sequences)
    assert len(batches) == sequences.steps_per_epoch
    targets = []
    session_of_item = np.repeat(np.arange(len(lengths)), lengths)
    for width, features, labels, weights in batches:
        history, target = features["history_item_id"], features["target_item_id"]
        rows = 16 // width
        assert history.shape == target.shape == (rows, width)
        assert labels.tolist() == list(range(rows * width))
        valid = target > 0
        np.testing.assert_array_equal(weights, valid.ravel())
        np.testing.assert_array_equal(valid, history > 0)
        # Front padding: a row's real slots are its last ones.
        assert (np.diff(valid.astype(int), axis=1) >= 0).all()
        # Each input is the item just before its target, in the same session.
        np.testing.assert_array_equal(history[valid], target[valid] - 1)
        assert (session_of_item[target[valid] - 1] == session_of_item[history[valid] - 1]).all()
        # A row's first item is its window's first input.
        first = features["first_item_id"]
        real_rows = valid.any(axis=1)
        np.testing.assert_array_equal(first[real_rows], history[real_rows, np.argmax(valid[real_rows], axis=1)])
        assert (first[~real_rows] == 0).all()
        np.testing.assert_array_equal(features["history_action"], np.where(valid, VIEW, 0))
        np.testing.assert_array_equal(features["history_age_hours"][valid],
                                      np.broadcast_to(width - np.arange(width), valid.shape)[valid])
        targets.extend(target[valid].tolist())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) + 1  # each session's first item
    expected = sorted(set(range(1, sum(lengths) + 1)) - set(starts.tolist()))
    assert sorted(targets) == expected  # every target once
    assert sequences.statistics["targets"] == len(expected) and sequences.statistics["sessions_without_target"] == 1


def test_long_sessions_are_cut_into_windows_that_overlap_by_one_item():
    sessions = distinct_item_sessions([20])
    sequences = SessionSequences(sessions, popularity_of(sessions), history_length=8, batch_tokens=8, negatives=0)
    assert sequences.window_start.tolist() == [0, 8, 16]
    assert sequences.window_positions.tolist() == [8, 8, 3]
    windows = {}
    for width, features, _, _ in epoch(sequences):
        for history, target in zip(features["history_item_id"], features["target_item_id"]):
            if target.any():
                windows[int(history[history > 0][0])] = (history[history > 0].tolist(), target[target > 0].tolist())
    assert windows == {1: (list(range(1, 9)), list(range(2, 10))), 9: (list(range(9, 17)), list(range(10, 18))),
                       17: ([17, 18, 19], [18, 19, 20])}


def test_epochs_reshuffle_and_a_seed_repeats():
    sessions = distinct_item_sessions(np.full(40, 4))
    sequences = SessionSequences(sessions, popularity_of(sessions), history_length=4, batch_tokens=12, negatives=3)
    first, second = (np.concatenate([b[1]["target_item_id"].ravel() for b in epoch(sequences, seed)])
                     for seed in (0, 1))
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    stream = sequences.batches(seed=0)
    for width, features, labels, weights in epoch(sequences, seed=0)[:3]:
        again = next(stream)
        np.testing.assert_array_equal(again[0]["target_item_id"], features["target_item_id"])
        np.testing.assert_array_equal(again[0]["negative_item_id"], features["negative_item_id"])


def test_candidates_carry_the_probability_of_the_mixture_they_come_from():
    sessions = Sessions(session_id=np.arange(3), offsets=np.array([0, 3, 6, 10]),
                        items=np.array([1, 2, 1, 3, 1, 2, 4, 1, 2, 1], np.int32))
    popularity = np.array([0, 40, 30, 20, 10, 0])  # item 5 has no count: never sampled
    sequences = SessionSequences(sessions, popularity, history_length=3, batch_tokens=9, negatives=2_000,
                                 popularity_alpha=0.5)
    p = popularity / popularity.sum()
    q = np.sqrt(popularity) / np.sqrt(popularity).sum()
    rng = np.random.default_rng(0)
    features, _, _ = sequences.batch(3, np.array([0, 1, 2]), rng)
    n = int((features["target_item_id"] > 0).sum()) + 3
    mixture = (n * p + 2_000 * q) / (n + 2_000)
    np.testing.assert_allclose(features["negative_sampling_probability"][0],
                               mixture[features["negative_item_id"][0]], rtol=1e-6)
    target = features["target_item_id"]
    np.testing.assert_allclose(features["target_sampling_probability"][target > 0], mixture[target[target > 0]],
                               rtol=1e-6)
    np.testing.assert_allclose(features["first_item_sampling_probability"], mixture[features["first_item_id"]],
                               rtol=1e-6)
    drawn = np.bincount(features["negative_item_id"][0], minlength=6) / 2_000
    np.testing.assert_allclose(drawn, q, atol=0.03)
    assert drawn[0] == drawn[5] == 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"batch_tokens": 7}, "Received: batch_tokens=7"),
        ({"negatives": -1}, "Received: negatives=-1"),
        ({"history_length": 0}, "Received: history_length=0"),
        ({"item_popularity": np.array([0, 5, 0, 5])}, r"count every session item.*e\.g\. \[2\]"),
        ({"item_popularity": np.array([0, 5, 5])}, "Received: 3 columns, largest item id 3"),
    ],
)
def test_refusals_name_what_was_wrong(arguments, message):
    sessions = distinct_item_sessions([3])
    values = {"item_popularity": popularity_of(sessions), "history_length": 8, "batch_tokens": 16, "negatives": 4,
              **arguments}
    with pytest.raises(ValueError, match=message):
        SessionSequences(sessions, **values)


def test_the_dataset_serves_the_generators_batches_in_varying_shapes():
    sessions = distinct_item_sessions([2, 3, 3, 6, 6, 9])
    sequences = SessionSequences(sessions, popularity_of(sessions), history_length=8, batch_tokens=16, negatives=3)
    served = list(sequences.dataset(seed=4).take(sequences.steps_per_epoch).as_numpy_iterator())
    expected = [batch for _, batch in zip(range(sequences.steps_per_epoch), sequences.batches(seed=4))]
    assert {features["history_item_id"].shape for features, _, _ in served} == {(8, 2), (2, 6), (2, 8)}
    for (features, labels, weights), (want, want_labels, want_weights) in zip(served, expected):
        for name, value in want.items():
            np.testing.assert_array_equal(features[name], value, err_msg=name)
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_array_equal(weights, want_weights)
