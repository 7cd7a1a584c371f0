import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import CandidateIsolationMask

pytestmark = pytest.mark.layers


def mask_of(history, candidates):
    history = np.array([history], bool).reshape(1, -1)  # [1, S], also for S = 0
    out = CandidateIsolationMask()(history, np.array([candidates], bool))
    return ops.convert_to_numpy(out)[0].astype(int)


def test_no_history():
    # Tokens: customer, c0, c1.
    expected = [
        [1, 0, 0],
        [1, 1, 0],
        [1, 0, 1],
    ]
    np.testing.assert_array_equal(mask_of([], [1, 1]), expected)


def test_one_padded_history_event_and_one_candidate():
    # Tokens: customer, h0 (padding), c0. The padding row attends to nothing.
    expected = [
        [1, 0, 0],
        [0, 0, 0],
        [1, 0, 1],
    ]
    np.testing.assert_array_equal(mask_of([0], [1]), expected)


def test_one_candidate():
    # Tokens: customer, h0, h1, c0.
    expected = [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1, 1, 1, 1],
    ]
    np.testing.assert_array_equal(mask_of([1, 1], [1]), expected)


def test_only_candidates_with_all_history_padded():
    # Tokens: customer, h0, h1 (both padding), c0, c1.
    expected = [
        [1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [1, 0, 0, 1, 0],
        [1, 0, 0, 0, 1],
    ]
    np.testing.assert_array_equal(mask_of([0, 0], [1, 1]), expected)


def test_front_history_padding_and_end_candidate_padding():
    # Tokens: customer, h0 (padding), h1, h2, c0, c1, c2 (padding).
    expected = [
        [1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0],
        [1, 0, 1, 1, 0, 0, 0],
        [1, 0, 1, 1, 1, 0, 0],
        [1, 0, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(mask_of([0, 1, 1], [1, 1, 0]), expected)


def test_batch_rows_are_independent():
    history = np.array([[0, 1, 1], [1, 1, 1]], bool)
    candidates = np.array([[1, 1, 0], [1, 0, 1]], bool)
    out = ops.convert_to_numpy(CandidateIsolationMask()(history, candidates))
    assert out.shape == (2, 7, 7) and out.dtype == bool
    for b in range(2):
        np.testing.assert_array_equal(out[b].astype(int), mask_of(history[b], candidates[b]))


def test_float_masks_are_accepted():
    history = np.array([[0.0, 1.0]], "float32")
    candidates = np.array([[1.0, 0.0]], "float32")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(CandidateIsolationMask()(history, candidates)).astype(int)[0],
        mask_of([0, 1], [1, 0]),
    )


def test_layer_checks():
    run_layer_test(
        CandidateIsolationMask,
        {"name": "mask"},
        (np.array([[0, 1, 1], [1, 1, 1]], bool), np.array([[1, 0], [1, 1]], bool)),
        expected_output_shape=(2, 6, 6),
        expected_output_dtype="bool",
    )
