"""The retail_rocket build as an Apache Beam pipeline: the in-memory build's own functions, applied per shard of keys.

`BeamBuild` turns the raw files into the three splits' `(key, example)` records and one statistics dict, the same
records and statistics as the in-memory build (`preprocess.preprocess`), with these steps:

1. Read (one worker): `read_raw` parses and validates every raw file with `raw_files.read_raw_files` (the same
   line accounting and counted skips) and deals the events and category snapshots out to shards by item id.
   This is the one step that holds all the data in one worker: it scales with the dump, not with the cluster.
2. Categories, per item shard: `preprocess.attach_categories` on the shard's events and snapshots (an event's
   category only depends on its own item's snapshots), with the category tree as a side input.
3. Filters, unrolled: `filter_iterations` rounds of (regroup by visitor shard, drop sparse visitors; regroup by item
   shard, drop sparse items), each with `preprocess.filter_until_stable` holding the other filter at 1, which leaves
   it a single-pass filter. A Beam graph has no loops, so the rounds are a fixed number; once the filters settle
   the remaining rounds keep every event, the statistics list the rounds up to the first that changed nothing (as
   the in-memory loop does), and a build whose last round still dropped events fails and says how to fix it.
4. Split and records, per visitor shard: `preprocess.group_and_split` and `VisitorSequences.records`.

Statistics are counted per shard and summed (distinct visitors, items and categories are counted where they are
disjoint across shards, or unioned as small sets). Between steps a shard travels as Arrow IPC bytes, not pickles,
and each step regroups every event once: one read's worth of shuffle per regrouping (README, Scaling out).

The `global` split with cutoffs left to the 80% and 90% time quantiles needs every timestamp in one place and is
refused here; give both cutoffs, or use the in-memory build.
"""

import json

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa

from datasets.actions import ACTION_IDS
from datasets.retail_rocket.preprocess import SPLITS, attach_categories, filter_until_stable, group_and_split

DEFAULT_SHARDS = 64
DEFAULT_FILTER_ITERATIONS = 8


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as Arrow IPC stream bytes (column names and dtypes kept, no index)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def frame_from_bytes(payload: bytes) -> pd.DataFrame:
    """The DataFrame `frame_to_bytes` wrote."""
    return pa.ipc.open_stream(payload).read_all().to_pandas()


def frames_from_bytes(payloads) -> pd.DataFrame:
    """The rows of several `frame_to_bytes` payloads, concatenated."""
    return pd.concat([frame_from_bytes(payload) for payload in payloads], ignore_index=True)


def dealt_by(frame: pd.DataFrame, column: str, num_shards: int):
    """Yields `(shard, bytes)` for each non-empty shard of `frame`'s rows by `column % num_shards`."""
    shards = frame[column].to_numpy() % num_shards
    for shard in np.unique(shards):
        yield int(shard), frame_to_bytes(frame.loc[shards == shard])


def _counter(name, value):
    """A statistics element: `(name, value)`, summed over shards."""
    return beam.pvalue.TaggedOutput("counts", (name, int(value)))


class _Read(beam.DoFn):
    """Step 1: reads the raw files in this worker and deals events and snapshots out by item shard."""

    def __init__(self, read_raw, num_shards):
        self.read_raw = read_raw
        self.num_shards = num_shards

    def process(self, _):
        raw = self.read_raw()
        events = raw.events
        yield beam.pvalue.TaggedOutput("report", json.dumps(raw.report))
        yield beam.pvalue.TaggedOutput("parents", frame_to_bytes(raw.category_parents))
        yield _counter("events_before_filters", len(events))
        yield _counter("visitors_before_filters", events["visitor_id"].nunique())
        yield _counter("items_before_filters", events["item_id"].nunique())
        for shard, payload in dealt_by(events, "item_id", self.num_shards):
            yield beam.pvalue.TaggedOutput("events", (shard, payload))
        for shard, payload in dealt_by(raw.category_snapshots, "item_id", self.num_shards):
            yield beam.pvalue.TaggedOutput("snapshots", (shard, payload))


class _AttachCategories(beam.DoFn):
    """Step 2: categories as of each event for one item shard; the result dealt out by visitor shard."""

    def __init__(self, num_shards):
        self.num_shards = num_shards

    def process(self, element, parents):
        _, grouped = element
        snapshots = list(grouped["snapshots"])
        snapshots = frames_from_bytes(snapshots) if snapshots else pd.DataFrame(
            {"timestamp_ms": np.zeros(0, np.int64), "item_id": np.zeros(0, np.int32),
             "category_id": np.zeros(0, np.int32)})
        events, found = attach_categories(frames_from_bytes(grouped["events"]), snapshots,
                                          frame_from_bytes(parents))
        for name, count in found.items():
            yield _counter(f"categories_found/{name}", count)
        yield from dealt_by(events, "visitor_id", self.num_shards)


