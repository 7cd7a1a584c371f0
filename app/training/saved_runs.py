"""Reading back what `app.fit` left: the `.keras` model and its report."""

import json
import logging
import zipfile
from pathlib import Path

import keras

import app.ranker.model  # noqa: F401  (registers the ranker, its layers, loss and metrics for loading)
from app.config.ranker import TrainConfig
from app.errors import ConfigError
from app.errors import UserError
from app.evaluation.report import dataset_entry
from app.retrieval.model import ITEM_FEATURES, USER_FEATURES
from layers.registration import PACKAGE

logger = logging.getLogger("app.training.saved_runs")

RANKER_INPUTS = (
    "visitor_id", "history_item_id", "history_category_id", "history_action", "history_age_hours",
    "candidate_item_id", "candidate_category_id",
)
"""The input names of every `PhoenixRanker` (one built with `num_candidate_features` also has `candidate_features`)."""

OPTIONAL_RANKER_INPUTS = ("candidate_features",)

_ZIP_SIGNATURE = b"PK\x03\x04"


def _saved_model_header(path):
    """The `config.json` and `metadata.json` of a `.keras` archive, or a `UserError` saying what the file is."""
    with open(path, "rb") as file:
        start = file.read(4)
    if start != _ZIP_SIGNATURE:
        raise UserError(
            f"{path} is not a .keras file: a .keras file is a zip archive, this one starts with {start!r}. "
            "Pass the .keras file that `python -m app.fit` wrote."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise zipfile.BadZipFile(f"member {damaged} fails its CRC check")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
        raise UserError(
            f"{path} is truncated or corrupt ({error}). Copy it again, or retrain it with `python -m app.fit`."
        ) from None
    return config, metadata


def load_project_model(path, class_name, input_names, optional_inputs=()):
    """Loads a `.keras` model of this project after checking, before anything heavy, that it is one.

    Each failure is a one-line `UserError` that says which it is: no file, not
    a `.keras` archive, a truncated or corrupt archive, a model of another kind
    (class or inputs), or a model this version of the project cannot rebuild.

    Args:
        path: the `.keras` file.
        class_name: the registered class the file must hold, e.g. "PhoenixRanker".
        input_names: the model's input names, checked once it is loaded.
        optional_inputs: names the model may also have.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"No model file at {path}. Train one with `python -m app.fit` first.")
    config, metadata = _saved_model_header(path)
    expected = f"{PACKAGE}>{class_name}"
    found = config.get("registered_name") or config.get("class_name")
    if found != expected:
        raise UserError(
            f"{path} holds a {found} model, not a {class_name} of this project ({expected}). Pass a .keras file "
            f"written by `python -m app.fit`."
        )
    saved_by = metadata.get("keras_version", "an unknown Keras version")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 (any failure to rebuild the file is the same user error)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"Could not rebuild the {class_name} in {path} (saved with Keras {saved_by}; this is Keras "
            f"{keras.__version__}): {type(error).__name__}: {first_line[:200]}. It was made by an incompatible "
            "version of this project: retrain it with `python -m app.fit`."
        ) from None
    names = sorted(tensor.name for tensor in model.inputs)
    if not set(input_names) <= set(names) <= set(input_names) | set(optional_inputs):
        raise UserError(
            f"{path} holds a {class_name} with inputs {names}, expected {sorted(input_names)}: it was made by an "
            "incompatible version of this project. Retrain it with `python -m app.fit`."
        )
    return model


def load_ranker(path):
    """Loads a `.keras` ranker (`load_project_model` with `PhoenixRanker`'s class and inputs)."""
    return load_project_model(path, "PhoenixRanker", RANKER_INPUTS, OPTIONAL_RANKER_INPUTS)


def load_retriever(path):
    """Loads a `.keras` retrieval model (`load_project_model` with `RetrievalModel`'s class and inputs)."""
    return load_project_model(path, "RetrievalModel", USER_FEATURES + ITEM_FEATURES)


def load_run_report(model_path):
    """The report `<run>.json` beside `<run>.keras`, or `None` when there is none."""
    report_path = Path(model_path).with_suffix(".json")
    if not report_path.is_file():
        return None
    return json.loads(report_path.read_text())


def run_config(report):
    """The training config of a run report (the defaults when there is no report)."""
    if report is None:
        logger.warning("No report beside the model: using the default config's data settings.")
        return TrainConfig()
    try:
        return TrainConfig.from_dict(report["config"])
    except (ConfigError, KeyError) as error:
        raise UserError(f"The run report has an unreadable config: {error}") from error


def run_retriever(model_path):
    """The run's own stage 1: `<run>.retrieval.keras` beside `<run>.keras`."""
    return Path(model_path).with_suffix(".retrieval.keras")


def chosen_retriever(model_path, retriever=None, ranker_alone=False):
    """The retriever a command uses: `retriever` when given, else the run's own one when there is one and the
    ranker is not asked to rank alone (`ranker_alone`); None for the ranker alone."""
    if retriever:
        return Path(retriever)
    beside = run_retriever(model_path)
    return beside if beside.is_file() and not ranker_alone else None


def check_retriever_data(retriever_path, data):
    """Refuses a retriever whose run report names other data than `data` (its catalogue would not be ours)."""
    report = load_run_report(retriever_path)
    if report is None or "dataset" not in report:
        logger.warning("No run report beside %s: cannot check that it was trained on %s.", retriever_path, data.name)
        return

    def identity(entry):
        statistics = entry.get("statistics") or {}
        return entry.get("name"), statistics.get("source_files"), statistics.get("events_per_split")

    theirs, ours = identity(report["dataset"]), identity(dataset_entry(data))
    if theirs != ours:
        raise UserError(f"The retriever {retriever_path} was trained on other data ({theirs[0]}, events per split "
                        f"{theirs[2]}) than the ranker's ({ours[0]}, {ours[2]}). Train a retriever with the ranker's "
                        "data flags: python -m app.fit --model retrieval ...")
