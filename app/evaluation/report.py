"""The run report: the model beside the baselines, as JSON, as a table and as relative differences."""

import dataclasses
import json

import keras

from app.evaluation.list_metrics import METRIC_KEYS

COMPARED_KEYS = tuple(key for key in METRIC_KEYS if key != "lists")


def relative_difference(model_value, baseline_value):
    """`(model - baseline) / |baseline|`, or `None` where it is undefined."""
    if model_value is None or baseline_value is None or baseline_value == 0:
        return None
    return (model_value - baseline_value) / abs(baseline_value)


def with_relative_differences(entry):
    """Adds `"relative_to_baselines": {baseline: {metric: relative difference}}` to an entry `M` (`{}` when the
    entry has no model)."""
    entry = dict(entry)
    if entry["model"] is None:
        entry["relative_to_baselines"] = {}
        return entry
    entry["relative_to_baselines"] = {
        name: {
            key: relative_difference(entry["model"][key], baseline[key]) for key in entry["model"] if key != "lists"
        }
        for name, baseline in entry["baselines"].items()
    }
    return entry


def _cell(value):
    return "n/a" if value is None else f"{value:.4f}"


def _relative_cell(value):
    return "n/a" if value is None else f"{value:+.1%}"


def comparison_table(entry, title):
    """A markdown table: one row per metric, the model, each baseline, and the model's gain on each.

    An entry without a model (`"model": None`) gives the baselines' columns alone; an entry with a `"shortlist"`
    (a ranker of union shortlists) ends with its reach.
    """
    model = entry["model"]
    columns = {"model": model, **entry["baselines"]} if model is not None else dict(entry["baselines"])
    compared = list(entry["baselines"]) if model is not None else []
    first = next(iter(columns.values()))
    header = ["metric", *columns, *(f"vs {name}" for name in compared)]
    rows = [f"**{title}** ({first['lists']} lists)", "", "| " + " | ".join(header) + " |"]
    rows.append("|" + "---|" * len(header))
    for key in (key for key in first if key != "lists"):
        cells = [key, *(_cell(results[key]) for results in columns.values())]
        cells += [_relative_cell(relative_difference(model[key], entry["baselines"][name][key])) for name in compared]
        rows.append("| " + " | ".join(cells) + " |")
    if "shortlist" in entry:
        shortlist = entry["shortlist"]
        rows += ["", f"The union shortlist ({shortlist['mean_candidates']:.1f} candidates on average) holds a relevant "
                 f"item for {100 * shortlist['reach']:.1f}% of the {shortlist['visitors']} visitors: no ordering of "
                 "it has a higher HR@K."]
    return "\n".join(rows)


def dataset_entry(data):
    """The report's `"dataset"` entry: name, version and the build's statistics."""
    return {"name": data.name, "version": data.version, "statistics": data.statistics}


def run_report(config, data, data_flags, model_path, **sections):
    """The report of every command that trains or scores a model: what it is and what it saw, then `sections`.

    Args:
        config: the model's run config (a dataclass), saved as `"config"`.
        data: the loaded dataset (`app.cli.data.load_data`), its name, version and statistics saved as `"dataset"`.
        data_flags: the data flags that load it again (`app.cli.data.resolved_data_flags`).
        model_path: the `.keras` file the figures are of.
        **sections: the command's own entries (run name, timings, protocols, metrics...), in the order given.

    Returns:
        The report, a JSON-ready dict: `config`, `dataset`, `data_flags`, `model_path`, `backend`, then `sections`.
    """
    return {
        "config": dataclasses.asdict(config),
        "dataset": dataset_entry(data),
        "data_flags": data_flags,
        "model_path": str(model_path),
        "backend": keras.backend.backend(),
        **sections,
    }


def write_report(path, report):
    """Writes the report as indented JSON (`None` becomes `null`)."""
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
