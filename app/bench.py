"""Benchmarks: Keras training vs plain JAX, input pipeline, inference latency, dataset preparation, and ranking a
whole catalogue for one visitor (retrieval, the cached ranker, both stages).

```
python -m app.bench --config default --json bench_results/cpu.json
python -m app.bench --only train,inference --batch_size 1024 --precision mixed_bfloat16
python -m app.bench --only catalogue
```

Training, inference and catalogue run on random-but-valid inputs at the
config's shapes with random weights, so they need no data and never import TensorFlow;
a ranker of shortlist features (`num_candidate_features` > 0, the `default`
preset's) gets random ones, as much work for the network as real ones; the
generators that give them are not timed. `--only pipeline` (the tf.data
pipeline of popularity-sampled lists, `--shortlist_cuts 0`, at the config's
shapes) and `--only prepare` import `datasets.benchmark` (and with it
TensorFlow) only when asked for.
"""

import app.cli.environment  # noqa: F401  (first: the backend and a quiet TensorFlow)

import argparse
import dataclasses
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import keras
import numpy as np

from app.cli.shared import exits_cleanly_on_user_error
from app.cli.shared import setup_logging
from app.config.presets import PRESETS
from app.config.presets import named_preset
from app.errors import UserError
from app.ranker import jax_reference
from app.ranker.model import PhoenixRanker
from app.training.ranker import compiled_ranker
from app.two_stage.timing import catalogue_rows
from app.two_stage.timing import catalogue_timings

LOGGER = logging.getLogger("app.bench")
SECTIONS = ("train", "pipeline", "inference", "prepare", "catalogue")
PRECISIONS = ("float32", "mixed_bfloat16")
NUM_ITEMS = 466_867
NUM_CATEGORIES = 1_700
NUM_VISITORS = 1_407_580


def random_batch(batch_size, history_length, num_candidates, seed=0, full=False, num_candidate_features=0):
    """A random but valid `(features, labels, candidate_mask)` batch of numpy arrays.

    History is padded at the front (between 0 and `S` valid events per row),
    candidates at the end (at least one valid per row); ids are drawn in Retail
    Rocket's ranges, ages grow towards the past, labels are 0 on padding.

    Args:
        batch_size, history_length, num_candidates: `B`, `S`, `C`.
        seed: numpy seed.
        full: no padding at all (every history event and candidate valid).
        num_candidate_features: `F'` > 0 adds `candidate_features [B, C, F']` (uniform in [0, 1), 0 on padding),
            for a ranker of shortlist features.
    """
    rng = np.random.default_rng(seed)
    shape_s, shape_c = (batch_size, history_length), (batch_size, num_candidates)
    if full:
        history_valid = np.full(batch_size, history_length)
        candidate_valid = np.full(batch_size, num_candidates)
    else:
        history_valid = rng.integers(0, history_length + 1, batch_size)  # [B]
        candidate_valid = rng.integers(1, num_candidates + 1, batch_size)  # [B]
    history_mask = np.arange(history_length)[None, :] >= history_length - history_valid[:, None]
    candidate_mask = np.arange(num_candidates)[None, :] < candidate_valid[:, None]  # [B, C]
    ages = np.cumsum(rng.exponential(24.0, shape_s)[:, ::-1], axis=1)[:, ::-1]  # [B, S]
    features = {
        "visitor_id": rng.integers(1, NUM_VISITORS, batch_size).astype(np.int32),
        "history_item_id": np.where(history_mask, rng.integers(1, NUM_ITEMS, shape_s), 0),
        "history_category_id": np.where(history_mask, rng.integers(0, NUM_CATEGORIES, shape_s), 0),
        "history_action": np.where(history_mask, rng.integers(1, 4, shape_s), 0),
        "history_age_hours": np.where(history_mask, ages, 0.0).astype(np.float32),
        "candidate_item_id": np.where(candidate_mask, rng.integers(1, NUM_ITEMS, shape_c), 0),
        "candidate_category_id": np.where(
            candidate_mask, rng.integers(0, NUM_CATEGORIES, shape_c), 0
        ),
    }
    if num_candidate_features:
        features["candidate_features"] = np.where(
            candidate_mask[..., None], rng.random(shape_c + (num_candidate_features,)), 0.0
        )  # [B, C, F']
    features = {
        name: value.astype(np.float32) if value.dtype.kind == "f" else value.astype(np.int32)
        for name, value in features.items()
    }
    labels = (rng.random(shape_c + (3,)) < (0.05, 0.1, 0.3)) * candidate_mask[..., None]
    return features, labels.astype(np.float32), candidate_mask.astype(np.float32)


