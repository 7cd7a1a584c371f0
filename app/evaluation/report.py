"""The run report: the model beside the baselines, as JSON, as a table and as relative differences."""

import json

from app.evaluation.list_metrics import METRIC_KEYS

COMPARED_KEYS = tuple(key for key in METRIC_KEYS if key != "lists")


def relative_difference(model_value, baseline_value):
    """`(model - baseline) / |baseline|`, or `None` where it is undefined."""
    if model_value is None or baseline_value is None or baseline_value == 0:
        return None
    return (model_value - baseline_value) / abs(baseline_value)


def with_relative_differences(entry):
    """Adds `"relative_to_baselines": {baseline: {metric: relative difference}}` to an entry `M`."""
    entry = dict(entry)
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
    """A markdown table: one row per metric, the model, each baseline, and the model's gain on each."""
    names = list(entry["baselines"])
    header = ["metric", "model", *names, *(f"vs {name}" for name in names)]
    rows = [f"**{title}** ({entry['model']['lists']} lists)", "", "| " + " | ".join(header) + " |"]
    rows.append("|" + "---|" * len(header))
    for key in (key for key in entry["model"] if key != "lists"):
        baselines = [entry["baselines"][name][key] for name in names]
        gains = [relative_difference(entry["model"][key], value) for value in baselines]
        cells = [key, _cell(entry["model"][key]), *map(_cell, baselines), *map(_relative_cell, gains)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_report(path, report):
    """Writes the report as indented JSON (`None` becomes `null`)."""
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
