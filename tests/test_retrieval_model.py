"""The two-tower retrieval model: unit embeddings, a causal user tower, `.keras` round trips, brute-force top-K."""

import subprocess
import sys
from pathlib import Path

import keras
import keras_rs
import numpy as np
import pytest
from keras import ops

from app.config.presets import PRESETS
from app.retrieval.model import RetrievalModel

REPO = Path(__file__).resolve().parents[1]


def outputs_in_a_fresh_process(folder, body):
    """Runs `body` in a new Python process that imported our package and loaded `folder/retrieval.keras` as
    `model` and `folder/inputs.npz` as `inputs`; returns the `folder/outputs.npz` it saved."""
    script = (
        "import os, sys; os.environ['KERAS_BACKEND'] = 'jax'; sys.path.insert(0, sys.argv[1])\n"
        "import numpy as np, keras\n"
        "import app.retrieval.model\n"
        "model = keras.saving.load_model(sys.argv[2] + '/retrieval.keras')\n"
        "inputs = dict(np.load(sys.argv[2] + '/inputs.npz'))\n" + body
    )
    subprocess.run([sys.executable, "-c", script, str(REPO), str(folder)], check=True, timeout=300)
    return np.load(folder / "outputs.npz")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return RetrievalModel(**PRESETS["smoke"].retrieval.model_kwargs())


def history_features(seed=0, batch=4, length=6, padding=(0, 2, 5, 6)):
    """Front-padded random histories; row `b` has `padding[b]` padded slots."""
    rng = np.random.default_rng(seed)
    valid = np.arange(length)[None, :] >= np.asarray(padding)[:, None]  # [B, S]
    features = {
        "visitor_id": rng.integers(1, 10_000, batch).astype("int32"),
        "history_item_id": np.where(valid, rng.integers(1, 500_000, (batch, length)), 0).astype("int32"),
        "history_category_id": np.where(valid, rng.integers(1, 1_500, (batch, length)), 0).astype("int32"),
        "history_action": np.where(valid, rng.integers(1, 4, (batch, length)), 0).astype("int32"),
        "history_age_hours": np.where(valid, rng.random((batch, length)) * 2_000, 0).astype("float32"),
    }
    return features


def test_embeddings_have_unit_norm(model):
    users = model.user_embeddings(history_features())
    items = model.item_embeddings(np.arange(1, 40), np.arange(40, 1, -1))
    assert users.shape == (4, model.emb_size) and items.shape == (39, model.emb_size)
    np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, rtol=1e-5)


def test_score_is_the_dot_product_over_the_temperature(model):
    features = history_features()
    items = {"item_id": np.array([3, 5, 7, 9], "int32"), "category_id": np.array([1, 1, 2, 2], "int32")}
    scores = ops.convert_to_numpy(model({**features, **items}))
    users = model.user_embeddings(features)
    item_embeddings = model.item_embeddings(items["item_id"], items["category_id"])
    expected = np.sum(users * item_embeddings, axis=1) / model.temperature
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_padding_is_ignored(model):
    """Whatever the padded slots hold besides item id 0, and however many there are, the embedding is the same."""
    features = history_features()
    noisy = {name: value.copy() for name, value in features.items()}
    padded = features["history_item_id"] == 0
    noisy["history_category_id"][padded] = 77
    noisy["history_action"][padded] = 3
    noisy["history_age_hours"][padded] = 5.0
    wider = {name: value if value.ndim == 1 else np.pad(value, ((0, 0), (3, 0))) for name, value in features.items()}
    reference = model.user_embeddings(features)
    np.testing.assert_allclose(model.user_embeddings(noisy), reference, atol=1e-6)
    np.testing.assert_allclose(model.user_embeddings(wider), reference, atol=1e-5)


def test_user_tower_does_not_see_the_future(model):
    """Changing event j changes no hidden state before token j + 1 (token 0 is the customer), only later ones."""
    hidden_states = keras.Model(model.user_tower.input, model.user_tower.get_layer("final_norm").output)
    features = history_features(padding=(0, 0, 0, 0))
    changed = {name: value.copy() for name, value in features.items()}
    changed["history_item_id"][:, 3] += 1
    changed["history_action"][:, 3] = 1 + changed["history_action"][:, 3] % 3
    before = ops.convert_to_numpy(hidden_states(features))  # [B, T, D]
    after = ops.convert_to_numpy(hidden_states(changed))
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-6)
    assert np.abs(after[:, 4:] - before[:, 4:]).max(axis=(1, 2)).min() > 1e-4


def test_user_embedding_is_the_last_valid_token(model):
    """A history cut after event j embeds like the full history's hidden state at token j + 1."""
    hidden_states = keras.Model(model.user_tower.input, model.user_tower.get_layer("final_norm").output)
    features = history_features(padding=(0, 0, 0, 0))
    truncated = {name: value if value.ndim == 1 else value[:, :4] for name, value in features.items()}
    state = ops.convert_to_numpy(hidden_states(features))[:, 4]  # [B, D] after history events 0..3
    expected = state / np.linalg.norm(state, axis=1, keepdims=True)
    np.testing.assert_allclose(model.user_embeddings(truncated), expected, atol=1e-5)


