"""CandidateHistoryMatch against hand-computed features."""

import math

import numpy as np
import pytest
from layer_checks import run_layer_test

from layers.candidate_history_match import CandidateHistoryMatch

pytestmark = pytest.mark.layers


def test_features_hand_computed():
    layer = CandidateHistoryMatch(max_age_hours=99.0)
    candidates = np.array([[7, 8, 9, 0]], "int32")  # 9 never seen, 0 is padding
    history = np.array([[0, 7, 8, 7, 7]], "int32")  # front padding
    actions = np.array([[0, 1, 1, 2, 1]], "int32")
    ages = np.array([[0.0, 99.0, 9.0, 3.0, 0.0]], "float32")
    out = np.asarray(layer(candidates, history, actions, ages))
    assert out.shape == (1, 4, 7)

    def recency(age):
        return 1 - math.log1p(age) / math.log1p(99.0)

    # item 7: two views (latest age 0), one addtocart (age 3), no transaction.
    expected_7 = [math.log1p(2), math.log1p(1), 0.0, recency(0.0), recency(3.0), 0.0, 1.0]
    expected_8 = [math.log1p(1), 0.0, 0.0, recency(9.0), 0.0, 0.0, 1.0]
    np.testing.assert_allclose(out[0, 0], expected_7, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], expected_8, atol=1e-6)
    np.testing.assert_array_equal(out[0, 2], np.zeros(7))
    np.testing.assert_array_equal(out[0, 3], np.zeros(7))


def test_each_candidate_only_sees_itself():
    rng = np.random.default_rng(0)
    layer = CandidateHistoryMatch()
    history = rng.integers(1, 20, (3, 12)).astype("int32")
    actions = rng.integers(1, 4, (3, 12)).astype("int32")
    ages = (rng.random((3, 12)) * 1000).astype("float32")
    candidates = rng.integers(1, 20, (3, 6)).astype("int32")
    whole = np.asarray(layer(candidates, history, actions, ages))
    single = np.asarray(layer(candidates[:, 2:3], history, actions, ages))
    np.testing.assert_allclose(single[:, 0], whole[:, 2], atol=1e-6)


def test_layer_checks():
    rng = np.random.default_rng(2)
    history = rng.integers(0, 9, (2, 6)).astype("int32")
    run_layer_test(
        CandidateHistoryMatch,
        {"max_age_hours": 10.0, "name": "match"},
        (
            rng.integers(0, 9, (2, 4)).astype("int32"),
            history,
            np.where(history > 0, rng.integers(1, 4, (2, 6)), 0).astype("int32"),
            (rng.random((2, 6)) * 20).astype("float32"),
        ),
        expected_output_shape=(2, 4, CandidateHistoryMatch.num_features),
        mixed_precision_output_dtype="float32",
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received"):
        CandidateHistoryMatch(max_age_hours=0)
