"""Shared test fixtures: the default backend, JAX's compilation cache kept between runs, the retail_rocket builds
made once per run, and the `app.fit` runs that the command tests share (each fitted once per run)."""

import fcntl
import os
import shutil
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402

from commands import SAMPLE  # noqa: E402
from commands import SLICE_FILTERS  # noqa: E402
from commands import FittedRun  # noqa: E402
from commands import fit_once  # noqa: E402


def pytest_configure(config):
    """Points JAX's persistent compilation cache at pytest's cache folder, before anything imports JAX.

    Most of a test's time here is XLA compiling small programs (about 80 ms each on a 2-core CPU); the cache keeps
    them between runs (`pytest --cache-clear` empties it), and the commands the tests start as subprocesses and the
    xdist workers inherit it, so they reuse what any earlier process compiled. Entries are keyed by the program,
    JAX's version and the XLA flags, so a changed model compiles anew. Without pytest's cache
    (`-p no:cacheprovider`) the folder is this run's alone.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return  # an xdist worker of this run, or a cache the user chose
    if config.pluginmanager.has_plugin("cacheprovider"):
        cache = config.cache.mkdir("jax_compilation_cache")
    else:
        cache = tempfile.mkdtemp(prefix="pytest-jax-cache-")
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"


def made_once(tmp_path_factory, name, make):
    """The folder `name` of this pytest run, filled by `make(folder)` in whichever xdist worker asks first.

    The other workers wait for it and then read it; without xdist this is a plain session folder. A `make` that
    fails leaves no folder, and the next worker that asks tries again.
    """
    root = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        root = root.parent  # the run's folder, above each worker's own
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                make(folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            done.touch()
    return folder


# --- retail_rocket builds for the data tests (datasets/loading.py), made once per run ---


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory):
    """A TFDS data dir holding the prepared `retail_rocket/synthetic` build."""
    from datasets.loading import prepare_builder

    return made_once(tmp_path_factory, "tfds_synthetic", lambda folder: prepare_builder("synthetic", data_dir=folder))


@pytest.fixture(scope="session")
def retail_rocket_synthetic(synthetic_data_dir):
    """`LoadedData` of the `synthetic` config, read from the session's data dir."""
    from datasets.loading import load_retail_rocket

    return load_retail_rocket(config="synthetic", data_dir=synthetic_data_dir)


@pytest.fixture(scope="session")
def real_slice_data_dir(tmp_path_factory):
    """A TFDS data dir holding the real slice's build (`retail_rocket/full`, filters 2/1)."""
    from datasets.loading import prepare_builder

    assert (SAMPLE / "events.csv").is_file(), (
        f"The real Retail Rocket slice is missing: expected {SAMPLE}/events.csv and item_properties.csv "
        "(the shared folder beside the repository)."
    )
    return made_once(tmp_path_factory, "tfds_slice", lambda folder: prepare_builder(
        "full", data_dir=folder, manual_dir=SAMPLE, min_visitor_events=2, min_item_events=1))


# --- `app.fit` runs shared by the command tests: each fitted once per run, then only read ---


@pytest.fixture(scope="session")
def twin_run(tmp_path_factory, synthetic_data_dir):
    """`app.fit --config smoke` on the synthetic twin, trained to the end (the tests check that it learned)."""
    data_flags = ["--dataset", "retail_rocket/synthetic", "--data_dir", str(synthetic_data_dir)]
    fit_flags = ["--config", "smoke"]
    output = made_once(tmp_path_factory, "twin_run", lambda folder: fit_once(folder, "smoke", data_flags, fit_flags))
    return FittedRun(output, "smoke", data_flags, fit_flags)


SLICE_RUN_FLAGS = ["--config", "smoke", "--epochs", "1", "--steps_per_epoch", "5", "--eval_max_lists", "300"]


@pytest.fixture(scope="session")
def slice_run(tmp_path_factory):
    """A short `app.fit --config smoke` on the real slice (1 epoch of 5 steps, 300 lists per split) that built its
    data in its own process, from a new data dir."""

    def data_flags(root):
        return ["--dataset", "retail_rocket/full", "--manual_dir", str(SAMPLE), "--data_dir", str(root / "tfds"),
                *SLICE_FILTERS]

    def fit(root):
        assert not (root / "tfds").exists()
        fit_once(root / "models", "built_now", data_flags(root), SLICE_RUN_FLAGS)

    root = made_once(tmp_path_factory, "slice_run", fit)
    return FittedRun(root / "models", "built_now", data_flags(root), SLICE_RUN_FLAGS)
