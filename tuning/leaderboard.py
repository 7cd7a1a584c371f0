"""The search's trials, best first: as rows, as a markdown table and as CSV."""

import csv

from keras_tuner.engine.trial import TrialStatus

from tuning.ranker_hyper_model import SEARCHED_FIELDS, searched_values

HYPERPARAMETER_COLUMNS = (*SEARCHED_FIELDS, "epochs")
METRIC_COLUMNS = ("parameters", "val_ndcg@10", "val_hr@10", "val_mrr", "seconds", "peak_rss_mb")
COLUMNS = ("trial", *HYPERPARAMETER_COLUMNS, *METRIC_COLUMNS, "status", "note")


def _hyperparameters(values, epochs):
    """The searched values of a trial and its epochs (Hyperband trials record their own)."""
    return {**searched_values(values), "epochs": values.get("tuner/epochs", epochs)}


def _note(trial):
    """The last line of a failed trial's message (the reason), else empty."""
    lines = (trial.message or "").strip().splitlines()
    return lines[-1] if lines else ""


def leaderboard_rows(oracle, epochs):
    """One dict per trial (keys `COLUMNS`): completed trials by objective, best first, then the rest.

    Args:
        oracle: the tuner's oracle.
        epochs: the epochs of a trial (Hyperband trials record their own).
    """
    rows = []
    for trial in oracle.trials.values():
        row = {"trial": trial.trial_id, **_hyperparameters(trial.hyperparameters.values, epochs)}
        for name in METRIC_COLUMNS:
            row[name] = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
        if row["parameters"] is not None:
            row["parameters"] = int(row["parameters"])
        row["status"] = trial.status
        row["note"] = _note(trial) if trial.status != TrialStatus.COMPLETED else ""
        rows.append((trial, row))
    completed = [(trial, row) for trial, row in rows if trial.status == TrialStatus.COMPLETED]
    completed.sort(key=lambda pair: -pair[0].score)
    others = sorted(
        ((trial, row) for trial, row in rows if trial.status != TrialStatus.COMPLETED),
        key=lambda pair: pair[0].trial_id,
    )
    return [row for _, row in completed + others]


def _cell(name, value):
    if value is None:
        return ""
    if name == "learning_rate":
        return f"{value:.2e}"
    if name in ("parameters", "peak_rss_mb"):
        return f"{value:,.0f}"
    if name == "seconds":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.4f}" if name.startswith("val_") else f"{value:g}"
    return str(value)


def leaderboard_markdown(rows):
    """The rows as a markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(name, row[name]) for name in COLUMNS) + " |")
    return "\n".join(lines)


def write_leaderboard_csv(rows, path):
    """Writes the rows to `path` as CSV, full precision."""
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
