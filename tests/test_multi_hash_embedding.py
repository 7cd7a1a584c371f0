import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from layer_checks import run_layer_test

from layers import MultiHashEmbedding

pytestmark = pytest.mark.layers

REPO = Path(__file__).resolve().parents[1]
EDGE_IDS = [1, 2, 2**31 - 1, 2**31 - 2, 0, -1, -7, -(2**31)]


def reference_constants(seed, index):
    """Hash constants from a uint32 Murmur3 finaliser, independent of the layer."""
    with np.errstate(over="ignore"):
        salt = np.uint32((seed * 0x9E3779B1 + 2 * index + 1) % 2**32)
        salt = reference_fmix32_uint32(salt)
        multiplier = reference_fmix32_uint32(salt ^ np.uint32(0x27D4EB2F)) | np.uint32(1)
    return salt.view(np.int32), multiplier.view(np.int32)


def reference_fmix32_uint32(x):
    """Textbook Murmur3 `fmix32` on uint32."""
    x = np.asarray(x, np.uint32)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x85EBCA6B)
        x = x ^ (x >> np.uint32(13))
        x = x * np.uint32(0xC2B2AE35)
        x = x ^ (x >> np.uint32(16))
    return x


def reference_fmix32_int32(x):
    """`fmix32` in wrapping int32 arithmetic with sign-cleared right shifts."""

    def logical_right_shift(v, s):
        return (v >> np.int32(s)) & np.int32((1 << (32 - s)) - 1)

    x = np.asarray(x, np.int32)
    with np.errstate(over="ignore"):
        x = x ^ logical_right_shift(x, 16)
        x = x * np.int32(-2048144789)
        x = x ^ logical_right_shift(x, 13)
        x = x * np.int32(-1028477387)
        x = x ^ logical_right_shift(x, 16)
    return x


def reference_buckets(ids, num_buckets, num_hashes, seed):
    ids = np.asarray(ids).astype(np.int32)
    columns = []
    with np.errstate(over="ignore"):
        for index in range(num_hashes):
            salt, multiplier = reference_constants(seed, index)
            mixed = reference_fmix32_int32((ids ^ salt) * multiplier)
            bucket = 1 + (mixed & np.int32(0x7FFFFFFF)) % np.int32(num_buckets - 1)
            columns.append(np.where(ids > 0, bucket, 0))
    return np.stack(columns, axis=-1).astype(np.int32)


def random_ids(size, seed=0):
    return np.random.default_rng(seed).integers(1, 2**31, size=size, dtype=np.int64)


def test_int32_finaliser_matches_uint32_textbook():
    x = np.random.default_rng(1).integers(-(2**31), 2**31, size=10_000).astype(np.int32)
    np.testing.assert_array_equal(
        reference_fmix32_int32(x), reference_fmix32_uint32(x.view(np.uint32)).view(np.int32)
    )


def test_buckets_match_numpy_reference():
    layer = MultiHashEmbedding(num_buckets=1000, output_dim=4, num_hashes=3, seed=7)
    ids = np.concatenate([random_ids(100_000), EDGE_IDS])
    buckets = ops.convert_to_numpy(layer.hash_buckets(ids))
    assert buckets.shape == (ids.shape[0], 3)
    assert buckets.dtype == np.int32
    np.testing.assert_array_equal(buckets, reference_buckets(ids, 1000, 3, seed=7))
    positive = ids > 0
    assert np.all(buckets[positive] >= 1) and np.all(buckets[positive] < 1000)
    np.testing.assert_array_equal(buckets[~positive], 0)


