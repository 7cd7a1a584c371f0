import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import DecoderBlock, ffn_width

pytestmark = pytest.mark.layers

BATCH, TIME, DIM = 4, 5, 16


def block_inputs(rng, batch=BATCH):
    h = rng.normal(size=(batch, TIME, DIM)).astype("float32")
    positions = np.tile(np.arange(TIME, dtype="int32"), (batch, 1))
    mask = np.tril(np.ones((TIME, TIME), bool))[None].repeat(batch, axis=0)
    return [h, positions, mask]


def block_model(layer):
    h_in = keras.Input((TIME, DIM))
    positions_in = keras.Input((TIME,), dtype="int32")
    mask_in = keras.Input((TIME, TIME), dtype="bool")
    outputs = layer(h_in, positions_in, mask_in)
    return keras.Model([h_in, positions_in, mask_in], outputs)


def fit_lowers_loss(layer):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = block_model(layer)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    inputs = block_inputs(rng)
    target = rng.normal(size=(BATCH, TIME, DIM)).astype("float32")
    history = model.fit(inputs, target, batch_size=BATCH, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_ffn_width():
    assert ffn_width(128, 2.0) == 176
    assert ffn_width(16, 2.0) == 24
    assert ffn_width(96, 4.0) == 256


def test_matches_formula():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    h, positions, mask = block_inputs(rng)
    layer = DecoderBlock(4, 2, 4)
    out = ops.convert_to_numpy(layer(h, positions, mask))
    norm_1, norm_2, norm_3, norm_4 = layer.norms
    attended = layer.attention(norm_1(h), positions, mask)
    h1 = h + ops.convert_to_numpy(norm_2(attended))
    x = ops.convert_to_numpy(norm_3(h1))
    w1, v, w2 = (
        ops.convert_to_numpy(d.kernel)
        for d in (layer.gate_dense, layer.linear_dense, layer.output_dense)
    )
    gated = ops.convert_to_numpy(ops.gelu(x @ w1)) * (x @ v)
    expected = h1 + ops.convert_to_numpy(norm_4(gated @ w2))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert w1.shape == (DIM, ffn_width(DIM, 2.0))
    assert not any("bias" in w.path for w in layer.weights)
    assert len(layer.weights) == 11  # 4 norm scales, 4 attention and 3 ffn kernels


def test_dropout_on_both_sub_block_outputs_in_training_only():
    keras.utils.set_random_seed(0)
    h, positions, mask = block_inputs(np.random.default_rng(3))
    plain = DecoderBlock(4, 2, 4)
    dropped = DecoderBlock(4, 2, 4, dropout_rate=0.3, seed=11)
    expected = ops.convert_to_numpy(plain(h, positions, mask))
    dropped(h, positions, mask)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(ops.convert_to_numpy(dropped(h, positions, mask)), expected)
    np.testing.assert_array_equal(ops.convert_to_numpy(dropped(h, positions, mask, training=False)), expected)

    # The formula of `test_matches_formula` with a dropout after norm_2 and after norm_4, drawn from a
    # generator with the layer's seed (so the same masks, in the same order).
    trained = ops.convert_to_numpy(dropped(h, positions, mask, training=True))
    seed = keras.random.SeedGenerator(11)
    norm_1, norm_2, norm_3, norm_4 = plain.norms
    attended = plain.attention(norm_1(h), positions, mask)
    h1 = h + keras.random.dropout(norm_2(attended), 0.3, seed=seed)
    x = norm_3(h1)
    gated = ops.gelu(plain.gate_dense(x)) * plain.linear_dense(x)
    reference = h1 + keras.random.dropout(norm_4(plain.output_dense(gated)), 0.3, seed=seed)
    np.testing.assert_allclose(trained, ops.convert_to_numpy(reference), rtol=1e-5, atol=1e-5)
    assert not np.allclose(trained, expected, atol=1e-3)


def test_layer_checks():
    run_layer_test(
        DecoderBlock,
        {"num_query_heads": 4, "num_key_value_heads": 2, "key_size": 4, "widening_factor": 3.0,
         "logit_cap": None, "name": "block"},
        tuple(block_inputs(np.random.default_rng(2))),
        expected_output_shape=(BATCH, TIME, DIM),
        expected_num_trainable_weights=11,  # 4 norms, 4 attention projections, 3 feed-forward matrices
    )


def test_layer_checks_with_dropout():
    run_layer_test(
        DecoderBlock,
        {"num_query_heads": 4, "num_key_value_heads": 2, "key_size": 4, "dropout_rate": 0.2, "seed": 3},
        tuple(block_inputs(np.random.default_rng(2))),
        expected_output_shape=(BATCH, TIME, DIM),
        expected_num_trainable_weights=11,
    )


def test_fit_lowers_loss():
    fit_lowers_loss(DecoderBlock(4, 2, 4))


def test_mixed_bfloat16_fit_lowers_loss():
    fit_lowers_loss(DecoderBlock(4, 2, 4, dtype="mixed_bfloat16"))


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((4, 3, 4), {}),
        ((4, 2, 3), {}),
        ((4, 2, 4), {"widening_factor": 0.0}),
        ((4, 2, 4), {"dropout_rate": 1.0}),
        ((4, 2, 4), {"dropout_rate": -0.1}),
    ],
)
def test_bad_arguments(args, kwargs):
    with pytest.raises(ValueError, match="Received"):
        DecoderBlock(*args, **kwargs)
