"""Timing helpers for catalogue ranking with `CachedRanker`: speed-up over the full ranker, exhaustive latency.

Everything runs on a randomly initialised ranker of the given config and random
but valid inputs (a full history drawn from the catalogue, so that some
candidates match history events), so nothing needs data or TensorFlow. A
ranker of shortlist features (`num_candidate_features` > 0) gets random ones:
the network's work is the same, and the generators that would give them are
not timed. Times
are medians over repeated calls after a warm-up; each call starts from numpy
inputs and ends with numpy outputs, so host-to-device copies and back are
included. `multiply_adds` gives the arithmetic beside the measurement.
"""

import os
import statistics
import time

import numpy as np

from app.ranker.cached_ranker import CachedRanker
from app.ranker.model import PhoenixRanker
from app.retrieval.model import RetrievalModel
from app.two_stage.catalogue_ranker import DEFAULT_RETRIEVED, CatalogueRanker
from datasets.actions import DEFAULT_LOSS_WEIGHTS, NUM_ACTIONS
from datasets.event_store import ItemCatalog
from layers.candidate_history_match import CandidateHistoryMatch
from layers.decoder_block import ffn_width

SLICE_CATALOGUE_SIZE = 22_531
"""Items of the real Retail Rocket slice's catalogue."""

LARGE_CATALOGUE_SIZE = 235_061
"""Items of the synthetic large catalogue."""

ITEM_ID_LIMIT = 466_867
"""Item ids are drawn below this (Retail Rocket's largest item id + 1, as in `app.bench`)."""

NUM_CATEGORIES = 1_700
NUM_VISITORS = 1_407_580
MAX_CHUNK_SIZE = 2048
"""Most candidates per compiled scoring call in exhaustive ranking (see `balanced_chunk_size`)."""

FULL_MODEL_CHUNK_SIZE = 1024
"""Candidates per list when the full ranker scores a catalogue (`app.recommend`'s default)."""


def random_ranker(config):
    """A `PhoenixRanker` of `config` with random weights (drawn from the global seed the command set), in float32."""
    return PhoenixRanker(**config.model_kwargs(), dtype="float32")


def random_catalogue(size, rng):
    """`size` distinct item ids `[I]` and their category ids `[I]`, int32."""
    if not 1 <= size < ITEM_ID_LIMIT:
        raise ValueError(
            f"A catalogue must hold between 1 and {ITEM_ID_LIMIT - 1} items. Received: size={size}"
        )
    items = rng.choice(np.arange(1, ITEM_ID_LIMIT, dtype=np.int32), size, replace=False)  # [I]
    return items, rng.integers(0, NUM_CATEGORIES, size).astype(np.int32)  # [I], [I]


def random_history(history_length, items, categories, rng):
    """History features `[1, S]` of one visitor: `S` valid events on catalogue items, older to newer."""
    picks = rng.integers(0, len(items), history_length)  # [S]
    ages = np.cumsum(rng.exponential(24.0, history_length))[::-1]  # [S]
    return {
        "visitor_id": rng.integers(1, NUM_VISITORS, 1).astype(np.int32),
        "history_item_id": items[picks][None],
        "history_category_id": categories[picks][None],
        "history_action": rng.integers(1, 4, (1, history_length)).astype(np.int32),
        "history_age_hours": ages[None].astype(np.float32),
    }


def random_candidate_features(config, count, rng):
    """float32 `[1, count, F']` random shortlist features for a ranker of `config` that takes them, else None."""
    if not config.num_candidate_features:
        return None
    return rng.random((1, count, config.num_candidate_features), dtype=np.float32)