def _cycle(batches):
    while True:
        yield from batches


def _median_min(values):
    return statistics.median(values), min(values)


class _KerasFit:
    """Times `model.fit` on a cycle of fixed batches; the first call compiles."""

    name = "keras"

    def __init__(self, model, batches, steps):
        self.model, self.data = model, _cycle(batches)
        per_execution = model.steps_per_execution
        self.steps = max(per_execution, steps - steps % per_execution)
        start = time.perf_counter()
        model.fit(self.data, steps_per_epoch=per_execution, epochs=1, verbose=0, shuffle=False)
        self.compile_s = time.perf_counter() - start

    def seconds_per_step(self, steps=None):
        steps = steps or self.steps
        start = time.perf_counter()
        history = self.model.fit(
            self.data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False
        )
        return (time.perf_counter() - start) / steps, history.history["loss"][-1]

    def warm_up(self):
        self.seconds_per_step(2 * self.model.steps_per_execution)


class _JaxSteps:
    """Times `jax_reference`'s jitted train step on the same batches; the first call compiles."""

    name = "jax"

    def __init__(self, model, config, batches, steps):
        dtype = jnp.bfloat16 if config.precision == "mixed_bfloat16" else jnp.float32
        self.batches, self.steps = batches, steps
        self.params = jax_reference.params_from_keras(model)
        self.opt_state = jax_reference.optimizer(config).init(self.params)
        self.train_step = jax_reference.make_train_step(config, dtype)
        start = time.perf_counter()
        self.params, self.opt_state, loss = self.train_step(
            self.params, self.opt_state, *batches[0]
        )
        loss.block_until_ready()
        self.compile_s = time.perf_counter() - start

    def seconds_per_step(self, steps=None):
        steps = steps or self.steps
        start = time.perf_counter()
        for step in range(steps):
            self.params, self.opt_state, loss = self.train_step(
                self.params, self.opt_state, *self.batches[step % len(self.batches)]
            )
        loss = float(loss)
        return (time.perf_counter() - start) / steps, loss

    def warm_up(self):
        self.seconds_per_step(2)


def _interleaved(runners, repeats):
    """Seconds per step of every runner, repeats interleaved so that load changes hit all alike."""
    for runner in runners:
        runner.warm_up()
    per_step = {runner.name: [] for runner in runners}
    for repeat in range(repeats):
        for runner in runners:
            seconds, loss = runner.seconds_per_step()
            per_step[runner.name].append(seconds)
            LOGGER.info(
                "%s repeat %d/%d: %.1f ms/step (loss %.4f, load %.2f)",
                runner.name, repeat + 1, repeats, 1e3 * seconds, loss, os.getloadavg()[0],
            )
    return per_step