def test_get_config_is_the_constructor_arguments(model):
    config = model.get_config()
    assert {key: config[key] for key in PRESETS["smoke"].retrieval.model_kwargs()} == (
        PRESETS["smoke"].retrieval.model_kwargs()
    )
    rebuilt = RetrievalModel.from_config(config)
    assert rebuilt.get_config() == config and rebuilt.count_params() == model.count_params()


@pytest.mark.slow
def test_keras_file_loads_in_a_fresh_process_with_identical_embeddings(model, tmp_path):
    features = history_features()
    item_id, category_id = np.arange(1, 60, dtype="int32"), np.arange(1, 60, dtype="int32") % 7
    model.save(tmp_path / "retrieval.keras")
    np.savez(tmp_path / "inputs.npz", item_id=item_id, category_id=category_id, **features)
    outputs = outputs_in_a_fresh_process(
        tmp_path,
        "assert type(model).__name__ == 'RetrievalModel', type(model)\n"
        "np.savez(sys.argv[2] + '/outputs.npz', users=model.user_embeddings(inputs),\n"
        "         items=model.item_embeddings(inputs['item_id'], inputs['category_id']))\n",
    )
    np.testing.assert_array_equal(outputs["users"], model.user_embeddings(features))
    np.testing.assert_array_equal(outputs["items"], model.item_embeddings(item_id, category_id))


