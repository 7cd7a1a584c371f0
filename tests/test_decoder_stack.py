import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import run_layer_test

from layers import CandidateIsolationMask, DecoderBlock, DecoderStack, SequencePositions

pytestmark = pytest.mark.layers

BATCH, TIME, DIM = 4, 5, 16


def stack_model(layer):
    h_in = keras.Input((TIME, DIM))
    positions_in = keras.Input((TIME,), dtype="int32")
    mask_in = keras.Input((TIME, TIME), dtype="bool")
    return keras.Model([h_in, positions_in, mask_in], layer(h_in, positions_in, mask_in))


def stack_inputs(rng, batch):
    h = rng.normal(size=(batch, TIME, DIM)).astype("float32")
    positions = np.tile(np.arange(TIME, dtype="int32"), (batch, 1))
    mask = np.tril(np.ones((TIME, TIME), bool))[None].repeat(batch, axis=0)
    return [h, positions, mask]


def run_over_tokens(stack, customer, history, history_mask, candidates, candidate_mask):
    """Runs the stack over `[customer, history, candidates]` with the model's mask."""
    h = np.concatenate([customer, history, candidates], axis=1)
    positions = SequencePositions()(history_mask, candidate_mask)
    mask = CandidateIsolationMask()(history_mask, candidate_mask)
    return ops.convert_to_numpy(stack(h, positions, mask))


def test_blocks_in_sequence():
    keras.utils.set_random_seed(0)
    h, positions, mask = stack_inputs(np.random.default_rng(0), BATCH)
    stack = DecoderStack(3, 4, 2, 4)
    out = ops.convert_to_numpy(stack(h, positions, mask))
    expected = h
    for block in stack.blocks:
        expected = block(expected, positions, mask)
    np.testing.assert_allclose(out, ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5)
    assert [block.name for block in stack.blocks] == ["block_0", "block_1", "block_2"]


def test_candidates_are_isolated_and_padding_is_invisible():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    stack = DecoderStack(2, 4, 2, 4)
    customer = rng.normal(size=(1, 1, DIM)).astype("float32")
    events = rng.normal(size=(1, 3, DIM)).astype("float32")
    noise = rng.normal(size=(1, 2, DIM)).astype("float32")
    candidates = rng.normal(size=(1, 3, DIM)).astype("float32")
    all_candidates = np.ones((1, 3), bool)
    # Tokens: customer, 2 padding events then 3 real ones, 3 candidates (T = 9).
    history = np.concatenate([noise, events], axis=1)
    front_padded = np.array([[False, False, True, True, True]])
    out = run_over_tokens(stack, customer, history, front_padded, candidates, all_candidates)
    valid = [0, 3, 4, 5, 6, 7, 8]

    # Swapping two candidates swaps their outputs and moves nothing else.
    order = [2, 1, 0]
    swapped = run_over_tokens(
        stack, customer, history, front_padded, candidates[:, order], all_candidates
    )
    np.testing.assert_allclose(swapped[:, :6], out[:, :6], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(swapped[:, 6:], out[:, 6:][:, order], rtol=1e-5, atol=1e-5)

    # A candidate's output does not depend on the other candidates.
    others = rng.normal(size=(1, 2, DIM)).astype("float32")
    alone = run_over_tokens(
        stack,
        customer,
        history,
        front_padded,
        np.concatenate([candidates[:, :1], others], axis=1),
        np.array([[True, False, False]]),
    )
    np.testing.assert_allclose(alone[:, 6], out[:, 6], rtol=1e-5, atol=1e-5)

    # Moving the padding inside the history moves no valid token's output.
    mixed = np.concatenate([noise[:, :1], events[:, :2], noise[:, 1:], events[:, 2:]], axis=1)
    middle_padded = np.array([[False, True, True, False, True]])
    moved = run_over_tokens(stack, customer, mixed, middle_padded, candidates, all_candidates)
    np.testing.assert_allclose(
        moved[:, [0, 2, 3, 5, 6, 7, 8]], out[:, valid], rtol=1e-4, atol=1e-4
    )


def test_layer_checks():
    run_layer_test(
        DecoderStack,
        {"num_layers": 2, "num_query_heads": 4, "num_key_value_heads": 2, "key_size": 4, "widening_factor": 1.5,
         "attn_output_multiplier": 0.3, "name": "stack"},
        tuple(stack_inputs(np.random.default_rng(2), BATCH)),
        expected_output_shape=(BATCH, TIME, DIM),
        expected_num_trainable_weights=22,  # two blocks of 11
    )


def test_dropout_reaches_every_block_with_its_own_seed():
    keras.utils.set_random_seed(0)
    h, positions, mask = stack_inputs(np.random.default_rng(4), BATCH)
    stack = DecoderStack(2, 4, 2, 4, dropout_rate=0.2, seed=7)
    inference = ops.convert_to_numpy(stack(h, positions, mask))
    assert [(block.dropout_rate, block.seed) for block in stack.blocks] == [(0.2, 7), (0.2, 8)]
    assert stack.get_config()["dropout_rate"] == 0.2 and stack.get_config()["seed"] == 7
    trained = ops.convert_to_numpy(stack(h, positions, mask, training=True))
    assert not np.allclose(trained, inference, atol=1e-3)
    h_in = h
    for index, block in enumerate(stack.blocks):
        twin = DecoderBlock(4, 2, 4, dropout_rate=0.2, seed=7 + index)
        twin(h_in, positions, mask)
        twin.set_weights(block.get_weights())
        h_in = twin(h_in, positions, mask, training=True)
    np.testing.assert_allclose(trained, ops.convert_to_numpy(h_in), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_fit_lowers_loss(dtype):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    layer = DecoderStack(2, 4, 2, 4, dtype=dtype)
    model = stack_model(layer)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    inputs = stack_inputs(rng, BATCH)
    target = rng.normal(size=(BATCH, TIME, DIM)).astype("float32")
    losses = model.fit(inputs, target, batch_size=BATCH, epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    expected_dtype = "bfloat16" if dtype == "mixed_bfloat16" else "float32"
    assert keras.backend.standardize_dtype(model(inputs).dtype) == expected_dtype


@pytest.mark.parametrize(
    "args",
    [(0, 4, 2, 4), (2, 4, 3, 4), (2, 4, 2, 3)],
)
def test_bad_arguments(args):
    with pytest.raises(ValueError, match="Received"):
        DecoderStack(*args)


def test_bad_dropout_rate_is_refused_before_build():
    with pytest.raises(ValueError, match="Received: dropout_rate=1.5"):
        DecoderStack(2, 4, 2, 4, dropout_rate=1.5)
