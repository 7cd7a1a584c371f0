"""Speed of the input pipeline and cost of preparing a build: the `pipeline` and `prepare` parts of `app.bench`.

`measure_pipeline` and `measure_prepare` return plain dicts (`python -m app.bench --only pipeline,prepare`).
"""

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("datasets.benchmark")


def measure_pipeline(
    dataset="synthetic",
    data_dir=None,
    batch_size=128,
    history_length=64,
    num_candidates=16,
    num_batches=200,
    warmup_batches=20,
    repeats=5,
    seed=0,
    data=None,
):
    """Training examples per second of `training_dataset`, after a warm-up, over several repeats.

    Args:
        dataset: builder config to read ("synthetic" or "synthetic_full"), prepared if needed.
        data_dir: TFDS data directory (the TFDS default when None).
        batch_size, history_length, num_candidates: the batch shape `[B, S]`, `[B, C]`.
        num_batches: batches timed per repeat.
        warmup_batches: batches drawn before timing (prefetch fill, first calls).
        repeats: timed repeats; the result reports their min and median.
        seed: pipeline seed.
        data: an already loaded `LoadedData` (then `dataset` and `data_dir` are not read).

    Returns:
        A dict with `examples_per_s` (median), `examples_per_s_min`, `examples_per_s_median`,
        `examples_per_s_repeats`, `numpy_examples_per_s` (the batch maker alone, no tf.data) and the settings.
    """
    from datasets.loading import load_retail_rocket
    from datasets.pipeline import TrainingExamples

    if data is None:
        data = load_retail_rocket(config=dataset, data_dir=data_dir)
    examples = TrainingExamples(
        data.train, data.catalog, history_length=history_length, num_candidates=num_candidates
    )
    iterator = iter(examples.dataset(batch_size, seed=seed))
    for _ in range(warmup_batches):
        next(iterator)
    rates = []
    for repeat in range(repeats):
        start = time.perf_counter()
        for _ in range(num_batches):
            next(iterator)
        rates.append(num_batches * batch_size / (time.perf_counter() - start))
        logger.info("repeat %d/%d: %.0f examples/s", repeat + 1, repeats, rates[-1])
    batches = examples.batches(batch_size, seed=seed)
    next(batches)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(batches)
    numpy_rate = num_batches * batch_size / (time.perf_counter() - start)
    return {
        "dataset": data.name,
        "version": data.version,
        "train_events": int(data.train.num_events),
        "catalog_items": int(data.catalog.num_items),
        "cut_points": examples.num_cut_points,
        "batch_size": batch_size,
        "history_length": history_length,
        "num_candidates": num_candidates,
        "num_batches": num_batches,
        "warmup_batches": warmup_batches,
        "repeats": repeats,
        "examples_per_s": statistics.median(rates),
        "examples_per_s_min": min(rates),
        "examples_per_s_median": statistics.median(rates),
        "examples_per_s_repeats": rates,
        "numpy_examples_per_s": numpy_rate,
        "cpu_count": os.cpu_count(),
    }


def measure_prepare(
    dataset="synthetic_full", data_dir=None, manual_dir=None, min_visitor_events=None, min_item_events=None,
    poll_seconds=0.05,
):
    """Time and peak memory of preparing a build from scratch, in a fresh Python process.

    Args:
        dataset: builder config ("synthetic_full" by default).
        data_dir: an empty TFDS data directory to build into; a temporary one (deleted after) when None.
        manual_dir, min_visitor_events, min_item_events: passed to the builder.
        poll_seconds: how often the child's memory (with its own children) is sampled.

    Returns:
        A dict with `seconds` (preparation only, measured in the child), `peak_rss_mb` (the child's own RSS,
        sampled every 10 ms while it prepares), `peak_rss_mb_polled` (the highest sampled RSS of the child and
        its children, the event count included), `events` (raw event rows read), `events_kept` (own events
        over the three splits, after the filters), `records`.
    """
    with tempfile.TemporaryDirectory(prefix="retail_rocket_prepare_") as scratch:
        arguments = {
            "config": dataset,
            "data_dir": str(data_dir or scratch),
            "manual_dir": None if manual_dir is None else str(manual_dir),
            "min_visitor_events": min_visitor_events,
            "min_item_events": min_item_events,
        }
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        child = subprocess.Popen(
            [sys.executable, "-m", "datasets.timed_prepare", json.dumps(arguments)],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        process = psutil.Process(child.pid)
        peak, start, last_log = 0, time.perf_counter(), 0.0
        while child.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            elapsed = time.perf_counter() - start
            if elapsed - last_log >= 10:
                logger.info("preparing %s: %.0f s, RSS %.0f MiB so far", dataset, elapsed, peak / 2**20)
                last_log = elapsed
            time.sleep(poll_seconds)
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        last_line = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"Preparing {dataset} failed (exit {child.returncode}): {last_line}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {
        "dataset": f"retail_rocket/{dataset}",
        "version": result["version"],
        "seconds": result["seconds"],
        "peak_rss_mb": result["max_rss_kib"] / 1024,
        "peak_rss_mb_polled": peak / 2**20,
        "events": result["raw_events"],
        "events_kept": result["events"],
        "records": result["records"],
        "wall_seconds": time.perf_counter() - start,
    }
