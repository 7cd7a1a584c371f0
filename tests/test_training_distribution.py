"""`--distribution` (app/training/distribution.py): two virtual CPU devices train as one device does, sharded tables hold half
their rows per device, and a model saved from a sharded run loads and scores the same in a fresh one-device process.

The two-device runs are subprocesses started with `XLA_FLAGS=--xla_force_host_platform_device_count=2` (the device
count is fixed when JAX starts). This file is also their script: `python tests/test_training_distribution.py DATA_DIR OUT_DIR
MODES [MODEL.keras ...]` (see `run_modes`).

Same data: every run seeds Keras with the config's seed right before building the model, as `app.training.run.train`
does, and reads the same seeded `tf.data` pipeline (`app.training.ranker.training_batches`); in one process Keras splits
each global batch of 32 into 16 rows per device, so a 2-device step sees exactly the rows of the 1-device step.
JAX draws the same initial weights whatever their layout (checked: their checksums are equal).

Tolerance: the losses agree to a relative 1e-5 over 10 steps. Splitting the batch changes only the order of float32
sums: the loss is a weighted mean over 32 x 8 x 3 terms and each gradient a sum over the batch, now summed per device
and then across devices. One reordering moves a sum by a few float32 ulps (eps = 1.2e-7), and AdamW, which divides by
the root of the squared gradients, carries such differences into the weights; measured over 10 steps they stay
below 1e-6 relative (smoke config, 2-core CPU). 1e-5 leaves a factor of about 10 over that, while a run one step
off (or on other data) differs by far more: from one step to the next the loss changes by 0.4% at the least.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TWO_DEVICES = "--xla_force_host_platform_device_count=2"
STEPS = 10
LOSS_RTOL = 1e-5
PROBE_LISTS = 301  # odd: the last `predict` batch of 64 lists does not split across 2 devices
DISTRIBUTED_MODES = ("data_parallel", "model_parallel")


def smoke_config():
    """The smoke ranker, one step per epoch so that each epoch's loss is one step's loss."""
    from app.config.presets import PRESETS

    return dataclasses.replace(PRESETS["smoke"].ranker, epochs=STEPS, steps_per_epoch=1, eval_batch_size=64)


# --- the subprocess: train under each mode, predict, export; score saved models ---


def train_mode(mode, data, probe, out_dir):
    """Trains `smoke_config()` for `STEPS` steps under `mode` and writes `<mode>.json`, `.npy` and `.keras`."""
    import keras

    from app.training.distribution import applied, make_distribution
    from app.evaluation.lists import predict_logits
    from app.training.ranker import compiled_ranker, export_ranker, training_batches

    config = smoke_config()
    losses = []
    record_loss = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(float(logs["loss"])))
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    with applied(make_distribution(mode, config)):
        model = compiled_ranker(config)
        initial_checksum = float(sum(np.abs(weight).sum(dtype=np.float64) for weight in model.get_weights()))
        model.fit(training_batches(config, data), epochs=STEPS, steps_per_epoch=1, callbacks=[record_loss],
                  shuffle=False, verbose=0)
        logits = predict_logits(model, probe, config.eval_batch_size)  # [L, C, A]
        shard_shapes = {
            variable.path: list(variable.value.addressable_shards[0].data.shape)
            for variable in [*model.weights, *model.optimizer.variables]
            if re.search(r"(visitor|item)_embedding.table_\d+.embeddings", variable.path)
        }
    export_ranker(model, config, out_dir / f"{mode}.keras")
    np.save(out_dir / f"{mode}.npy", logits)
    (out_dir / f"{mode}.json").write_text(json.dumps({
        "losses": losses, "devices": len(keras.distribution.list_devices()), "shard_shapes": shard_shapes,
        "initial_checksum": initial_checksum,
    }))


def run_modes(data_dir, out_dir, modes, *saved_models):
    """The subprocess: trains under each of `modes` (comma-separated), then scores each saved model loaded here."""
    from app.evaluation.lists import evaluation_lists_for, predict_logits
    from app.training.saved_runs import load_ranker
    from datasets.loading import load_retail_rocket

    out_dir = Path(out_dir)
    data = load_retail_rocket("synthetic", data_dir=data_dir)
    validation = evaluation_lists_for(smoke_config(), data, ("validation",))["validation"]
    probe = {name: values[:PROBE_LISTS] for name, values in validation.features.items()}
    for mode in modes.split(","):
        train_mode(mode, data, probe, out_dir)
    for path in map(Path, saved_models):
        np.save(out_dir / f"{path.stem}.loaded.npy", predict_logits(load_ranker(path), probe, 64))


def run_subprocess(args, devices, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("XLA_FLAGS", None)
    if devices == 2:
        env["XLA_FLAGS"] = TWO_DEVICES
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def runs(synthetic_data_dir, tmp_path_factory):
    """`{mode: (run summary, logits)}` of 2-device runs of both distributed modes and of a fresh 1-device run,
    and `{mode: logits}` of the 2-device runs' saved models loaded in that fresh 1-device process."""
    out = tmp_path_factory.mktemp("distribution")
    script = Path(__file__).resolve()
    run_subprocess([script, synthetic_data_dir, out, ",".join(DISTRIBUTED_MODES)], devices=2)
    run_subprocess([script, synthetic_data_dir, out, "none", *(out / f"{mode}.keras" for mode in DISTRIBUTED_MODES)],
                   devices=1)
    summaries = {mode: (json.loads((out / f"{mode}.json").read_text()), np.load(out / f"{mode}.npy"))
                 for mode in ("none", *DISTRIBUTED_MODES)}
    loaded = {mode: np.load(out / f"{mode}.loaded.npy") for mode in DISTRIBUTED_MODES}
    return summaries, loaded


