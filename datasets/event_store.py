"""The events of one split of the `retail_rocket` TFDS build as flat numpy arrays, and the train item catalog."""

import dataclasses

import numpy as np

from datasets.actions import NUM_ACTIONS, TRANSACTION, VIEW, label_column

SPLITS = ("train", "validation", "test")
EVENT_FIELDS = ("item_id", "category_id", "parent_category_id", "action", "timestamp_ms")
MS_PER_HOUR = 3_600_000.0
_INT32_FIELDS = ("item_id", "category_id", "parent_category_id", "action")


@dataclasses.dataclass(frozen=True, eq=False)
class EventStore:
    """One record per visitor of one split, with the events of all records in flat arrays.

    Record `v` owns events `offsets[v]:offsets[v + 1]` in time order; the first `context_end[v]` of them
    are the visitor's events from earlier splits (context), the rest are this split's own events.
    Records are sorted by visitor id.

    Args:
        visitor_id: int64 `[V]` raw Retail Rocket visitor ids, strictly increasing.
        offsets: int64 `[V + 1]` record boundaries in the flat event arrays.
        context_end: int32 `[V]` number of context events at the start of each record.
        item_id: int32 `[N]`.
        category_id: int32 `[N]`, 0 when unknown at the time of the event.
        parent_category_id: int32 `[N]`, 0 when unknown.
        action: int32 `[N]`, 1 view, 2 addtocart, 3 transaction.
        timestamp_ms: int64 `[N]`, non-decreasing within each record.
        anonymous: the records are sessions without a visitor (`visitor_id` is only their key), so the
            model's `visitor_id` feature is 0 (`model_features`).
    """

    visitor_id: np.ndarray
    offsets: np.ndarray
    context_end: np.ndarray
    item_id: np.ndarray
    category_id: np.ndarray
    parent_category_id: np.ndarray
    action: np.ndarray
    timestamp_ms: np.ndarray
    anonymous: bool = False

    def __post_init__(self):
        dtypes = {"visitor_id": np.int64, "offsets": np.int64, "context_end": np.int32, "timestamp_ms": np.int64}
        dtypes.update({name: np.int32 for name in _INT32_FIELDS})
        for name, dtype in dtypes.items():
            value = np.asarray(getattr(self, name))
            if value.ndim != 1:
                raise ValueError(f"`{name}` must be one-dimensional. Received: {name}.shape={value.shape}")
            object.__setattr__(self, name, np.ascontiguousarray(value, dtype=dtype))
        num_visitors, num_events = self.visitor_id.size, self.item_id.size
        if self.offsets.size != num_visitors + 1 or self.offsets[0] != 0 or self.offsets[-1] != num_events:
            raise ValueError(
                "`offsets` must have one entry more than `visitor_id`, start at 0 and end at the number of "
                f"events ({num_events}). Received: offsets.shape={self.offsets.shape}, "
                f"offsets[0]={self.offsets[:1]}, offsets[-1]={self.offsets[-1:]}"
            )
        lengths = np.diff(self.offsets)
        if np.any(lengths < 0):
            raise ValueError("`offsets` must be non-decreasing. Received: a decreasing `offsets`.")
        if self.context_end.size != num_visitors or np.any(self.context_end < 0) or np.any(
            self.context_end > lengths
        ):
            raise ValueError(
                "`context_end` needs one entry per record, between 0 and the record's event count. "
                f"Received: context_end.shape={self.context_end.shape}"
            )
        if num_visitors and (self.visitor_id[0] < 0 or self.visitor_id[-1] >= 2**31):
            raise ValueError(
                "Visitor ids must fit the model's int32 input. Received: visitor ids from "
                f"{self.visitor_id[0]} to {self.visitor_id[-1]}"
            )
        if np.any(np.diff(self.visitor_id) <= 0):
            raise ValueError("`visitor_id` must be strictly increasing. Received: unsorted or repeated ids.")
        for name in EVENT_FIELDS:
            if getattr(self, name).size != num_events:
                raise ValueError(
                    f"Every event field needs {num_events} entries. Received: {name}.size={getattr(self, name).size}"
                )
        if np.any((self.action < VIEW) | (self.action > TRANSACTION)):
            raise ValueError(f"`action` must be 1, 2 or 3. Received: action values {np.unique(self.action)}")
        later = np.ones(num_events, dtype=bool)
        later[self.offsets[:-1][lengths > 0]] = False  # [N] event has a predecessor in its record
        if np.any(np.diff(self.timestamp_ms)[later[1:]] < 0):
            raise ValueError("Events must be in time order within each record. Received: a record out of order.")

    @property
    def num_visitors(self):
        return self.visitor_id.size

    @property
    def num_events(self):
        return self.item_id.size

    @property
    def record_start(self):
        """int64 `[V]` index of each record's first event (context included)."""
        return self.offsets[:-1]

    @property
    def own_start(self):
        """int64 `[V]` index of each record's first own (this split's) event."""
        return self.offsets[:-1] + self.context_end

    @property
    def record_end(self):
        """int64 `[V]` one past each record's last event."""
        return self.offsets[1:]

    @property
    def own_event_counts(self):
        return self.record_end - self.own_start

    def event_record(self):
        """int64 `[N]` record index of every event."""
        return np.repeat(np.arange(self.num_visitors, dtype=np.int64), np.diff(self.offsets))

    def own_event_index(self, records=None):
        """Flat indices of the own events of `records` (all records when None), and each one's record.

        Returns:
            `(event_index [M] int64, record [M] int64)`, grouped by record in the order given, time order within.
        """
        records = np.arange(self.num_visitors) if records is None else np.asarray(records, dtype=np.int64)
        counts = self.own_event_counts[records]
        record = np.repeat(records, counts)
        first = np.cumsum(counts) - counts
        event_index = self.own_start[record] + np.arange(record.size) - np.repeat(first, counts)
        return event_index, record

    def history(self, records, stop, length, reference_ms):
        """Model history features of up to `length` events before `stop`, within each record.

        Args:
            records: int64 `[R]` record indices.
            stop: int64 `[R]` flat index one past the last history event (it must lie in the record).
            length: history length `S`.
            reference_ms: int64 `[R]` the ranking moment that ages are measured from.

        Returns:
            A dict with `history_item_id`, `history_category_id`, `history_action` int32 `[R, S]` and
            `history_age_hours` float32 `[R, S]`, most recent last, padded at the front with zeros.
        """
        index = stop[:, None] - length + np.arange(length)  # [R, S]
        valid = index >= self.record_start[records][:, None]  # [R, S]
        index = np.where(valid, index, 0)  # [R, S]
        age_ms = reference_ms[:, None] - self.timestamp_ms[index]  # [R, S]
        return {
            "history_item_id": np.where(valid, self.item_id[index], 0),
            "history_category_id": np.where(valid, self.category_id[index], 0),
            "history_action": np.where(valid, self.action[index], 0),
            "history_age_hours": np.where(valid, age_ms / MS_PER_HOUR, 0.0).astype(np.float32),
        }

    def model_features(self, records, stop, length, reference_ms):
        """The model's visitor and history features of `records`: `visitor_id [R]` and `history(...)`.

        The visitor id is 0 for anonymous records (sessions), so that no model learns a row per session.
        """
        records = np.asarray(records)
        visitor_id = np.zeros(records.size, np.int32) if self.anonymous else self.visitor_id[records].astype(np.int32)
        return {"visitor_id": visitor_id, **self.history(records, stop, length, reference_ms)}

    @classmethod
    def from_frame(cls, events, split=None):
        """Builds a store from a per-event pandas DataFrame (used by tests and small tools).

        Args:
            events: DataFrame with columns `visitor_id`, `item_id`, `category_id`, `parent_category_id`,
                `action`, `timestamp_ms`, and either `split` ("train", "validation", "test"; then `split=`
                picks the split and earlier splits become context) or `context_end` (one value per visitor).
            split: the split to build when `events` has a `split` column.
        """
        missing = [c for c in ("visitor_id",) + EVENT_FIELDS if c not in events.columns]
        if missing:
            raise ValueError(f"`events` lacks columns {missing}. Received: columns={list(events.columns)}")
        if "split" in events.columns:
            if split not in SPLITS:
                raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
            rank = events["split"].map({name: i for i, name in enumerate(SPLITS)}).to_numpy()
            if np.isnan(rank.astype(float)).any():
                raise ValueError(f"`split` column values must be in {SPLITS}. Received: {events['split'].unique()}")
            target = SPLITS.index(split)
            events = events.assign(_rank=rank)[rank <= target]
            own_visitors = events.loc[events["_rank"] == target, "visitor_id"].unique()
            events = events[events["visitor_id"].isin(own_visitors)]
            events = events.sort_values(["visitor_id", "_rank", "timestamp_ms", "action"], kind="stable")
            is_context = (events["_rank"] < target).to_numpy()
        elif "context_end" in events.columns:
            if split is not None:
                raise ValueError(f"`split` needs a `split` column. Received: split={split!r} and no such column")
            events = events.sort_values(["visitor_id", "timestamp_ms", "action"], kind="stable")
            position = events.groupby("visitor_id", sort=False).cumcount().to_numpy()
            is_context = position < events["context_end"].to_numpy()
        else:
            raise ValueError("`events` needs a `split` or a `context_end` column. Received: neither")
        visitor = events["visitor_id"].to_numpy(np.int64)
        visitor_id, first, counts = np.unique(visitor, return_index=True, return_counts=True)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        context_end = np.add.reduceat(is_context.astype(np.int64), first) if visitor.size else first
        return cls(
            visitor_id=visitor_id,
            offsets=offsets,
            context_end=context_end,
            **{name: events[name].to_numpy() for name in EVENT_FIELDS},
        )

    @classmethod
    def from_builder(cls, builder, split, read_batch_size=4096):
        """Reads a prepared `retail_rocket` TFDS split without a Python step per event.

        Args:
            builder: a prepared `tfds` builder of the `retail_rocket` dataset.
            split: "train", "validation" or "test".
            read_batch_size: records decoded per ragged batch.
        """
        import tensorflow as tf

        dataset = builder.as_dataset(split=split, shuffle_files=False)
        dataset = dataset.map(
            lambda record: {
                "visitor_id": record["visitor_id"], "context_end": record["context_end"], **record["events"]
            },
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        parts = {name: [] for name in ("visitor_id", "context_end", "length") + EVENT_FIELDS}
        for batch in dataset.ragged_batch(read_batch_size).prefetch(2):
            parts["visitor_id"].append(batch["visitor_id"].numpy())
            parts["context_end"].append(batch["context_end"].numpy())
            parts["length"].append(batch["item_id"].row_lengths().numpy())
            for name in EVENT_FIELDS:
                parts[name].append(batch[name].flat_values.numpy())
        arrays = {
            name: np.concatenate(chunks) if chunks else np.zeros(0, np.int64) for name, chunks in parts.items()
        }
        # Records come in shard order; sort them by visitor id so a store does not depend on the build.
        order = np.argsort(arrays["visitor_id"], kind="stable")
        lengths = arrays["length"].astype(np.int64)
        old_start = np.cumsum(lengths) - lengths
        new_lengths = lengths[order]
        new_first = np.cumsum(new_lengths) - new_lengths
        event_order = np.repeat(old_start[order] - new_first, new_lengths) + np.arange(new_lengths.sum())
        return cls(
            visitor_id=arrays["visitor_id"][order],
            offsets=np.concatenate([[0], np.cumsum(new_lengths)]),
            context_end=arrays["context_end"][order],
            **{name: arrays[name][event_order] for name in EVENT_FIELDS},
            anonymous=bool(getattr(builder.builder_config, "sessions", False)),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ItemCatalog:
    """Every item with at least one own event in the train store.

    Args:
        item_id: int32 `[I]` strictly increasing item ids.
        category_id: int32 `[I]` the latest known (non-zero) category the item had in a train event, 0 if none.
        action_counts: int64 `[I, A]` train events per item and action, columns (transaction, addtocart, view).
    """

    item_id: np.ndarray
    category_id: np.ndarray
    action_counts: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "item_id", np.asarray(self.item_id, dtype=np.int32))
        object.__setattr__(self, "category_id", np.asarray(self.category_id, dtype=np.int32))
        object.__setattr__(self, "action_counts", np.asarray(self.action_counts, dtype=np.int64))
        num_items = self.item_id.size
        if self.category_id.shape != (num_items,) or self.action_counts.shape != (num_items, NUM_ACTIONS):
            raise ValueError(
                f"Expected category_id [{num_items}] and action_counts [{num_items}, {NUM_ACTIONS}]. Received: "
                f"category_id.shape={self.category_id.shape}, action_counts.shape={self.action_counts.shape}"
            )
        if np.any(np.diff(self.item_id) <= 0):
            raise ValueError("`item_id` must be strictly increasing. Received: unsorted or repeated ids.")

    @property
    def num_items(self):
        return self.item_id.size

    @property
    def popularity(self):
        """int64 `[I]` train events per item, all actions together: the base of negative sampling."""
        return self.action_counts.sum(axis=1)

    def sampling_cdf(self, alpha):
        """float64 `[I]` cumulative distribution of `popularity ** alpha`, last entry exactly 1."""
        if not alpha >= 0:
            raise ValueError(f"`alpha` must be >= 0 (0 is uniform, 1 follows popularity). Received: alpha={alpha}")
        if self.num_items == 0:
            raise ValueError("The catalog is empty: the train store has no events. Received: num_items=0")
        weights = self.popularity.astype(np.float64) ** alpha  # [I]
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        cdf[-1] = 1.0
        return cdf

    def categories(self, item_id):
        """int32 catalog category of each item id (any shape), 0 for items outside the catalog."""
        item_id = np.asarray(item_id)
        if self.num_items == 0:
            return np.zeros(item_id.shape, dtype=np.int32)
        position = np.minimum(np.searchsorted(self.item_id, item_id), self.num_items - 1)
        return np.where(self.item_id[position] == item_id, self.category_id[position], 0).astype(np.int32)

    @classmethod
    def from_store(cls, train):
        """Builds the catalog from the own events of a train `EventStore`."""
        event_index, _ = train.own_event_index()
        items = train.item_id[event_index]
        item_id, item_position = np.unique(items, return_inverse=True)
        counts = np.zeros((item_id.size, NUM_ACTIONS), dtype=np.int64)
        np.add.at(counts, (item_position, label_column(train.action[event_index])), 1)
        # Latest known category: among events with a category, the last one per item in time order.
        category = train.category_id[event_index]
        known = category != 0
        order = np.lexsort((train.timestamp_ms[event_index][known], item_position[known]))
        sorted_position = item_position[known][order]
        last = np.append(sorted_position[1:] != sorted_position[:-1], True)[: sorted_position.size]  # item's last
        category_id = np.zeros(item_id.size, dtype=np.int32)
        category_id[sorted_position[last]] = category[known][order][last]
        return cls(item_id=item_id, category_id=category_id, action_counts=counts)