class _FilterStep(beam.DoFn):
    """Step 3, half a round: one filter on one shard (visitors by visitor shard, or items by item shard).

    Counts what the round's statistics need and deals the kept events out by the next step's key.
    """

    def __init__(self, round_index, by, min_visitor_events, min_item_events, next_key, num_shards):
        self.round_index = round_index
        self.by = by
        self.min_visitor_events = min_visitor_events
        self.min_item_events = min_item_events
        self.next_key = next_key
        self.num_shards = num_shards

    def process(self, element):
        _, payloads = element
        events = frames_from_bytes(payloads)
        prefix = f"round/{self.round_index}"
        if self.by == "visitor_id":
            yield _counter(f"{prefix}/events_before", len(events))
            yield _counter(f"round/{self.round_index - 1}/visitors_after", events["visitor_id"].nunique())
            kept, _ = filter_until_stable(events, self.min_visitor_events, 1)
            yield _counter(f"{prefix}/events_after_visitor_filter", len(kept))
        else:
            kept, _ = filter_until_stable(events, 1, self.min_item_events)
            yield _counter(f"{prefix}/events_after", len(kept))
            yield _counter(f"{prefix}/items_after", kept["item_id"].nunique())
        yield from dealt_by(kept, self.next_key, self.num_shards)


class _SplitRecords(beam.DoFn):
    """Step 4: one visitor shard's events grouped, sorted and split; its records go to one output per split."""

    def __init__(self, options, last_round):
        self.options = options
        self.last_round = last_round

    def process(self, element):
        _, payloads = element
        events = frames_from_bytes(payloads)
        yield _counter(f"round/{self.last_round}/visitors_after", events["visitor_id"].nunique())
        sequences = group_and_split(events, self.options)
        yield beam.pvalue.TaggedOutput("split_mode", json.dumps(sequences.statistics["split"], sort_keys=True))
        for split in SPLITS:
            yield _counter(f"events_per_split/{split}", sequences.statistics["events_per_split"][split])
            yield _counter(f"records_per_split/{split}", sequences.statistics["records_per_split"][split])
        yield _counter("events", len(events))
        yield _counter("visitors", len(sequences.visitor_id))
        for name, code in ACTION_IDS.items():
            yield _counter(f"action_counts/{name}", int((sequences.action == code).sum()))
        categories, parents = sequences.category_id, sequences.parent_category_id
        yield beam.pvalue.TaggedOutput("categories", np.unique(categories[categories != 0]).tolist())
        yield beam.pvalue.TaggedOutput("parent_categories", np.unique(parents[parents != 0]).tolist())
        for split in SPLITS:
            for key, example in sequences.records(split):
                yield beam.pvalue.TaggedOutput(split, (key, example))


def assemble_statistics(counts, split_modes, categories, parent_categories, report, options, filter_iterations):
    """The build's statistics, laid out as `preprocess.preprocess` and the builder's metadata lay them out.

    Raises:
        ValueError: where the filters had not settled after `filter_iterations` rounds, or nothing was left.
    """
    counts = dict(counts)
    rounds = []
    for index in range(1, filter_iterations + 1):
        prefix = f"round/{index}"
        rounds.append({
            "events_before": counts.get(f"{prefix}/events_before", 0),
            "events_after_visitor_filter": counts.get(f"{prefix}/events_after_visitor_filter", 0),
            "events_after": counts.get(f"{prefix}/events_after", 0),
            "visitors_after": counts.get(f"{prefix}/visitors_after", 0),
            "items_after": counts.get(f"{prefix}/items_after", 0),
        })
        if rounds[-1]["events_after"] == rounds[-1]["events_before"]:
            break
    else:
        raise ValueError(
            f"The filters had not settled after {filter_iterations} rounds (the last dropped "
            f"{rounds[-1]['events_before'] - rounds[-1]['events_after']} events). Expected a round that drops "
            "nothing; build again with a larger `beam_filter_iterations`.")
    if counts.get("events", 0) == 0:
        raise ValueError(
            f"No events left after the filters. Received: min_visitor_events={options.min_visitor_events}, "
            f"min_item_events={options.min_item_events}; lower them (the real slice needs 2 and 1).")
    modes = sorted(set(split_modes))
    if len(modes) != 1:
        raise ValueError(f"Shards split in different ways: {modes}. Expected one split for every shard.")

    def grouped(prefix, names):
        return {name: counts.get(f"{prefix}/{name}", 0) for name in names}

    return {
        "raw": report,
        "split": json.loads(modes[0]),
        "events_per_split": grouped("events_per_split", SPLITS),
        "records_per_split": grouped("records_per_split", SPLITS),
        "min_visitor_events": options.min_visitor_events,
        "min_item_events": options.min_item_events,
        "categories_found": grouped("categories_found", ("events_category_from_earlier_snapshot",
                                                         "events_category_from_later_snapshot",
                                                         "events_without_category")),
        "events_before_filters": counts["events_before_filters"],
        "visitors_before_filters": counts["visitors_before_filters"],
        "items_before_filters": counts["items_before_filters"],
        "filter_iterations": rounds,
        "events": counts["events"],
        "visitors": counts["visitors"],
        "items": rounds[-1]["items_after"],
        "categories": len(set(categories)),
        "parent_categories": len(set(parent_categories)),
        "action_counts": grouped("action_counts", ACTION_IDS),
    }


