import keras
import numpy as np
import pytest
from keras import ops

from layer_checks import run_layer_test
from references import reference_rotary

from layers import GroupedQueryAttention

pytestmark = pytest.mark.layers


def random_mask(rng, batch, time):
    """A random `[B, T, T]` mask in which every query may attend to itself."""
    mask = rng.random((batch, time, time)) < 0.6
    return mask | np.eye(time, dtype=bool)[None]


def random_attention_inputs(rng, batch, time, dim):
    """`(x [B, T, D], positions [B, T] in order, a random_mask [B, T, T])`."""
    x = rng.normal(size=(batch, time, dim)).astype("float32")
    positions = np.tile(np.arange(time, dtype="int32"), (batch, 1))
    return x, positions, random_mask(rng, batch, time)


def reference_attention(layer, x, positions, mask):
    """Plain numpy grouped-query attention, one query head at a time."""
    query_kernel, key_kernel, value_kernel, output_kernel = [
        w.astype(np.float64) for w in layer.get_weights()
    ]
    query = np.einsum("btd,dnh->btnh", x, query_kernel)
    key = np.einsum("bsd,dkh->bskh", x, key_kernel)
    value = np.einsum("bsd,dkh->bskh", x, value_kernel)
    if layer.use_rotary:
        query = reference_rotary(query, positions, layer.max_wavelength)
        key = reference_rotary(key, positions, layer.max_wavelength)
    multiplier = layer.attn_output_multiplier or layer.key_size**-0.5
    group = layer.num_query_heads // layer.num_key_value_heads
    heads = []
    for n in range(layer.num_query_heads):
        logits = np.einsum("bth,bsh->bts", query[:, :, n], key[:, :, n // group]) * multiplier
        if layer.logit_cap is not None:
            logits = layer.logit_cap * np.tanh(logits / layer.logit_cap)
        logits = np.where(mask, logits, -np.inf)
        logits = logits - logits.max(-1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        heads.append(np.einsum("bts,bsh->bth", probs, value[:, :, n // group]))
    return np.einsum("btnh,nhd->btd", np.stack(heads, axis=2), output_kernel)


def test_matches_keras_multi_head_attention():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    heads, key_size = 3, 4
    x, positions, mask = random_attention_inputs(rng, batch=2, time=5, dim=12)
    layer = GroupedQueryAttention(heads, heads, key_size, logit_cap=None, use_rotary=False)
    out = layer(x, positions, mask)

    mha = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_size, use_bias=False)
    mha(x, x, x, attention_mask=mask)
    mha.query_dense.kernel.assign(layer.query_dense.kernel)
    mha.key_dense.kernel.assign(layer.key_dense.kernel)
    mha.value_dense.kernel.assign(layer.value_dense.kernel)
    mha.output_dense.kernel.assign(layer.output_dense.kernel)
    expected = mha(x, x, x, attention_mask=mask)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("draw", range(3))
def test_matches_numpy_reference_on_random_shapes(draw):
    keras.utils.set_random_seed(draw)
    rng = np.random.default_rng(100 + draw)
    kv_heads = int(rng.integers(1, 3))
    heads = kv_heads * int(rng.integers(2, 4))
    key_size = 2 * int(rng.integers(1, 5))
    batch, time, dim = int(rng.integers(1, 4)), int(rng.integers(2, 8)), int(rng.integers(4, 17))
    layer = GroupedQueryAttention(
        heads,
        kv_heads,
        key_size,
        attn_output_multiplier=float(rng.uniform(0.5, 3.0)),
        logit_cap=2.0,  # small enough that the cap is active
        max_wavelength=100,
    )
    x = rng.normal(size=(batch, time, dim)).astype("float32")
    positions = rng.integers(0, 40, size=(batch, time)).astype("int32")
    mask = random_mask(rng, batch, time)
    out = ops.convert_to_numpy(layer(x, positions, mask))
    assert out.shape == (batch, time, dim)
    np.testing.assert_allclose(
        out, reference_attention(layer, x, positions, mask), rtol=1e-4, atol=1e-4
    )


def test_fully_masked_query_row_outputs_zeros():
    keras.utils.set_random_seed(0)
    x, positions, mask = random_attention_inputs(np.random.default_rng(1), batch=2, time=4, dim=8)
    mask[0, 2, :] = False
    mask[1, :, :] = False
    out = ops.convert_to_numpy(GroupedQueryAttention(4, 2, 4)(x, positions, mask))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0, 2], 0.0)
    np.testing.assert_array_equal(out[1], 0.0)
    assert np.all(np.abs(out[0, [0, 1, 3]]).sum(-1) > 0)


def test_no_biases():
    layer = GroupedQueryAttention(4, 2, 4)
    layer.build((None, 3, 8))
    assert [tuple(w.shape) for w in layer.weights] == [(8, 4, 4), (8, 2, 4), (8, 2, 4), (4, 4, 8)]


def test_layer_checks():
    rng = np.random.default_rng(2)
    run_layer_test(
        GroupedQueryAttention,
        {"num_query_heads": 4, "num_key_value_heads": 2, "key_size": 4, "attn_output_multiplier": 0.5,
         "logit_cap": 5.0, "name": "gqa"},
        random_attention_inputs(rng, batch=2, time=5, dim=8),
        expected_output_shape=(2, 5, 8),
        expected_num_trainable_weights=4,  # query, key, value and output projections
    )


def test_mixed_bfloat16_stays_close_to_the_reference():
    keras.utils.set_random_seed(0)
    x, positions, mask = random_attention_inputs(np.random.default_rng(3), batch=2, time=5, dim=8)
    mask[0, 1] = False
    layer = GroupedQueryAttention(4, 2, 4, logit_cap=3.0, dtype="mixed_bfloat16")
    out = layer(x, positions, mask)
    out = ops.convert_to_numpy(ops.cast(out, "float32"))
    np.testing.assert_array_equal(out[0, 1], 0.0)
    expected = reference_attention(layer, x, positions, mask)
    expected[0, 1] = 0.0
    np.testing.assert_allclose(out, expected, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((4, 3, 4), {}),
        ((4, 2, 5), {}),
        ((4, 0, 4), {}),
        ((4, 2, 4), {"logit_cap": 0.0}),
    ],
)
def test_bad_arguments(args, kwargs):
    with pytest.raises(ValueError, match="Received"):
        GroupedQueryAttention(*args, **kwargs)


def test_odd_key_size_without_rotary_is_allowed():
    layer = GroupedQueryAttention(2, 1, 3, use_rotary=False)
    out = layer(np.ones((1, 2, 4), "float32"), np.zeros((1, 2), "int32"), np.ones((1, 2, 2), bool))
    assert tuple(out.shape) == (1, 2, 4)