def test_retrieval_index_returns_the_exact_top_k_catalog_ids(model):
    """keras-rs' BruteForceRetrieval on JAX, with our shapes: float32 dot products, best first, int32 item ids."""
    item_id = np.arange(1000, 1300, dtype="int32") * 7
    category_id = (item_id % 13).astype("int32")
    index = model.retrieval_index(item_id, category_id, k=25)
    users = model.user_embeddings(history_features())
    scores, ids = (np.asarray(x) for x in index.predict_on_batch(users))
    assert scores.shape == ids.shape == (4, 25) and scores.dtype == np.float32 and ids.dtype == np.int32
    all_scores = users @ model.item_embeddings(item_id, category_id).T  # [B, I]
    np.testing.assert_array_equal(ids, item_id[np.argsort(-all_scores, axis=1, kind="stable")[:, :25]])
    np.testing.assert_allclose(scores, -np.sort(-all_scores, axis=1)[:, :25], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Received: k=301"):
        model.retrieval_index(item_id, category_id, k=301)


def test_keras_rs_brute_force_retrieval_config_loses_return_scores():
    """keras-rs 0.4.0's `Retrieval.get_config` saves `compute_score` (a method) as `return_scores`, so a layer
    built with `return_scores=False` returns (scores, ids) after a config round trip. We never serialise it:
    `RetrievalModel.retrieval_index` builds it from the catalogue when needed."""
    layer = keras_rs.layers.BruteForceRetrieval(k=2, return_scores=False)
    assert callable(layer.get_config()["return_scores"])
    candidates = np.eye(3, dtype="float32")
    layer.update_candidates(candidates)
    rebuilt = keras_rs.layers.BruteForceRetrieval.from_config(layer.get_config())
    rebuilt.update_candidates(candidates)
    query = np.array([[0.0, 1.0, 0.5]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(query)), [[1, 2]])
    assert isinstance(rebuilt(query), tuple)


def test_refuses_a_non_positive_temperature():
    with pytest.raises(ValueError, match="Received: temperature=0"):
        RetrievalModel(**{**PRESETS["smoke"].retrieval.model_kwargs(), "temperature": 0})



@pytest.fixture(scope="module")
def session_model():
    keras.utils.set_random_seed(1)
    return RetrievalModel(**PRESETS["sessions_smoke"].retrieval.model_kwargs())


def session_features(items):
    """The user features of front-padded session histories `items [B, S]` (views, no category, visitor 0)."""
    items = np.asarray(items, "int32")
    return {
        "visitor_id": np.zeros(len(items), "int32"),
        "history_item_id": items,
        "history_category_id": np.zeros_like(items),
        "history_action": (items > 0).astype("int32"),
        "history_age_hours": np.where(items > 0, 7.0, 0.0).astype("float32"),
    }


def test_sequence_tower_at_each_position_is_the_user_embedding_of_that_prefix(session_model):
    """Output p of the sequence tower = the user tower on the history ending at p, whatever its padding."""
    rng = np.random.default_rng(3)
    padding = np.array([0, 2, 5, 7, 1])
    length = 8
    items = np.where(np.arange(length)[None, :] >= padding[:, None], rng.integers(1, 5_000, (5, length)), 0)
    sequence = np.asarray(session_model.sequence_tower().predict_on_batch(session_features(items)))  # [B, S, E]
    assert sequence.shape == (5, length, session_model.embedding_size)
    rows, positions = np.nonzero(items)  # every valid position
    # The history ending at each valid position, front-padded to the full width, then to 3 more slots.
    prefixes = np.stack([np.roll(np.where(np.arange(length) <= p, items[b], 0), length - 1 - p)
                         for b, p in zip(rows, positions)])  # [n, S]
    assert (prefixes[:, -1] == items[rows, positions]).all()
    for histories in (prefixes, np.pad(prefixes, ((0, 0), (3, 0)))):
        users = session_model.user_embeddings(session_features(histories))
        np.testing.assert_allclose(sequence[rows, positions], users, rtol=1e-5, atol=1e-5)


def test_session_options_score_a_plain_dot_product_plus_the_item_bias(session_model):
    """Without normalisation the embeddings are free in length; the item embedding ends with the bias and the user
    embedding with a 1, and the model's score is their dot product over the temperature."""
    features = session_features([[0, 0, 4, 9], [1, 2, 3, 4], [0, 0, 0, 8]])
    item_id = np.array([4, 10, 12], "int32")
    users = session_model.user_embeddings(features)
    items = session_model.item_embeddings(item_id, np.zeros_like(item_id))
    assert users.shape == items.shape == (3, session_model.emb_size + 1)
    np.testing.assert_array_equal(users[:, -1], 1.0)
    assert np.abs(np.linalg.norm(users[:, :-1], axis=1) - 1.0).max() > 0.1
    bias = session_model.item_tower.get_layer("item_bias")(item_id)
    np.testing.assert_allclose(items[:, -1], ops.convert_to_numpy(bias)[:, 0], rtol=1e-6)
    scores = ops.convert_to_numpy(session_model({**features, "item_id": item_id, "category_id": 0 * item_id}))
    np.testing.assert_allclose(scores, np.sum(users * items, axis=1) / session_model.temperature, rtol=1e-5,
                               atol=1e-5)


def test_tied_item_tower_is_the_history_item_embedding(session_model):
    item_id = np.array([3, 77, 4_000], "int32")
    items = session_model.item_embeddings(item_id, np.zeros_like(item_id))
    embedded = session_model.user_tower.get_layer("item_embedding")(item_id)
    np.testing.assert_allclose(items[:, :-1], ops.convert_to_numpy(embedded), rtol=1e-6)
    assert session_model.item_tower.get_layer("item_bias") is not None
    assert "item_hidden" not in {layer.name for layer in session_model.item_tower.layers}
    assert "age_embedding" not in {layer.name for layer in session_model.user_tower.layers}


def test_session_benchmark_scorer_ranks_by_the_models_score(session_model):
    from app.sessions.benchmark import RetrievalScorer

    history_length = PRESETS["sessions_smoke"].retrieval.history_length
    scorer = RetrievalScorer(session_model, num_items=30, history_length=history_length)
    offsets, prefix_items = np.array([0, 2, 3]), np.array([5, 6, 29], "int32")
    scores = scorer.scores(offsets, prefix_items)  # [2, 31]
    features = session_features([[0] * (history_length - 2) + [5, 6], [0] * (history_length - 1) + [29]])
    item_id = np.tile(np.arange(1, 31, dtype="int32"), 2)
    repeated = {name: np.repeat(value, 30, axis=0) for name, value in features.items()}
    expected = ops.convert_to_numpy(session_model({**repeated, "item_id": item_id, "category_id": 0 * item_id}))
    np.testing.assert_allclose(scores[:, 1:], expected.reshape(2, 30) * session_model.temperature, rtol=1e-4,
                               atol=1e-4)


def test_session_model_config_round_trip(session_model):
    config = session_model.get_config()
    kwargs = PRESETS["sessions_smoke"].retrieval.model_kwargs()
    assert {key: config[key] for key in kwargs} == kwargs
    rebuilt = RetrievalModel.from_config(config)
    assert rebuilt.get_config() == config and rebuilt.count_params() == session_model.count_params()
    with pytest.raises(ValueError, match="Received: dropout_rate=1.0"):
        RetrievalModel(**{**kwargs, "dropout_rate": 1.0})


@pytest.mark.slow
def test_session_model_file_loads_in_a_fresh_process(session_model, tmp_path):
    features = session_features([[0, 0, 4, 9], [1, 2, 3, 4]])
    item_id = np.arange(1, 50, dtype="int32")
    session_model.save(tmp_path / "retrieval.keras")
    np.savez(tmp_path / "inputs.npz", item_id=item_id, category_id=0 * item_id, **features)
    outputs = outputs_in_a_fresh_process(
        tmp_path,
        "users = {name: inputs[name] for name in app.retrieval.model.USER_FEATURES}\n"
        "sequence = model.sequence_tower().predict_on_batch(users)\n"
        "np.savez(sys.argv[2] + '/outputs.npz', users=model.user_embeddings(inputs), sequence=sequence,\n"
        "         items=model.item_embeddings(inputs['item_id'], inputs['category_id']))\n",
    )
    np.testing.assert_array_equal(outputs["users"], session_model.user_embeddings(features))
    np.testing.assert_array_equal(outputs["items"], session_model.item_embeddings(item_id, 0 * item_id))
    np.testing.assert_array_equal(outputs["sequence"], session_model.sequence_tower().predict_on_batch(features))
