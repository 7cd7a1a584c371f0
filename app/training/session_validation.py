"""Validation on the session benchmark while training: a fixed sample of cases, scored after every epoch."""

import dataclasses

import numpy as np

from app.sessions.metrics import evaluate_scorer
from app.training.timed_validation import TimedValidation

LOGGED_KEYS = ("hr@10", "mrr@10", "hr@20", "mrr@20")


def even_sample(cases, count):
    """At most `count` cases, evenly spaced (a fixed subset: the same for every epoch and every run); all of them
    when `count` is 0 or at least their number."""
    if count == 0 or len(cases) <= count:
        return cases
    chosen = np.linspace(0, len(cases) - 1, count).astype(np.int64)  # [n]
    lengths = np.diff(cases.offsets)[chosen]  # [n]
    starts = cases.offsets[chosen]  # [n]
    items = np.concatenate([cases.items[start:start + length] for start, length in zip(starts, lengths)])  # [M]
    return dataclasses.replace(cases, case_id=cases.case_id[chosen], target=cases.target[chosen], items=items,
                               offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


class SessionValidation(TimedValidation):
    """Adds the session benchmark's `val_hr@K` / `val_mrr@K` to every epoch's logs, and times itself.

    The cases are ranked by a fresh `make_scorer()` over the model being
    trained and scored by `app.sessions.metrics.evaluate_scorer` (all items
    ranked, ties broken by `item_popularity`), as the benchmark's report does.

    Args:
        make_scorer: `f() -> scorer` (`scores(prefix_offsets, prefix_items)`) over the model being trained.
        cases: the validation `SessionCases` to score.
        item_popularity: `[I + 1]` training views, for the tie rule.
    """

    def __init__(self, make_scorer, cases, item_popularity):
        super().__init__()
        self.make_scorer = make_scorer
        self.cases = cases
        self.item_popularity = item_popularity

    def validate(self, epoch, logs):
        metrics = evaluate_scorer(self.make_scorer(), self.cases, self.item_popularity)
        for key in LOGGED_KEYS:
            logs[f"val_{key}"] = metrics[key]
        return (f"validation HR@20 {100 * metrics['hr@20']:.2f}% MRR@20 {100 * metrics['mrr@20']:.2f}% "
                f"({metrics['cases']} cases)")
