import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test
from references import reference_rotary

from layers import RotaryEmbedding

pytestmark = pytest.mark.layers


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3, 8)).astype("float32")
    positions = rng.integers(0, 50, size=(2, 5)).astype("int32")
    layer = RotaryEmbedding(max_wavelength=100)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, positions)),
        reference_rotary(x, positions, 100),
        rtol=1e-5,
        atol=1e-5,
    )
    # Float positions give the same rotation as the equal int ones.
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, positions.astype("float32"))),
        ops.convert_to_numpy(layer(x, positions)),
        rtol=1e-6,
        atol=1e-6,
    )


def test_position_zero_is_identity():
    x = np.random.default_rng(1).normal(size=(1, 2, 1, 4)).astype("float32")
    out = RotaryEmbedding()(x, np.zeros((1, 2), "int32"))
    np.testing.assert_allclose(ops.convert_to_numpy(out), x, rtol=1e-6, atol=1e-6)


def test_dot_products_depend_only_on_relative_position():
    rng = np.random.default_rng(2)
    query = rng.normal(size=(2, 6, 2, 8)).astype("float32")
    key = rng.normal(size=(2, 6, 2, 8)).astype("float32")
    positions = rng.integers(0, 30, size=(2, 6)).astype("int32")
    layer = RotaryEmbedding()

    def dots(shift):
        q = ops.convert_to_numpy(layer(query, positions + shift))
        k = ops.convert_to_numpy(layer(key, positions + shift))
        return np.einsum("btnh,bsnh->bnts", q, k)

    np.testing.assert_allclose(dots(0), dots(17), rtol=1e-4, atol=1e-4)


def test_layer_checks():
    x = np.random.default_rng(3).normal(size=(2, 5, 2, 4)).astype("float32")
    positions = np.tile(np.arange(5, dtype="int32"), (2, 1))
    run_layer_test(RotaryEmbedding, {"max_wavelength": 500, "name": "rope"}, (x, positions),
                   expected_output_shape=(2, 5, 2, 4))


def test_mixed_bfloat16_stays_close_to_the_reference():
    x = np.random.default_rng(4).normal(size=(1, 3, 2, 4)).astype("float32")
    positions = np.array([[0, 100, 200]], "int32")
    out = RotaryEmbedding(dtype="mixed_bfloat16")(x, positions)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    x_bf16 = ops.convert_to_numpy(ops.cast(ops.cast(x, "bfloat16"), "float32"))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.cast(out, "float32")),
        reference_rotary(x_bf16, positions, 10000),
        rtol=2e-2,
        atol=2e-2,
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received"):
        RotaryEmbedding(max_wavelength=0)
    with pytest.raises(ValueError, match="Received"):
        RotaryEmbedding()(np.zeros((1, 2, 1, 5), "float32"), np.zeros((1, 2), "int32"))
