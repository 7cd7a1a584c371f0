"""A seeded, vectorised generator of Retail Rocket-shaped raw files (the synthetic twin).

It writes `events.csv`, `item_properties_part1.csv`, `item_properties_part2.csv` and `category_tree.csv` in the
Kaggle layout, with the dump's quirks: exact duplicate event rows, `transactionid` only on transaction rows,
weekly `categoryid` snapshots that start after some of an item's events and occasionally change the category,
other properties (`available`, hashed `888` and numeric `790` values), and roots with an empty `parentid`.
The builder then reads them with the same code as the real files.

The model behind it: a fixed catalogue (items with heavy-tailed popularity in a three-level category tree) and a
population of visitors; `num_visitors` draws a random sample of that population, so a small twin looks like a
visitor sample of the large one, as the real slice is of the real dump. A visitor's event count follows the dump
(most visitors are seen once, about 2 events per visitor); each event either returns to an item the visitor
touched before (the previous one or any earlier one) or picks a new item, mostly from the visitor's one to three
preferred categories. Addtocart mostly lands on a returned-to item (so it follows a view of it), transaction on
an item carted before; a small share of both has no earlier view, as in the dump.
"""

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from etils import epath

from datasets.actions import ACTION_IDS, ADDTOCART, TRANSACTION, VIEW
from datasets.retail_rocket import raw_files

# Totals of the full Kaggle dump (2,756,101 events before duplicates are dropped).
FULL_DUMP_VISITORS = 1_407_580
FULL_DUMP_EVENTS = 2_756_101
START_MS = 1_430_622_004_384  # 2015-05-03 03:00:04 UTC, the dump's first event
END_MS = 1_442_545_187_788  # 2015-09-18 02:59:47 UTC, its last
FIRST_SNAPSHOT_MS = 1_431_226_800_000  # 2015-05-10 03:00 UTC, a Sunday; snapshots are weekly
WEEK_MS = 7 * 24 * 3_600_000

# Events per visitor, for visitors with at least 2 events: the real slice's frequencies of 2..10 events,
# then a Pareto tail (exponent 1.35, cut at the dump's most active visitor).
_COUNT_PMF_2_TO_10 = np.array([0.205, 0.384, 0.160, 0.081, 0.045, 0.031, 0.020, 0.0135, 0.0097])
_TAIL_EXPONENT = 1.35
_MAX_EVENTS = 7_757
_SINGLE_EVENT_SHARE = 0.77

_CATALOGUE_ITEMS = 466_000  # items the population can touch; about 230K of them get events in the full twin
_ITEM_POPULARITY_SIGMA = 1.2
_CORE_ITEM_SHARE, _CORE_BOOST = 0.1, 40.0  # a core of popular items above a long tail of rarely seen ones
_NUM_ROOTS, _NUM_MIDDLE, _NUM_LEAVES = 25, 300, 1_344  # 1,669 categories as in category_tree.csv
_CATEGORY_SIGMA = 2.9
_NO_CATEGORY_SHARE = 0.04
_CATEGORY_CHANGE_PER_SNAPSHOT = 0.03

