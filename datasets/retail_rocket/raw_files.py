"""Reading and validating the Retail Rocket raw CSV files (Kaggle layout or a single-file slice).

Every field is read as text (pyarrow, streamed, no per-row Python) and checked vectorised. Rows with a wrong
number of fields, an unparseable or empty field, an unknown event name, or an id that is negative or does not fit
int32 are skipped; each skip is counted by file and reason, and the first few are kept as `file:line` examples
(line numbers are physical lines of the file, the header being line 1). Exact duplicate event rows are dropped and
counted. A missing file, a missing column or an empty file raises `RawFileError`.
"""

import dataclasses
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from etils import epath

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.csv"
ITEM_PROPERTIES_PARTS = ("item_properties_part1.csv", "item_properties_part2.csv")
ITEM_PROPERTIES_SINGLE = "item_properties.csv"
CATEGORY_TREE_FILE = "category_tree.csv"

EVENT_COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")
PROPERTY_COLUMNS = ("timestamp", "itemid", "property", "value")
CATEGORY_TREE_COLUMNS = ("categoryid", "parentid")

ACTION_CODES = {"view": 1, "addtocart": 2, "transaction": 3}
MAX_EXAMPLES_PER_REASON = 5
INT32_MAX = np.iinfo(np.int32).max

_OK, _UNPARSEABLE, _NEGATIVE, _OVERFLOW = 0, 1, 2, 3
_HEADER_PROBE_BYTES = 1 << 16
_BLOCK_SIZE = 16 << 20

EXPECTED_FILES_TEXT = (
    f"  {EVENTS_FILE}  (required; columns {','.join(EVENT_COLUMNS)})\n"
    f"  {ITEM_PROPERTIES_PARTS[0]} and {ITEM_PROPERTIES_PARTS[1]}, or a single {ITEM_PROPERTIES_SINGLE}"
    f"  (required; columns {','.join(PROPERTY_COLUMNS)})\n"
    f"  {CATEGORY_TREE_FILE}  (optional; columns {','.join(CATEGORY_TREE_COLUMNS)}; without it every parent"
    " category is 0)"
)


