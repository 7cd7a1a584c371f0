"""A `.keras` ranker saved by version 0.1.0 of this project still loads and scores identically."""

import json
from pathlib import Path

import keras
import numpy as np

from app.ranker.model import PhoenixRanker
from saved_ranker_fixture import CONFIG, fixture_inputs, fixture_weights

DATA = Path(__file__).resolve().parent / "data"


def test_old_file_scores_as_when_it_was_saved_and_as_a_model_built_now():
    loaded = keras.saving.load_model(DATA / "ranker_0_1_0.keras", compile=False)
    saved_logits = np.array(json.loads((DATA / "ranker_0_1_0.logits.json").read_text())["logits"])
    inputs = fixture_inputs()
    np.testing.assert_allclose(np.asarray(loaded(inputs)), saved_logits, atol=1e-6)

    built_now = PhoenixRanker(**CONFIG)
    built_now.set_weights(fixture_weights([weight.shape for weight in built_now.get_weights()]))
    np.testing.assert_array_equal(np.asarray(built_now(inputs)), np.asarray(loaded(inputs)))
    assert loaded.get_config() | {"name": None} == built_now.get_config() | {"name": None}
