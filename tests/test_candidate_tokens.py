"""CandidateTokens: the last C tokens, for any C."""

import numpy as np
import pytest
from layer_checks import run_layer_test

from layers import CandidateTokens

pytestmark = pytest.mark.layers


@pytest.mark.parametrize("num_candidates", [1, 4, 9])
def test_takes_the_last_candidate_tokens(num_candidates):
    tokens = np.random.default_rng(0).normal(size=(2, 1 + 5 + num_candidates, 3)).astype("float32")
    candidate_ids = np.ones((2, num_candidates), "int32")
    out = np.asarray(CandidateTokens()(tokens, candidate_ids))
    np.testing.assert_array_equal(out, tokens[:, -num_candidates:])
    assert CandidateTokens().compute_output_shape((2, None, 3), (2, num_candidates)) == (2, num_candidates, 3)


def test_layer_checks():
    tokens = np.random.default_rng(1).normal(size=(2, 9, 4)).astype("float32")
    run_layer_test(
        CandidateTokens, {"name": "candidates"}, (tokens, np.ones((2, 3), "int32")), expected_output_shape=(2, 3, 4)
    )