class RawFileError(ValueError):
    """A raw file is missing, empty, or lacks a column; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class RawFilePaths:
    """Where the raw files of one Retail Rocket dump are.

    Args:
        events: path of `events.csv`.
        item_properties: the item property files (the two Kaggle parts, or one file).
        category_tree: path of `category_tree.csv`, or None where there is none.
    """

    events: epath.Path
    item_properties: tuple[epath.Path, ...]
    category_tree: epath.Path | None


@dataclasses.dataclass
class RawData:
    """The validated content of the raw files.

    Args:
        events: DataFrame `timestamp_ms` int64, `visitor_id` int64, `item_id` int32, `action` int8 (1 view,
            2 addtocart, 3 transaction), exact duplicates already dropped, in file order.
        category_snapshots: DataFrame `timestamp_ms` int64, `item_id` int32, `category_id` int32.
        category_parents: DataFrame `category_id` int32, `parent_id` int32 (empty without a category tree).
        report: JSON-able dict of rows read, skipped (by file and reason, with `file:line` examples) and dropped.
    """

    events: pd.DataFrame
    category_snapshots: pd.DataFrame
    category_parents: pd.DataFrame
    report: dict


def _candidate_dirs(directory: epath.PathLike) -> list[epath.Path]:
    directory = epath.Path(directory)
    return [directory, directory / "retail_rocket"]


def _find_in(directory: epath.Path) -> RawFilePaths | None:
    if not (directory / EVENTS_FILE).exists():
        return None
    parts = tuple(directory / name for name in ITEM_PROPERTIES_PARTS)
    if all(part.exists() for part in parts):
        properties = parts
    elif (directory / ITEM_PROPERTIES_SINGLE).exists():
        properties = (directory / ITEM_PROPERTIES_SINGLE,)
    else:
        return None
    tree = directory / CATEGORY_TREE_FILE
    return RawFilePaths(events=directory / EVENTS_FILE, item_properties=properties,
                        category_tree=tree if tree.exists() else None)


def raw_files_present(directory: epath.PathLike | None) -> bool:
    """True where `directory` (or its `retail_rocket/` subfolder) holds a complete set of raw files."""
    if directory is None:
        return False
    return any(_find_in(candidate) is not None for candidate in _candidate_dirs(directory))


def locate_raw_files(directory: epath.PathLike, how_to_get: str = "") -> RawFilePaths:
    """Finds the raw files in `directory` or in its `retail_rocket/` subfolder.

    Args:
        directory: the folder to look in (usually the TFDS manual dir).
        how_to_get: text appended to the error, saying how to download the files.

    Raises:
        RawFileError: listing every file expected, the folders looked in and what they hold.
    """
    candidates = _candidate_dirs(directory)
    for candidate in candidates:
        found = _find_in(candidate)
        if found is not None:
            return found
    held = []
    for candidate in candidates:
        if candidate.is_dir():
            names = sorted(path.name for path in candidate.iterdir())
            held.append(f"  {candidate}: {', '.join(names) if names else '(empty)'}")
        else:
            held.append(f"  {candidate}: (no such folder)")
    raise RawFileError(
        "Retail Rocket raw files not found. Looked in:\n" + "\n".join(held) + "\n"
        "Expected these files in one of those folders:\n" + EXPECTED_FILES_TEXT
        + ("\n" + how_to_get if how_to_get else "")
    )


class _SkipLog:
    """Counts skipped rows by file and reason and keeps a few `file:line` examples."""

    def __init__(self):
        self.counts: dict[str, dict[str, int]] = {}
        self.examples: dict[str, dict[str, list[str]]] = {}

    def add(self, file_name: str, reason: str, count: int, examples: list[str]):
        if count == 0:
            return
        per_file = self.counts.setdefault(file_name, {})
        per_file[reason] = per_file.get(reason, 0) + int(count)
        kept = self.examples.setdefault(file_name, {}).setdefault(reason, [])
        kept.extend(examples[: MAX_EXAMPLES_PER_REASON - len(kept)])

    def log(self):
        for file_name, reasons in self.counts.items():
            for reason, count in reasons.items():
                logger.warning("%s: skipped %d row(s): %s; e.g. %s", file_name, count, reason,
                               "; ".join(self.examples[file_name][reason]))


def _read_header(path: epath.Path, expected: tuple[str, ...]) -> None:
    with path.open("rb") as stream:
        head = stream.read(_HEADER_PROBE_BYTES)
    if not head.strip():
        raise RawFileError(f"{path} is empty. Expected a CSV file whose first line is the header "
                           f"{','.join(expected)}.")
    first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip()
    found = [name.strip().strip('"') for name in first_line.split(",")]
    missing = [name for name in expected if name not in found]
    if missing:
        raise RawFileError(f"{path} lacks column(s) {missing}. Received: columns={found}; expected the header "
                           f"{','.join(expected)} (any order, extra columns ignored).")


class _TextTable:
    """One CSV file read as text columns, with the physical line number of every kept row."""

    def __init__(self, path: epath.Path, columns: tuple[str, ...], skips: _SkipLog, keep=None):
        """Reads `columns` of `path`; `keep(batch) -> pyarrow bool array` drops rows early (not counted)."""
        _read_header(path, columns)
        self.path = path
        self.name = path.name
        self.skips = skips
        bad_rows: list[tuple[int, int]] = []

        def on_invalid(row):
            bad_rows.append((row.number if row.number is not None else -1, row.actual_columns))
            return "skip"

        batches, kept_indices, total = [], [], 0
        with path.open("rb") as stream:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=_BLOCK_SIZE),
                parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=list(columns), column_types={name: pa.string() for name in columns},
                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            for batch in reader:
                indices = np.arange(total, total + batch.num_rows, dtype=np.int64)
                total += batch.num_rows
                if keep is not None:
                    mask = keep(batch)
                    batch = batch.filter(mask)
                    indices = indices[np.asarray(mask, dtype=bool)]
                batches.append(batch)
                kept_indices.append(indices)
        schema = pa.schema([(name, pa.string()) for name in columns])
        self.table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        self.row_index = np.concatenate(kept_indices) if kept_indices else np.zeros(0, np.int64)
        self.rows_read = total + len(bad_rows)
        self.valid_rows = total
        bad_lines = np.array(sorted(number for number, _ in bad_rows), dtype=np.int64)
        # Valid rows before each bad row: its line, minus the header, minus the bad rows before it.
        self._valid_before_bad = bad_lines - 2 - np.arange(len(bad_lines))
        examples = [f"{self.name}:{number}: {actual} field(s), expected {len(columns)}"
                    for number, actual in bad_rows[:MAX_EXAMPLES_PER_REASON]]
        skips.add(self.name, "wrong number of fields", len(bad_rows), examples)

    def line_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Physical line numbers of the rows at `positions` of the kept table."""
        valid_index = self.row_index[positions]
        return valid_index + 2 + np.searchsorted(self._valid_before_bad, valid_index, side="right")

    def column(self, name: str) -> pa.ChunkedArray:
        return pc.utf8_trim_whitespace(self.table.column(name))

    def report_bad(self, bad: np.ndarray, reason: str, column: str, values: pa.ChunkedArray) -> None:
        positions = np.flatnonzero(bad)
        if len(positions) == 0:
            return
        head = positions[:MAX_EXAMPLES_PER_REASON]
        lines = self.line_numbers(head)
        texts = values.take(pa.array(head)).to_pylist()
        examples = [f"{self.name}:{line}: {column}={text!r}" for line, text in zip(lines, texts)]
        self.skips.add(self.name, reason, len(positions), examples)


