"""`make_builder`: the public entry point returning a (prepared or not) retail_rocket builder."""

import dataclasses
import logging

from etils import epath

from datasets.retail_rocket import kaggle_access, raw_files
from datasets.retail_rocket.retail_rocket_dataset_builder import Builder, RetailRocketConfig

logger = logging.getLogger(__name__)


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
    """Returns the retail_rocket builder for `config`, prepared or not (call `download_and_prepare()`).

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
    chosen.preprocess_options  # validates the values before anything is built
    name = config_name(base, chosen)
    builder = Builder(config=base.name if name == base.name else dataclasses.replace(chosen, name=name),
                      data_dir=data_dir, manual_dir=manual_dir)
    if not base.synthetic_visitors and not builder.is_prepared():
        look_in = epath.Path(manual_dir) if manual_dir is not None else (
            epath.Path(builder.data_dir_root) / "downloads" / "manual")
        if not raw_files.raw_files_present(look_in):
            logger.warning("retail_rocket/%s is not prepared and %s holds no Retail Rocket files.\n%s%s",
                           name, look_in, kaggle_access.MANUAL_DOWNLOAD_INSTRUCTIONS,
                           kaggle_access.download_hint(look_in))
    return builder


def manual_files_present(manual_dir: epath.PathLike | None) -> bool:
    """True where `manual_dir` (or its `retail_rocket/` subfolder) holds a complete set of Kaggle files."""
    return raw_files.raw_files_present(manual_dir)
