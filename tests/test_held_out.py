"""The train split cut again: earlier events and held-out ones partition each visitor, and nothing fitted on the
earlier events sees a held-out one (planted leaks stay out)."""

import numpy as np
import pandas as pd
from event_frames import random_event_frame

from app.candidates.co_visitation import CoVisitation
from app.candidates.popularity import Popularity
from datasets.event_store import EventStore, ItemCatalog
from datasets.held_out import held_out_split
from datasets.retail_rocket.preprocess import per_visitor_split_sizes

HOUR_MS = 3_600_000


def test_earlier_and_held_out_events_partition_every_visitor():
    train = EventStore.from_frame(random_event_frame(seed=5, num_visitors=50), "train")
    split = held_out_split(train)
    _, _, held = per_visitor_split_sizes(train.own_event_counts)
    np.testing.assert_array_equal(split.held_out.own_event_counts, held)
    np.testing.assert_array_equal(split.earlier.visitor_id, train.visitor_id)
    for record in range(train.num_visitors):
        events = slice(train.record_start[record], train.record_end[record])
        earlier = slice(split.earlier.record_start[record], split.earlier.record_end[record])
        held_out = slice(split.held_out.own_start[record], split.held_out.record_end[record])
        for name in ("item_id", "action", "timestamp_ms"):
            whole = getattr(train, name)[events]
            np.testing.assert_array_equal(
                np.concatenate([getattr(split.earlier, name)[earlier], getattr(split.held_out, name)[held_out]]),
                whole)


def planted_frame():
    """Visitor 1 holds out its last event, the only one ever on item 99; visitor 2 holds out a view of item 7 an hour
    after viewing item 50 (visitor 1 viewed 7 too, eight hours before 50: too far apart to be co-visited)."""
    items = [7, 1, 2, 1, 2, 1, 2, 1, 50, 99]
    rows = [(1, item, 5, 3 if item == 99 else 1, hour) for hour, item in enumerate(items)]
    rows += [(2, 50, 6, 1, 0), (2, 7, 5, 1, 1)]
    frame = pd.DataFrame(rows, columns=["visitor_id", "item_id", "category_id", "action", "hour"])
    return frame.assign(parent_category_id=0, timestamp_ms=frame["hour"] * HOUR_MS, split="train")


def test_nothing_fitted_on_the_earlier_events_sees_a_held_out_one():
    train = EventStore.from_frame(planted_frame(), "train")
    split = held_out_split(train)
    held_out_items = split.held_out.item_id[split.held_out.own_event_index()[0]]
    np.testing.assert_array_equal(held_out_items, [99, 7])  # round(0.1 * 10) = 1 of visitor 1's, 1 of visitor 2's
    catalog = ItemCatalog.from_store(split.earlier)
    assert 99 not in catalog.item_id  # touched only in a held-out event: no generator can propose it
    seven, fifty = np.searchsorted(catalog.item_id, [7, 50])
    np.testing.assert_array_equal(catalog.action_counts[seven], [0, 0, 1])  # visitor 1's view alone
    # Fitted on the earlier events, the generators miss visitor 2's held-out view; fitted on the whole train split
    # (the leak the split prevents), they count it.
    assert Popularity(catalog).fit(split.earlier).counts[seven] == 1.0
    assert Popularity(catalog).fit(train).counts[seven] == 2.0
    assert CoVisitation(catalog, window_hours=2.0).fit(split.earlier).table[fifty, seven] == 0
    assert CoVisitation(catalog, window_hours=2.0).fit(train).table[fifty, seven] > 0
