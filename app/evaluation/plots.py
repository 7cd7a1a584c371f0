"""The two figures a run leaves: training curves, and the model against the baselines."""

import csv

import matplotlib.pyplot as plt


CURVES = ("loss", "ndcg@10", "hr@10", "mrr", "auc_transaction", "auc_addtocart", "auc_view")
"""Panels of training against validation; the last panel is the generalisation gap."""


def read_training_log(csv_path):
    """The per-epoch log `model.fit`'s `CSVLogger` wrote, as `{column: [values]}`."""
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows if row[key] != ""] for key in rows[0]} if rows else {}


def plot_training_curves(log, path, num_candidates, validation_label):
    """Training and validation curves, one panel per metric, epochs on x, and the generalisation gap.

    The training curves are running means over an epoch's training batches (lists of `num_candidates`); the
    validation curves are the logged validation figures, which `validation_label` describes ("validation (lists of
    100)", say). The last panel, where the log has them, puts NDCG@10 on lists of the same kind side by side:
    training-split lists against validation lists.
    """
    figure, axes = plt.subplots(2, 4, figsize=(17, 7), constrained_layout=True)
    sources = (("", "-", f"training batches (lists of {num_candidates})"), ("val_", "--", validation_label))
    for axis, key in zip(axes.flat, CURVES):
        for prefix, style, label in sources:
            _plot(axis, log.get(prefix + key), style, label)
        axis.set_title(key)
    gap = axes.flat[len(CURVES)]
    if "train_lists_ndcg@10" in log:
        _plot(gap, log["train_lists_ndcg@10"], "-", "training-split lists")
        _plot(gap, log.get("val_ndcg@10"), "--", validation_label)
    gap.set_title("generalisation gap: ndcg@10")
    for axis in axes.flat:
        axis.set_xlabel("epoch")
        if axis.lines:
            axis.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot(axis, values, style, label):
    if values:
        axis.plot(range(1, len(values) + 1), values, style, marker="o", label=label)


def plot_comparison(entries, path, title):
    """Grouped bars, one panel per protocol (`{protocol: M}`): each metric, the model beside every baseline; a
    scorer has one colour in every panel."""
    colours = {}
    for entry in entries.values():
        for name in ("model", *entry["baselines"]):
            colours.setdefault(name, f"C{len(colours) % 10}")
    figure, axes = plt.subplots(len(entries), 1, figsize=(13, 4.5 * len(entries)), constrained_layout=True,
                                squeeze=False)
    for axis, (protocol, entry) in zip(axes[:, 0], entries.items()):
        scorers = {"model": entry["model"]} if entry["model"] is not None else {}
        scorers.update(entry["baselines"])
        keys = [key for key in next(iter(scorers.values())) if key != "lists"]
        keys = [key for key in keys if all(results[key] is not None for results in scorers.values())]
        width = 0.8 / len(scorers)
        for offset, (name, results) in enumerate(scorers.items()):
            positions = [index + offset * width for index in range(len(keys))]
            axis.bar(positions, [results[key] for key in keys], width, label=name, color=colours[name])
        axis.set_xticks([index + 0.4 - width / 2 for index in range(len(keys))], keys)
        axis.set_ylim(0, 1)
        axis.set_title(f"{title}, {protocol} protocol" + ("" if entry["model"] is not None else " (no model row)"))
        axis.legend(fontsize=8, ncols=2)
    figure.savefig(path, dpi=110)
    plt.close(figure)
