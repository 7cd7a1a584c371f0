"""The two figures a run leaves: training curves, and the model against the baselines."""

import csv

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from app.report import COMPARED_KEYS  # noqa: E402

CURVES = ("loss", "ndcg@10", "hr@10", "mrr", "auc_transaction", "auc_addtocart")


def read_training_log(csv_path):
    """The per-epoch log `model.fit`'s `CSVLogger` wrote, as `{column: [values]}`."""
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows if row[key] != ""] for key in rows[0]} if rows else {}


def plot_training_curves(log, path):
    """Training and validation curves, one panel per metric, epochs on x."""
    figure, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for axis, key in zip(axes.flat, CURVES):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = log.get(prefix + key)
            if values:
                axis.plot(range(1, len(values) + 1), values, style, marker="o",
                          label="validation" if prefix else "training")
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_comparison(entry, path, title):
    """Grouped bars: each metric, the model beside every baseline."""
    scorers = {"model": entry["model"], **entry["baselines"]}
    keys = [key for key in COMPARED_KEYS if all(r[key] is not None for r in scorers.values())]
    width = 0.8 / len(scorers)
    figure, axis = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
    for offset, (name, results) in enumerate(scorers.items()):
        positions = [index + offset * width for index in range(len(keys))]
        axis.bar(positions, [results[key] for key in keys], width, label=name)
    axis.set_xticks([index + 0.4 - width / 2 for index in range(len(keys))], keys)
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)
