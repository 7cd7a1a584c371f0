"""TFDS builder tests for retail_rocket: `full` on dummy_data and a small synthetic twin."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow_datasets as tfds  # noqa: E402

from datasets.retail_rocket import retail_rocket_dataset_builder  # noqa: E402

# The `synthetic` config itself has 51,000 visitors (about 100K events); the test builds 2,000 with the same
# generator, reader and filters so that it stays fast. The counts below are what that seed produces.
SMALL_SYNTHETIC = retail_rocket_dataset_builder.RetailRocketConfig(
    name="synthetic_test_small", version="1.1.0", synthetic_visitors=2_000, min_visitor_events=2,
    min_item_events=1, description="A small synthetic twin for tests.")


class RetailRocketFullTest(tfds.testing.DatasetBuilderTestCase):
    """`full` on dummy_data: 3 visitors survive the default filters (10 and 5), each with a record per split."""

    DATASET_CLASS = retail_rocket_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["full"]
    SPLITS = {"train": 3, "validation": 3, "test": 3}
    SKIP_CHECKSUMS = True


class RetailRocketSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = retail_rocket_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [SMALL_SYNTHETIC]
    SPLITS = {"train": 475, "validation": 364, "test": 475}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
