"""From validated raw tables to per-visitor, per-split event sequences (vectorised numpy/pandas).

Steps:
1. Item category as of each event: the item's latest `categoryid` snapshot at or before the event time; where the
   item has none before, its earliest snapshot after the event; where it has none at all, category 0 (unknown).
   The parent comes from `category_tree.csv` where present, else 0.
2. Filters, repeated until nothing changes: drop visitors with fewer than `min_visitor_events` events, then items
   with fewer than `min_item_events` events.
3. Per visitor, events in time order (ties: view < addtocart < transaction, then item id), split in time:
   - `per_visitor`: of a visitor's n events, the last `n_test = max(1, round(0.1 n))` (n >= 2) go to test, the
     `n_validation = max(1, round(0.1 n))` (n >= 3) before them to validation, the rest to train (round half up).
     So n = 1 is train only, n = 2 is one train and one test event, n >= 3 has events in all three splits,
     n = 10 splits 8/1/1 and n = 15 splits 11/2/2.
   - `global`: events before `validation_start_ms` are train, those before `test_start_ms` validation, the rest
     test; cutoffs left as None are the 80% and 90% quantiles of the filtered event times.
"""

import dataclasses

import numpy as np
import pandas as pd

from datasets.actions import ACTION_IDS

SPLITS = ("train", "validation", "test")
SPLIT_MODES = ("per_visitor", "global")


@dataclasses.dataclass(frozen=True)
class PreprocessOptions:
    """Filter and split settings.

    Args:
        min_visitor_events: visitors with fewer events are dropped (after duplicates are removed).
        min_item_events: items with fewer events are dropped.
        split: "per_visitor" or "global".
        validation_start_ms: first validation timestamp for the global split (None: 80% time quantile).
        test_start_ms: first test timestamp for the global split (None: 90% time quantile).
    """

    min_visitor_events: int = 10
    min_item_events: int = 5
    split: str = "per_visitor"
    validation_start_ms: int | None = None
    test_start_ms: int | None = None

    def __post_init__(self):
        if self.min_visitor_events < 1 or self.min_item_events < 1:
            raise ValueError("Filters must be at least 1. Received: "
                             f"min_visitor_events={self.min_visitor_events}, "
                             f"min_item_events={self.min_item_events}")
        if self.split not in SPLIT_MODES:
            raise ValueError(f"Expected split in {SPLIT_MODES}. Received: split={self.split!r}")
        if (self.validation_start_ms is not None and self.test_start_ms is not None
                and self.validation_start_ms > self.test_start_ms):
            raise ValueError("Expected validation_start_ms <= test_start_ms. Received: "
                             f"validation_start_ms={self.validation_start_ms}, test_start_ms={self.test_start_ms}")


