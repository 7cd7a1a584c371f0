"""`python -m datasets.timed_prepare ARGUMENTS_JSON`: prepare one build in this fresh process, print one JSON line.

The child program of `datasets.benchmark.measure_prepare`. It samples its own resident memory every 10 ms while it
prepares: its `ru_maxrss` would not do, since Linux carries the parent's peak across fork and exec, and the
benchmark's parent may hold a model in memory. ARGUMENTS_JSON holds `prepare_builder`'s keyword arguments.
"""

import json
import sys
import threading
import time

import psutil


def own_events(builder):
    """Events kept in the build: each record's own events (not its context), over the three splits."""
    import tensorflow as tf

    total = 0
    for split in ("train", "validation", "test"):
        own = builder.as_dataset(split=split).map(
            lambda record: tf.size(record["events"]["item_id"], tf.int64) - tf.cast(record["context_end"], tf.int64)
        )
        total += int(own.reduce(tf.constant(0, tf.int64), lambda running, count: running + count))
    return total


def main(argv):
    arguments = json.loads(argv[0])
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
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
    print(json.dumps({
        "seconds": seconds,
        "max_rss_kib": peak[0] // 1024,
        "raw_events": builder.info.metadata["raw"]["files"]["events.csv"]["rows"],
        "events": own_events(builder),
        "records": {name: int(split.num_examples) for name, split in builder.info.splits.items()},
        "version": str(builder.version),
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
