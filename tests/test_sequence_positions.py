import keras
import numpy as np
import pytest
from keras import ops

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


def test_config_symbolic_and_save_round_trip(reload_model):
    layer = SequencePositions(name="positions")
    assert SequencePositions.from_config(layer.get_config()).get_config() == layer.get_config()
    history_in = keras.Input((4,), dtype="bool")
    candidates_in = keras.Input((3,), dtype="bool")
    outputs = layer(history_in, candidates_in)
    assert tuple(outputs.shape) == (None, 8)
    assert keras.backend.standardize_dtype(outputs.dtype) == "int32"
    model = keras.Model([history_in, candidates_in], outputs)
    inputs = [np.array([[0, 1, 0, 1]], bool), np.array([[1, 1, 0]], bool)]
    np.testing.assert_array_equal(
        ops.convert_to_numpy(reload_model(model)(inputs)), ops.convert_to_numpy(model(inputs))
    )


def test_mixed_bfloat16(mixed_bfloat16):
    out = SequencePositions()(np.array([[0.0, 1.0]], "float32"), np.array([[1.0, 1.0]], "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(ops.convert_to_numpy(out), [[0, 0, 1, 2, 2]])