def _parse_ints(values: pa.ChunkedArray, *, int32: bool, allow_empty: bool = False):
    """Parses decimal integer text. Returns (int64 values, status: 0 ok, 1 unparseable, 2 negative, 3 overflow)."""
    digits = np.asarray(pc.match_substring_regex(values, r"^-?[0-9]+$"), dtype=bool)
    short = np.asarray(pc.less_equal(pc.utf8_length(values), 18), dtype=bool)
    negative = np.asarray(pc.starts_with(values, "-"), dtype=bool)
    parseable = digits & short
    parsed = pc.cast(pc.if_else(pa.array(parseable), values, "0"), pa.int64())
    numbers = parsed.to_numpy().astype(np.int64, copy=True)
    status = np.full(len(numbers), _OK, dtype=np.int8)
    status[~digits] = _UNPARSEABLE
    status[digits & ~short] = _OVERFLOW
    status[digits & negative] = _NEGATIVE
    if int32:
        status[parseable & (numbers > INT32_MAX)] = _OVERFLOW
    if allow_empty:
        empty = np.asarray(pc.equal(pc.utf8_length(values), 0), dtype=bool)
        status[empty] = _OK
        numbers[empty] = 0
    return numbers, status


def _checked_ints(table: _TextTable, column: str, keep: np.ndarray, *, int32: bool, allow_empty: bool = False):
    """Parses one integer column, reports each bad row not already rejected, and clears it from `keep`."""
    values = table.column(column)
    numbers, status = _parse_ints(values, int32=int32, allow_empty=allow_empty)
    for code, reason in ((_UNPARSEABLE, f"unparseable {column}"), (_NEGATIVE, f"negative {column}"),
                         (_OVERFLOW, f"{column} overflows {'int32' if int32 else 'int64'}")):
        table.report_bad(keep & (status == code), reason, column, values)
    keep &= status == _OK
    return numbers


