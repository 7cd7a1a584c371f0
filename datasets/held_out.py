"""The train split cut again as the build cuts a visitor's events: the last events held out, the rest before them.

This gives training cases of the validation kind with nothing of their targets in what they are scored against:
candidate generators and a catalogue fitted on `earlier` have never seen a held-out event, as those fitted on the
train split have never seen a validation event.
"""

import dataclasses

import numpy as np

from datasets.event_store import EVENT_FIELDS, EventStore
from datasets.retail_rocket.preprocess import per_visitor_split_sizes


@dataclasses.dataclass(frozen=True)
class HeldOutSplit:
    """A train `EventStore` cut in two.

    Attributes:
        earlier: each record's events before its held-out ones (records keep their place; some may be empty).
        held_out: the whole train store, each record's held-out events its own events and the earlier ones its
            context, as a validation store holds a visitor's validation events after their train events.
    """

    earlier: EventStore
    held_out: EventStore


def held_out_split(train_store):
    """Holds out each visitor's last `max(1, round(0.1 n))` of `n >= 2` own train events (none of a single one)."""
    _, _, held = per_visitor_split_sizes(train_store.own_event_counts)  # [V]
    lengths = train_store.record_end - train_store.record_start  # [V]
    kept = lengths - held  # [V] events before the held-out ones, context included
    held_out = dataclasses.replace(train_store, context_end=kept.astype(np.int32))
    position = np.arange(train_store.num_events) - np.repeat(train_store.record_start, lengths)  # [N] within record
    keep = position < np.repeat(kept, lengths)  # [N]
    earlier = EventStore(
        visitor_id=train_store.visitor_id,
        offsets=np.concatenate([[0], np.cumsum(kept)]),
        context_end=np.minimum(train_store.context_end, kept),
        anonymous=train_store.anonymous,
        **{name: getattr(train_store, name)[keep] for name in EVENT_FIELDS},
    )
    return HeldOutSplit(earlier=earlier, held_out=held_out)
