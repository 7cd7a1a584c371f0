"""How a training run spreads over devices: `--distribution none|data_parallel|model_parallel`, on `keras.distribution`.

- `none`: Keras' default, the model and the batch on one device (the first accelerator, else the CPU).
- `data_parallel`: `keras.distribution.DataParallel` over every device (of every host): each holds the whole
  model, each training batch is split along its first axis, and XLA sums the gradients across devices.
- `model_parallel`: `keras.distribution.ModelParallel` over the same one-axis mesh: the large hash tables (the
  visitor and item `MultiHashEmbedding` tables, which the retrieval item tower shares) are split along their rows
  across the devices, everything else is replicated, and training batches are split as in `data_parallel`. A
  table of R rows then holds R / N rows per device, and so do its gradient and its two AdamW moments: XLA looks
  each row up on the device that holds it and sums the partial lookups across devices, and the compiled training
  step holds no full-size copy of a sharded table.

Only training batches are split. A batch of the training batch size is split across the devices (it must divide
evenly, `check_divisible`); any other batch, such as those of the `predict` calls that score the validation lists
after every epoch (whose last batch is usually uneven, which Keras cannot split), is given whole to every device:
the same numbers, computed on each device. So the evaluation batch size must differ from the training one.

Several hosts: when `KERAS_DISTRIBUTION_NUM_PROCESSES` is more than 1, `keras.distribution.initialize` calls
`jax.distributed.initialize` with the coordinator (the first of `KERAS_DISTRIBUTION_JOB_ADDRESSES`) and
`KERAS_DISTRIBUTION_PROCESS_ID`; the mesh then spans every host's devices and Keras gives each process its own
part of every training batch (it shards the `tf.data` pipeline by process).
"""

import contextlib
import logging
import math
import os

import keras

from app.errors import UserError

logger = logging.getLogger("app.training.distribution")

MODES = ("none", "data_parallel", "model_parallel")
"""The values of `--distribution`."""

BATCH_AXIS = "batch"
"""The mesh's one axis: training batches are split along it, and so are the sharded tables' rows."""

SHARDED_TABLES = r"(visitor|item)_embedding/table_\d+/embeddings"
"""Paths of the variables `model_parallel` splits by rows: the visitor and item hash tables of the ranker and of
the retrieval model (whose item tower looks items up in the same `item_embedding` tables)."""

SHARDED_TABLE_ROWS = ("visitor_buckets", "item_buckets")
"""The config fields giving the sharded tables' rows."""

NUM_PROCESSES_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"


def initialize_hosts():
    """Joins the processes of a multi-host run (`jax.distributed.initialize`) where the environment names several.

    Reads `KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's `host:port`
    first) and `KERAS_DISTRIBUTION_PROCESS_ID`; does nothing for one process. It must run before anything runs
    on JAX.

    Returns:
        The number of processes.
    """
    text = os.environ.get(NUM_PROCESSES_VARIABLE, "1")
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{NUM_PROCESSES_VARIABLE} must be a positive integer. Received: {text!r}.")
    num_processes = int(text)
    if num_processes > 1:
        keras.distribution.initialize()
        logger.info("Joined the %d processes of %s.", num_processes, os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"))
    return num_processes


def check_divisible(config, num_devices):
    """Refuses a config whose training batch or sharded tables do not split evenly across `num_devices`.

    Also refuses an evaluation batch size equal to the training one: training and evaluation batches are told
    apart by their size (see the module docstring).

    Args:
        config: the run's config (a `TrainConfig` or `RetrievalConfig`).
        num_devices: devices in the mesh.

    Raises:
        UserError: naming the field, its value and what to pass instead.
    """
    for name in ("batch_size", *SHARDED_TABLE_ROWS):
        value = getattr(config, name)
        if value % num_devices:
            raise UserError(
                f"`{name}` must be a multiple of the {num_devices} devices to split across them. Received: "
                f"{name}={value}; pass --{name} {math.ceil(value / num_devices) * num_devices}."
            )
    if config.eval_batch_size == config.batch_size:
        raise UserError(
            "Under a distribution `eval_batch_size` must differ from `batch_size` (training batches are split "
            "across the devices, evaluation batches are not, and they are told apart by their size). Received: "
            f"eval_batch_size={config.eval_batch_size}, batch_size={config.batch_size}; pass --eval_batch_size "
            f"{2 * config.batch_size}."
        )


class _SplitsTrainingBatchesOnly:
    """Splits batches of `split_batch_size` rows along the batch axis; gives any other batch whole to every device.

    Keras works out a call's data layout from its first batch and keeps it for the call's other batches, so a
    `predict` whose first batch was split would fail on an uneven last batch: evaluation batches are never split.
    """

    split_batch_size = None

    def get_data_layout(self, data_shape):
        if not data_shape or data_shape[0] != self.split_batch_size:
            return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)
        return super().get_data_layout(data_shape)


