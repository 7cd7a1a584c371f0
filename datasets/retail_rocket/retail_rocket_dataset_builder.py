"""retail_rocket dataset: one record per visitor per split, events in time order with earlier splits as context."""

import dataclasses
import functools
import json
import logging
import tempfile

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from datasets.actions import VIEW
from datasets.retail_rocket import kaggle_access, raw_files, session_files, synthetic
from datasets.retail_rocket.source_fingerprint import source_fingerprint
from datasets.retail_rocket.preprocess import SPLITS, PreprocessOptions, preprocess

logger = logging.getLogger(__name__)

SYNTHETIC_VISITORS = 51_000  # about 100K events, the size of a visitor sample like the real slice
MS_PER_POSITION = 3_600_000
"""Sessions have positions, no times: one position is an hour, so an age in hours counts views."""


@dataclasses.dataclass(eq=False)
class RetailRocketConfig(tfds.core.BuilderConfig):
    """A Retail Rocket build: where the raw files come from, filters and split.

    Args:
        min_visitor_events: visitors with fewer events are dropped (filters repeat until stable).
        min_item_events: items with fewer events are dropped.
        synthetic_visitors: 0 reads the Kaggle files from the manual dir; more generates a synthetic twin with
            that many visitors (about 1.96 events each) and reads it the same way.
        synthetic_seed: seed of the synthetic twin.
        split: "per_visitor" (each visitor's first 80% / next 10% / last 10% of events) or "global" (two cutoffs).
        validation_start_ms: global split only: first validation time (None: 80% quantile of event times).
        test_start_ms: global split only: first test time (None: 90% quantile).
        sessions: read the public session benchmark's `train_sessions.csv` instead (see `Builder`).
    """

    min_visitor_events: int = 10
    min_item_events: int = 5
    synthetic_visitors: int = 0
    synthetic_seed: int = 0
    split: str = "per_visitor"
    validation_start_ms: int | None = None
    test_start_ms: int | None = None
    sessions: bool = False

    @property
    def preprocess_options(self) -> PreprocessOptions:
        """The filter and split settings (`PreprocessOptions` validates them)."""
        return PreprocessOptions(**{field: getattr(self, field) for field in _PREPROCESS_FIELDS})


_PREPROCESS_FIELDS = ("min_visitor_events", "min_item_events", "split", "validation_start_ms", "test_start_ms")


def read_raw_data(config: RetailRocketConfig, paths: raw_files.RawFilePaths | None) -> raw_files.RawData:
    """The validated raw data of a build: the synthetic twin generated and read (`paths` None), or the files at
    `paths` read with their fingerprint in `report["source_files"]`. The Beam build runs it in a worker."""
    if config.synthetic_visitors:
        spec = synthetic.SyntheticSpec(num_visitors=config.synthetic_visitors, seed=config.synthetic_seed)
        with tempfile.TemporaryDirectory(prefix="retail_rocket_synthetic_") as directory:
            return raw_files.read_raw_files(synthetic.write_synthetic_raw_files(directory, spec))
    raw = raw_files.read_raw_files(paths)
    raw.report["source_files"] = source_fingerprint(paths.all_files())
    return raw