def bench_train(config, steps, repeats, with_metrics=False):
    """`model.fit` ms/step vs the plain-JAX train step on the same shapes and initial weights.

    The Keras model is `compiled_ranker` without metrics: the training loss and
    optimizer only, the same work as the JAX step; `with_metrics` also times it
    with the training metrics, as `app.fit` runs it. Repeats of the
    runners are interleaved; min and median over repeats are reported.
    """
    batches = [
        random_batch(config.batch_size, config.history_length, config.num_candidates, seed=i,
                     num_candidate_features=config.num_candidate_features)
        for i in range(4)
    ]
    model = compiled_ranker(config, with_metrics=False)
    LOGGER.info(
        "train: B=%d S=%d C=%d D=%d layers=%d %s steps_per_execution=%d",
        config.batch_size, config.history_length, config.num_candidates, config.emb_size,
        config.num_layers, config.precision, config.steps_per_execution,
    )
    runners = [_JaxSteps(model, config, batches, steps), _KerasFit(model, batches, steps)]
    if with_metrics:
        metrics_runner = _KerasFit(compiled_ranker(config), batches, steps)
        metrics_runner.name = "keras_with_metrics"
        runners.append(metrics_runner)
    per_step = _interleaved(runners, repeats)
    keras_median, keras_min = _median_min(per_step["keras"])
    jax_median, jax_min = _median_min(per_step["jax"])
    result = {
        "batch_size": config.batch_size,
        "history_length": config.history_length,
        "num_candidates": config.num_candidates,
        "precision": config.precision,
        "steps_per_execution": config.steps_per_execution,
        "steps": runners[1].steps,
        "repeats": repeats,
        "keras_compile_s": runners[1].compile_s,
        "keras_ms_per_step_median": 1e3 * keras_median,
        "keras_ms_per_step_min": 1e3 * keras_min,
        "jax_compile_s": runners[0].compile_s,
        "jax_ms_per_step_median": 1e3 * jax_median,
        "jax_ms_per_step_min": 1e3 * jax_min,
        "keras_over_jax": keras_median / jax_median,
        "keras_over_jax_min": keras_min / jax_min,
        "examples_per_s": config.batch_size / keras_median,
        "jax_examples_per_s": config.batch_size / jax_median,
    }
    if with_metrics:
        median, minimum = _median_min(per_step["keras_with_metrics"])
        result.update(
            {
                "keras_with_metrics_compile_s": runners[2].compile_s,
                "keras_with_metrics_ms_per_step_median": 1e3 * median,
                "keras_with_metrics_ms_per_step_min": 1e3 * minimum,
            }
        )
    return result


def _percentile_ms(seconds, q):
    return float(1e3 * np.percentile(seconds, q))


