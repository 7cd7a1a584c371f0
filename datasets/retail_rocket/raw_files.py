"""Reading and validating the Retail Rocket raw CSV files (Kaggle layout or a single-file slice).

Every field is read as text (pyarrow, streamed in blocks, no per-row Python) and checked vectorised. Quotes mean
nothing: Retail Rocket fields never hold quotes or commas, so a quote is an ordinary character of one field (which
then fails its check), never the start of a field that spans lines. Lines end in `\\n`, `\\r\\n` or a lone `\\r`;
a UTF-8 byte-order mark before the header is ignored.

A row is skipped, counted by file and reason, and the first few of each reason are kept as `file:line` examples
(physical lines of the file, the header being line 1), where it
- has a wrong number of fields (a cut line, a doubled separator, a truncated last line, a line of NUL bytes);
- is an empty line (no text, blanks only, or empty fields only);
- holds bytes that are not UTF-8 in a column read ("invalid UTF-8"; the example shows them as U+FFFD, and a U+FFFD
  in the file counts as such bytes too);
- repeats the header ("repeated header");
- has an unparseable or empty timestamp or id (a stray quote or a NUL byte in it, say), an id that is negative or
  overflows int32, an unknown event name, or a `transactionid` that is neither empty nor a non-negative integer.
Exact duplicate event rows and exact duplicate category snapshots (across both property files) are dropped and
counted; in `category_tree.csv` a category given again replaces its earlier row, which counts as a duplicate.
Rows of item properties other than `categoryid` are dropped right after the checks above and counted (a quote in
the property name makes a row one of them).

Every physical line is accounted for. Lines are counted from the bytes as they stream into the parser, apart from
it, and each file must satisfy
    physical lines = header + rows kept + rows skipped + duplicates dropped + other-property rows;
where it does not, `LineAccountingError` names the file and the numbers (a bug of the reader, never continued).
A missing file, a missing column, an empty file, or a file the CSV parser rejects raise `RawFileError`.
"""

import codecs
import dataclasses
import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from etils import epath

from datasets.actions import ACTION_IDS

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.csv"
ITEM_PROPERTIES_PARTS = ("item_properties_part1.csv", "item_properties_part2.csv")
ITEM_PROPERTIES_SINGLE = "item_properties.csv"
CATEGORY_TREE_FILE = "category_tree.csv"

EVENT_COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")
PROPERTY_COLUMNS = ("timestamp", "itemid", "property", "value")
CATEGORY_TREE_COLUMNS = ("categoryid", "parentid")

MAX_EXAMPLES_PER_REASON = 5
INT32_MAX = np.iinfo(np.int32).max

_OK, _UNPARSEABLE, _NEGATIVE, _OVERFLOW = 0, 1, 2, 3
_HEADER_PROBE_BYTES = 1 << 16
_BLOCK_SIZE = 16 << 20
_LINE_END = re.compile(rb"\r\n|\r|\n")

EXPECTED_FILES_TEXT = (
    f"  {EVENTS_FILE}  (required; columns {','.join(EVENT_COLUMNS)})\n"
    f"  {ITEM_PROPERTIES_PARTS[0]} and {ITEM_PROPERTIES_PARTS[1]}, or a single {ITEM_PROPERTIES_SINGLE}"
    f"  (required; columns {','.join(PROPERTY_COLUMNS)})\n"
    f"  {CATEGORY_TREE_FILE}  (optional; columns {','.join(CATEGORY_TREE_COLUMNS)}; without it every parent"
    " category is 0)"
)


class RawFileError(ValueError):
    """A raw file is missing, empty, or lacks a column; the message names the file and what was expected."""


class LineAccountingError(RuntimeError):
    """The physical lines of a file do not add up to the rows kept, skipped and dropped: a bug of the reader."""


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

    def all_files(self) -> list[epath.Path]:
        """Every file of the dump that is there, events first."""
        return [self.events, *self.item_properties] + ([self.category_tree] if self.category_tree else [])


