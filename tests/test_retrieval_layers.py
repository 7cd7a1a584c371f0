"""The retrieval layers: last valid token, accidental-hit masking, the sampled-softmax logits and loss,
and what keras-rs 0.4.0 does instead."""

import keras
import keras_rs
import numpy as np
import pytest
from keras import ops

from layers import LastValidToken, MaskAccidentalHits, SampledSoftmaxLogits
from layers.masked_logit import MASKED_LOGIT

pytestmark = pytest.mark.layers


def numpy_sampled_softmax_loss(query, candidates, candidate_ids, probability, temperature):
    """Mean over rows of `-log softmax` of the label (row b: column b), by plain numpy in float64.

    Logits are `query . candidate / temperature - log(probability)`; a column whose id is row b's positive
    id, other than column b, is left out of row b's softmax.
    """
    losses = []
    for row, user in enumerate(query.astype(np.float64)):
        logits = candidates.astype(np.float64) @ user / temperature - np.log(probability.astype(np.float64))
        kept = [col for col in range(len(candidate_ids)) if col == row or candidate_ids[col] != candidate_ids[row]]
        losses.append(np.log(np.sum(np.exp(logits[kept]))) - logits[row])
    return float(np.mean(losses))


@pytest.fixture
def sampled_batch():
    """Three rows, two of which share a positive (item 7), and four shared negatives, one of them item 7."""
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 4)).astype("float32")
    candidates = rng.normal(size=(7, 4)).astype("float32")
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    return {
        "query": query / np.linalg.norm(query, axis=1, keepdims=True),
        "positives": candidates[:3],
        "negatives": candidates[3:],
        "positive_ids": np.array([7, 5, 7], "int32"),
        "negative_ids": np.array([9, 7, 11, 5], "int32"),
        "positive_probability": np.array([0.2, 0.05, 0.2], "float32"),
        "negative_probability": np.array([0.01, 0.2, 1e-7, 0.05], "float32"),
    }


def test_last_valid_token_takes_the_last_true_position():
    hidden = np.arange(24, dtype="float32").reshape(3, 4, 2)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(ops.convert_to_numpy(LastValidToken()(hidden, mask)), [[2, 3], [14, 15], [20, 21]])


def test_mask_accidental_hits_against_hand_written_masks():
    logits = np.arange(8, dtype="float32").reshape(2, 4)
    labels = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], "float32")
    ids = np.array([[7, 7, 3, 7], [4, 5, 5, 5]], "int32")  # row 1's positive id comes from row 1, not row 0
    expected = np.array([[0, MASKED_LOGIT, 2, MASKED_LOGIT], [4, MASKED_LOGIT, 6, MASKED_LOGIT]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(MaskAccidentalHits()(logits, labels, ids)), expected)
    shared = np.array([7, 5, 7, 5], "int32")
    expected = np.array([[0, 1, MASKED_LOGIT, 3], [4, MASKED_LOGIT, 6, 7]], "float32")
    labels = np.array([[1, 0, 0, 0], [0, 0, 0, 1]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(MaskAccidentalHits()(logits, labels, shared)), expected)


def test_a_masked_logit_leaves_the_softmax_and_gets_no_gradient():
    logits = np.array([[2.0, 30.0, 1.0]], "float32")
    masked = MaskAccidentalHits()(logits, np.array([[1.0, 0.0, 0.0]], "float32"), np.array([4, 4, 6], "int32"))
    probabilities = ops.convert_to_numpy(ops.softmax(masked, axis=-1))
    assert probabilities[0, 1] == 0.0
    np.testing.assert_allclose(probabilities[0, [0, 2]], np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum(), rtol=1e-6)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0]), masked)
    np.testing.assert_allclose(float(loss), np.log1p(np.exp(-1.0)), rtol=1e-6)


def test_keras_rs_remove_accidental_hits_changes_nothing():
    """keras-rs 0.4.0 adds ~1e-40 to accidental hits (flushed to 0 in float32): the hit stays in the softmax."""
    logits = np.array([[2.0, 30.0, 1.0], [0.0, 0.0, 5.0]], "float32")
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], "float32")
    ids = np.array([[4, 4, 6], [8, 9, 9]], "int32")
    keras_rs_output = ops.convert_to_numpy(keras_rs.layers.RemoveAccidentalHits()(logits, labels, ids))
    np.testing.assert_array_equal(keras_rs_output, logits)
    assert ops.convert_to_numpy(ops.softmax(keras_rs_output))[0, 1] > 0.99  # the accidental hit dominates
    ours = ops.convert_to_numpy(MaskAccidentalHits()(logits, labels, ids))
    assert ours[0, 1] == MASKED_LOGIT and ours[1, 1] == MASKED_LOGIT


def test_sampled_softmax_loss_matches_numpy(sampled_batch):
    layer = SampledSoftmaxLogits(temperature=0.1)
    logits = layer(**sampled_batch)
    assert tuple(logits.shape) == (3, 7)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(np.arange(3), logits)
    candidates = np.concatenate([sampled_batch["positives"], sampled_batch["negatives"]])
    ids = np.concatenate([sampled_batch["positive_ids"], sampled_batch["negative_ids"]])
    probability = np.concatenate([sampled_batch["positive_probability"], sampled_batch["negative_probability"]])
    expected = numpy_sampled_softmax_loss(sampled_batch["query"], candidates, ids, probability, 0.1)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    masked = ops.convert_to_numpy(logits) == MASKED_LOGIT
    np.testing.assert_array_equal(
        masked,
        [
            [False, False, True, False, True, False, False],
            [False, False, False, False, False, False, True],
            [True, False, False, False, True, False, False],
        ],
    )


def test_the_log_q_correction_changes_the_loss(sampled_batch):
    """Without the correction (all probabilities equal) the loss is the plain in-batch softmax, a different one."""
    flat = dict(
        sampled_batch,
        positive_probability=np.ones(3, "float32"),
        negative_probability=np.ones(4, "float32"),
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    corrected = float(loss(np.arange(3), SampledSoftmaxLogits(temperature=0.1)(**sampled_batch)))
    uncorrected = float(loss(np.arange(3), SampledSoftmaxLogits(temperature=0.1)(**flat)))
    candidates = np.concatenate([sampled_batch["positives"], sampled_batch["negatives"]])
    ids = np.concatenate([sampled_batch["positive_ids"], sampled_batch["negative_ids"]])
    expected = numpy_sampled_softmax_loss(sampled_batch["query"], candidates, ids, np.ones(7), 0.1)
    np.testing.assert_allclose(uncorrected, expected, rtol=1e-5)
    assert abs(corrected - uncorrected) > 0.1


def test_sampled_softmax_logits_config_and_refusals():
    layer = SampledSoftmaxLogits(temperature=0.05, epsilon=1e-9, name="logits")
    assert SampledSoftmaxLogits.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Received: temperature=0"):
        SampledSoftmaxLogits(temperature=0)
    with pytest.raises(ValueError, match="Received: epsilon=1"):
        SampledSoftmaxLogits(epsilon=1)


def test_layers_in_a_functional_model_round_trip(tmp_path):
    hidden = keras.Input((None, 4))
    mask = keras.Input((None,), dtype="bool")
    model = keras.Model([hidden, mask], LastValidToken(name="last")(hidden, mask))
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    m = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    model.save(tmp_path / "last.keras")
    reloaded = keras.saving.load_model(tmp_path / "last.keras")
    np.testing.assert_array_equal(ops.convert_to_numpy(reloaded([x, m])), ops.convert_to_numpy(model([x, m])))
