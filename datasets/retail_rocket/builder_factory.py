"""`make_builder`: the public entry point returning a (prepared or not) retail_rocket builder."""

import dataclasses

from etils import epath

from datasets.retail_rocket.retail_rocket_dataset_builder import Builder, RetailRocketConfig, check_preprocess_options


def config_name(base: RetailRocketConfig, config: RetailRocketConfig) -> str:
    """Name of `config` derived from `base`: unchanged where equal, else with suffixes such as `_v2_i1`."""
    name = base.name
    if (config.min_visitor_events, config.min_item_events) != (base.min_visitor_events, base.min_item_events):
        name += f"_v{config.min_visitor_events}_i{config.min_item_events}"
    if (config.split, config.validation_start_ms, config.test_start_ms) != (
            base.split, base.validation_start_ms, base.test_start_ms):
        name += f"_{config.split}"
        if config.validation_start_ms is not None or config.test_start_ms is not None:
            name += f"_{config.validation_start_ms}_{config.test_start_ms}"
    return name


def make_builder(config: str = "synthetic", data_dir: epath.PathLike | None = None,
                 manual_dir: epath.PathLike | None = None, min_visitor_events: int | None = None,
                 min_item_events: int | None = None, *, split: str | None = None,
                 validation_start_ms: int | None = None, test_start_ms: int | None = None) -> Builder:
    """Returns the retail_rocket builder for `config`, prepared or not.

    `datasets.loading.prepare_builder` prepares it (checking the raw files first, and a cached build against
    them); `download_and_prepare()` works too.

    Args:
        config: "full", "synthetic" or "synthetic_full".
        data_dir: TFDS data dir (None: TFDS's default, `~/tensorflow_datasets`).
        manual_dir: folder with the Kaggle files (config "full"); None uses TFDS's manual dir.
        min_visitor_events, min_item_events: filters; None keeps the config's (10 and 5). Other values give the
            config a distinct name (e.g. `full_v2_i1`) so that cached builds never mix.
        split, validation_start_ms, test_start_ms: split mode and cutoffs (see `RetailRocketConfig`); non-default
            values also extend the name (e.g. `synthetic_global`).
    """
    base = Builder.builder_configs.get(config)
    if base is None:
        raise ValueError(f"Expected config in {sorted(Builder.builder_configs)}. Received: config={config!r}")
    overrides = {key: value for key, value in (
        ("min_visitor_events", min_visitor_events), ("min_item_events", min_item_events), ("split", split),
        ("validation_start_ms", validation_start_ms), ("test_start_ms", test_start_ms)) if value is not None}
    chosen = dataclasses.replace(base, **overrides)
    check_preprocess_options(chosen)
    name = config_name(base, chosen)
    return Builder(config=base.name if name == base.name else dataclasses.replace(chosen, name=name),
                   data_dir=data_dir, manual_dir=manual_dir)