def _time_calls(predict, features, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        np.asarray(predict(features))
        times.append(time.perf_counter() - start)
    return times


def bench_inference(config, num_candidates, latency_calls, batch_size, batch_calls):
    """Latency of one visitor x `num_candidates` and throughput at `batch_size` visitors.

    The model is saved to a temporary `.keras` and loaded back (as a server
    would), then called two ways: `predict_on_batch` and a `jax.jit` of
    `stateless_call` with the weights as arguments; the faster one is timed.
    Times include the host-to-device copy of the inputs and the copy of the
    logits back to numpy.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ranker.keras"
        PhoenixRanker(**config.model_kwargs(), dtype=config.precision).save(path)
        loaded = keras.saving.load_model(path)

    @jax.jit
    def stateless_predict(trainable, non_trainable, features):
        logits, _ = loaded.stateless_call(trainable, non_trainable, features, training=False)
        return logits  # [B, C, A]

    def jit_stateless_call():
        # Read the weights after `predict_on_batch` ran: it donates and replaces them.
        trainable = [variable.value for variable in loaded.trainable_variables]
        non_trainable = [variable.value for variable in loaded.non_trainable_variables]
        return lambda features: stateless_predict(trainable, non_trainable, features)

    methods = {
        "predict_on_batch": lambda: loaded.predict_on_batch,
        "jit_stateless_call": jit_stateless_call,
    }
    shapes = dict(full=True, num_candidate_features=config.num_candidate_features)
    one, _, _ = random_batch(1, config.history_length, num_candidates, seed=1, **shapes)
    many, _, _ = random_batch(batch_size, config.history_length, num_candidates, seed=2, **shapes)
    trial, predictors = {}, {}
    for name, make_predict in methods.items():
        predictors[name] = predict = make_predict()
        _time_calls(predict, one, 5)
        trial[name] = 1e3 * statistics.median(_time_calls(predict, one, 20))
    method = min(trial, key=trial.get)
    LOGGER.info(
        "inference trial p50 ms: %s; timing %s",
        ", ".join(f"{name} {ms:.2f}" for name, ms in trial.items()), method,
    )
    predict = predictors[method]
    latency = _time_calls(predict, one, latency_calls)
    start = time.perf_counter()
    _time_calls(predict, many, 1)
    batch_compile_s = time.perf_counter() - start
    batch_times = _time_calls(predict, many, batch_calls)
    return {
        "method": method,
        "trial_p50_ms_by_method": trial,
        "precision": config.precision,
        "history_length": config.history_length,
        "num_candidates": num_candidates,
        "latency_calls": latency_calls,
        "p50_ms": _percentile_ms(latency, 50),
        "p99_ms": _percentile_ms(latency, 99),
        "batch_size": batch_size,
        "batch_compile_s": batch_compile_s,
        "batch_ms_median": 1e3 * statistics.median(batch_times),
        "visitors_per_s": batch_size / statistics.median(batch_times),
    }


def _benchmark_module():
    try:
        from datasets import benchmark
    except ImportError as error:
        raise UserError(
            f"--only pipeline/prepare needs TensorFlow and TFDS ({error}). "
            "Run with --only train,inference on a machine without them."
        ) from None
    return benchmark


def bench_pipeline(config, dataset, data_dir, num_batches, repeats):
    """Training examples/s of the tf.data pipeline (`datasets.benchmark.measure_pipeline`)."""
    return _benchmark_module().measure_pipeline(
        dataset=dataset,
        data_dir=data_dir,
        batch_size=config.batch_size,
        history_length=config.history_length,
        num_candidates=config.num_candidates,
        num_batches=num_batches,
        repeats=repeats,
        seed=config.seed,
    )


def bench_prepare(dataset):
    """Time and peak memory of preparing a build (`datasets.benchmark.measure_prepare`)."""
    try:
        return _benchmark_module().measure_prepare(dataset=dataset)
    except RuntimeError as error:
        raise UserError(str(error)) from None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info():
    """The accelerator JAX uses, the host CPU and its load."""
    device = jax.devices()[0]
    return {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "description": str(device),
        "num_devices": jax.device_count(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
    }


def versions():
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def parse_sections(values):
    """`--only` values (repeatable, comma lists) to an ordered tuple of sections."""
    if not values:
        return SECTIONS
    chosen = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(chosen - set(SECTIONS))
    if unknown:
        raise UserError(f"Unknown --only {unknown}. Expected some of: {', '.join(SECTIONS)}.")
    return tuple(section for section in SECTIONS if section in chosen)


def enable_compilation_cache(folder):
    """Turns on JAX's persistent compilation cache in `folder` (every compiled program is kept)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def format_table(results):
    """A plain-text table of the headline numbers."""
    rows = [("device", results["device"]["description"] + " / " + results["device"]["cpu"])]
    train = results.get("train")
    if train:
        rows += [
            ("train shapes", f"B={train['batch_size']} S={train['history_length']} "
             f"C={train['num_candidates']} {train['precision']}"),
            ("keras ms/step (median / min)",
             f"{train['keras_ms_per_step_median']:.1f} / {train['keras_ms_per_step_min']:.1f}"),
            ("jax ms/step (median / min)",
             f"{train['jax_ms_per_step_median']:.1f} / {train['jax_ms_per_step_min']:.1f}"),
            ("keras / jax", f"{train['keras_over_jax']:.3f}"),
            ("train examples/s (keras)", f"{train['examples_per_s']:.0f}"),
            ("compile s (keras / jax)",
             f"{train['keras_compile_s']:.1f} / {train['jax_compile_s']:.1f}"),
        ]
        if "keras_with_metrics_ms_per_step_median" in train:
            rows.append(("keras + metrics ms/step",
                         f"{train['keras_with_metrics_ms_per_step_median']:.1f}"))
    if "pipeline" in results:
        rows.append(("pipeline examples/s", f"{results['pipeline']['examples_per_s']:.0f}"))
    inference = results.get("inference")
    if inference:
        rows += [
            (f"inference 1x{inference['num_candidates']} p50 / p99 ms",
             f"{inference['p50_ms']:.2f} / {inference['p99_ms']:.2f} ({inference['method']})"),
            (f"inference visitors/s (batch {inference['batch_size']})",
             f"{inference['visitors_per_s']:.0f}"),
        ]
    if "catalogue" in results:
        rows += catalogue_rows(results["catalogue"])
    prepare = results.get("prepare")
    if prepare:
        rows.append(("prepare", f"{prepare['dataset']}: {prepare['events']} raw events "
                     f"({prepare['events_kept']} kept) in {prepare['seconds']:.1f} s, "
                     f"peak RSS {prepare['peak_rss_mb']:.0f} MB"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


COUNT_FLAGS = {
    "steps": (20, "timed training steps per repeat, after compilation and a 2-step warm-up"),
    "repeats": (3, "timed repeats of the training and pipeline loops (Keras and JAX interleaved); median and min are "
                "reported"),
    "inference_candidates": (100, "candidates per visitor in the inference benchmark"),
    "latency_calls": (200, "timed one-visitor calls for p50/p99, after warm-up"),
    "inference_batch": (256, "visitors per call in the throughput benchmark"),
    "batch_calls": (10, "timed calls in the throughput benchmark"),
    "pipeline_batches": (200, "batches timed per repeat in the pipeline benchmark"),
    "catalogue_repeats": (10, "timed repeats of exhaustive catalogue ranking (100 calls time the two stages)"),
}
"""The counting flags, each at least 1: `{flag: (default, help)}`."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m app.bench", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--config", default="default",
        help=f"named configuration giving the model and the shapes B, S, C: {', '.join(PRESETS)} "
        "(default: %(default)s)")
    add("--only", action="append", metavar="SECTION",
        help=f"sections to run, repeatable or comma-separated: {', '.join(SECTIONS)} "
        "(default: all)")
    add("--batch_size", type=int, default=None,
        help="training batch size B (default: the config's)")
    add("--precision", choices=PRECISIONS, default=None,
        help="Keras dtype policy; the JAX step computes in bfloat16 under mixed_bfloat16 "
        "(default: the config's)")
    for flag, (default, text) in COUNT_FLAGS.items():
        add(f"--{flag}", type=int, default=default, help=f"{text} (default: %(default)s)")
    add("--steps_per_execution", type=int, default=None,
        help="Keras steps per compiled call (default: the config's)")
    add("--with_metrics", action="store_true",
        help="also time model.fit compiled with the training metrics, as app.fit runs it")
    add("--dataset", default="synthetic", choices=("synthetic", "synthetic_full"),
        help="TFDS build the pipeline benchmark reads, prepared first if needed "
        "(default: %(default)s)")
    add("--data_dir", default=None,
        help="TFDS data directory of --dataset (default: the TFDS default)")
    add("--prepare_dataset", default="synthetic_full", choices=("synthetic", "synthetic_full"),
        help="build whose preparation from scratch (temporary data dir) is timed "
        "(default: %(default)s)")
    add("--compilation_cache", metavar="DIR", default=None,
        help="enable JAX's persistent compilation cache in DIR (default: off)")
    add("--json", metavar="PATH", default=None,
        help="also write the results as JSON to PATH (default: only print the table)")
    return parser


def run(args):
    sections = parse_sections(args.only)
    for flag in COUNT_FLAGS:
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be at least 1. Received: {getattr(args, flag)}")
    preset = named_preset(args.config)
    config = preset.ranker
    overrides = {
        "batch_size": args.batch_size,
        "precision": args.precision,
        "steps_per_execution": args.steps_per_execution,
    }
    config = dataclasses.replace(
        config, **{name: value for name, value in overrides.items() if value is not None}
    )
    if args.compilation_cache:
        enable_compilation_cache(args.compilation_cache)
    keras.utils.set_random_seed(config.seed)  # the random models' weights and the benchmark's inputs
    results = {"config": args.config, "device": device_info(), "versions": versions()}
    LOGGER.info("device: %s | cpu: %s | load %.2f", results["device"]["description"],
                results["device"]["cpu"], results["device"]["load_average_1m"])
    if "train" in sections:
        results["train"] = bench_train(config, args.steps, args.repeats, args.with_metrics)
    if "pipeline" in sections:
        results["pipeline"] = bench_pipeline(
            config, args.dataset, args.data_dir, args.pipeline_batches, args.repeats
        )
    if "inference" in sections:
        results["inference"] = bench_inference(
            config, args.inference_candidates, args.latency_calls, args.inference_batch,
            args.batch_calls,
        )
    if "prepare" in sections:
        results["prepare"] = bench_prepare(args.prepare_dataset)
    if "catalogue" in sections:
        # Catalogue ranking for one visitor by the preset's two stages.
        results["catalogue"] = catalogue_timings(config, preset.retrieval, repeats=args.catalogue_repeats)
    results["tensorflow_imported"] = sys.modules.get("tensorflow") is not None
    results["load_average_1m_end"] = os.getloadavg()[0]
    return results


@exits_cleanly_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    results = run(args)
    print(format_table(results))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True))
        LOGGER.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