def check_preprocess_options(config: RetailRocketConfig) -> None:
    """Raises `ValueError` (with the values received) where a config's filters or split are impossible."""
    PreprocessOptions(**{field: getattr(config, field) for field in _PREPROCESS_FIELDS})


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for Retail Rocket (the Kaggle dump, the shared slice, or the synthetic twin).

    The build's metadata records the size and SHA-256 of every raw file it read (`source_files`), so a build
    can be checked against the files before it is reused (`datasets.loading.prepare_builder`).

    The `sessions` config reads the public session benchmark instead (`train_sessions.csv`, views only): one
    record per session, keyed by the session id in `visitor_id` (the models read visitor id 0 there: a session
    has no visitor), every event a view without category, `timestamp_ms` = position x 1 hour so that an event's
    age is the number of views since it; the validation split is the sessions with the last 10% of session ids
    (`session_files.split_sessions`), the train split the others, and there is no test split (the benchmark's
    test cases come as a file).

    Two engines build the same records and statistics. By default the build runs in this process, in memory.
    Given a Beam runner or Beam options (`download_and_prepare(download_config=tfds.download.DownloadConfig(
    beam_options=...))`, or `datasets.loading.prepare_builder(..., engine="beam")`), it runs as an Apache Beam
    pipeline instead (`beam_build.BeamBuild`, the `beam` extra): on the DirectRunner here, on Dataflow, Flink or
    Spark elsewhere. The session benchmark (`sessions`) always builds in memory.

    Args:
        manual_dir: folder holding the Kaggle files; takes precedence over TFDS's manual dir
            (`download_config.manual_dir`, by default `<data_dir>/downloads/manual/`). Unused by the synthetic
            configs.
        beam_shards: shards of visitor and item ids in the Beam build (each worker step handles whole shards).
        beam_filter_iterations: filter rounds unrolled in the Beam build's graph (it fails, saying so, where the
            filters need more).
        **kwargs: passed to `tfds.core.GeneratorBasedBuilder` (`data_dir`, `config`, ...).
    """

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Every physical line of the raw files is accounted for (no quoting: a stray quote is a bad row); "
                 "the metadata records the size and SHA-256 of each raw file (`source_files`).",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = kaggle_access.MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [
        RetailRocketConfig(name="full", description="The Kaggle files (or the shared slice) from the manual dir."),
        RetailRocketConfig(name="synthetic", synthetic_visitors=SYNTHETIC_VISITORS, min_visitor_events=2,
                           min_item_events=1,
                           description="A synthetic twin of about 100K events shaped like the real slice, with "
                                       "the slice's filters (2 and 1); no download."),
        RetailRocketConfig(name="synthetic_full", synthetic_visitors=synthetic.FULL_DUMP_VISITORS,
                           description="A synthetic twin the size of the dump (2.76M events); no download."),
        RetailRocketConfig(name="sessions", sessions=True, min_visitor_events=1, min_item_events=1,
                           description="The public session benchmark's training sessions (train_sessions.csv) "
                                       "from the manual dir, split 90/10 by session id."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "synthetic"

    BEAM_STATISTICS_FILE = "beam_statistics.json"

    def __init__(self, *, manual_dir: epath.PathLike | None = None, beam_shards: int = 64,
                 beam_filter_iterations: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.manual_dir = epath.Path(manual_dir) if manual_dir is not None else None
        self.beam_shards = beam_shards
        self.beam_filter_iterations = beam_filter_iterations
        self._beam = False

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "visitor_id": np.int64,
                "events": tfds.features.Sequence({
                    "item_id": np.int32,
                    "category_id": np.int32,
                    "parent_category_id": np.int32,
                    "action": np.int32,
                    "timestamp_ms": np.int64,
                }),
                "context_end": np.int32,
            }),
            homepage="https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset",
            metadata=tfds.core.MetadataDict(),
        )

    def _manual_dir(self, dl_manager: tfds.download.DownloadManager) -> epath.Path:
        if self.manual_dir is not None:
            return self.manual_dir
        try:
            return dl_manager.manual_dir
        except AssertionError as error:  # TFDS: the folder is missing or empty.
            expected = session_files.TRAIN_SESSIONS_FILE if self.builder_config.sessions else (
                raw_files.EXPECTED_FILES_TEXT)
            raise raw_files.RawFileError(
                f"Retail Rocket raw files not found: {error}\nExpected there:\n{expected}") from None

    def _raw_paths(self, dl_manager: tfds.download.DownloadManager) -> raw_files.RawFilePaths | None:
        """Where the raw files are (None for the synthetic twin, which is generated)."""
        if self.builder_config.synthetic_visitors:
            return None
        manual_dir = self._manual_dir(dl_manager)
        return raw_files.locate_raw_files(
            manual_dir, how_to_get=kaggle_access.MANUAL_DOWNLOAD_INSTRUCTIONS
            + kaggle_access.download_hint(manual_dir))

    def _source(self) -> dict:
        config = self.builder_config
        return ({"kind": "synthetic", "visitors": config.synthetic_visitors, "seed": config.synthetic_seed}
                if config.synthetic_visitors else {"kind": "manual"})

    def _record_statistics(self, statistics: dict) -> None:
        """Puts the build's statistics (`raw` report with `source_files` in it) in the metadata, and logs them."""
        raw = statistics.pop("raw")
        self.info.metadata.update({"source": self._source(), "source_files": raw.pop("source_files", {}),
                                   "raw": raw, **statistics})
        logger.info("retail_rocket/%s: %d events of %d visitors and %d items kept; records per split %s",
                    self.builder_config.name, statistics["events"], statistics["visitors"], statistics["items"],
                    statistics["records_per_split"])

    def _download_and_prepare(self, dl_manager, download_config):
        # A Beam runner or Beam options in the download config choose the Beam build.
        self._beam = bool(download_config.beam_runner or download_config.beam_options)
        super()._download_and_prepare(dl_manager, download_config)

    @property
    def _split_generators(self):
        # TFDS hands a builder a Beam pipeline only when `_split_generators` takes a `pipeline` argument, and
        # creating one needs Apache Beam: so the in-memory build's method has none.
        if self._beam and not self.builder_config.sessions:
            return self._beam_split_generators
        return self._memory_split_generators

    def _memory_split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        if config.sessions:
            return self._session_split_generators(dl_manager)
        raw = read_raw_data(config, self._raw_paths(dl_manager))
        sequences = preprocess(raw.events, raw.category_snapshots, raw.category_parents, config.preprocess_options)
        if sequences.statistics["events"] == 0:
            raise ValueError(
                f"No events left after the filters. Received: min_visitor_events={config.min_visitor_events}, "
                f"min_item_events={config.min_item_events}; lower them (the real slice needs 2 and 1).")
        self._record_statistics({"raw": raw.report, **sequences.statistics})
        return {split: self._generate_examples(sequences, split) for split in SPLITS}

    def _beam_split_generators(self, dl_manager: tfds.download.DownloadManager, pipeline):
        import apache_beam as beam

        from datasets.retail_rocket.beam_build import BeamBuild

        config = self.builder_config
        build = BeamBuild(functools.partial(read_raw_data, config, self._raw_paths(dl_manager)),
                          config.preprocess_options, self.beam_shards, self.beam_filter_iterations)
        records, statistics = build(pipeline)
        # Written by a worker beside the records (a path every runner's workers can reach), read once it has run.
        _ = (statistics | "StatisticsAsJson" >> beam.Map(json.dumps)
             | "WriteStatistics" >> beam.io.WriteToText(
                 str(self.data_path / self.BEAM_STATISTICS_FILE), num_shards=1, shard_name_template=""))
        return records

    def _process_pipeline_result(self, pipeline_result) -> None:
        path = self.data_path / self.BEAM_STATISTICS_FILE
        self._record_statistics(json.loads(path.read_text()))
        path.unlink()

    def _session_split_generators(self, dl_manager: tfds.download.DownloadManager):
        path = session_files.locate_train_sessions(self._manual_dir(dl_manager))
        sessions = session_files.read_sessions(path)
        training, validation = session_files.split_sessions(sessions)
        parts = {"train": training, "validation": validation}
        self.info.metadata.update({
            "source": {"kind": "sessions"},
            "source_files": source_fingerprint([path]),
            "raw": sessions.report,
            "sessions_per_split": {split: len(part) for split, part in parts.items()},
            "events_per_split": {split: int(part.offsets[-1]) for split, part in parts.items()},
            "items": int(np.unique(sessions.items).size),
            "validation_first_session_id": int(validation.session_id[0]),
        })
        logger.info("retail_rocket/sessions: %d training and %d validation sessions", len(training), len(validation))
        return {split: self._session_examples(part) for split, part in parts.items()}

    def _session_examples(self, sessions):
        for session, session_id in enumerate(sessions.session_id):
            items = sessions.items[sessions.offsets[session]:sessions.offsets[session + 1]]
            yield str(session_id), {
                "visitor_id": session_id,
                "events": {
                    "item_id": items,
                    "category_id": np.zeros_like(items),
                    "parent_category_id": np.zeros_like(items),
                    "action": np.full_like(items, VIEW),
                    "timestamp_ms": np.arange(len(items), dtype=np.int64) * MS_PER_POSITION,
                },
                "context_end": np.int32(0),
            }

    def _generate_examples(self, sequences, split):
        yield from sequences.records(split)
