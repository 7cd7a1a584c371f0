"""The report's catalogue tables (`app.evaluation.catalogue_report`): the model row only when there is a model, the
same peer figures either way, and one clear error for a split without visitors."""

import dataclasses

import numpy as np
import pytest

from app.config.presets import PRESETS
from app.errors import UserError
from app.evaluation.catalogue_report import catalogue_metrics
from app.ranker.model import PhoenixRanker
from datasets.event_store import EventStore

CONFIG = PRESETS["smoke"].ranker


def test_the_model_row_is_there_only_for_a_model_and_leaves_the_peers_figures_alone(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    without = catalogue_metrics(None, CONFIG, data, ["validation"], max_visitors=20)["validation"]
    assert without["model"] is None and without["relative_to_baselines"] == {}

    ranker = PhoenixRanker(**CONFIG.model_kwargs())  # untrained: only its row's presence matters here
    exhaustive = catalogue_metrics(ranker, CONFIG, data, ["validation"], exhaustive=True, max_visitors=20)
    entry = exhaustive["validation"]
    assert entry["model"]["lists"] == 20 and set(entry["relative_to_baselines"]) == set(entry["baselines"])
    assert entry["baselines"] == without["baselines"]  # the same visitors, tie-breaks and figures for every peer


def test_two_models_at_once_are_refused():
    with pytest.raises(ValueError, match="Either two stages"):
        catalogue_metrics(None, CONFIG, None, ["test"], retriever=object(), exhaustive=True)


def test_a_split_without_visitors_is_one_clear_error(retail_rocket_synthetic):
    nothing = np.zeros(0)
    empty = EventStore(visitor_id=nothing, offsets=[0], context_end=nothing, item_id=nothing, category_id=nothing,
                       parent_category_id=nothing, action=nothing, timestamp_ms=nothing)
    data = dataclasses.replace(retail_rocket_synthetic, validation=empty)
    with pytest.raises(UserError, match="Cannot score the validation split of retail_rocket/synthetic on the "
                                        "catalogue protocol: .*loosen them or add events"):
        catalogue_metrics(None, CONFIG, data, ["validation"])


def test_the_boosted_reranker_is_a_peer_on_request(retail_rocket_synthetic):
    data = retail_rocket_synthetic
    default = catalogue_metrics(None, CONFIG, data, ["validation"], max_visitors=20)["validation"]
    asked = catalogue_metrics(None, CONFIG, data, ["validation"], max_visitors=20,
                              peers=("own_items_recency", "boosted_reranker"))["validation"]
    assert "boosted_reranker" not in default["baselines"]
    assert list(asked["baselines"]) == ["random", "popularity", "history_recency", "own_items_recency",
                                        "boosted_reranker"]
    assert asked["baselines"]["boosted_reranker"]["lists"] == 20
    assert asked["baselines"]["own_items_recency"] == default["baselines"]["own_items_recency"]