@dataclasses.dataclass
class RawData:
    """The validated content of the raw files.

    Args:
        events: DataFrame `timestamp_ms` int64, `visitor_id` int64, `item_id` int32, `action` int8 (1 view,
            2 addtocart, 3 transaction), exact duplicates already dropped, in file order.
        category_snapshots: DataFrame `timestamp_ms` int64, `item_id` int32, `category_id` int32.
        category_parents: DataFrame `category_id` int32, `parent_id` int32 (empty without a category tree).
        report: JSON-able dict of rows read, skipped (by file and reason, with `file:line` examples) and dropped,
            and per file how its physical lines are accounted for.
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


class _CountedUtf8Stream:
    """A binary stream that counts the physical lines of the bytes read through it and hands on valid UTF-8.

    Lines are counted apart from any parser and end as pyarrow's CSV reader ends them, in `\\n`, `\\r\\n` or a
    lone `\\r`; a last line without a line end counts too. Each block is counted vectorised (numpy, no per-row
    Python). A block that is not ASCII is decoded, and each byte sequence that is not UTF-8 becomes U+FFFD, so
    that its row can be skipped: pyarrow cannot hand a row with invalid UTF-8 to the invalid-row handler (it fails
    the whole file), and it never sees such bytes here. Line ends are never replaced, so the lines stay the same.

    Args:
        stream: the binary stream to read from.
    """

    def __init__(self, stream):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self._at_end = False
        self._line_ends = 0
        self._last_byte = b""
        self.replaced_bytes = False  # whether U+FFFD was met, from bytes that were not UTF-8 (or U+FFFD itself)

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while not self._pending and not self._at_end:
            block = self._stream.read(size)
            self._count_lines(block)
            if not block:
                self._at_end = True
                text = self._decoder.decode(b"", final=True)
            elif block.isascii() and not self._decoder.getstate()[0]:
                return block
            else:
                text = self._decoder.decode(block)
            self.replaced_bytes |= "\ufffd" in text
            self._pending = text.encode("utf-8")
        size = len(self._pending) if size is None or size < 0 else size
        block, self._pending = self._pending[:size], self._pending[size:]
        return block

    def read_rest(self) -> None:
        """Reads (and counts) whatever the parser left unread."""
        while self.read(_BLOCK_SIZE):
            pass

    def _count_lines(self, block: bytes) -> None:
        if not block:
            return
        codes = np.frombuffer(block, dtype=np.uint8)
        carriage_returns = codes == ord("\r")
        returns = int(np.count_nonzero(carriage_returns))
        crlf = int(np.count_nonzero(carriage_returns[:-1] & (codes[1:] == ord("\n")))) if returns else 0
        crlf += self._last_byte == b"\r" and block[:1] == b"\n"  # a `\r\n` split between two blocks
        self._line_ends += int(np.count_nonzero(codes == ord("\n"))) + returns - crlf
        self._last_byte = block[-1:]

    @property
    def physical_lines(self) -> int:
        return self._line_ends + int(self._last_byte not in (b"", b"\n", b"\r"))


def _read_header(path: epath.Path, expected: tuple[str, ...]) -> None:
    with path.open("rb") as stream:
        head = stream.read(_HEADER_PROBE_BYTES)
    if not head.strip():
        raise RawFileError(f"{path} is empty. Expected a CSV file whose first line is the header "
                           f"{','.join(expected)}.")
    first_line = _LINE_END.split(head, maxsplit=1)[0].decode("utf-8-sig", errors="replace")
    found = [name.strip() for name in first_line.split(",")]
    missing = [name for name in expected if name not in found]
    if missing:
        raise RawFileError(f"{path} lacks column(s) {missing}. Received: columns={found}; expected the header "
                           f"{','.join(expected)} (any order, extra columns ignored, no quotes).")


def _all_columns(batch: pa.RecordBatch, test) -> np.ndarray:
    """Rows of `batch` where `test(text, name)` holds for every column (text with whitespace trimmed)."""
    result = np.ones(batch.num_rows, dtype=bool)
    for name, column in zip(batch.schema.names, batch.columns):
        result &= np.asarray(test(pc.utf8_trim_whitespace(column), name), dtype=bool)
    return result


class _TextTable:
    """One CSV file read as text columns, with the physical line number of every kept row.

    While reading, rows with a wrong number of fields, empty lines, rows with bytes that are not UTF-8 and repeated
    headers are skipped and counted; then `keep` drops rows early (counted as `rows_filtered`). Callers skip rows
    through `report_bad` and end with `account`, which checks that every physical line is accounted for.

    Args:
        path: the CSV file; its first line must be a header naming `columns`.
        columns: the columns to read (others are ignored).
        skips: the log that skipped rows are reported to.
        keep: optional `keep(batch) -> pyarrow bool array` on each batch of text columns; rows it rejects are
            dropped and counted as `rows_filtered`.
    """

    def __init__(self, path: epath.Path, columns: tuple[str, ...], skips: _SkipLog, keep=None):
        _read_header(path, columns)
        self.path = path
        self.name = path.name
        self.skips = skips
        self.header_lines = 1
        self.skipped: dict[str, int] = {}
        self.rows_filtered = 0
        self._filters = keep is not None
        # Rows dropped while reading: reason -> [count, [(parsed row index, example)]].
        self._dropped: dict[str, list] = {}
        bad_rows: list[tuple[int, str, str]] = []  # (line, reason, example) of rows the parser rejected

        def on_invalid(row):
            if row.text.strip():
                reason, text = "wrong number of fields", f"{row.actual_columns} field(s), expected {len(columns)}"
            else:
                reason, text = "empty line", "empty line"
            bad_rows.append((row.number if row.number is not None else 0, reason, text))
            return "skip"

        schema = pa.schema([(name, pa.string()) for name in columns])
        batches, kept_indices, parsed = [], [], 0
        with path.open("rb") as raw_stream:
            stream = _CountedUtf8Stream(raw_stream)
            try:
                reader = pa_csv.open_csv(
                    stream,
                    read_options=pa_csv.ReadOptions(use_threads=False, block_size=_BLOCK_SIZE),
                    parse_options=pa_csv.ParseOptions(quote_char=False, invalid_row_handler=on_invalid,
                                                      ignore_empty_lines=False),
                    convert_options=pa_csv.ConvertOptions(
                        include_columns=list(columns), column_types={name: pa.string() for name in columns},
                        strings_can_be_null=False),
                )
                for batch in reader:
                    indices = np.arange(parsed, parsed + batch.num_rows, dtype=np.int64)
                    parsed += batch.num_rows
                    batch, indices = self._drop_unreadable(batch, indices, stream.replaced_bytes)
                    if keep is not None:
                        mask = np.asarray(keep(batch), dtype=bool)
                        self.rows_filtered += int(len(mask) - mask.sum())
                        batch, indices = batch.filter(pa.array(mask)), indices[mask]
                    batches.append(batch)
                    kept_indices.append(indices)
            except (pa.ArrowInvalid, pa.ArrowKeyError) as error:
                raise RawFileError(
                    f"{path} could not be read as CSV near line {stream.physical_lines}: {error}. Expected lines "
                    f"of comma-separated fields under the header {','.join(columns)}; check that the file is the "
                    "Retail Rocket CSV.") from error
            stream.read_rest()
        self.physical_lines = stream.physical_lines
        self.table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        self.row_index = np.concatenate(kept_indices) if kept_indices else np.zeros(0, np.int64)
        self.rows_read = parsed + len(bad_rows)
        self.valid_rows = parsed
        bad_rows.sort()
        bad_lines = np.array([number for number, _, _ in bad_rows], dtype=np.int64)
        self._check_parsed_lines(bad_lines)
        # Parsed rows before each bad row: its line, minus the header, minus the bad rows before it.
        self._valid_before_bad = bad_lines - 1 - self.header_lines - np.arange(len(bad_lines))
        self._report_reading_skips(bad_rows)

    def _drop_unreadable(self, batch: pa.RecordBatch, indices: np.ndarray, may_hold_invalid_utf8: bool):
        """Drops (and notes) rows with bytes that were not UTF-8, empty rows and repeated headers."""
        invalid = np.zeros(batch.num_rows, dtype=bool)
        if may_hold_invalid_utf8:
            invalid_by_column = {name: np.asarray(pc.match_substring(column, "\ufffd"), dtype=bool)
                                 for name, column in zip(batch.schema.names, batch.columns)}
            invalid = np.logical_or.reduce(list(invalid_by_column.values()))

            def describe(position):
                name = next(name for name, bad in invalid_by_column.items() if bad[position])
                return f"{name}={batch.column(name)[int(position)].as_py()!r}"

            self._note_dropped("invalid UTF-8", invalid, indices, describe)
        if not pc.all(pc.ascii_is_decimal(batch.column(0))).as_py():  # digits only: neither empty nor a header
            empty = _all_columns(batch, lambda text, _: pc.equal(pc.utf8_length(text), 0))
            header = _all_columns(batch, lambda text, name: pc.equal(text, name))
            self._note_dropped("empty line", empty, indices, lambda _: "empty line")
            self._note_dropped("repeated header", header, indices, lambda _: "repeated header")
            invalid |= empty | header
        if invalid.any():
            batch, indices = batch.filter(pa.array(~invalid)), indices[~invalid]
        return batch, indices

    def _note_dropped(self, reason: str, rows: np.ndarray, indices: np.ndarray, describe) -> None:
        """Counts rows dropped while reading and keeps the first examples (their lines are known at the end)."""
        positions = np.flatnonzero(rows)
        if len(positions) == 0:
            return
        entry = self._dropped.setdefault(reason, [0, []])
        entry[0] += len(positions)
        room = MAX_EXAMPLES_PER_REASON - len(entry[1])
        entry[1].extend((int(indices[position]), describe(position)) for position in positions[:room])

    def _report_reading_skips(self, bad_rows: list[tuple[int, str, str]]) -> None:
        """Reports the rows skipped while reading: those the parser rejected and those dropped early."""
        found: dict[str, list] = {}
        for number, reason, text in bad_rows:
            entry = found.setdefault(reason, [0, []])
            entry[0] += 1
            entry[1].append((number, text))
        for reason, (count, examples) in self._dropped.items():
            lines = self._lines_of_parsed(np.array([index for index, _ in examples], dtype=np.int64))
            entry = found.setdefault(reason, [0, []])
            entry[0] += count
            entry[1].extend((int(line), text) for line, (_, text) in zip(lines, examples))
        for reason, (count, examples) in found.items():
            examples.sort()
            self.add_skips(reason, count, [f"{self.name}:{line}: {text}"
                                            for line, text in examples[:MAX_EXAMPLES_PER_REASON]])

    def _check_parsed_lines(self, bad_lines: np.ndarray) -> None:
        """Every line after the header is a parsed row or a bad row, each bad row on its own line."""
        last_line = self.physical_lines
        in_order = np.all(np.diff(bad_lines) > 0) and (len(bad_lines) == 0 or (
            bad_lines[0] > self.header_lines and bad_lines[-1] <= last_line))
        if self.header_lines + self.rows_read != last_line or not in_order:
            raise LineAccountingError(
                f"Internal consistency error reading {self.path}: {last_line} physical lines, but the CSV "
                f"parser returned {self.header_lines} header + {self.valid_rows} rows + {len(bad_lines)} rows "
                f"with a wrong number of fields (first on lines {bad_lines[:5].tolist()}) = "
                f"{self.header_lines + self.rows_read}. Rows would be lost silently; please report this with the "
                "file.")

    def add_skips(self, reason: str, count: int, examples: list[str]) -> None:
        """Counts `count` skipped rows under `reason`, with a few `file:line` examples, for the report and `account`."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)
            self.skips.add(self.name, reason, count, examples)

    def _lines_of_parsed(self, parsed_index: np.ndarray) -> np.ndarray:
        return parsed_index + 1 + self.header_lines + np.searchsorted(self._valid_before_bad, parsed_index,
                                                                      side="right")

    def line_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Physical line numbers of the rows at `positions` of the kept table."""
        return self._lines_of_parsed(self.row_index[positions])

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
        self.add_skips(reason, len(positions), examples)

    def account(self, rows_kept: int, duplicates_dropped: int = 0, *,
                filtered_name: str = "rows_filtered") -> dict:
        """Checks that every physical line is the header, a kept, skipped, duplicate or filtered-out row.

        Args:
            rows_kept: rows the caller keeps.
            duplicates_dropped: rows the caller dropped as duplicates.
            filtered_name: the report's name for the rows that `keep` dropped (present only with a `keep`).

        Returns:
            The file's line counts for the report: `physical_lines`, `header_lines`, `rows_kept`, `skipped` (by
            reason), `duplicates_dropped`, `filtered_name` and `lines_accounted_for` (True).

        Raises:
            LineAccountingError: where the counts do not add up.
        """
        skipped = sum(self.skipped.values())
        accounted = self.header_lines + rows_kept + skipped + duplicates_dropped + self.rows_filtered
        if accounted != self.physical_lines:
            raise LineAccountingError(
                f"Internal consistency error reading {self.path}: {self.physical_lines} physical lines, but "
                f"{self.header_lines} header + {rows_kept} kept + {skipped} skipped + {duplicates_dropped} "
                f"duplicates + {self.rows_filtered} filtered out = {accounted}. Rows would be lost or counted "
                "twice; please report this with the file.")
        counts = {"physical_lines": int(self.physical_lines), "header_lines": self.header_lines,
                  "rows_kept": int(rows_kept), "skipped": dict(self.skipped),
                  "duplicates_dropped": int(duplicates_dropped)}
        if self._filters:
            counts[filtered_name] = int(self.rows_filtered)
        logger.info("%s: %d lines = %d header + %d kept + %d skipped + %d duplicates%s", self.name,
                    self.physical_lines, self.header_lines, rows_kept, skipped, duplicates_dropped,
                    f" + {self.rows_filtered} {filtered_name}" if self._filters else "")
        return {**counts, "lines_accounted_for": True}


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
    if table.rows_read == 0:
        raise RawFileError(f"{path} has a header but no rows. Expected one row per event with the columns "
                           f"{','.join(EVENT_COLUMNS)}.")
    keep = np.ones(table.table.num_rows, dtype=bool)
    timestamps = _checked_ints(table, "timestamp", keep, int32=False)
    visitors = _checked_ints(table, "visitorid", keep, int32=True)
    items = _checked_ints(table, "itemid", keep, int32=True)
    event_names = table.column("event")
    actions = np.zeros(len(keep), dtype=np.int8)
    for name, code in ACTION_IDS.items():
        actions[np.asarray(pc.equal(event_names, name), dtype=bool)] = code
    table.report_bad(keep & (actions == 0), "unknown event name", "event", event_names)
    keep &= actions != 0
    transactions = _checked_ints(table, "transactionid", keep, int32=False, allow_empty=True)
    no_transaction = np.asarray(pc.equal(pc.utf8_length(table.column("transactionid")), 0), dtype=bool)
    transactions[no_transaction] = -1
    frame = pd.DataFrame({
        "timestamp_ms": timestamps[keep],
        "visitor_id": visitors[keep],
        "item_id": items[keep].astype(np.int32),
        "action": actions[keep],
        "transaction": transactions[keep],
    })
    duplicated = frame.duplicated().to_numpy()
    frame = frame.loc[~duplicated, ["timestamp_ms", "visitor_id", "item_id", "action"]].reset_index(drop=True)
    if frame.empty:
        raise RawFileError(f"{path} holds no valid event row (all {table.rows_read} skipped). Expected rows like "
                           "1433221332117,257597,view,355908,")
    stats = {"rows": int(table.rows_read), "rows_valid": int(keep.sum()),
             **table.account(rows_kept=len(frame), duplicates_dropped=int(duplicated.sum()))}
    return frame, stats


def _read_category_snapshots(paths: tuple[epath.Path, ...], skips: _SkipLog) -> tuple[pd.DataFrame, dict]:
    tables, frames = [], []
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
        tables.append((table, keep))
    snapshots = pd.concat(frames, ignore_index=True)
    duplicated = snapshots.duplicated().to_numpy()
    file_of_row = np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])
    duplicates_per_file = np.bincount(file_of_row[duplicated], minlength=len(frames))
    stats = {}
    for (table, keep), duplicates in zip(tables, duplicates_per_file):
        valid = int(keep.sum())
        stats[table.name] = {
            "rows": int(table.rows_read), "categoryid_rows": len(keep), "categoryid_rows_kept": valid,
            "rows_valid": valid,
            **table.account(rows_kept=valid - int(duplicates), duplicates_dropped=int(duplicates),
                            filtered_name="other_property_rows")}
    return snapshots.loc[~duplicated].reset_index(drop=True), stats


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
    valid = int(keep.sum())
    stats = {"rows": int(table.rows_read), "rows_valid": valid,
             **table.account(rows_kept=len(tree), duplicates_dropped=valid - len(tree))}
    return tree, {path.name: stats}


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