class BeamBuild:
    """Builds the retail_rocket splits in a Beam pipeline (the module docstring has the steps).

    Args:
        read_raw: a picklable function of no argument returning the `raw_files.RawData` to build from (its
            `report` goes to the statistics as `raw`); it runs in one worker.
        options: the `preprocess.PreprocessOptions` (filters and split).
        num_shards: shards of visitor and item ids; each worker step handles whole shards.
        filter_iterations: the filter rounds unrolled in the graph (see the module docstring).

    Call arguments:
        pipeline: the `beam.Pipeline` (TFDS passes it to the builder's `_split_generators`).

    Returns:
        `({split: PCollection of (key, example)}, PCollection of the one statistics dict)`.
    """

    def __init__(self, read_raw, options, num_shards=DEFAULT_SHARDS, filter_iterations=DEFAULT_FILTER_ITERATIONS):
        if options.split == "global" and (options.validation_start_ms is None or options.test_start_ms is None):
            raise ValueError(
                "The Beam build needs both cutoffs of the global split (the quantile cutoffs need every timestamp "
                f"in one place). Received: validation_start_ms={options.validation_start_ms}, "
                f"test_start_ms={options.test_start_ms}; give both, or build in memory.")
        if num_shards < 1 or filter_iterations < 1:
            raise ValueError("`num_shards` and `filter_iterations` must be at least 1. Received: "
                             f"num_shards={num_shards}, filter_iterations={filter_iterations}")
        self.read_raw = read_raw
        self.options = options
        self.num_shards = num_shards
        self.filter_iterations = filter_iterations

    def __call__(self, pipeline):
        options, shards = self.options, self.num_shards
        read = (pipeline | "Start" >> beam.Create([None])
                | "Read" >> beam.ParDo(_Read(self.read_raw, shards)).with_outputs(
                    "report", "parents", "counts", "events", "snapshots"))
        by_visitor = (
            {"events": read.events, "snapshots": read.snapshots}
            | "GroupByItem" >> beam.CoGroupByKey()
            | "AttachCategories" >> beam.ParDo(_AttachCategories(shards),
                                               beam.pvalue.AsSingleton(read.parents)).with_outputs("counts",
                                                                                                   main="events"))
        counts = [read.counts, by_visitor.counts]
        events = by_visitor.events
        for index in range(1, self.filter_iterations + 1):
            visitor_step = (events | f"GroupByVisitor{index}" >> beam.GroupByKey()
                            | f"FilterVisitors{index}" >> beam.ParDo(_FilterStep(
                                index, "visitor_id", options.min_visitor_events, options.min_item_events, "item_id",
                                shards)).with_outputs("counts", main="events"))
            item_step = (visitor_step.events | f"GroupByItem{index}" >> beam.GroupByKey()
                         | f"FilterItems{index}" >> beam.ParDo(_FilterStep(
                             index, "item_id", options.min_visitor_events, options.min_item_events, "visitor_id",
                             shards)).with_outputs("counts", main="events"))
            counts += [visitor_step.counts, item_step.counts]
            events = item_step.events
        split = (events | "GroupByVisitorForSplit" >> beam.GroupByKey()
                 | "SplitRecords" >> beam.ParDo(_SplitRecords(options, self.filter_iterations)).with_outputs(
                     "counts", "split_mode", "categories", "parent_categories", *SPLITS))
        counts.append(split.counts)
        summed = (counts | "AllCounts" >> beam.Flatten() | "SumCounts" >> beam.CombinePerKey(sum)
                  | "CountsAsList" >> beam.combiners.ToList())

        def as_list(collection, name):
            return collection | f"{name}AsList" >> beam.combiners.ToList()

        def flattened(collection, name):
            return collection | f"{name}Flatten" >> beam.FlatMap(lambda values: values) | f"{name}Distinct" >> (
                beam.Distinct()) | f"{name}AsList" >> beam.combiners.ToList()

        statistics = (
            pipeline | "StatisticsStart" >> beam.Create([None])
            | "Statistics" >> beam.Map(
                lambda _, counts, modes, categories, parents, report: assemble_statistics(
                    counts, modes, categories, parents, json.loads(report), options, self.filter_iterations),
                beam.pvalue.AsSingleton(summed), beam.pvalue.AsSingleton(as_list(split.split_mode, "SplitModes")),
                beam.pvalue.AsSingleton(flattened(split.categories, "Categories")),
                beam.pvalue.AsSingleton(flattened(split.parent_categories, "ParentCategories")),
                beam.pvalue.AsSingleton(read.report)))
        return {name: split[name] for name in SPLITS}, statistics