def balanced_chunk_size(count, max_chunk_size):
    """The chunk size, a multiple of 8, covering `count` in the fewest chunks of at most `max_chunk_size`.

    With the chunks as even as that allows, the padding of the last chunk
    stays under `8 * chunks` candidates; one fixed catalogue keeps one chunk
    shape, so the scoring step still compiles once.
    """
    chunks = -(-count // max_chunk_size)
    return min(max_chunk_size, -(-count // (8 * chunks)) * 8)


def top_items(logits, k, weights=DEFAULT_LOSS_WEIGHTS):
    """Indices `[k]` of the `k` best candidates by the ranking score, best first.

    Args:
        logits: `[N, A]` logits of one visitor's candidates.
        k: how many to keep (at most `N`).
        weights: `A` action weights of the score (the loss weights).
    """
    probabilities = 1.0 / (1.0 + np.exp(-logits))  # [N, A]
    scores = probabilities @ np.asarray(weights, dtype=np.float32)  # [N]
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]  # [k]
    return best[np.argsort(-scores[best], kind="stable")]


def multiply_adds(config, num_candidates):
    """Multiply-adds per candidate of the full ranker and of `CachedRanker` for one visitor.

    Counts the matrix products (embedding projections, attention projections,
    attention logits and weighted values, feed-forward); elementwise work is
    left out but its main part, the attention softmax, is counted as
    `softmax_entries` (one per query head and attended key).

    Args:
        config: `app.config.ranker.TrainConfig`.
        num_candidates: `C`, candidates in the one full-model list.

    Returns:
        Dict with per-layer and per-candidate counts of both paths and
        `full_over_cached`, the speed-up the arithmetic allows.
    """
    dim, heads, kv_heads, head = (
        config.emb_size, config.num_query_heads, config.num_key_value_heads, config.key_size,
    )
    prefix = 1 + config.history_length  # P: customer + history
    tokens = prefix + num_candidates  # T
    hidden = ffn_width(dim, config.widening_factor)
    projections = dim * heads * head + 2 * dim * kv_heads * head + heads * head * dim  # q, k, v, out
    feed_forward = 3 * dim * hidden
    hashed = config.num_hashes * dim * dim  # one multi-hash embedding's projection
    match = CandidateHistoryMatch.num_features if config.use_history_match else 0
    candidate_input = 2 * hashed + (3 * dim + match) * dim  # item, category, candidate projection
    prefix_input = hashed + config.history_length * (2 * hashed + 4 * dim * dim)
    full_layer = tokens * (projections + feed_forward) + 2 * heads * tokens * tokens * head
    cached_layer = projections + feed_forward + 2 * heads * (prefix + 1) * head
    full = (config.num_layers * full_layer + prefix_input + num_candidates * candidate_input) / num_candidates
    cached = config.num_layers * cached_layer + candidate_input
    encode = prefix_input + config.num_layers * (
        prefix * (projections + feed_forward) + 2 * heads * prefix * prefix * head
    )
    return {
        "num_candidates": num_candidates,
        "candidate_dense_per_layer": projections + feed_forward,
        "full_attention_per_candidate_per_layer": 2 * heads * tokens * tokens * head / num_candidates,
        "cached_attention_per_candidate_per_layer": 2 * heads * (prefix + 1) * head,
        "candidate_input": candidate_input,
        "full_per_candidate": full,
        "cached_per_candidate": cached,
        "cached_encode_per_visitor": encode,
        "full_over_cached": full / (cached + encode / num_candidates),
        "full_softmax_entries_per_candidate": config.num_layers * heads * tokens * tokens / num_candidates,
        "cached_softmax_entries_per_candidate": config.num_layers * heads * (prefix + 1),
    }


def _timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _interleaved_ms(calls_by_name, repeats, warmup=2):
    """Median and minimum wall ms, median process-CPU ms of each call, repeats interleaved."""
    for call in calls_by_name.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in calls_by_name}
    for _ in range(repeats):
        for name, call in calls_by_name.items():
            times[name].append(_timed(call))
    return {
        name: {
            "p50_ms": 1e3 * statistics.median(wall for wall, _ in pairs),
            "min_ms": 1e3 * min(wall for wall, _ in pairs),
            "cpu_p50_ms": 1e3 * statistics.median(cpu for _, cpu in pairs),
        }
        for name, pairs in times.items()
    }


def cached_speedup(config, num_candidates=1000, repeats=20, seed=0):
    """Full-ranker time per candidate over `CachedRanker` time per candidate, one visitor.

    Full: one list of `num_candidates` through the ranker's compiled
    `predict_on_batch`. Cached: `encode` once, then `score` the same
    candidates in one chunk. Repeats of the two are interleaved so that load
    changes hit both alike; the logits are checked to agree first.

    Returns:
        Dict with both timings (`p50_ms`, `min_ms`, `cpu_p50_ms`),
        `cached_speedup` (ratio of the medians), `cpu_speedup` (ratio of the
        CPU-time medians), the `multiply_adds` arithmetic and the load average.
    """
    rng = np.random.default_rng(seed)
    ranker = random_ranker(config)
    items, categories = random_catalogue(num_candidates, rng)
    history = random_history(config.history_length, items, categories, rng)
    candidate_features = random_candidate_features(config, num_candidates, rng)  # [1, C, F'] or None
    features = {**history, "candidate_item_id": items[None], "candidate_category_id": categories[None]}
    if candidate_features is not None:
        features["candidate_features"] = candidate_features
    cached = CachedRanker(ranker, chunk_size=num_candidates)

    def full():
        return np.asarray(ranker.predict_on_batch(features))  # [1, C, A]

    def cached_scores():
        cache = cached.encode(history)
        return cached.score(cache, history, items[None], categories[None], candidate_features)  # [1, C, A]

    difference = float(np.max(np.abs(full() - cached_scores())))
    load = os.getloadavg()[0]
    times = _interleaved_ms({"full": full, "cached": cached_scores}, repeats)
    return {
        "num_candidates": num_candidates,
        "repeats": repeats,
        "full": times["full"],
        "cached": times["cached"],
        "cached_speedup": times["full"]["p50_ms"] / times["cached"]["p50_ms"],
        "cpu_speedup": times["full"]["cpu_p50_ms"] / times["cached"]["cpu_p50_ms"],
        "max_abs_logit_difference": difference,
        "multiply_adds": multiply_adds(config, num_candidates),
        "load_average_1m": [load, os.getloadavg()[0]],
    }


def full_model_logits(ranker, history, items, categories, chunk_size=FULL_MODEL_CHUNK_SIZE, candidate_features=None):
    """Logits `[I, A]` of every item through the full ranker, as `app.recommend` scored a catalogue.

    The items are cut into rows of `chunk_size` (the last padded with id 0),
    each row a candidate list for the same history, and scored with
    `predict(batch_size=8)`; `candidate_features [1, I, F']` go with them to a ranker that takes them.
    """
    rows = -(-len(items) // chunk_size)
    padding = rows * chunk_size - len(items)
    features = {name: np.repeat(value, rows, axis=0) for name, value in history.items()}  # [R, S]
    features["candidate_item_id"] = np.pad(items, (0, padding)).reshape(rows, chunk_size)  # [R, chunk]
    features["candidate_category_id"] = np.pad(categories, (0, padding)).reshape(rows, chunk_size)
    if candidate_features is not None:
        features["candidate_features"] = np.pad(candidate_features[0], ((0, padding), (0, 0))).reshape(
            rows, chunk_size, -1
        )  # [R, chunk, F']
    logits = np.asarray(ranker.predict(features, batch_size=8, verbose=0))  # [R, chunk, A]
    return logits.reshape(rows * chunk_size, -1)[: len(items)]  # [I, A]


def exhaustive_ranking(
    config,
    catalogue_size,
    repeats=10,
    max_chunk_size=MAX_CHUNK_SIZE,
    top_k=10,
    seed=0,
    compare_full_model=False,
):
    """Latency of ranking a whole catalogue for one visitor with `CachedRanker`.

    Each timed call encodes the visitor's history, scores every catalogue item
    in chunks of `balanced_chunk_size(catalogue_size, max_chunk_size)` and
    takes the `top_k` by the ranking score. With `compare_full_model`, the
    same ranking through the full ranker (`full_model_logits`, the way
    `app.recommend` scored a catalogue before `CachedRanker`) is timed too,
    repeats interleaved, and the two top-k lists are compared.

    Returns:
        Dict with `p50_ms`, `min_ms`, `cpu_p50_ms`, the shapes, the number of
        compiled scoring calls per ranking and the load average; with
        `compare_full_model` also `full_model` (the same timings),
        `speedup_over_full_model` and `same_top_k`.
    """
    rng = np.random.default_rng(seed)
    ranker = random_ranker(config)
    items, categories = random_catalogue(catalogue_size, rng)
    history = random_history(config.history_length, items, categories, rng)
    candidate_features = random_candidate_features(config, catalogue_size, rng)  # [1, I, F'] or None
    chunk_size = balanced_chunk_size(catalogue_size, max_chunk_size)
    cached = CachedRanker(ranker, chunk_size=chunk_size)

    def rank():
        cache = cached.encode(history)
        logits = cached.score(cache, history, items[None], categories[None], candidate_features)[0]  # [I, A]
        return items[top_items(logits, top_k)]  # [k]

    def rank_with_full_model():
        logits = full_model_logits(ranker, history, items, categories, candidate_features=candidate_features)
        return items[top_items(logits, top_k)]  # [k]

    calls = {"cached": rank}
    comparison = {}
    if compare_full_model:
        calls["full_model"] = rank_with_full_model
        comparison["same_top_k"] = bool(np.array_equal(rank(), rank_with_full_model()))
    load = os.getloadavg()[0]
    times = _interleaved_ms(calls, repeats)
    if compare_full_model:
        comparison["full_model"] = {**times["full_model"], "chunk_size": FULL_MODEL_CHUNK_SIZE}
        comparison["speedup_over_full_model"] = times["full_model"]["p50_ms"] / times["cached"]["p50_ms"]
    return {
        "catalogue_size": catalogue_size,
        "chunk_size": chunk_size,
        "scoring_calls": -(-catalogue_size // chunk_size),
        "top_k": top_k,
        "repeats": repeats,
        **times["cached"],
        **comparison,
        "load_average_1m": [load, os.getloadavg()[0]],
    }


def two_stage_timing(config, retrieval_config, catalogue_size, retrieved=DEFAULT_RETRIEVED, calls=100, seed=0):
    """Latency of retrieving the top `retrieved` and of a two-stage recommendation, one visitor.

    A random `RetrievalModel` of `retrieval_config` embeds the catalogue once
    (not timed, as a server does it once per model); each call then embeds the
    visitor's history and takes the top `retrieved` items (retrieval), and for
    the two stages adds the history items and ranks them all with the cached
    ranker, keeping the top 10 (`app.two_stage.catalogue_ranker.CatalogueRanker`, what
    `app.recommend --retriever` runs).

    Returns:
        Dict with `retrieval` and `two_stage` timings (`p50_ms`, `p99_ms`, `min_ms`, `cpu_p50_ms`), the
        shortlist size and the load average.
    """
    rng = np.random.default_rng(seed)
    ranker = random_ranker(config)
    retriever = RetrievalModel(**retrieval_config.model_kwargs())
    items, categories = random_catalogue(catalogue_size, rng)
    order = np.argsort(items)
    catalog = ItemCatalog(item_id=items[order], category_id=categories[order],
                          action_counts=np.ones((catalogue_size, NUM_ACTIONS), np.int64))
    history = random_history(config.history_length, items, categories, rng)
    shortlist_size = retrieved + config.history_length
    candidate_features = random_candidate_features(config, shortlist_size, rng)  # [1, K + S, F'] or None
    two_stage = CatalogueRanker(ranker, catalog, DEFAULT_LOSS_WEIGHTS, retriever, retrieved,
                                chunk_size=balanced_chunk_size(shortlist_size, MAX_CHUNK_SIZE))

    def retrieve():
        return np.asarray(two_stage.index.predict_on_batch(retriever.user_embeddings(history, batch_size=1))[1])

    def recommend():
        candidates, _, scores = two_stage.score(history, two_stage.candidates(history), candidate_features)  # [1, M]
        return candidates[0, np.argsort(-scores[0], kind="stable")[:10]]  # [10]

    load = os.getloadavg()[0]
    times = {}
    for name, call in (("retrieval", retrieve), ("two_stage", recommend)):
        for _ in range(3):
            call()
        pairs = [_timed(call) for _ in range(calls)]
        walls = [wall for wall, _ in pairs]
        times[name] = {
            "p50_ms": 1e3 * statistics.median(walls),
            "p99_ms": float(1e3 * np.percentile(walls, 99)),
            "min_ms": 1e3 * min(walls),
            "cpu_p50_ms": 1e3 * statistics.median(cpu for _, cpu in pairs),
        }
    return {
        "catalogue_size": catalogue_size,
        "retrieved": retrieved,
        "shortlist": int(np.count_nonzero(two_stage.candidates(history))),
        "calls": calls,
        **times,
        "load_average_1m": [load, os.getloadavg()[0]],
    }


def catalogue_timings(config, retrieval_config, repeats=10, max_chunk_size=MAX_CHUNK_SIZE,
                      sizes=(SLICE_CATALOGUE_SIZE, LARGE_CATALOGUE_SIZE), num_candidates=1000,
                      retrieved=DEFAULT_RETRIEVED, calls=100):
    """The catalogue benchmark: the cached speed-up at 1 x `num_candidates`, then per catalogue (by default the
    slice's size and 235K items) retrieval of the top `retrieved`, exhaustive cached ranking and the two stages
    (`calls` timed calls), for one visitor.

    Returns:
        `{"items", "retrieval_p50_ms", "exhaustive_p50_ms", "two_stage_p50_ms", "two_stage_p99_ms",
        "cached_speedup", "details", "large": {the same for the second size}, "speedup": cached_speedup(...)}`;
        the first catalogue's exhaustive ranking is also timed with the full ranker (`details`).
    """
    speedup = cached_speedup(config, num_candidates=num_candidates, repeats=2 * repeats)
    summaries = {}
    for name, size in zip(("slice", "large"), sizes):
        exhaustive = exhaustive_ranking(config, size, repeats if name == "slice" else max(3, repeats // 2),
                                        max_chunk_size, compare_full_model=name == "slice")
        two_stage = two_stage_timing(config, retrieval_config, size, retrieved, calls)
        summaries[name] = {
            "items": size,
            "retrieval_p50_ms": two_stage["retrieval"]["p50_ms"],
            "exhaustive_p50_ms": exhaustive["p50_ms"],
            "two_stage_p50_ms": two_stage["two_stage"]["p50_ms"],
            "two_stage_p99_ms": two_stage["two_stage"]["p99_ms"],
            "cached_speedup": speedup["cached_speedup"],
            "details": {"exhaustive": exhaustive, "two_stage": two_stage},
        }
    return {**summaries["slice"], "large": summaries["large"], "speedup": speedup}


def catalogue_rows(results):
    """`(name, value)` rows of the headline figures of `catalogue_timings`, for a plain-text table."""
    speedup, arithmetic = results["speedup"], results["speedup"]["multiply_adds"]
    rows = [
        (
            f"cached_speedup 1x{speedup['num_candidates']} (full / cached, p50)",
            (
                f"{speedup['cached_speedup']:.1f} ({speedup['full']['p50_ms']:.1f} / "
                f"{speedup['cached']['p50_ms']:.1f} ms; CPU-time ratio {speedup['cpu_speedup']:.1f}; "
                f"multiply-add bound {arithmetic['full_over_cached']:.1f})"
            ),
        ),
    ]
    for summary in (results, results["large"]):
        exhaustive, two_stage = summary["details"]["exhaustive"], summary["details"]["two_stage"]
        items = f"{summary['items']:,} items"
        rows += [
            (f"{items}: retrieval of the top {two_stage['retrieved']} p50", f"{summary['retrieval_p50_ms']:.1f} ms"),
            (f"{items}: two stages ({two_stage['shortlist']} ranked) p50 / p99",
             f"{summary['two_stage_p50_ms']:.1f} / {summary['two_stage_p99_ms']:.1f} ms"),
            (f"{items}: exhaustive cached ranking p50 / min",
             f"{exhaustive['p50_ms']:.0f} / {exhaustive['min_ms']:.0f} ms (chunk {exhaustive['chunk_size']}, "
             f"CPU {exhaustive['cpu_p50_ms']:.0f} ms)"),
        ]
        if "full_model" in exhaustive:
            full = exhaustive["full_model"]
            rows.append((
                f"{items}: the same with the full ranker (lists of {full['chunk_size']}) p50",
                f"{full['p50_ms']:.0f} ms (CPU {full['cpu_p50_ms']:.0f} ms); cached is "
                f"{exhaustive['speedup_over_full_model']:.1f}x faster, same top-k: {exhaustive['same_top_k']}",
            ))
    return rows
