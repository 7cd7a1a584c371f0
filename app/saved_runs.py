"""Reading back what `app.fit` left: the `.keras` model and its report."""

import json
import logging
from pathlib import Path

from app.cli import UserError
from app.config import ConfigError
from app.config import TrainConfig
from app.data import DATA_FLAG_NAMES

logger = logging.getLogger("app.saved_runs")


def load_ranker(path):
    """Loads a `.keras` ranker; a missing or unreadable file becomes a one-line `UserError`."""
    import keras

    import app.model  # noqa: F401  (registers the model, its layers, loss and metrics)

    path = Path(path)
    if not path.is_file():
        raise UserError(f"No model file at {path}. Train one with `python -m app.fit` first.")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 (any failure to rebuild the file is the same user error)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"Could not load {path} ({type(error).__name__}: {first_line[:200]}). It was probably "
            "made by an incompatible version of this project or of Keras: retrain it with "
            "`python -m app.fit`."
        ) from error


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


def merged_data_flags(args, report):
    """The run's data flags, overridden by any the user gave on this command line."""
    flags = {name: (report or {}).get("data_flags", {}).get(name) for name in DATA_FLAG_NAMES}
    flags.update({name: getattr(args, name) for name in DATA_FLAG_NAMES if getattr(args, name) is not None})
    return flags
