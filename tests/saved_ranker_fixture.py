"""The fixed ranker behind `tests/data/ranker_0_1_0.keras`: its config, weights generator and inputs.

The `.keras` file was saved by the project's code as of version 0.1.0 (commit b73f12f), before the code-health
refactor; `tests/test_ranker_saved_file_compatibility.py` checks that today's code still loads it and scores exactly as
a model built now from the same config and weights.
"""

import numpy as np
from ranker_inputs import ranker_inputs

CONFIG = dict(emb_size=16, num_layers=2, num_query_heads=2, num_key_value_heads=1, key_size=8, num_hashes=2,
              visitor_buckets=53, item_buckets=101, category_buckets=17, num_age_buckets=8)
WEIGHTS_SEED = 20260101
INPUTS_SEED = 7


def fixture_weights(shapes):
    """Deterministic weights for a list of shapes (the model's `get_weights()` order)."""
    rng = np.random.default_rng(WEIGHTS_SEED)
    return [(0.2 * rng.standard_normal(shape)).astype(np.float32) for shape in shapes]


def fixture_inputs(batch=4, history=6, candidates=5):
    """Fixed model inputs with padding at the front of the history and at the end of the candidates."""
    rng = np.random.default_rng(INPUTS_SEED)
    history_item = rng.integers(1, 3_000, (batch, history))
    history_item[0, :2] = 0
    history_item[1, :] = 0
    candidate_item = rng.integers(1, 3_000, (batch, candidates))
    candidate_item[2, 3:] = 0
    candidate_item[3, 0] = history_item[3, -1]
    return ranker_inputs(rng, history_item, candidate_item, categories=900, max_age_hours=2_000, visitors=100_000,
                         pad_candidate_categories=True)