def _read_events(path: epath.Path, skips: _SkipLog) -> tuple[pd.DataFrame, dict]:
    table = _TextTable(path, EVENT_COLUMNS, skips)
    if table.valid_rows == 0 and table.rows_read == 0:
        raise RawFileError(f"{path} has a header but no rows. Expected one row per event with the columns "
                           f"{','.join(EVENT_COLUMNS)}.")
    keep = np.ones(table.table.num_rows, dtype=bool)
    timestamps = _checked_ints(table, "timestamp", keep, int32=False)
    visitors = _checked_ints(table, "visitorid", keep, int32=True)
    items = _checked_ints(table, "itemid", keep, int32=True)
    event_names = table.column("event")
    actions = np.zeros(len(keep), dtype=np.int8)
    for name, code in ACTION_CODES.items():
        actions[np.asarray(pc.equal(event_names, name), dtype=bool)] = code
    table.report_bad(keep & (actions == 0), "unknown event name", "event", event_names)
    keep &= actions != 0
    frame = pd.DataFrame({
        "timestamp_ms": timestamps[keep],
        "visitor_id": visitors[keep],
        "item_id": items[keep].astype(np.int32),
        "action": actions[keep],
        "transaction": np.asarray(table.column("transactionid").filter(pa.array(keep)), dtype=object),
    })
    duplicated = frame.duplicated().to_numpy()
    frame = frame.loc[~duplicated, ["timestamp_ms", "visitor_id", "item_id", "action"]].reset_index(drop=True)
    if frame.empty:
        raise RawFileError(f"{path} holds no valid event row (all {table.rows_read} skipped). Expected rows like "
                           "1433221332117,257597,view,355908,")
    stats = {"rows": int(table.rows_read), "rows_valid": int(keep.sum()),
             "duplicates_dropped": int(duplicated.sum()), "rows_kept": int(len(frame))}
    return frame, stats


def _read_category_snapshots(paths: tuple[epath.Path, ...], skips: _SkipLog) -> tuple[pd.DataFrame, dict]:
    frames, stats = [], {}
    for path in paths:
        table = _TextTable(path, PROPERTY_COLUMNS, skips,
                           keep=lambda batch: pc.equal(pc.utf8_trim_whitespace(batch.column("property")),
                                                       "categoryid"))
        keep = np.ones(table.table.num_rows, dtype=bool)
        timestamps = _checked_ints(table, "timestamp", keep, int32=False)
        items = _checked_ints(table, "itemid", keep, int32=True)
        categories = _checked_ints(table, "value", keep, int32=True)
        frames.append(pd.DataFrame({"timestamp_ms": timestamps[keep], "item_id": items[keep].astype(np.int32),
                                    "category_id": categories[keep].astype(np.int32)}))
        stats[path.name] = {"rows": int(table.rows_read), "categoryid_rows": int(len(keep)),
                            "categoryid_rows_kept": int(keep.sum())}
    snapshots = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    return snapshots, stats


def _read_category_tree(path: epath.Path | None, skips: _SkipLog) -> tuple[pd.DataFrame, dict]:
    empty = pd.DataFrame({"category_id": np.zeros(0, np.int32), "parent_id": np.zeros(0, np.int32)})
    if path is None:
        return empty, {}
    table = _TextTable(path, CATEGORY_TREE_COLUMNS, skips)
    keep = np.ones(table.table.num_rows, dtype=bool)
    categories = _checked_ints(table, "categoryid", keep, int32=True)
    parents = _checked_ints(table, "parentid", keep, int32=True, allow_empty=True)
    tree = pd.DataFrame({"category_id": categories[keep].astype(np.int32),
                         "parent_id": parents[keep].astype(np.int32)})
    tree = tree.drop_duplicates("category_id", keep="last", ignore_index=True)
    return tree, {path.name: {"rows": int(table.rows_read), "rows_kept": int(len(tree))}}


def read_raw_files(paths: RawFilePaths) -> RawData:
    """Reads and validates the raw files; see the module docstring for what is skipped and what raises."""
    skips = _SkipLog()
    events, event_stats = _read_events(paths.events, skips)
    snapshots, property_stats = _read_category_snapshots(paths.item_properties, skips)
    tree, tree_stats = _read_category_tree(paths.category_tree, skips)
    skips.log()
    report = {
        "layout": "kaggle" if len(paths.item_properties) == 2 else "single item_properties.csv",
        "has_category_tree": paths.category_tree is not None,
        "files": {paths.events.name: event_stats, **property_stats, **tree_stats},
        "skipped_rows": skips.counts,
        "skipped_examples": skips.examples,
        "duplicate_events_dropped": event_stats["duplicates_dropped"],
    }
    return RawData(events=events, category_snapshots=snapshots, category_parents=tree, report=report)