def test_any_integer_dtype_gives_the_same_buckets():
    layer = MultiHashEmbedding(num_buckets=50, output_dim=4)
    ids = np.array([[3, 0, 12345], [-2, 31000, 5]])
    expected = ops.convert_to_numpy(layer.hash_buckets(ids.astype(np.int32)))
    for dtype in (np.int16, np.int64, np.uint16):
        if dtype == np.uint16:
            ids = np.abs(ids)
            expected = ops.convert_to_numpy(layer.hash_buckets(ids.astype(np.int32)))
        got = ops.convert_to_numpy(layer.hash_buckets(ids.astype(dtype)))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="this process is the TensorFlow run; the numpy reference still runs",
)
@pytest.mark.slow
def test_buckets_match_tensorflow_backend():
    ids = np.concatenate([random_ids(2_000, seed=3), EDGE_IDS])
    script = (
        "import json, sys, numpy as np\n"
        "from keras import ops\n"
        "from layers import MultiHashEmbedding\n"
        "ids = np.array(json.loads(sys.stdin.read()), np.int64)\n"
        "layer = MultiHashEmbedding(num_buckets=997, output_dim=4, num_hashes=4, seed=11)\n"
        "print(json.dumps(ops.convert_to_numpy(layer.hash_buckets(ids)).tolist()))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(ids.tolist()), capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    tf_buckets = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    layer = MultiHashEmbedding(num_buckets=997, output_dim=4, num_hashes=4, seed=11)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.hash_buckets(ids)), tf_buckets)


def test_hash_functions_are_independent_and_uniform():
    num_buckets = 1001
    layer = MultiHashEmbedding(num_buckets=num_buckets, output_dim=4, num_hashes=2, seed=0)
    ids = random_ids(100_000, seed=5)
    buckets = ops.convert_to_numpy(layer.hash_buckets(ids)).astype(np.int64)
    real = num_buckets - 1

    # Of all pairs of ids that share their hash-0 bucket (about 5e6 pairs here),
    # the fraction that also share their hash-1 bucket is 1 / real for
    # independent hashes; measured 0.96 / real to 1.02 / real over seeds 0-3.
    def colliding_pairs(keys):
        counts = np.unique(keys, return_counts=True)[1]
        return float(np.sum(counts * (counts - 1) / 2))

    both = colliding_pairs(buckets[:, 0] * num_buckets + buckets[:, 1])
    first = colliding_pairs(buckets[:, 0])
    assert both / first < 1.5 / real

    # Bucket usage, for random ids and for consecutive ids (Retail Rocket ids
    # are dense): the chi-square over the `real` buckets stays within 6
    # standard deviations of its mean (df = real - 1, variance 2 df); measured
    # 920 to 1073 for df = 999.
    sequential = ops.convert_to_numpy(layer.hash_buckets(np.arange(1, 100_001)))
    dof = real - 1
    for column in (buckets[:, 0], buckets[:, 1], sequential[:, 0], sequential[:, 1]):
        observed = np.bincount(column, minlength=num_buckets)[1:]
        expected = column.shape[0] / real
        chi_square = np.sum((observed - expected) ** 2 / expected)
        assert chi_square < dof + 6 * np.sqrt(2 * dof)


def test_padding_gives_zeros_and_mask():
    keras.utils.set_random_seed(0)
    layer = MultiHashEmbedding(num_buckets=20, output_dim=6, num_hashes=2)
    ids = np.array([[0, 0, 17, 4], [5, -3, 9, 0]], np.int32)
    out = ops.convert_to_numpy(layer(ids))
    assert out.shape == (2, 4, 6)
    valid = ids > 0
    np.testing.assert_array_equal(out[~valid], 0.0)
    assert np.all(np.abs(out[valid]).sum(-1) > 0)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.compute_mask(ids)), valid)

    # The mask reaches a mask-aware downstream layer in a functional model.
    inputs = keras.Input((4,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    model = keras.Model(inputs, pooled)
    expected = np.stack([out[b][valid[b]].mean(0) for b in range(2)])
    np.testing.assert_allclose(ops.convert_to_numpy(model(ids)), expected, rtol=1e-5, atol=1e-6)


def test_forward_matches_tables_and_projection():
    keras.utils.set_random_seed(0)
    layer = MultiHashEmbedding(num_buckets=30, output_dim=4, num_hashes=3, seed=2)
    ids = np.array([[1, 99, 123456]], np.int32)
    out = ops.convert_to_numpy(layer(ids))
    buckets = reference_buckets(ids, 30, 3, seed=2)
    tables = [ops.convert_to_numpy(t.embeddings) for t in layer.tables]
    concat = np.concatenate([tables[i][buckets[..., i]] for i in range(3)], axis=-1)
    expected = concat @ ops.convert_to_numpy(layer.projection.kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert len(layer.weights) == 4  # three tables and a bias-free projection


def test_layer_checks():
    run_layer_test(
        MultiHashEmbedding,
        {"num_buckets": 40, "output_dim": 8, "num_hashes": 3, "seed": 5, "name": "ids"},
        np.array([[0, 3, 77, 2**31 - 1, -1], [5, 6, 7, 8, 9]], np.int32),
        expected_output_shape=(2, 5, 8),
        expected_num_trainable_weights=4,  # three tables and a bias-free projection
    )


def test_layer_checks_with_regularisers():
    run_layer_test(
        MultiHashEmbedding,
        {"num_buckets": 40, "output_dim": 8, "num_hashes": 2, "seed": 5, "dropout_rate": 0.25, "rows_l2": 0.1},
        np.array([[0, 3, 77, 2**31 - 1, -1], [5, 6, 7, 8, 9]], np.int32),
        expected_output_shape=(2, 5, 8),
        expected_num_trainable_weights=3,  # two tables and a bias-free projection
    )


def looked_up_rows(layer, ids):
    """`[num_hashes, ...ids, output_dim]` rows of each table the ids look up (numpy reference)."""
    buckets = reference_buckets(ids, layer.num_buckets, layer.num_hashes, layer.seed)
    return [ops.convert_to_numpy(table.embeddings)[buckets[..., i]] for i, table in enumerate(layer.tables)]


IDS_WITH_PADDING = np.array([[0, 7, 7, 123], [99, 0, -2, 5]], np.int32)


def test_rows_penalty_moves_only_the_looked_up_rows_by_its_gradient():
    keras.utils.set_random_seed(0)
    rows_l2, learning_rate = 0.5, 1.0
    layer = MultiHashEmbedding(num_buckets=30, output_dim=4, num_hashes=2, seed=2, rows_l2=rows_l2)
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), loss=lambda y_true, y_pred: 0.0 * ops.sum(y_pred)
    )  # the penalty is the only gradient
    before = [ops.convert_to_numpy(table.embeddings).copy() for table in layer.tables]
    projection = ops.convert_to_numpy(layer.projection.kernel).copy()
    output = ops.convert_to_numpy(model(IDS_WITH_PADDING))
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(IDS_WITH_PADDING, training=True)), output)
    model.fit(IDS_WITH_PADDING, np.zeros((2, 4, 4), "float32"), batch_size=2, epochs=1, verbose=0)
    assert layer.losses == []  # the penalty is a gradient, not an `add_loss` term

    buckets = reference_buckets(IDS_WITH_PADDING, 30, 2, seed=2)
    real = IDS_WITH_PADDING > 0
    for i, table in enumerate(layer.tables):
        after = ops.convert_to_numpy(table.embeddings)
        hits = np.bincount(buckets[..., i][real], minlength=30)  # [30] real ids per row
        # d/d row of rows_l2 * sum_ids ||row_id||^2 / real ids: 2 rows_l2 hits row / real ids.
        expected = before[i] * (1 - learning_rate * 2 * rows_l2 * hits[:, None] / real.sum())
        np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-7)
        untouched = hits == 0
        assert untouched[0] and untouched.sum() > 20  # the padding row and every row no real id hit
        np.testing.assert_array_equal(after[untouched], before[i][untouched])
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.projection.kernel), projection)


