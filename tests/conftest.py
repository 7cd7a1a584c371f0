"""Shared test fixtures: the default backend and the retail_rocket builds."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402

# --- retail_rocket builds for the data tests (datasets/loading.py): built once per session into a tmp dir ---


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory):
    """A TFDS data dir holding the prepared `retail_rocket/synthetic` build, shared by the session."""
    from datasets.loading import prepare_builder

    data_dir = tmp_path_factory.mktemp("tfds_synthetic")
    prepare_builder(config="synthetic", data_dir=data_dir)
    return data_dir


@pytest.fixture(scope="session")
def retail_rocket_synthetic(synthetic_data_dir):
    """`LoadedData` of the `synthetic` config, read from the session's data dir."""
    from datasets.loading import load_retail_rocket

    return load_retail_rocket(config="synthetic", data_dir=synthetic_data_dir)