@dataclasses.dataclass
class VisitorSequences:
    """All kept events, grouped by visitor and sorted in time, with each visitor's split boundaries.

    Visitor v owns `events[offsets[v]:offsets[v + 1]]`; of those, `[offsets[v], train_end[v])` are train,
    `[train_end[v], validation_end[v])` validation and `[validation_end[v], offsets[v + 1])` test.

    Args:
        visitor_id: [V] int64, ascending.
        offsets: [V + 1] int64.
        train_end, validation_end: [V] int64 absolute positions.
        item_id, category_id, parent_category_id, action: [N] int32.
        timestamp_ms: [N] int64.
        statistics: JSON-able dict of counts.
    """

    visitor_id: np.ndarray
    offsets: np.ndarray
    train_end: np.ndarray
    validation_end: np.ndarray
    item_id: np.ndarray
    category_id: np.ndarray
    parent_category_id: np.ndarray
    action: np.ndarray
    timestamp_ms: np.ndarray
    statistics: dict

    def split_bounds(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (record start, context end, record end) per visitor; a record exists where end > context end."""
        starts = self.offsets[:-1]
        if split == "train":
            return starts, starts, self.train_end
        if split == "validation":
            return starts, self.train_end, self.validation_end
        if split == "test":
            return starts, self.validation_end, self.offsets[1:]
        raise ValueError(f"Expected split in {SPLITS}. Received: split={split!r}")

    def records(self, split: str):
        """Yields (key, example) in the TFDS record format, one per visitor with events in `split`."""
        starts, context_ends, ends = self.split_bounds(split)
        for v in np.flatnonzero(ends > context_ends):
            start, end = starts[v], ends[v]
            yield str(self.visitor_id[v]), {
                "visitor_id": self.visitor_id[v],
                "events": {
                    "item_id": self.item_id[start:end],
                    "category_id": self.category_id[start:end],
                    "parent_category_id": self.parent_category_id[start:end],
                    "action": self.action[start:end],
                    "timestamp_ms": self.timestamp_ms[start:end],
                },
                "context_end": np.int32(context_ends[v] - start),
            }


def attach_categories(events: pd.DataFrame, snapshots: pd.DataFrame,
                      parents: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Adds `category_id` and `parent_category_id` as of each event (see the module docstring).

    Returns the events sorted by time (row order otherwise unspecified) and counts of how categories were found.
    """
    key_types = {"timestamp_ms": np.int64, "item_id": np.int32}
    events = events.astype(key_types).sort_values("timestamp_ms", kind="stable", ignore_index=True)
    snapshots = snapshots[["timestamp_ms", "item_id", "category_id"]].astype({**key_types, "category_id": np.int32})
    snapshots = snapshots.sort_values("timestamp_ms", kind="stable", ignore_index=True)
    backward = pd.merge_asof(events, snapshots, on="timestamp_ms", by="item_id", direction="backward")
    forward = pd.merge_asof(events, snapshots, on="timestamp_ms", by="item_id", direction="forward")
    before = backward["category_id"].notna().to_numpy()
    after = forward["category_id"].notna().to_numpy()
    category = np.where(before, backward["category_id"].fillna(0).to_numpy(),
                        forward["category_id"].fillna(0).to_numpy()).astype(np.int32)
    events = events.assign(category_id=category)
    parent_of = pd.Series(parents["parent_id"].to_numpy(np.int32), index=parents["category_id"].to_numpy())
    parent = parent_of.reindex(category).fillna(0).to_numpy(np.int32) if len(parent_of) else np.zeros_like(category)
    parent[category == 0] = 0
    events = events.assign(parent_category_id=parent)
    stats = {
        "events_category_from_earlier_snapshot": int(before.sum()),
        "events_category_from_later_snapshot": int((~before & after).sum()),
        "events_without_category": int((~before & ~after).sum()),
    }
    return events, stats


def filter_until_stable(events: pd.DataFrame, min_visitor_events: int,
                        min_item_events: int) -> tuple[pd.DataFrame, list[dict]]:
    """Drops sparse visitors, then sparse items, repeatedly until both conditions hold for every event."""
    if events.empty:
        return events, []
    visitor_codes, _ = pd.factorize(events["visitor_id"])
    item_codes, _ = pd.factorize(events["item_id"])
    keep = np.ones(len(events), dtype=bool)
    iterations = []
    while True:
        before = int(keep.sum())
        visitor_counts = np.bincount(visitor_codes[keep], minlength=visitor_codes.max() + 1)
        keep &= visitor_counts[visitor_codes] >= min_visitor_events
        after_visitors = int(keep.sum())
        item_counts = np.bincount(item_codes[keep], minlength=item_codes.max() + 1)
        keep &= item_counts[item_codes] >= min_item_events
        after = int(keep.sum())
        iterations.append({
            "events_before": before, "events_after_visitor_filter": after_visitors, "events_after": after,
            "visitors_after": int(len(np.unique(visitor_codes[keep]))),
            "items_after": int(len(np.unique(item_codes[keep]))),
        })
        if after == before:
            break
    return events.loc[keep].reset_index(drop=True), iterations


def per_visitor_split_sizes(n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers of train, validation and test events for visitors with n events (see the module docstring)."""
    n = np.asarray(n, dtype=np.int64)
    holdout = np.maximum(1, np.floor(0.1 * n + 0.5).astype(np.int64))
    n_test = np.where(n >= 2, holdout, 0)
    n_validation = np.where(n >= 3, holdout, 0)
    return n - n_validation - n_test, n_validation, n_test


def group_and_split(events: pd.DataFrame, options: PreprocessOptions) -> VisitorSequences:
    """Sorts events per visitor in time and sets the split boundaries."""
    order = np.lexsort((events["item_id"].to_numpy(), events["action"].to_numpy(),
                        events["timestamp_ms"].to_numpy(), events["visitor_id"].to_numpy()))
    visitor = events["visitor_id"].to_numpy()[order]
    timestamp = events["timestamp_ms"].to_numpy(np.int64)[order]
    visitor_id, starts, counts = np.unique(visitor, return_index=True, return_counts=True)
    offsets = np.append(starts, len(visitor)).astype(np.int64)
    split_info = {"mode": options.split}
    if options.split == "per_visitor":
        n_train, n_validation, _ = per_visitor_split_sizes(counts)
        train_end = offsets[:-1] + n_train
        validation_end = train_end + n_validation
    else:
        validation_start = options.validation_start_ms
        test_start = options.test_start_ms
        if validation_start is None:
            validation_start = int(np.quantile(timestamp, 0.8)) if len(timestamp) else 0
        if test_start is None:
            test_start = max(validation_start, int(np.quantile(timestamp, 0.9)) if len(timestamp) else 0)
        visitor_index = np.repeat(np.arange(len(visitor_id)), counts)
        train_end = offsets[:-1] + np.bincount(visitor_index, weights=timestamp < validation_start,
                                               minlength=len(visitor_id)).astype(np.int64)
        validation_end = offsets[:-1] + np.bincount(visitor_index, weights=timestamp < test_start,
                                                    minlength=len(visitor_id)).astype(np.int64)
        split_info.update(validation_start_ms=int(validation_start), test_start_ms=int(test_start))
    sequences = VisitorSequences(
        visitor_id=visitor_id.astype(np.int64), offsets=offsets, train_end=train_end,
        validation_end=validation_end,
        item_id=events["item_id"].to_numpy(np.int32)[order],
        category_id=events["category_id"].to_numpy(np.int32)[order],
        parent_category_id=events["parent_category_id"].to_numpy(np.int32)[order],
        action=events["action"].to_numpy(np.int32)[order],
        timestamp_ms=timestamp, statistics={"split": split_info},
    )
    events_per_split, records_per_split = {}, {}
    for split in SPLITS:
        _, context_ends, ends = sequences.split_bounds(split)
        events_per_split[split] = int((ends - context_ends).sum())
        records_per_split[split] = int((ends > context_ends).sum())
    sequences.statistics.update(events_per_split=events_per_split, records_per_split=records_per_split)
    return sequences


def preprocess(events: pd.DataFrame, snapshots: pd.DataFrame, parents: pd.DataFrame,
               options: PreprocessOptions) -> VisitorSequences:
    """Categories, filters and splits (the module docstring has the rules); statistics on the result."""
    with_categories, category_stats = attach_categories(events, snapshots, parents)
    kept, iterations = filter_until_stable(with_categories, options.min_visitor_events, options.min_item_events)
    sequences = group_and_split(kept, options)
    actions = kept["action"].to_numpy()
    sequences.statistics.update({
        "min_visitor_events": options.min_visitor_events,
        "min_item_events": options.min_item_events,
        "categories_found": category_stats,
        "events_before_filters": int(len(events)),
        "visitors_before_filters": int(events["visitor_id"].nunique()),
        "items_before_filters": int(events["item_id"].nunique()),
        "filter_iterations": iterations,
        "events": int(len(kept)),
        "visitors": int(len(sequences.visitor_id)),
        "items": int(kept["item_id"].nunique()),
        "categories": int(np.unique(sequences.category_id[sequences.category_id != 0]).size),
        "parent_categories": int(np.unique(sequences.parent_category_id[sequences.parent_category_id != 0]).size),
        "action_counts": {name: int((actions == code).sum())
                          for name, code in ACTION_IDS.items()},
    })
    return sequences
