"""The plain-JAX reference against the Keras `PhoenixRanker`, on randomly drawn small configs."""

import functools
import types

import jax.numpy as jnp
import keras
import numpy as np
import pytest

from app.bench import random_batch
from app.config.presets import PRESETS
from app.ranker import jax_reference
from app.ranker.loss import WeightedActionCrossEntropy
from app.ranker.model import PhoenixRanker

HEAD_PAIRS = ((1, 1), (2, 1), (2, 2), (4, 1), (4, 2))


@functools.lru_cache(maxsize=None)
def random_ranker(seed):
    """A small `PhoenixRanker` with a random architecture, and its config as a namespace."""
    rng = np.random.default_rng(seed)
    heads, kv_heads = HEAD_PAIRS[rng.integers(len(HEAD_PAIRS))]
    kwargs = {
        "emb_size": int(rng.choice([16, 32])),
        "num_layers": int(rng.integers(1, 3)),
        "num_query_heads": heads,
        "num_key_value_heads": kv_heads,
        "key_size": int(rng.choice([8, 16])),
        "widening_factor": float(rng.choice([1.0, 2.0])),
        "num_hashes": int(rng.integers(1, 3)),
        "visitor_buckets": 97,
        "item_buckets": 211,
        "category_buckets": 31,
        "num_age_buckets": int(rng.choice([8, 32])),
        "logit_cap": float(rng.choice([0.5, 30.0])),
        "use_history_match": bool(seed % 2 == 0),
        "use_category_match": seed in (1, 2),
        "num_candidate_features": 5 if seed == 3 else 0,
    }
    keras.utils.set_random_seed(seed)
    model = PhoenixRanker(**kwargs)
    return model, types.SimpleNamespace(**model.get_config())


@pytest.mark.parametrize("seed", range(4))
def test_logits_match_keras(seed):
    model, config = random_ranker(seed)
    rng = np.random.default_rng(100 + seed)
    batch, history, candidates = (int(n) for n in rng.integers([1, 1, 1], [5, 12, 7]))
    features, _, _ = random_batch(batch, history, candidates, seed=seed,
                                  num_candidate_features=config.num_candidate_features)
    # Re-interactions: the first candidate is the latest history item (where there is one).
    latest = features["history_item_id"][:, -1]  # [B]
    features["candidate_item_id"][:, 0] = np.where(latest > 0, latest, features["candidate_item_id"][:, 0])
    # Category matches: the last candidate takes the category of the latest history event.
    features["candidate_category_id"][:, -1] = features["history_category_id"][:, -1]
    expected = np.asarray(model.predict_on_batch(features))  # [B, C, 3]
    params = jax_reference.params_from_keras(model)
    actual = np.asarray(jax_reference.jit_forward(config)(params, features))  # [B, C, 3]
    assert actual.shape == (batch, candidates, 3)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-4)


def test_hash_buckets_match_keras():
    model, config = random_ranker(0)
    ids = np.array([[0, -5, 1, 461686, 2**31 - 1, 5411]], np.int32)
    layer = model.get_layer("item_embedding")
    expected = np.asarray(layer.hash_buckets(ids))
    actual = np.asarray(
        jax_reference.hash_buckets(ids, config.item_buckets, 2, config.num_hashes)
    )
    np.testing.assert_array_equal(actual, expected)


def test_loss_matches_keras_loss_with_mask_as_sample_weight():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, (4, 6, 3)).astype(np.float32)
    _, labels, mask = random_batch(4, 5, 6, seed=3)
    weights = PRESETS["default"].ranker.action_weights
    expected = WeightedActionCrossEntropy(action_weights=weights)(
        labels, logits, sample_weight=mask
    )
    actual = jax_reference.weighted_loss(logits, labels, mask, weights)
    np.testing.assert_allclose(float(actual), float(expected), rtol=1e-5)


def test_train_step_lowers_the_loss():
    model, model_config = random_ranker(0)
    config = types.SimpleNamespace(
        **vars(model_config), learning_rate=3e-3, weight_decay=0.01, action_weights=(10.0, 3.0, 1.0)
    )
    params = jax_reference.params_from_keras(model)
    opt_state = jax_reference.optimizer(config).init(params)
    step = jax_reference.make_train_step(config)
    batch = random_batch(8, 6, 4, seed=0)
    losses = []
    for _ in range(5):
        params, opt_state, loss = step(params, opt_state, *batch)
        losses.append(float(loss))
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_bfloat16_forward_stays_close():
    model, config = random_ranker(0)
    model = PhoenixRanker.from_config({**model.get_config(), "dtype": "mixed_bfloat16"})
    features, _, _ = random_batch(2, 8, 4, seed=1)
    expected = np.asarray(model.predict_on_batch(features), np.float32)
    params = jax_reference.params_from_keras(model)
    actual = np.asarray(jax_reference.jit_forward(config, jnp.bfloat16)(params, features))
    np.testing.assert_allclose(actual, expected, atol=0.05, rtol=0.05)
