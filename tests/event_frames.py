"""A small seeded generator of Retail Rocket-like events for pipeline tests."""

import numpy as np
import pandas as pd

from datasets.event_store import EventStore, ItemCatalog

SPAN_MS = 30 * 24 * 3_600_000  # a month of events
TRAIN_END_MS = int(SPAN_MS * 0.7)
VALIDATION_END_MS = int(SPAN_MS * 0.85)


def random_event_frame(seed=0, num_visitors=80, num_items=60, max_events=40):
    """Per-event DataFrame with a `split` column from a global time split (70% / 15% / 15% of the span).

    Items are drawn with Zipf-like popularity, often repeated back to back; about 1 in 8 events shares its
    timestamp with the previous one; an item's category changes half-way through the span, and item ids
    divisible by 11 have an unknown category (0) before that.
    """
    rng = np.random.default_rng(seed)
    rows = []
    popularity = 1.0 / np.arange(1, num_items + 1)
    popularity /= popularity.sum()
    for visitor in rng.choice(np.arange(1, 10 * num_visitors), size=num_visitors, replace=False):
        count = int(rng.integers(1, max_events + 1))
        times = np.sort(rng.integers(0, SPAN_MS, size=count))
        ties = rng.random(count) < 0.125
        for i in range(1, count):
            if ties[i]:
                times[i] = times[i - 1]
        items = 1 + rng.choice(num_items, size=count, p=popularity)
        repeat = rng.random(count) < 0.3
        for i in range(1, count):
            if repeat[i]:
                items[i] = items[i - 1]
        actions = rng.choice([1, 2, 3], size=count, p=[0.8, 0.12, 0.08])
        order = np.lexsort((actions, times))
        for t, item, action in zip(times[order], items[order], actions[order]):
            late = t >= SPAN_MS // 2
            category = 0 if (item % 11 == 0 and not late) else 1 + item % 7 + 10 * late
            rows.append((int(visitor), int(item), int(category), int(category // 10), int(action), int(t)))
    frame = pd.DataFrame(
        rows, columns=["visitor_id", "item_id", "category_id", "parent_category_id", "action", "timestamp_ms"]
    )
    frame["split"] = np.where(
        frame["timestamp_ms"] < TRAIN_END_MS,
        "train",
        np.where(frame["timestamp_ms"] < VALIDATION_END_MS, "validation", "test"),
    )
    return frame


def unique_item_frame(seed=0, num_visitors=60, max_events=30):
    """`random_event_frame` with a distinct item id per event, so an item id names one event."""
    frame = random_event_frame(seed=seed, num_visitors=num_visitors, max_events=max_events)
    return frame.assign(item_id=np.arange(1, len(frame) + 1))


def stores_of(frame, splits):
    """`({split: EventStore} for `splits`, the train split's `ItemCatalog`)` of an event frame."""
    catalog = ItemCatalog.from_store(EventStore.from_frame(frame, "train"))
    return {split: EventStore.from_frame(frame, split) for split in splits}, catalog
