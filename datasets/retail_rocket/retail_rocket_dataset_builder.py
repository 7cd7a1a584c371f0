"""retail_rocket dataset: one record per visitor per split, events in time order with earlier splits as context."""

import dataclasses
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

    Args:
        manual_dir: folder holding the Kaggle files; takes precedence over TFDS's manual dir
            (`download_config.manual_dir`, by default `<data_dir>/downloads/manual/`). Unused by the synthetic
            configs.
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

    def __init__(self, *, manual_dir: epath.PathLike | None = None, **kwargs):
        super().__init__(**kwargs)
        self.manual_dir = epath.Path(manual_dir) if manual_dir is not None else None

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

    def _raw_data(self, dl_manager: tfds.download.DownloadManager) -> raw_files.RawData:
        config = self.builder_config
        if config.synthetic_visitors:
            spec = synthetic.SyntheticSpec(num_visitors=config.synthetic_visitors, seed=config.synthetic_seed)
            with tempfile.TemporaryDirectory(prefix="retail_rocket_synthetic_") as directory:
                return raw_files.read_raw_files(synthetic.write_synthetic_raw_files(directory, spec))
        manual_dir = self._manual_dir(dl_manager)
        paths = raw_files.locate_raw_files(
            manual_dir, how_to_get=kaggle_access.MANUAL_DOWNLOAD_INSTRUCTIONS
            + kaggle_access.download_hint(manual_dir))
        raw = raw_files.read_raw_files(paths)
        raw.report["source_files"] = source_fingerprint(paths.all_files())
        return raw

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        if config.sessions:
            return self._session_split_generators(dl_manager)
        raw = self._raw_data(dl_manager)
        sequences = preprocess(raw.events, raw.category_snapshots, raw.category_parents, config.preprocess_options)
        if sequences.statistics["events"] == 0:
            raise ValueError(
                f"No events left after the filters. Received: min_visitor_events={config.min_visitor_events}, "
                f"min_item_events={config.min_item_events}; lower them (the real slice needs 2 and 1).")
        source = ({"kind": "synthetic", "visitors": config.synthetic_visitors, "seed": config.synthetic_seed}
                  if config.synthetic_visitors else {"kind": "manual"})
        self.info.metadata.update({"source": source, "source_files": raw.report.pop("source_files", {}),
                                   "raw": raw.report, **sequences.statistics})
        logger.info("retail_rocket/%s: %d events of %d visitors and %d items kept; records per split %s",
                    config.name, sequences.statistics["events"], sequences.statistics["visitors"],
                    sequences.statistics["items"], sequences.statistics["records_per_split"])
        return {split: self._generate_examples(sequences, split) for split in SPLITS}

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
