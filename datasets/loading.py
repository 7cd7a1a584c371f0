"""One call from a `retail_rocket` build config to the three split stores and the item catalog."""

import dataclasses
import json
import logging
import shlex
import shutil

from etils import epath

from datasets.event_store import SPLITS, EventStore, ItemCatalog

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedData:
    """The prepared `retail_rocket` build, read into numpy.

    Args:
        name: "retail_rocket/<config name>", e.g. "retail_rocket/synthetic".
        version: the dataset version, e.g. "1.1.0".
        statistics: the build's statistics (`builder.info.metadata`) as a JSON-able dict.
        train: `EventStore` of the train split.
        validation: `EventStore` of the validation split (train events as context).
        test: `EventStore` of the test split (train and validation events as context); None for the session
            benchmark, whose test cases come as a file.
        catalog: `ItemCatalog` of the train split.
    """

    name: str
    version: str
    statistics: dict
    train: EventStore
    validation: EventStore
    test: EventStore
    catalog: ItemCatalog


ENGINES = ("memory", "beam")
"""How a build runs: in this process (`memory`), or as an Apache Beam pipeline (`beam`, the `beam` extra)."""

DEFAULT_BEAM_OPTIONS = "--runner=DirectRunner"


class StaleBuildError(ValueError):
    """A cached build was made from other raw files than those in the manual folder now."""


def default_manual_dir(data_dir=None):
    """TFDS' manual download folder: `<data_dir>/downloads/manual`, `data_dir` defaulting as in TFDS."""
    import tensorflow_datasets as tfds

    return epath.Path(data_dir or tfds.core.constants.DATA_DIR).expanduser() / "downloads" / "manual"


def beam_download_config(engine, beam_options=None):
    """The TFDS `DownloadConfig` that runs a build on `engine`: None for `memory`, Beam options for `beam`.

    Args:
        engine: one of `ENGINES`.
        beam_options: Beam pipeline options as command-line text, e.g. `"--runner=DataflowRunner --project=p
            --region=r --temp_location=gs://b/tmp"` (default: `DEFAULT_BEAM_OPTIONS`, the DirectRunner here).

    Raises:
        ValueError: for an unknown engine, or `beam` without Apache Beam installed.
    """
    if engine not in ENGINES:
        raise ValueError(f"Expected engine in {ENGINES}. Received: engine={engine!r}")
    if engine == "memory":
        return None
    try:
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        raise ValueError("The Beam build needs Apache Beam, which is not installed. Install the extra: "
                         "pip install -e '.[beam]' (or build in memory: --data_engine memory).") from None
    import tensorflow_datasets as tfds

    return tfds.download.DownloadConfig(beam_options=PipelineOptions(shlex.split(beam_options or DEFAULT_BEAM_OPTIONS)))


def prepare_builder(config="synthetic", data_dir=None, manual_dir=None, min_visitor_events=None,
                    min_item_events=None, if_stale="rebuild", engine="memory", beam_options=None):
    """Returns the `retail_rocket` builder of that config, prepared: built now, or reused if still current.

    For the configs read from files (`full`), the raw files are located first (a missing file is a
    `RawFileError` listing what is expected), and a cached build is reused only while the size and SHA-256 of
    every raw file match those recorded in its metadata. Otherwise `if_stale` decides: "rebuild" deletes it
    and builds again (saying so), "error" raises `StaleBuildError` naming the file that changed. A build is
    made on `engine` (`beam_download_config`); both engines make the same build, so either reuses the other's.
    """
    from datasets.retail_rocket import kaggle_access, make_builder, raw_files, session_files
    from datasets.retail_rocket.source_fingerprint import fingerprint_changes, source_fingerprint

    if if_stale not in ("rebuild", "error"):
        raise ValueError(f"`if_stale` must be 'rebuild' or 'error'. Received: if_stale={if_stale!r}")
    download_config = beam_download_config(engine, beam_options)
    arguments = dict(config=config, data_dir=data_dir, manual_dir=manual_dir,
                     min_visitor_events=min_visitor_events, min_item_events=min_item_events)
    builder = make_builder(**arguments)
    if not builder.builder_config.synthetic_visitors:
        look_in = epath.Path(manual_dir) if manual_dir is not None else default_manual_dir(data_dir)
        if builder.builder_config.sessions:
            files = [session_files.locate_train_sessions(look_in)]
        else:
            files = raw_files.locate_raw_files(
                look_in, how_to_get=kaggle_access.MANUAL_DOWNLOAD_INSTRUCTIONS + kaggle_access.download_hint(look_in)
            ).all_files()
        if builder.is_prepared():
            changes = fingerprint_changes(builder.info.metadata.get("source_files"), source_fingerprint(files))
            if changes:
                name = f"{builder.name}/{builder.builder_config.name}"
                if if_stale == "error":
                    raise StaleBuildError(
                        f"The {name} build in {builder.data_dir} was made from other files than those in "
                        f"{files[0].parent}: {'; '.join(changes)}. Pass --rebuild_data to rebuild it from the "
                        "current files (a model trained on the old build is then scored on new data).")
                logger.warning("Rebuilding %s: %s.", name, "; ".join(changes))
                shutil.rmtree(builder.data_dir)
                builder = make_builder(**arguments)  # a fresh builder: the deleted build's info is gone
    builder.download_and_prepare(download_config=download_config)
    return builder


def _json_able(value):
    return json.loads(json.dumps(value, default=lambda x: x.item() if hasattr(x, "item") else str(x)))


def load_retail_rocket(config="synthetic", data_dir=None, manual_dir=None, min_visitor_events=None,
                       min_item_events=None, if_stale="rebuild", engine="memory", beam_options=None):
    """Prepares the `retail_rocket` build if needed and reads its three splits.

    Args:
        config: builder config, "full", "synthetic", "synthetic_full" or "sessions".
        data_dir: TFDS data directory (the TFDS default when None).
        manual_dir: folder with the Retail Rocket files, for "full".
        min_visitor_events: visitor filter, the config's default when None.
        min_item_events: item filter, the config's default when None.
        if_stale: what a cached build made from other files than the current ones does (`prepare_builder`).
        engine, beam_options: where a build runs (`beam_download_config`).
    """
    builder = prepare_builder(config, data_dir, manual_dir, min_visitor_events, min_item_events, if_stale, engine,
                              beam_options)
    stores = {split: EventStore.from_builder(builder, split) for split in SPLITS if split in builder.info.splits}
    return LoadedData(
        name=f"{builder.name}/{builder.builder_config.name}",
        version=str(builder.version),
        statistics=_json_able(dict(builder.info.metadata or {})),
        train=stores["train"],
        validation=stores["validation"],
        test=stores.get("test"),
        catalog=ItemCatalog.from_store(stores["train"]),
    )
