import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import LogBucketEmbedding

pytestmark = pytest.mark.layers

AGES = np.array([[0.0, 0.4, 1.0, 7.0, 30.0], [200.0, 999.0, 1000.0, 5e4, 3.3]], "float32")


def reference_buckets(ages, num_buckets, max_value):
    ages = np.maximum(ages.astype(np.float64), 0.0)
    scaled = np.log1p(ages) / np.log1p(max_value) * (num_buckets - 1)
    return np.clip(1 + np.floor(scaled).astype(np.int64), 1, num_buckets - 1)


def test_buckets_match_numpy_reference():
    layer = LogBucketEmbedding(num_buckets=9, output_dim=4, max_value=1000.0)
    expected = reference_buckets(AGES, 9, 1000.0)
    np.testing.assert_array_equal(expected, [[1, 1, 1, 3, 4], [7, 8, 8, 8, 2]])
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.buckets(AGES)), expected)
    # Negative ages count as zero; huge ages share the last bucket.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer.buckets(np.array([-5.0, 1e9], "float32"))), [1, 8]
    )


def test_output_is_the_bucket_row():
    keras.utils.set_random_seed(0)
    layer = LogBucketEmbedding(num_buckets=9, output_dim=4, max_value=1000.0)
    out = ops.convert_to_numpy(layer(AGES))
    assert out.shape == (2, 5, 4)
    table = ops.convert_to_numpy(layer.embedding.embeddings)
    np.testing.assert_array_equal(out, table[reference_buckets(AGES, 9, 1000.0)])


def test_layer_checks():
    run_layer_test(
        LogBucketEmbedding,
        {"num_buckets": 9, "output_dim": 4, "max_value": 1000.0, "name": "age"},
        AGES,
        expected_output_shape=(2, 5, 4),
        expected_num_trainable_weights=1,
    )


def test_mixed_bfloat16_buckets_ages_in_float32():
    num_buckets, max_value = 64, 10000.0
    layer = LogBucketEmbedding(num_buckets=num_buckets, output_dim=4, max_value=max_value, dtype="mixed_bfloat16")
    # Ages that bfloat16 would round across a bucket boundary.
    ages = np.linspace(0.0, max_value, 2001, dtype="float32")[None, :]
    out = layer(ages)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    table = ops.convert_to_numpy(ops.cast(layer.embedding.embeddings, "bfloat16"))
    expected = table[reference_buckets(ages, num_buckets, max_value)]
    np.testing.assert_array_equal(ops.convert_to_numpy(out), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_buckets": 1, "output_dim": 4, "max_value": 10.0},
        {"num_buckets": 8, "output_dim": 0, "max_value": 10.0},
        {"num_buckets": 8, "output_dim": 4, "max_value": 0.0},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        LogBucketEmbedding(**kwargs)
