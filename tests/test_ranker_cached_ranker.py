"""`CachedRanker` against the full `PhoenixRanker`: same logits, one compile, a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from ranker_inputs import ranker_inputs

from app.ranker.cached_ranker import CachedRanker
from app.ranker.model import PhoenixRanker
from layers import CandidateIsolationMask, GroupedQueryAttention

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "emb_size": 16,
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 2,
    "key_size": 8,
    "visitor_buckets": 97,
    "item_buckets": 211,
    "category_buckets": 31,
}
ATOL = 1e-5
CHUNK = 64
HISTORY = 9


def random_inputs(rng, num_candidates, batch=3):
    """Ranker inputs with padding in the history (front, middle, all) and among the candidates.

    Items come from a small range so that candidates often match history events.
    """
    history_item = rng.integers(1, 40, (batch, HISTORY))
    history_item[0, :3] = 0  # front padding
    history_item[1, [2, 5, HISTORY - 1]] = 0  # middle and end padding
    history_item[2] = 0  # no history at all
    candidates = rng.integers(1, 40, (batch, num_candidates))
    candidates[rng.random((batch, num_candidates)) < 0.15] = 0
    candidates[1, -(num_candidates // 3) :] = 0  # trailing padding
    return ranker_inputs(rng, history_item, candidates, categories=20, max_age_hours=900)


def cached_logits(cached, inputs):
    cache = cached.encode(inputs)
    return cached.score(
        cache, inputs, inputs["candidate_item_id"], inputs["candidate_category_id"]
    )


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return PhoenixRanker(**TINY)


@pytest.fixture(scope="module")
def chunked(model):
    return CachedRanker(model, chunk_size=CHUNK)


@pytest.mark.layers
@pytest.mark.parametrize("num_candidates", [1, 7, 100, 1000])
@pytest.mark.parametrize("chunking", ["chunked", "unchunked"])
def test_matches_the_full_model(model, chunked, num_candidates, chunking):
    inputs = random_inputs(np.random.default_rng(num_candidates), num_candidates)
    full = model.predict_on_batch(inputs)  # [B, C, A]
    cached = chunked if chunking == "chunked" else CachedRanker(model, chunk_size=num_candidates)
    logits = cached_logits(cached, inputs)
    assert logits.shape == full.shape == (3, num_candidates, 3)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, full, rtol=0, atol=ATOL)


@pytest.mark.layers
def test_matches_a_ranker_with_candidate_features_and_no_visitor_embedding():
    keras.utils.set_random_seed(1)
    ranker = PhoenixRanker(**TINY, num_candidate_features=4, use_visitor_embedding=False)
    rng = np.random.default_rng(8)
    inputs = random_inputs(rng, 50)
    inputs["candidate_features"] = rng.normal(size=(3, 50, 4)).astype("float32")
    full = ranker.predict_on_batch(inputs)  # [B, C, A]
    cached = CachedRanker(ranker, chunk_size=16)
    logits = cached.score(cached.encode(inputs), inputs, inputs["candidate_item_id"],
                          inputs["candidate_category_id"], inputs["candidate_features"])
    np.testing.assert_allclose(logits, full, rtol=0, atol=ATOL)
    changed = dict(inputs, candidate_features=inputs["candidate_features"] + 1.0)
    assert not np.allclose(ranker.predict_on_batch(changed), full, atol=1e-3)  # the features are used
    with pytest.raises(ValueError, match="takes `candidate_features`"):
        cached.score(cached.encode(inputs), inputs, inputs["candidate_item_id"], inputs["candidate_category_id"])


@pytest.mark.layers
def test_scoring_compiles_once_for_any_number_of_candidates(model, monkeypatch):
    cached = CachedRanker(model, chunk_size=16)
    scorer_class = type(cached.candidate_scorer)
    original_call = scorer_class.call
    traces = []

    def counting_call(self, inputs):
        traces.append(1)  # runs when the step is traced, not when compiled code runs
        return original_call(self, inputs)

    monkeypatch.setattr(scorer_class, "call", counting_call)
    cached_logits(cached, random_inputs(np.random.default_rng(20), 5))
    after_first = len(traces)
    for num_candidates in (3, 16, 40, 77):
        cached_logits(cached, random_inputs(np.random.default_rng(num_candidates), num_candidates))
    assert after_first >= 1
    assert len(traces) == after_first, "the scoring step was traced again for a new candidate count"


@pytest.mark.layers
@pytest.mark.parametrize(
    "heads, logit_cap, use_rotary", [((3, 3), None, True), ((4, 1), 5.0, False)]
)
def test_attention_to_a_prefix_matches_the_isolation_mask(heads, logit_cap, use_rotary):
    """Tokens at one shared position over a cached prefix equal `call` with the candidate mask."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    batch, prefix, count, dim = 2, 6, 5, 12
    layer = GroupedQueryAttention(*heads, key_size=4, logit_cap=logit_cap, use_rotary=use_rotary)
    x = rng.normal(size=(batch, 1 + prefix + count, dim)).astype("float32")
    history_mask = rng.random((batch, prefix)) < 0.7
    candidate_mask = np.array([[True, True, False, True, True], [False, True, True, True, False]])
    prefix_positions = np.cumsum(rng.integers(1, 4, (batch, 1 + prefix)), axis=1).astype("int32")
    position = prefix_positions[:, -1:] + 3  # [B, 1]
    positions = np.concatenate([prefix_positions, np.repeat(position, count, axis=1)], axis=1)
    mask = CandidateIsolationMask()(history_mask, candidate_mask)  # [B, T, T]
    full = ops.convert_to_numpy(layer(x, positions, mask))[:, 1 + prefix :]  # [B, C, D]

    key, value = layer.keys_and_values(x[:, : 1 + prefix], prefix_positions - position)
    prefix_mask = np.concatenate([np.ones((batch, 1), bool), history_mask], axis=1)
    out = layer.attend_to_prefix(x[:, 1 + prefix :], key, value, prefix_mask, candidate_mask)
    np.testing.assert_allclose(ops.convert_to_numpy(out), full, rtol=0, atol=ATOL)
    assert np.all(ops.convert_to_numpy(out)[~candidate_mask] == 0)