class _DataParallel(_SplitsTrainingBatchesOnly, keras.distribution.DataParallel):
    """`keras.distribution.DataParallel` that splits training batches only."""


class _ModelParallel(_SplitsTrainingBatchesOnly, keras.distribution.ModelParallel):
    """`keras.distribution.ModelParallel` that splits training batches only."""


def make_distribution(mode, config):
    """The `keras.distribution.Distribution` of `mode` over every device (of every host), or None for `none`.

    Joins the other hosts first where the environment names several (`initialize_hosts`).

    Args:
        mode: one of `MODES`.
        config: the run's config (`TrainConfig` or `RetrievalConfig`): batches of `config.batch_size` rows are
            split, and it must split evenly (`check_divisible`).

    Raises:
        UserError: for an unknown mode, or a config that does not split evenly.
    """
    if mode not in MODES:
        raise UserError(f"`distribution` must be one of {', '.join(MODES)}. Received: distribution={mode!r}.")
    if mode == "none":
        return None
    initialize_hosts()
    devices = keras.distribution.list_devices()
    check_divisible(config, len(devices))
    mesh = keras.distribution.DeviceMesh(shape=(len(devices),), axis_names=(BATCH_AXIS,), devices=devices)
    if mode == "data_parallel":
        distribution = _DataParallel(device_mesh=mesh)
    else:
        layout_map = keras.distribution.LayoutMap(mesh)
        layout_map[SHARDED_TABLES] = (BATCH_AXIS, None)  # [R / N, D] on each device
        distribution = _ModelParallel(layout_map=layout_map, batch_dim_name=BATCH_AXIS)
    distribution.split_batch_size = config.batch_size
    return distribution


@contextlib.contextmanager
def applied(distribution):
    """Makes `distribution` Keras' current one for the block (`distribution.scope()`); nothing for None."""
    if distribution is None:
        yield
        return
    with distribution.scope():
        yield


def describe(mode, distribution):
    """The report's `distribution` entry: `{"mode", "devices", "mesh_shape"}` (1 device, mesh `[1]`, for `none`)."""
    if distribution is None:
        return {"mode": mode, "devices": 1, "mesh_shape": [1]}
    mesh = distribution.device_mesh
    return {"mode": mode, "devices": int(mesh.devices.size), "mesh_shape": [int(size) for size in mesh.shape]}


def add_distribution_flag(parser, applies_to="training"):
    """`--distribution`, for the commands that train (`app.fit`, `tuning.search`); see this module.

    Args:
        parser: the command's `argparse.ArgumentParser`.
        applies_to: what the flag distributes, for `--help`.
    """
    parser.add_argument(
        "--distribution",
        choices=MODES,
        default="none",
        help=f"how {applies_to} spreads over the devices (every device of every host; README, Scaling out): "
        "none: one device; data_parallel: the model on every device, each training batch split across them; "
        "model_parallel: as data_parallel, with the visitor and item hash tables split by rows across the "
        "devices (default: %(default)s)",
    )
