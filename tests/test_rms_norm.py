import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import RMSNorm

pytestmark = pytest.mark.layers


def reference_rms_norm(x, scale, epsilon):
    x = x.astype(np.float64)
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon) * scale


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 8)).astype("float32") * 5
    layer = RMSNorm(epsilon=1e-5)
    layer.build(x.shape)
    scale = rng.normal(size=(8,)).astype("float32")
    layer.scale.assign(scale)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)), reference_rms_norm(x, scale, 1e-5), rtol=1e-5, atol=1e-6
    )


def test_scale_starts_at_ones():
    layer = RMSNorm()
    x = np.array([[3.0, 4.0]], "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), x / np.sqrt(12.5), rtol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.scale), [1.0, 1.0])


def test_layer_checks():
    x = np.random.default_rng(1).normal(size=(2, 3, 8)).astype("float32")
    run_layer_test(RMSNorm, {"epsilon": 1e-4, "name": "norm"}, x, expected_output_shape=(2, 3, 8),
                   expected_num_trainable_weights=1)


def test_mixed_bfloat16_computes_in_float32():
    layer = RMSNorm(dtype="mixed_bfloat16")
    # Values whose squares sum far beyond bfloat16's 8-bit mantissa precision.
    x = np.random.default_rng(2).normal(size=(4, 256)).astype("float32") * 100
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(layer.scale.dtype) == "float32"
    x_bf16 = ops.convert_to_numpy(ops.cast(ops.cast(x, "bfloat16"), "float32"))
    expected = reference_rms_norm(x_bf16, 1.0, 1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.cast(out, "float32")), expected, rtol=1e-2, atol=1e-2
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received"):
        RMSNorm(epsilon=0.0)