_RETURN_PROBABILITY = 0.33
_RETURN_TO_PREVIOUS = 0.6
_PREFERRED_CATEGORY_PROBABILITY = 0.75
_CART_ON_NEW_ITEM, _CART_ON_RETURN = 0.018, 0.065
_BUY_ON_NEW_ITEM, _BUY_AFTER_CART = 0.006, 0.2
_SESSION_BREAK = 0.3
_DUPLICATE_ROW_RATE = 460 / FULL_DUMP_EVENTS


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of a synthetic twin.

    Args:
        num_visitors: visitors drawn from the population of 1,407,580 (about 1.96 events each).
        seed: seeds the catalogue and the visitors; the same seed gives the same files.
    """

    num_visitors: int
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.num_visitors <= FULL_DUMP_VISITORS:
            raise ValueError(f"Expected 1 <= num_visitors <= {FULL_DUMP_VISITORS}. "
                             f"Received: num_visitors={self.num_visitors}")


@dataclasses.dataclass
class _Catalogue:
    category_ids: np.ndarray  # [G] all categories
    parent_ids: np.ndarray  # [G], 0 at roots
    item_ids: np.ndarray  # [I]
    item_category: np.ndarray  # [I] category at the first snapshot, 0 = none
    item_weight: np.ndarray  # [I] popularity
    leaf_ids: np.ndarray  # [L] categories items live in
    leaf_item_cumweight: np.ndarray  # [I] cumulative weight of items sorted by leaf
    leaf_item_order: np.ndarray  # [I] item index in that sorted order
    leaf_start: np.ndarray  # [L + 1] range of each leaf in the sorted order
    leaf_mass: np.ndarray  # [L] probability of each leaf


def _make_catalogue(rng: np.random.Generator) -> _Catalogue:
    num_categories = _NUM_ROOTS + _NUM_MIDDLE + _NUM_LEAVES
    category_ids = (rng.permutation(1_698)[:num_categories] + 1).astype(np.int32)
    roots = category_ids[:_NUM_ROOTS]
    middle = category_ids[_NUM_ROOTS:_NUM_ROOTS + _NUM_MIDDLE]
    parent_ids = np.concatenate([
        np.zeros(_NUM_ROOTS, np.int32),
        rng.choice(roots, _NUM_MIDDLE),
        rng.choice(middle, _NUM_LEAVES),
    ]).astype(np.int32)
    leaf_ids = category_ids[_NUM_ROOTS + _NUM_MIDDLE:]
    leaf_share = rng.lognormal(0.0, _CATEGORY_SIGMA, len(leaf_ids))
    leaf_share /= leaf_share.sum()
    item_ids = (rng.choice(466_867, _CATALOGUE_ITEMS, replace=False) + 1).astype(np.int32)
    item_leaf = rng.choice(len(leaf_ids), _CATALOGUE_ITEMS, p=leaf_share)
    core = rng.random(_CATALOGUE_ITEMS) < _CORE_ITEM_SHARE
    item_weight = rng.lognormal(0.0, _ITEM_POPULARITY_SIGMA, _CATALOGUE_ITEMS) * np.where(core, _CORE_BOOST, 1.0)
    order = np.argsort(item_leaf, kind="stable")
    leaf_start = np.searchsorted(item_leaf[order], np.arange(len(leaf_ids) + 1))
    leaf_mass = np.bincount(item_leaf, weights=item_weight, minlength=len(leaf_ids))
    item_category = leaf_ids[item_leaf].astype(np.int32)
    item_category[rng.random(_CATALOGUE_ITEMS) < _NO_CATEGORY_SHARE] = 0
    return _Catalogue(
        category_ids=category_ids, parent_ids=parent_ids, item_ids=item_ids, item_category=item_category,
        item_weight=item_weight, leaf_ids=leaf_ids, leaf_item_cumweight=np.cumsum(item_weight[order]),
        leaf_item_order=order, leaf_start=leaf_start, leaf_mass=leaf_mass / leaf_mass.sum())


def _events_per_visitor(rng: np.random.Generator, num_visitors: int) -> np.ndarray:
    pmf = _COUNT_PMF_2_TO_10 / _COUNT_PMF_2_TO_10.sum() * (1.0 - 0.0508)
    draw = rng.random(num_visitors)
    counts = np.searchsorted(np.cumsum(pmf), draw, side="right") + 2  # 2..10, 11 = tail
    tail = counts > 10
    pareto = 10.0 * (1.0 - rng.random(int(tail.sum()))) ** (-1.0 / _TAIL_EXPONENT)
    counts[tail] = np.minimum(np.floor(pareto).astype(np.int64) + 1, _MAX_EVENTS)
    counts[rng.random(num_visitors) < _SINGLE_EVENT_SHARE] = 1
    return counts.astype(np.int64)


def _draw_items_in_leaves(rng: np.random.Generator, catalogue: _Catalogue, leaves: np.ndarray) -> np.ndarray:
    """Item index drawn by popularity within each given leaf category."""
    cum = catalogue.leaf_item_cumweight
    lo, hi = catalogue.leaf_start[leaves], catalogue.leaf_start[leaves + 1]
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    target = base + rng.random(len(leaves)) * (cum[hi - 1] - base)
    position = np.clip(np.searchsorted(cum, target, side="right"), lo, hi - 1)
    return catalogue.leaf_item_order[position]


def _simulate(rng: np.random.Generator, catalogue: _Catalogue, num_visitors: int) -> pd.DataFrame:
    """Events of `num_visitors` visitors: visitor index, item index, action, timestamp, session, in visitor order."""
    counts = _events_per_visitor(rng, num_visitors)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    visitor = np.repeat(np.arange(num_visitors), counts)  # [N]
    position = np.arange(total) - starts[visitor]  # [N]

    # Each visitor prefers one to three leaf categories, drawn by category popularity.
    preferred = rng.choice(len(catalogue.leaf_ids), (num_visitors, 3), p=catalogue.leaf_mass)
    num_preferred = rng.choice(3, num_visitors, p=[0.5, 0.3, 0.2]) + 1
    slot = np.floor(rng.random(total) * num_preferred[visitor]).astype(np.int64)
    from_preferred = rng.random(total) < _PREFERRED_CATEGORY_PROBABILITY
    leaf = np.where(from_preferred, preferred[visitor, slot],
                    rng.choice(len(catalogue.leaf_ids), total, p=catalogue.leaf_mass))
    new_item = _draw_items_in_leaves(rng, catalogue, leaf)

    # Returning events copy an earlier event's item; pointer jumping resolves chains of copies.
    returns = (position > 0) & (rng.random(total) < _RETURN_PROBABILITY)
    earlier = starts[visitor] + np.floor(rng.random(total) * position).astype(np.int64)
    previous = np.arange(total) - 1
    source = np.where(rng.random(total) < _RETURN_TO_PREVIOUS, previous, earlier)
    pointer = np.where(returns, source, np.arange(total))
    while True:
        jumped = pointer[pointer]
        if np.array_equal(jumped, pointer):
            break
        pointer = jumped
    item = new_item[pointer]

    # Occurrence rank of each (visitor, item) pair and whether it was carted before.
    order = np.lexsort((position, item, visitor))
    pair_key = visitor[order].astype(np.int64) * _CATALOGUE_ITEMS + item[order]
    group_start = np.r_[True, pair_key[1:] != pair_key[:-1]]
    group_first = np.maximum.accumulate(np.where(group_start, np.arange(total), 0))
    rank = np.empty(total, np.int64)
    rank[order] = np.arange(total) - group_first
    draw = rng.random(total)
    action = np.full(total, VIEW, np.int8)
    action[(rank == 0) & (draw < _CART_ON_NEW_ITEM)] = ADDTOCART
    action[(rank == 0) & (draw >= _CART_ON_NEW_ITEM) & (draw < _CART_ON_NEW_ITEM + _BUY_ON_NEW_ITEM)] = TRANSACTION
    action[(rank > 0) & (draw < _CART_ON_RETURN)] = ADDTOCART
    is_cart_sorted = (action[order] == ADDTOCART).astype(np.int64)
    carts_so_far = np.cumsum(is_cart_sorted)
    carts_in_pair = carts_so_far - is_cart_sorted - (carts_so_far - is_cart_sorted)[group_first]
    carted_before = np.empty(total, bool)
    carted_before[order] = carts_in_pair > 0
    buy = (action == VIEW) & carted_before & (rng.random(total) < _BUY_AFTER_CART)
    action[buy] = TRANSACTION

    # Timestamps: short gaps inside a session, days between sessions; each visitor placed inside the window.
    breaks = rng.random(total) < _SESSION_BREAK
    gap_s = np.where(breaks, rng.lognormal(np.log(86_400.0), 1.5, total), rng.lognormal(np.log(45.0), 1.1, total))
    gap_ms = np.minimum(gap_s * 1000.0, 40 * 86_400_000.0).astype(np.int64)
    gap_ms[position == 0] = 0
    offset = np.cumsum(gap_ms)
    offset -= offset[starts][visitor]
    window = END_MS - START_MS
    span = offset[starts + counts - 1]
    squeeze = np.minimum(1.0, window / np.maximum(span, 1))  # the rare visitor longer than the window is squeezed
    offset = (offset * squeeze[visitor]).astype(np.int64)
    span = np.minimum(span, window)
    first = START_MS + (rng.random(num_visitors) * (window - span)).astype(np.int64)
    timestamp = first[visitor] + offset
    session = np.cumsum(breaks | (position == 0))
    return pd.DataFrame({"visitor": visitor, "item": item, "action": action, "timestamp": timestamp,
                         "session": session})


def _write_csv(path: epath.Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with path.open("wb") as stream:
        stream.write((",".join(frame.columns) + "\n").encode())
        pa_csv.write_csv(table, stream, pa_csv.WriteOptions(include_header=False, quoting_style="none"))


_EVENT_NAME_BY_ID = np.array([""] + sorted(ACTION_IDS, key=ACTION_IDS.get), dtype=object)  # raw name of action id


def _events_frame(rng: np.random.Generator, catalogue: _Catalogue, spec: SyntheticSpec) -> pd.DataFrame:
    events = _simulate(rng, catalogue, spec.num_visitors)
    visitor_ids = np.sort(rng.choice(FULL_DUMP_VISITORS, spec.num_visitors, replace=False))
    is_buy = events["action"].to_numpy() == TRANSACTION
    transaction_id = np.full(len(events), -1, np.int64)
    transaction_id[is_buy] = pd.factorize(events["session"].to_numpy()[is_buy])[0]
    frame = pd.DataFrame({
        "timestamp": events["timestamp"].to_numpy(),
        "visitorid": visitor_ids[events["visitor"].to_numpy()],
        "event": _EVENT_NAME_BY_ID[events["action"].to_numpy()],
        "itemid": catalogue.item_ids[events["item"].to_numpy()],
        "transactionid": pd.array(np.where(is_buy, transaction_id, 0), dtype="Int64"),
    })
    frame.loc[~is_buy, "transactionid"] = pd.NA
    duplicate = rng.random(len(frame)) < _DUPLICATE_ROW_RATE
    frame = pd.concat([frame, frame[duplicate]]).sort_values("timestamp", kind="stable")
    return frame.reset_index(drop=True)


def _properties_frame(rng: np.random.Generator, catalogue: _Catalogue) -> pd.DataFrame:
    num_items = len(catalogue.item_ids)
    num_weeks = int((END_MS - FIRST_SNAPSHOT_MS) // WEEK_MS) + 1
    first_week = rng.integers(0, 4, num_items)
    extra = rng.poisson(1.5, num_items)
    has_category = catalogue.item_category != 0
    snapshots_per_item = np.where(has_category, 1 + extra, 0)
    item = np.repeat(np.arange(num_items), snapshots_per_item)
    step = np.arange(len(item)) - np.repeat(np.cumsum(snapshots_per_item) - snapshots_per_item,
                                            snapshots_per_item)
    week = np.minimum(first_week[item] + step * rng.integers(1, 4, len(item)), num_weeks - 1)
    changed = (step > 0) & (rng.random(len(item)) < _CATEGORY_CHANGE_PER_SNAPSHOT)
    changes_so_far = np.cumsum(changed)
    group_first = np.flatnonzero(step == 0)
    changes_in_item = changes_so_far - np.repeat(changes_so_far[group_first], np.diff(np.r_[group_first, len(item)]))
    replacement = rng.choice(catalogue.leaf_ids, num_items)[item]
    category = np.where(changes_in_item > 0, replacement, catalogue.item_category[item])
    category_rows = pd.DataFrame({"timestamp": FIRST_SNAPSHOT_MS + week * WEEK_MS,
                                  "itemid": catalogue.item_ids[item], "property": "categoryid",
                                  "value": category.astype(str)})

    def week_of(n):
        return FIRST_SNAPSHOT_MS + np.minimum(first_week + n, num_weeks - 1) * WEEK_MS

    available = pd.DataFrame({"timestamp": week_of(0), "itemid": catalogue.item_ids, "property": "available",
                              "value": (rng.random(num_items) < 0.7).astype(np.int8).astype(str)})
    price = pd.DataFrame({"timestamp": week_of(0), "itemid": catalogue.item_ids, "property": "790",
                          "value": np.char.add(np.char.add("n", (rng.lognormal(9, 1, num_items) // 120 * 120)
                                                           .astype(np.int64).astype(str)), ".000")})
    hashed = pd.DataFrame({"timestamp": week_of(1), "itemid": catalogue.item_ids, "property": "888",
                           "value": np.char.add(np.char.add("n552.000 ",
                                                            rng.integers(100_000, 999_999, num_items).astype(str)),
                                                " n720.000 424566")})
    frame = pd.concat([category_rows, available, price, hashed], ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def write_synthetic_raw_files(directory: epath.PathLike, spec: SyntheticSpec) -> raw_files.RawFilePaths:
    """Writes a synthetic twin's raw files (Kaggle layout) into `directory` and returns their paths."""
    directory = epath.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    catalogue = _make_catalogue(np.random.default_rng([spec.seed, 0]))
    rng = np.random.default_rng([spec.seed, 1])
    _write_csv(directory / raw_files.EVENTS_FILE, _events_frame(rng, catalogue, spec))
    properties = _properties_frame(rng, catalogue)
    half = len(properties) // 2
    _write_csv(directory / raw_files.ITEM_PROPERTIES_PARTS[0], properties.iloc[:half])
    _write_csv(directory / raw_files.ITEM_PROPERTIES_PARTS[1], properties.iloc[half:])
    parent = np.where(catalogue.parent_ids == 0, "", catalogue.parent_ids.astype(str))
    _write_csv(directory / raw_files.CATEGORY_TREE_FILE,
               pd.DataFrame({"categoryid": catalogue.category_ids, "parentid": parent}))
    return raw_files.locate_raw_files(directory)