def test_no_candidates_and_bad_inputs(model, chunked):
    inputs = random_inputs(np.random.default_rng(30), 4)
    cache = chunked.encode(inputs)
    empty = np.zeros((3, 0), "int32")
    assert chunked.score(cache, inputs, empty, empty).shape == (3, 0, 3)
    items, categories = inputs["candidate_item_id"], inputs["candidate_category_id"]
    expected = r"Received: candidate_item_id.shape=\(3, 4\), candidate_category_id.shape=\(3, 3\)"
    with pytest.raises(ValueError, match=expected):
        chunked.score(cache, inputs, items, categories[:, :3])
    with pytest.raises(ValueError, match="Received: candidate_item_id.shape=\\(12,\\)"):
        chunked.score(cache, inputs, items.reshape(-1), categories.reshape(-1))
    with pytest.raises(ValueError, match=r"`cache` must be `encode\(history_features\)` for these 3"):
        chunked.score({name: array[:1] for name, array in cache.items()}, inputs, items, categories)
    with pytest.raises(ValueError, match="lacks \\['history_action'\\]"):
        chunked.encode({name: array for name, array in inputs.items() if name != "history_action"})
    with pytest.raises(ValueError, match="Received: chunk_size=0"):
        CachedRanker(model, chunk_size=0)


@pytest.mark.slow
def test_saved_model_loaded_in_a_fresh_process_gives_the_full_logits(model, tmp_path):
    inputs = random_inputs(np.random.default_rng(40), 50)
    path = tmp_path / "ranker.keras"
    model.save(path)
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = (
        "import numpy as np, keras, app.ranker.model\n"
        "from app.ranker.cached_ranker import CachedRanker\n"
        f"cached = CachedRanker(keras.saving.load_model({str(path)!r}), chunk_size=16)\n"
        f"inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))\n"
        "cache = cached.encode(inputs)\n"
        "logits = cached.score(cache, inputs, inputs['candidate_item_id'], inputs['candidate_category_id'])\n"
        f"np.save({str(tmp_path / 'cached.npy')!r}, logits)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    full = model.predict_on_batch(inputs)
    np.testing.assert_allclose(np.load(tmp_path / "cached.npy"), full, rtol=0, atol=ATOL)
