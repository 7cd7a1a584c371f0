"""Speed of the input pipeline and cost of preparing a build.

    python -m datasets.benchmark --config synthetic --only pipeline --json bench_results/pipeline.json
    python -m datasets.benchmark --only prepare     # synthetic_full, fresh temporary data_dir

`measure_pipeline` and `measure_prepare` return plain dicts, also used by `app.bench`.
"""

import argparse
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

LOG_FORMAT = "%(asctime)s | %(name)s | %(levelname)s | %(message)s"
REPO_ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("datasets.benchmark")

# Run in a fresh interpreter by `measure_prepare`: prepares a build, then prints one JSON line.
# The child samples its own RSS every 10 ms: its `ru_maxrss` would not do, since Linux carries the
# parent's peak across fork and exec, and the benchmark's parent holds a model in memory.
_PREPARE_CHILD = """
import json, sys, threading, time
import psutil
arguments = json.loads(sys.argv[1])
peak, done = [0], threading.Event()
def sample(process=psutil.Process()):
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.01)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
start = time.perf_counter()
from datasets.loading import prepare_builder
builder = prepare_builder(**arguments)
seconds = time.perf_counter() - start
done.set()
sampler.join()
max_rss_kib = peak[0] // 1024
import tensorflow as tf
events = 0
for split in ("train", "validation", "test"):
    own = builder.as_dataset(split=split).map(lambda r: tf.size(r["events"]["item_id"], tf.int64)
                                                    - tf.cast(r["context_end"], tf.int64))
    events += int(own.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))
records = {name: int(split.num_examples) for name, split in builder.info.splits.items()}
raw_events = builder.info.metadata["raw"]["files"]["events.csv"]["rows"]
print(json.dumps({"seconds": seconds, "max_rss_kib": max_rss_kib, "raw_events": raw_events, "events": events,
                  "records": records, "version": str(builder.version)}))
"""


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
            [sys.executable, "-c", _PREPARE_CHILD, json.dumps(arguments)],
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m datasets.benchmark",
        description="Measures the training pipeline's examples/s and the cost of preparing a build.",
    )
    parser.add_argument(
        "--config",
        default="synthetic",
        choices=["synthetic", "synthetic_full"],
        help="build the pipeline reads (prepared into --data-dir first if needed; default synthetic)",
    )
    parser.add_argument(
        "--prepare-config",
        default="synthetic_full",
        choices=["synthetic", "synthetic_full"],
        help="build whose preparation is timed, always from scratch in a temporary data dir "
        "(default synthetic_full)",
    )
    parser.add_argument(
        "--only", choices=["pipeline", "prepare"], default=None, help="run one measurement (default: both)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory for --config (TFDS default)")
    parser.add_argument("--batch-size", type=int, default=128, help="examples per batch B (default 128)")
    parser.add_argument("--history-length", type=int, default=64, help="history events per example S (default 64)")
    parser.add_argument("--num-candidates", type=int, default=16, help="candidates per example C (default 16)")
    parser.add_argument("--num-batches", type=int, default=200, help="batches timed per repeat (default 200)")
    parser.add_argument("--warmup-batches", type=int, default=20, help="batches drawn before timing (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; min and median reported (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="pipeline seed (default 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S", force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)
    results = {}
    try:
        if args.only in (None, "pipeline"):
            results["pipeline"] = measure_pipeline(
                dataset=args.config,
                data_dir=args.data_dir,
                batch_size=args.batch_size,
                history_length=args.history_length,
                num_candidates=args.num_candidates,
                num_batches=args.num_batches,
                warmup_batches=args.warmup_batches,
                repeats=args.repeats,
                seed=args.seed,
            )
            pipeline = results["pipeline"]
            logger.info(
                "pipeline %s B=%d S=%d C=%d: %.0f examples/s median, %.0f min (numpy alone %.0f)",
                pipeline["dataset"],
                args.batch_size,
                args.history_length,
                args.num_candidates,
                pipeline["examples_per_s_median"],
                pipeline["examples_per_s_min"],
                pipeline["numpy_examples_per_s"],
            )
        if args.only in (None, "prepare"):
            results["prepare"] = measure_prepare(dataset=args.prepare_config)
            prepare = results["prepare"]
            logger.info(
                "prepare %s: %.1f s, peak RSS %.0f MiB (polled %.0f MiB), %d events",
                prepare["dataset"],
                prepare["seconds"],
                prepare["peak_rss_mb"],
                prepare["peak_rss_mb_polled"],
                prepare["events"],
            )
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 1
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        logger.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
