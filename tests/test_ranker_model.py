"""The ranker as a whole: candidate isolation, padding, chunking, saving, one training step."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from ranker_inputs import ranker_inputs

from app.ranker.loss import WeightedActionCrossEntropy
from app.ranker.model import PhoenixRanker

REPO = Path(__file__).resolve().parents[1]
TINY = dict(emb_size=32, num_layers=2, num_query_heads=4, num_key_value_heads=2, key_size=8, visitor_buckets=97,
            item_buckets=211, category_buckets=31)
ATOL = 2e-5
REGULARISERS = dict(dropout_rate=0.3, embedding_dropout=0.2, embedding_l2=0.1)


def random_inputs(rng, batch=3, history=7, candidates=5, history_padding=2):
    """Model inputs with `history_padding` padded events at the front of every history."""
    history_item = rng.integers(1, 500, (batch, history))
    history_item[:, :history_padding] = 0
    candidate_item = rng.integers(1, 500, (batch, candidates))
    return ranker_inputs(rng, history_item, candidate_item, categories=40, max_age_hours=500)


def candidate_slice(inputs, index):
    """The inputs with the candidate axis indexed by `index` (a slice or an index array)."""
    sliced = dict(inputs)
    for name in ("candidate_item_id", "candidate_category_id"):
        sliced[name] = inputs[name][:, index]
    return sliced


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return PhoenixRanker(**TINY)


def logits(model, inputs):
    return np.asarray(model(inputs))


def test_output_shape_and_dtype(model):
    out = model(random_inputs(np.random.default_rng(0)))
    assert tuple(out.shape) == (3, 5, 3)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_changing_one_candidate_leaves_the_others_unchanged(model):
    rng = np.random.default_rng(1)
    inputs = random_inputs(rng)
    before = logits(model, inputs)
    changed = dict(inputs)
    changed["candidate_item_id"] = inputs["candidate_item_id"].copy()
    changed["candidate_category_id"] = inputs["candidate_category_id"].copy()
    changed["candidate_item_id"][:, 2] = 9_999
    changed["candidate_category_id"][:, 2] = 3
    after = logits(model, changed)
    others = [0, 1, 3, 4]
    np.testing.assert_allclose(after[:, others], before[:, others], atol=ATOL)
    assert not np.allclose(after[:, 2], before[:, 2], atol=1e-3), "the changed candidate must move"


def test_removing_one_candidate_leaves_the_others_unchanged(model):
    inputs = random_inputs(np.random.default_rng(2))
    before = logits(model, inputs)
    kept = [0, 1, 3, 4]
    after = logits(model, candidate_slice(inputs, kept))
    np.testing.assert_allclose(after, before[:, kept], atol=ATOL)


def test_permuting_candidates_permutes_logits(model):
    inputs = random_inputs(np.random.default_rng(3))
    order = np.array([4, 2, 0, 3, 1])
    np.testing.assert_allclose(
        logits(model, candidate_slice(inputs, order)), logits(model, inputs)[:, order], atol=ATOL
    )


@pytest.mark.slow
def test_100_candidates_at_once_equal_chunks_of_16(model):
    inputs = random_inputs(np.random.default_rng(4), batch=2, candidates=100)
    whole = logits(model, inputs)
    chunks = [
        logits(model, candidate_slice(inputs, slice(start, start + 16))) for start in range(0, 100, 16)
    ]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=ATOL)


def test_history_padding_changes_nothing(model):
    inputs = random_inputs(np.random.default_rng(5), history_padding=0)
    before = logits(model, inputs)
    padded = dict(inputs)
    for name in ("history_item_id", "history_category_id", "history_action", "history_age_hours"):
        pad = np.zeros((3, 4), dtype=inputs[name].dtype)
        padded[name] = np.concatenate([pad, inputs[name], pad[:, :2]], axis=1)  # front and back
    np.testing.assert_allclose(logits(model, padded), before, atol=ATOL)


def test_candidate_padding_changes_nothing(model):
    inputs = random_inputs(np.random.default_rng(6))
    before = logits(model, inputs)
    padded = dict(inputs)
    for name in ("candidate_item_id", "candidate_category_id"):
        padded[name] = np.concatenate([inputs[name], np.zeros((3, 3), "int32")], axis=1)
    after = logits(model, padded)
    np.testing.assert_allclose(after[:, :5], before, atol=ATOL)
    assert np.all(np.isfinite(after))


def test_empty_history_gives_finite_logits(model):
    inputs = random_inputs(np.random.default_rng(7), history_padding=7)
    assert np.all(np.isfinite(logits(model, inputs)))


def test_history_content_matters(model):
    inputs = random_inputs(np.random.default_rng(8))
    changed = dict(inputs)
    changed["history_item_id"] = np.where(inputs["history_item_id"] > 0, inputs["history_item_id"] + 1, 0)
    assert not np.allclose(logits(model, changed), logits(model, inputs), atol=1e-4)


def test_regularisers_act_in_training_only(model):
    regularised = PhoenixRanker(**TINY, **REGULARISERS)
    regularised.set_weights(model.get_weights())
    inputs = random_inputs(np.random.default_rng(12))
    np.testing.assert_array_equal(logits(regularised, inputs), logits(model, inputs))
    assert regularised.losses == []
    trained = np.asarray(regularised(inputs, training=True))
    assert not np.allclose(trained, logits(model, inputs), atol=1e-3)


def sgd_step(inputs, labels, **options):
    """The weights of a tiny ranker after one jitted SGD step from seeded weights, by name."""
    keras.utils.set_random_seed(2)
    model = PhoenixRanker(**TINY, **options)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=WeightedActionCrossEntropy(), jit_compile=True)
    before = {weight.path: keras.ops.convert_to_numpy(weight) for weight in model.weights}
    model.fit(inputs, labels, batch_size=len(labels), epochs=1, verbose=0)
    return before, {weight.path: keras.ops.convert_to_numpy(weight) for weight in model.weights}


@pytest.mark.slow
def test_the_rows_penalty_pulls_only_the_looked_up_rows_towards_zero_in_a_training_step():
    rng = np.random.default_rng(13)
    inputs = random_inputs(rng, batch=8)
    labels = (rng.random((8, 5, 3)) < 0.3).astype("float32")
    before, plain = sgd_step(inputs, labels)
    _, penalised = sgd_step(inputs, labels, embedding_l2=0.25)
    buckets = np.asarray(
        PhoenixRanker(**TINY).get_layer("visitor_embedding").hash_buckets(inputs["visitor_id"])
    )  # [8, num_hashes]
    for path, weight in before.items():
        if "_embedding/table_" not in path:
            np.testing.assert_array_equal(penalised[path], plain[path], err_msg=path)
        elif path.startswith("visitor_embedding/table_"):
            # The penalty's gradient is 2 * 0.25 * hits * row / 8 (8 real visitor ids); SGD's rate is 0.5.
            table = int(path.split("/")[1].removeprefix("table_"))
            hits = np.bincount(buckets[:, table], minlength=len(weight))[:, None]  # [rows, 1]
            expected = plain[path] - 0.5 * 2 * 0.25 * hits * weight / 8
            np.testing.assert_allclose(penalised[path], expected, rtol=1e-5, atol=1e-7)
            np.testing.assert_array_equal(penalised[path][hits[:, 0] == 0], before[path][hits[:, 0] == 0])


def fitted(**options):
    """Weights and losses of two seeded, jitted epochs of a tiny ranker with `options`."""
    keras.utils.set_random_seed(3)
    model = PhoenixRanker(**TINY, **options)
    model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=WeightedActionCrossEntropy(), jit_compile=True)
    rng = np.random.default_rng(14)
    inputs = random_inputs(rng, batch=8)
    labels = (rng.random((8, 5, 3)) < 0.3).astype("float32")
    losses = model.fit(inputs, labels, batch_size=8, epochs=2, verbose=0).history["loss"]
    return model.get_weights(), losses


@pytest.mark.slow
def test_a_seeded_regularised_fit_reproduces():
    weights, losses = fitted(**REGULARISERS)
    again_weights, again_losses = fitted(**REGULARISERS)
    assert losses == again_losses
    for weight, again in zip(weights, again_weights):
        np.testing.assert_array_equal(weight, again)


def test_category_match_features_reach_the_candidates_and_keep_them_isolated():
    keras.utils.set_random_seed(0)
    matched = PhoenixRanker(**TINY, use_category_match=True)
    assert matched.get_layer("candidate_category_match").output.shape[-1] == 7
    inputs = random_inputs(np.random.default_rng(16))
    before = logits(matched, inputs)
    # Give candidate 1 of every list the category of that list's last history event: only its logits move.
    changed = dict(inputs, candidate_category_id=inputs["candidate_category_id"].copy())
    changed["candidate_category_id"][:, 1] = inputs["history_category_id"][:, -1]
    after = logits(matched, changed)
    np.testing.assert_allclose(after[:, [0, 2, 3, 4]], before[:, [0, 2, 3, 4]], atol=ATOL)
    assert not np.allclose(after[:, 1], before[:, 1], atol=1e-4)
    order = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(logits(matched, candidate_slice(changed, order)), after[:, order], atol=ATOL)


def test_without_visitor_embedding_the_visitor_changes_nothing(model):
    keras.utils.set_random_seed(0)
    anonymous = PhoenixRanker(**TINY, use_visitor_embedding=False)
    assert "visitor_embedding" not in {layer.name for layer in anonymous.layers}
    assert len(anonymous.weights) == len(model.weights) - 3  # two hash tables and their projection
    inputs = random_inputs(np.random.default_rng(15))
    other_visitors = dict(inputs, visitor_id=inputs["visitor_id"] + 1)
    np.testing.assert_array_equal(logits(anonymous, other_visitors), logits(anonymous, inputs))
    assert np.all(np.isfinite(logits(anonymous, inputs)))


@pytest.mark.parametrize(
    "options",
    [{}, dict(REGULARISERS, use_visitor_embedding=False, use_category_match=True)],
    ids=["defaults", "every_option"],
)
@pytest.mark.slow
def test_saved_model_loads_in_a_fresh_process(model, tmp_path, options):
    if options:
        keras.utils.set_random_seed(0)
        model = PhoenixRanker(**TINY, **options)
    inputs = random_inputs(np.random.default_rng(9))
    path = tmp_path / "ranker.keras"
    model.save(path)
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = (
        "import sys, numpy as np, keras, app.ranker.model\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        f"inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))\n"
        f"np.save({str(tmp_path / 'loaded.npy')!r}, np.asarray(model(inputs)))\n"
        "import json\n"
        "print(json.dumps(model.get_config()))\n"
        "print(type(model).__name__)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("PhoenixRanker")
    assert json.loads(result.stdout.strip().splitlines()[-2]) == json.loads(json.dumps(model.get_config()))
    np.testing.assert_array_equal(np.load(tmp_path / "loaded.npy"), logits(model, inputs))


def test_dtype_policy_is_saved_with_the_model(tmp_path):
    model = PhoenixRanker(**TINY, dtype="mixed_bfloat16")
    path = tmp_path / "bf16.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_layer("decoder_stack").compute_dtype == "bfloat16"
    assert loaded.get_layer("action_logits").compute_dtype == "float32"


def test_config_round_trip(model):
    config = model.get_config()
    json.dumps(config)
    rebuilt = PhoenixRanker.from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(model.get_weights())
    inputs = random_inputs(np.random.default_rng(11))
    np.testing.assert_array_equal(logits(rebuilt, inputs), logits(model, inputs))


def _fit_lowers_loss(dtype=None):
    keras.utils.set_random_seed(1)
    model = PhoenixRanker(**TINY, dtype=dtype)
    model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=WeightedActionCrossEntropy(), jit_compile=True)
    rng = np.random.default_rng(10)
    inputs = random_inputs(rng, batch=8)
    labels = (rng.random((8, 5, 3)) < 0.3).astype("float32")
    mask = np.ones((8, 5), "float32")
    mask[:, -1] = 0
    before = model.evaluate(inputs, labels, sample_weight=mask, verbose=0)
    model.fit(inputs, labels, sample_weight=mask, epochs=3, batch_size=8, verbose=0)
    after = model.evaluate(inputs, labels, sample_weight=mask, verbose=0)
    out = model(inputs)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.isfinite(after) and after < before, (before, after)


@pytest.mark.slow
def test_one_jitted_fit_lowers_the_loss():
    _fit_lowers_loss()


@pytest.mark.slow
def test_fit_under_mixed_bfloat16_keeps_logits_and_loss_float32():
    _fit_lowers_loss("mixed_bfloat16")
    model = PhoenixRanker(**TINY, dtype="mixed_bfloat16")
    assert keras.mixed_precision.dtype_policy().name == "float32"  # nothing global was touched
    for layer in model.layers:
        expected = "float32" if layer.name == "action_logits" or isinstance(layer, keras.layers.InputLayer) else "bfloat16"
        assert layer.compute_dtype == expected, layer.name
    assert model.get_layer("decoder_stack").compute_dtype == "bfloat16"
    loss = WeightedActionCrossEntropy()(
        np.ones((2, 3, 3), "float32"), keras.ops.zeros((2, 3, 3), dtype="bfloat16")
    )
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