def test_dropout_acts_in_training_only_and_is_seeded():
    keras.utils.set_random_seed(0)
    ids = IDS_WITH_PADDING
    plain = MultiHashEmbedding(num_buckets=30, output_dim=64, seed=3)
    dropped = MultiHashEmbedding(num_buckets=30, output_dim=64, seed=3, dropout_rate=0.5)
    again = MultiHashEmbedding(num_buckets=30, output_dim=64, seed=3, dropout_rate=0.5)
    expected = ops.convert_to_numpy(plain(ids))
    for layer in (dropped, again):
        layer(ids)
        layer.set_weights(plain.get_weights())
        np.testing.assert_array_equal(ops.convert_to_numpy(layer(ids)), expected)
        np.testing.assert_array_equal(ops.convert_to_numpy(layer(ids, training=False)), expected)

    trained = ops.convert_to_numpy(dropped(ids, training=True))
    kept = trained != 0
    real = ids > 0
    assert not kept[~real].any()  # padding stays zero
    assert 0.35 < kept[real].mean() < 0.65
    np.testing.assert_allclose(trained[kept], expected[kept] / 0.5, rtol=1e-6)
    # The same seed draws the same masks; the next draw is another mask.
    np.testing.assert_array_equal(ops.convert_to_numpy(again(ids, training=True)), trained)
    assert not np.array_equal(ops.convert_to_numpy(dropped(ids, training=True)) != 0, kept)


def test_padding_stays_zero_under_mixed_bfloat16():
    layer = MultiHashEmbedding(num_buckets=40, output_dim=8, dtype="mixed_bfloat16")
    out = layer(np.array([[0, 3, 77]], np.int64))
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.cast(out, "float32"))[0, 0], 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_buckets": 1, "output_dim": 4},
        {"num_buckets": 10, "output_dim": 0},
        {"num_buckets": 10, "output_dim": 4, "num_hashes": 0},
        {"num_buckets": 10, "output_dim": 4, "dropout_rate": 1.0},
        {"num_buckets": 10, "output_dim": 4, "rows_l2": -0.1},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        MultiHashEmbedding(**kwargs)