@pytest.mark.slow
@pytest.mark.parametrize("mode", DISTRIBUTED_MODES)
def test_two_devices_follow_the_one_device_loss(runs, mode):
    summaries, _ = runs
    one, two = summaries["none"][0], summaries[mode][0]
    assert (one["devices"], two["devices"]) == (1, 2)
    assert two["initial_checksum"] == one["initial_checksum"]
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=LOSS_RTOL)
    # Every step moves the loss by far more than the tolerance: a run one step off would fail.
    losses = np.array(one["losses"])
    assert len(losses) == STEPS
    assert np.min(np.abs(np.diff(losses)) / losses[1:]) > 100 * LOSS_RTOL


@pytest.mark.slow
def test_model_parallel_keeps_half_of_each_large_table_and_its_moments_per_device(runs):
    summaries, _ = runs
    config = smoke_config()
    rows = {"visitor": config.visitor_buckets, "item": config.item_buckets}
    for mode, per_device in (("data_parallel", 1), ("model_parallel", 2)):
        shapes = summaries[mode][0]["shard_shapes"]
        assert len(shapes) == 4 * 3  # 2 tables x 2 hashes, each with its AdamW momentum and velocity
        for path, shape in shapes.items():
            table = "visitor" if "visitor" in path else "item"
            assert shape == [rows[table] // per_device, config.emb_size], (mode, path)


@pytest.mark.slow
@pytest.mark.parametrize("mode", DISTRIBUTED_MODES)
def test_a_model_saved_from_a_sharded_run_scores_the_same_on_one_device(runs, mode):
    summaries, loaded = runs
    sharded = summaries[mode][1]
    assert sharded.shape[0] == PROBE_LISTS
    np.testing.assert_allclose(loaded[mode], sharded, rtol=0, atol=1e-6)
    assert np.abs(sharded - summaries["none"][1]).max() < 1e-3  # and close to the one-device run's model


# --- in-process: the layout map, the checks, the report entry ---


def test_the_layout_map_shards_exactly_the_visitor_and_item_tables():
    from app.training.distribution import SHARDED_TABLES
    from app.retrieval.model import RetrievalModel
    from app.training.ranker import compiled_ranker

    ranker = compiled_ranker(smoke_config())
    retrieval = RetrievalModel(emb_size=16, num_layers=1, key_size=8, visitor_buckets=64, item_buckets=128)
    for model in (ranker, retrieval):
        sharded = sorted(variable.path for variable in model.weights if re.fullmatch(SHARDED_TABLES, variable.path))
        assert sharded == [f"{name}_embedding/table_{i}/embeddings" for name in ("item", "visitor") for i in (0, 1)]


def test_none_is_one_device_and_every_mode_is_described():
    import keras

    from app.training.distribution import describe, make_distribution

    config = smoke_config()
    assert make_distribution("none", config) is None
    assert describe("none", None) == {"mode": "none", "devices": 1, "mesh_shape": [1]}
    devices = len(keras.distribution.list_devices())
    for mode in DISTRIBUTED_MODES:
        assert describe(mode, make_distribution(mode, config)) == {
            "mode": mode, "devices": devices, "mesh_shape": [devices]}


@pytest.mark.parametrize("field, value, expected", [
    ("batch_size", 33, "`batch_size` must be a multiple of the 2 devices"),
    ("item_buckets", 4095, "pass --item_buckets 4096"),
    ("eval_batch_size", 32, "`eval_batch_size` must differ from `batch_size`"),
])
def test_configs_that_do_not_split_evenly_are_refused(field, value, expected):
    from app.errors import UserError
    from app.training.distribution import check_divisible

    check_divisible(smoke_config(), 2)
    with pytest.raises(UserError, match=re.escape(expected)):
        check_divisible(dataclasses.replace(smoke_config(), **{field: value}), 2)


def test_bad_modes_and_process_counts_are_user_errors(monkeypatch):
    from app.errors import UserError
    from app.training.distribution import NUM_PROCESSES_VARIABLE, initialize_hosts, make_distribution

    with pytest.raises(UserError, match="Received: distribution='pipeline'"):
        make_distribution("pipeline", smoke_config())
    monkeypatch.setenv(NUM_PROCESSES_VARIABLE, "two")
    with pytest.raises(UserError, match=f"{NUM_PROCESSES_VARIABLE} must be a positive integer"):
        initialize_hosts()
    monkeypatch.setenv(NUM_PROCESSES_VARIABLE, "1")
    assert initialize_hosts() == 1


# --- the command ---


@pytest.mark.slow
def test_fit_reports_two_devices_under_data_parallel(synthetic_data_dir, tmp_path):
    fit = ["-m", "app.fit", "--config", "smoke", "--dataset", "retail_rocket/synthetic", "--data_dir",
           synthetic_data_dir, "--output_dir", tmp_path, "--run_name", "two", "--epochs", "1", "--steps_per_epoch",
           "4", "--eval_max_lists", "200", "--distribution"]
    run_subprocess([*fit, "data_parallel"], devices=2)
    report = json.loads((tmp_path / "two.json").read_text())
    assert report["distribution"] == {"mode": "data_parallel", "devices": 2, "mesh_shape": [2]}
    assert (tmp_path / "two.keras").is_file()


if __name__ == "__main__":
    run_modes(*sys.argv[1:])
