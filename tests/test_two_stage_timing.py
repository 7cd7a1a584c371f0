"""The catalogue timing helpers: the arithmetic by hand, top-k, chunking, and small real runs."""

import dataclasses

import numpy as np
import pytest

from app.config.presets import PRESETS
from app.two_stage import timing

SMALL = dataclasses.replace(PRESETS["smoke"].ranker, history_length=6)
SMALL_OF_SHORTLISTS = dataclasses.replace(SMALL, num_candidate_features=12)
"""A ranker of shortlist features: the benchmark feeds it random ones."""


def test_multiply_adds_by_hand():
    # smoke: D 32, 1 layer, H 2, K 1, Dh 16, feed-forward width ffn_width(32, 2.0) = 48, 2 hashes.
    counts = timing.multiply_adds(SMALL, num_candidates=10)
    projections = 32 * 2 * 16 + 2 * 32 * 1 * 16 + 2 * 16 * 32  # q, k and v, output: 3,072
    assert counts["candidate_dense_per_layer"] == projections + 3 * 32 * 48  # 7,680
    # P = 7 prefix tokens, T = 17: the full model's attention is 2 * H * T^2 * Dh per layer.
    assert counts["full_attention_per_candidate_per_layer"] == pytest.approx(2 * 2 * 17 * 17 * 16 / 10)
    assert counts["cached_attention_per_candidate_per_layer"] == 2 * 2 * 8 * 16
    # Item and category projections (2 hashes x D -> D), candidate projection (3D + 7 -> D).
    assert counts["candidate_input"] == 2 * (2 * 32 * 32) + (3 * 32 + 7) * 32
    assert counts["cached_per_candidate"] == 7_680 + 2 * 2 * 8 * 16 + counts["candidate_input"]
    assert counts["full_over_cached"] > 1


@pytest.mark.parametrize(
    "count, chunk, chunks", [(22_531, 1_880, 12), (235_061, 2_048, 115), (7, 8, 1), (2_049, 1_032, 2)]
)
def test_balanced_chunk_size(count, chunk, chunks):
    size = timing.balanced_chunk_size(count, 2_048)
    assert (size, -(-count // size)) == (chunk, chunks)
    assert size % 8 == 0 and size * chunks - count < 8 * chunks


def test_top_items_orders_by_the_weighted_score():
    logits = np.array([[0.0, 0.0, 3.0], [2.0, -5.0, -5.0], [-5.0, -5.0, -5.0], [0.0, 1.0, 0.0]], np.float32)
    # Scores 10 p(transaction) + 3 p(addtocart) + p(view): 7.45, 8.83, 0.09, 7.69.
    np.testing.assert_array_equal(timing.top_items(logits, 3), [1, 3, 0])
    np.testing.assert_array_equal(timing.top_items(logits, 9), [1, 3, 0, 2])


@pytest.mark.slow
@pytest.mark.parametrize("config", [SMALL, SMALL_OF_SHORTLISTS], ids=["plain", "shortlist_features"])
def test_a_small_speedup_and_exhaustive_run(config):
    speedup = timing.cached_speedup(config, num_candidates=40, repeats=2)
    assert speedup["max_abs_logit_difference"] < 1e-5
    assert speedup["full"]["p50_ms"] > 0 and speedup["cached"]["p50_ms"] > 0
    exhaustive = timing.exhaustive_ranking(
        config, 300, repeats=2, max_chunk_size=128, compare_full_model=True
    )
    assert (exhaustive["chunk_size"], exhaustive["scoring_calls"]) == (104, 3)
    assert exhaustive["p50_ms"] >= exhaustive["min_ms"] > 0
    assert exhaustive["same_top_k"] and exhaustive["full_model"]["p50_ms"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("config", [SMALL, SMALL_OF_SHORTLISTS], ids=["plain", "shortlist_features"])
def test_the_catalogue_benchmark_reports_the_documented_keys(config):
    results = timing.catalogue_timings(
        config, PRESETS["smoke"].retrieval, repeats=2, max_chunk_size=128, sizes=(300, 500), num_candidates=40,
        retrieved=20, calls=3,
    )
    keys = {"items", "retrieval_p50_ms", "exhaustive_p50_ms", "two_stage_p50_ms", "two_stage_p99_ms",
            "cached_speedup"}
    assert keys <= set(results) and keys <= set(results["large"])
    assert (results["items"], results["large"]["items"]) == (300, 500)
    assert results["two_stage_p99_ms"] >= results["two_stage_p50_ms"] > 0
    assert results["details"]["two_stage"]["shortlist"] >= 20  # the retrieved items plus new history items
    rows = dict(timing.catalogue_rows(results))
    assert "300 items: two stages (" in "".join(rows)
