import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import SequencePositions

pytestmark = pytest.mark.layers


def positions_of(history, candidates):
    out = SequencePositions()(np.array(history, bool), np.array(candidates, bool))
    out = ops.convert_to_numpy(out)
    assert out.dtype == np.int32
    return out


def test_front_and_middle_padding():
    history = [[0, 0, 1, 1], [1, 0, 1, 0]]
    candidates = [[1, 1, 0], [1, 0, 1]]
    expected = [
        # customer, history (S=4), candidates (C=3)
        [0, 0, 0, 1, 2, 3, 3, 0],
        [0, 1, 0, 2, 0, 3, 0, 3],
    ]
    np.testing.assert_array_equal(positions_of(history, candidates), expected)


def test_padding_does_not_move_valid_tokens():
    np.testing.assert_array_equal(positions_of([[1, 1]], [[1, 1]]), [[0, 1, 2, 3, 3]])
    np.testing.assert_array_equal(
        positions_of([[0, 0, 1, 0, 1]], [[1, 1]]), [[0, 0, 0, 1, 0, 2, 3, 3]]
    )


def test_all_history_padded_and_no_history():
    np.testing.assert_array_equal(positions_of([[0, 0]], [[1]]), [[0, 0, 0, 1]])
    np.testing.assert_array_equal(
        positions_of(np.zeros((1, 0), bool), [[1, 1]]), [[0, 1, 1]]
    )


def test_layer_checks():
    run_layer_test(
        SequencePositions,
        {"name": "positions"},
        (np.array([[0, 1, 0, 1]], bool), np.array([[1, 1, 0]], bool)),
        expected_output_shape=(1, 8),
        expected_output_dtype="int32",
    )
    mixed = SequencePositions(dtype="mixed_bfloat16")(np.array([[0.0, 1.0]], "float32"), np.array([[1.0, 1.0]], "float32"))
    np.testing.assert_array_equal(ops.convert_to_numpy(mixed), [[0, 0, 1, 2, 2]])
