"""Fault injection on the real slice: every corruption reads normally or is a counted skip at its exact line.

The slice's `events.csv` and `item_properties.csv` are copied into `tmp_path` and corrupted there. Expectations
come from what was injected: a plain-Python reading of the clean slice gives its rows, and each fault states the
lines it writes and the skip each line must cause; line numbers are counted while the corrupted file is written.
"""

import collections
import dataclasses
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pyarrow.csv as pa_csv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets.actions import ACTION_IDS
from datasets.retail_rocket import raw_files

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SLICE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "retailrocket-sample"
EVENTS, PROPERTIES = "events.csv", "item_properties.csv"
COLUMNS = {EVENTS: raw_files.EVENT_COLUMNS, PROPERTIES: raw_files.PROPERTY_COLUMNS}
MIDDLE_LINE = 1001  # the line of the stray quote a user met


class Line(NamedTuple):
    """A physical line written by a fault: its bytes and the skip it must cause (reason None: read normally)."""

    text: bytes
    reason: str | None = None
    example: str | None = None
    other_property: bool = False


@dataclasses.dataclass(frozen=True)
class Fault:
    """A corruption of one row: `lines(fields, columns)` returns the physical lines that replace the row."""

    name: str
    lines: Callable[[list[bytes], tuple[str, ...]], list[Line]]


@dataclasses.dataclass
class Expected:
    """What reading a corrupted file must report."""

    physical_lines: int = 0
    kept_lines: list[int] = dataclasses.field(default_factory=list)  # lines of the clean file still read
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    examples: dict = dataclasses.field(default_factory=dict)
    other_property_rows: int = 0


def _require_slice():
    if not (SLICE_DIR / EVENTS).exists() or not (SLICE_DIR / PROPERTIES).exists():
        pytest.fail(f"The real Retail Rocket slice is missing: expected {SLICE_DIR}/{EVENTS} and {PROPERTIES} "
                    "(the shared read-only data beside the repo).")


@functools.cache
def _clean(name: str) -> tuple[bytes, ...]:
    """The physical lines of a slice file, without line ends."""
    _require_slice()
    return tuple((SLICE_DIR / name).read_bytes().splitlines())


@functools.cache
def _line_end(name: str) -> bytes:
    return b"\r\n" if b"\r\n" in (SLICE_DIR / name).read_bytes()[:1000] else b"\n"


@functools.cache
def _clean_rows(name: str) -> tuple[tuple[int, ...] | None, ...]:
    """Plain-Python reading of each clean line: (timestamp, visitor, item, action id, transaction text) of an
    event, (timestamp, item, category) of a `categoryid` row, None for the header and other properties."""
    rows = [None]
    for line in _clean(name)[1:]:
        fields = line.decode().split(",")
        if name == EVENTS:
            timestamp, visitor, event, item, transaction = fields
            rows.append((int(timestamp), int(visitor), int(item), ACTION_IDS[event], transaction))
        else:
            timestamp, item, prop, value = fields
            rows.append((int(timestamp), int(item), int(value)) if prop == "categoryid" else None)
    return tuple(rows)


def _reference_rows(name: str, line_numbers: list[int]) -> list[tuple[int, ...]]:
    """The rows of the clean lines `line_numbers` that a reader keeps: exact duplicates dropped, in line order."""
    seen, rows = set(), []
    for number in line_numbers:
        row = _clean_rows(name)[number - 1]
        if row is not None and row not in seen:
            seen.add(row)
            rows.append(row[:4] if name == EVENTS else row)
    return rows


@functools.cache
def _unique_lines(name: str) -> frozenset[int]:
    """Lines of the clean file whose row occurs once: corrupting one of them removes exactly one kept row."""
    counts = collections.Counter(_clean(name)[1:])
    return frozenset(number for number, line in enumerate(_clean(name), start=1)
                     if number > 1 and counts[line] == 1)


def _write(path: Path, name: str, faults: dict[int, Fault], line_end: bytes | tuple[bytes, ...] | None = None,
           prefix: bytes = b"") -> Expected:
    """Writes the slice file `name` to `path` with `faults` (line of the clean file -> fault), each line ending in
    `line_end` (a tuple: taken in turn); returns what the reader must report, counting lines as they are written."""
    line_ends = (_line_end(name),) if line_end is None else line_end if isinstance(line_end, tuple) else (line_end,)
    columns = COLUMNS[name]
    expected, written = Expected(), []
    for number, line in enumerate(_clean(name), start=1):
        produced = faults[number].lines(line.split(b","), columns) if number in faults else [Line(line)]
        for out in produced:
            written.append(out.text)
            physical = len(written)
            if out.reason is not None:
                expected.skipped[out.reason] += 1
                expected.examples.setdefault(out.reason, []).append(f"{name}:{physical}: {out.example}")
            elif out.other_property or (out.text == line and number > 1 and _clean_rows(name)[number - 1] is None):
                expected.other_property_rows += 1
            elif out.text == line and number > 1:
                expected.kept_lines.append(number)
    ends = [line_ends[number % len(line_ends)] for number in range(len(written))]
    path.write_bytes(prefix + b"".join(text + end for text, end in zip(written, ends)))
    expected.physical_lines = len(written)
    expected.examples = {reason: examples[:raw_files.MAX_EXAMPLES_PER_REASON]
                         for reason, examples in expected.examples.items()}
    return expected


def _check(data: raw_files.RawData, name: str, expected: Expected) -> None:
    """The rows read equal the reference rows of the kept lines, and the report counts exactly what was injected."""
    kept_rows = _reference_rows(name, expected.kept_lines)
    if name == EVENTS:
        frame = data.events[["timestamp_ms", "visitor_id", "item_id", "action"]]
    else:
        frame = data.category_snapshots[["timestamp_ms", "item_id", "category_id"]]
    assert len(frame) == len(kept_rows)
    assert list(frame.itertuples(index=False, name=None)) == kept_rows
    stats = data.report["files"][name]
    duplicates = len(expected.kept_lines) - len(kept_rows)
    assert stats["rows_kept"] == len(kept_rows)
    assert stats["duplicates_dropped"] == duplicates
    assert stats["physical_lines"] == expected.physical_lines
    assert stats["header_lines"] == 1
    assert stats["rows"] == expected.physical_lines - 1
    assert stats["skipped"] == dict(expected.skipped)
    assert data.report["skipped_rows"].get(name, {}) == dict(expected.skipped)
    assert data.report["skipped_examples"].get(name, {}) == expected.examples
    if name == PROPERTIES:
        assert stats["other_property_rows"] == expected.other_property_rows
    assert stats["lines_accounted_for"] is True


def _read(directory: Path, events: dict[int, Fault] | None = None, properties: dict[int, Fault] | None = None,
          **write_options) -> tuple[raw_files.RawData, Expected, Expected]:
    expected_events = _write(directory / EVENTS, EVENTS, events or {}, **write_options)
    expected_properties = _write(directory / PROPERTIES, PROPERTIES, properties or {}, **write_options)
    return raw_files.read_raw_files(raw_files.locate_raw_files(directory)), expected_events, expected_properties


def _bad_field_outcome(column: str, text: bytes) -> Line:
    """What a row whose field `column` became `text` (UTF-8, not a valid value) must cause: a skip, or for a
    property name, an other-property row. The caller fills in the line's text."""
    value = text.decode()
    if column == "property":
        return Line(text=b"", other_property=True)  # any other property name is a legal, other property
    reason = "unknown event name" if column == "event" else f"unparseable {column}"
    return Line(text=b"", reason=reason, example=f"{column}={value!r}")


def _replace_field(column: str, change: Callable[[bytes], bytes]) -> Callable:
    def lines(fields, columns):
        fields = list(fields)
        index = columns.index(column)
        fields[index] = change(fields[index])
        return [_bad_field_outcome(column, fields[index])._replace(text=b",".join(fields))]

    return lines


def stray_quote(column: str) -> Fault:
    return Fault(f"stray quote in {column}", _replace_field(column, lambda field: b'"' + field))


def nul_byte(column: str) -> Fault:
    return Fault(f"NUL byte in {column}", _replace_field(column, lambda field: field[:1] + b"\x00" + field[1:]))


def invalid_utf8(column: str, byte: bytes = b"\xff") -> Fault:
    def lines(fields, columns):
        fields = list(fields)
        index = columns.index(column)
        fields[index] = fields[index][:2] + byte + fields[index][2:]
        shown = fields[index].decode("utf-8", errors="replace")  # each invalid byte sequence shows as U+FFFD
        return [Line(b",".join(fields), "invalid UTF-8", f"{column}={shown!r}")]

    return Fault(f"byte {byte!r} in {column}", lines)


def _cut(fields, columns):
    text = fields[0] + b"," + fields[1][:2]
    return [Line(text, "wrong number of fields", f"2 field(s), expected {len(columns)}")]


def _split(fields, columns):
    first, second = fields[0] + b"," + fields[1][:2], b",".join([fields[1][2:]] + fields[2:])
    return [Line(first, "wrong number of fields", f"2 field(s), expected {len(columns)}"),
            Line(second, "wrong number of fields", f"{len(columns) - 1} field(s), expected {len(columns)}")]


def _doubled_separator(fields, columns):
    text = fields[0] + b",," + b",".join(fields[1:])
    return [Line(text, "wrong number of fields", f"{len(columns) + 1} field(s), expected {len(columns)}")]


def _nul_line(fields, columns):
    text = b"\x00" * len(b",".join(fields))
    return [Line(text, "wrong number of fields", f"1 field(s), expected {len(columns)}")]


def _header_before(fields, columns):
    return [Line(b",".join(name.encode() for name in columns), "repeated header", "repeated header"),
            Line(b",".join(fields))]


def _empty_line_before(fields, columns):
    return [Line(b"", "empty line", "empty line"), Line(b",".join(fields))]


def _blank_line_before(fields, columns):
    return [Line(b" \t ", "empty line", "empty line"), Line(b",".join(fields))]


def _other_property_after(fields, columns):
    other = b",".join([fields[0], fields[1], b"available", b"1"])
    return [Line(b",".join(fields)), Line(other, other_property=True)]


COMMON_FAULTS = [
    Fault("cut line", _cut), Fault("line split in two", _split), Fault("doubled separator", _doubled_separator),
    Fault("line of NUL bytes", _nul_line), Fault("header repeated before the row", _header_before),
    Fault("empty line before the row", _empty_line_before), Fault("blank line before the row", _blank_line_before),
]
EVENT_FAULTS = COMMON_FAULTS + [stray_quote(column) for column in raw_files.EVENT_COLUMNS] + [
    nul_byte("visitorid"), nul_byte("event"), nul_byte("transactionid"), invalid_utf8("itemid"),
    invalid_utf8("event", b"\xe9"), invalid_utf8("timestamp", b"\xc3")]
PROPERTY_FAULTS = COMMON_FAULTS + [stray_quote(column) for column in raw_files.PROPERTY_COLUMNS] + [
    nul_byte("value"), nul_byte("itemid"), invalid_utf8("value"), invalid_utf8("property", b"\xed\xa0\x80"),
    Fault("other property row after the row", _other_property_after)]


def test_stray_quote_keeps_every_other_row(tmp_path):
    """The user's case: a quote opening a field of line 1001 used to swallow the rest of the file."""
    data, expected, _ = _read(tmp_path, events={MIDDLE_LINE: stray_quote("visitorid")})
    assert (tmp_path / EVENTS).read_bytes().splitlines()[MIDDLE_LINE - 1] == b'1431050148397,"1005223,view,218771,'
    assert len(data.events) == len(_reference_rows(EVENTS, list(range(2, len(_clean(EVENTS)) + 1)))) - 1
    assert data.report["skipped_rows"] == {EVENTS: {"unparseable visitorid": 1}}
    assert data.report["skipped_examples"] == {EVENTS: {"unparseable visitorid": [
        "events.csv:1001: visitorid='\"1005223'"]}}
    _check(data, EVENTS, expected)


def test_a_parser_that_swallows_lines_stops_the_read(tmp_path, monkeypatch):
    """With quoting switched back on, the stray quote swallows the rest of the file: the line count catches it."""
    quoting = pa_csv.ParseOptions

    monkeypatch.setattr(pa_csv, "ParseOptions", lambda **options: quoting(**{**options, "quote_char": '"'}))
    with pytest.raises(raw_files.LineAccountingError,
                       match=rf"events\.csv: {len(_clean(EVENTS))} physical lines, but the CSV parser returned 1 "
                             rf"header \+ {MIDDLE_LINE - 2} rows \+ 1 rows"):
        _read(tmp_path, events={MIDDLE_LINE: stray_quote("visitorid")})


def _fault_lines(name: str) -> list[int]:
    """The first data row, the middle line and the last line, each a row that occurs once in the clean file."""
    lines = [2, MIDDLE_LINE, len(_clean(name))]
    assert set(lines) <= _unique_lines(name), "the target rows must occur once in the clean slice"
    return lines


@pytest.mark.parametrize("fault", EVENT_FAULTS, ids=lambda fault: fault.name)
def test_fault_in_events(tmp_path, fault):
    data, expected, expected_properties = _read(tmp_path, events={line: fault for line in _fault_lines(EVENTS)})
    assert sum(expected.skipped.values()) >= 3
    _check(data, EVENTS, expected)
    _check(data, PROPERTIES, expected_properties)


@pytest.mark.parametrize("fault", PROPERTY_FAULTS, ids=lambda fault: fault.name)
def test_fault_in_item_properties(tmp_path, fault):
    data, expected_events, expected = _read(tmp_path, properties={line: fault for line in _fault_lines(PROPERTIES)})
    assert sum(expected.skipped.values()) + expected.other_property_rows >= 3
    _check(data, PROPERTIES, expected)
    _check(data, EVENTS, expected_events)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_ends_read_normally(tmp_path, line_end):
    data, expected_events, expected_properties = _read(tmp_path, line_end=line_end)
    assert data.report["skipped_rows"] == {}
    _check(data, EVENTS, expected_events)
    _check(data, PROPERTIES, expected_properties)


def test_mixed_line_ends_read_normally(tmp_path):
    data, expected_events, expected_properties = _read(tmp_path, line_end=(b"\r\n", b"\n", b"\r"))
    assert data.report["skipped_rows"] == {}
    _check(data, EVENTS, expected_events)
    _check(data, PROPERTIES, expected_properties)


def test_byte_order_mark_reads_normally(tmp_path):
    data, expected_events, expected_properties = _read(tmp_path, prefix=b"\xef\xbb\xbf")
    assert data.report["skipped_rows"] == {}
    _check(data, EVENTS, expected_events)
    _check(data, PROPERTIES, expected_properties)


@pytest.mark.parametrize("name", [EVENTS, PROPERTIES])
def test_last_line_without_line_end(tmp_path, name):
    """A complete last line without a line end is a normal row; a truncated one is a counted skip."""
    expected = _write(tmp_path / name, name, {})
    other = EVENTS if name == PROPERTIES else PROPERTIES
    expected_other = _write(tmp_path / other, other, {})
    path = tmp_path / name
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    _check(raw_files.read_raw_files(raw_files.locate_raw_files(tmp_path)), name, expected)
    truncated = path.read_bytes()[:-len(_clean(name)[-1]) + 15]
    path.write_bytes(truncated)
    last = truncated.splitlines()[-1]
    assert len(last.split(b",")) < len(COLUMNS[name])
    expected.kept_lines.remove(len(_clean(name)))
    expected.skipped["wrong number of fields"] += 1
    expected.examples = {"wrong number of fields": [
        f"{name}:{len(_clean(name))}: {len(last.split(b','))} field(s), expected {len(COLUMNS[name])}"]}
    data = raw_files.read_raw_files(raw_files.locate_raw_files(tmp_path))
    _check(data, name, expected)
    _check(data, other, expected_other)


def test_files_concatenated_twice(tmp_path):
    """`cat events.csv events.csv`: the second header is a counted skip and every second-copy row a duplicate."""
    clean = (SLICE_DIR / EVENTS).read_bytes()
    (tmp_path / EVENTS).write_bytes(clean + clean)
    _write(tmp_path / PROPERTIES, PROPERTIES, {})
    data = raw_files.read_raw_files(raw_files.locate_raw_files(tmp_path))
    lines = len(_clean(EVENTS))
    # Every clean line is read twice; the reference keeps each row once, so the rest count as duplicates.
    expected = Expected(physical_lines=2 * lines, kept_lines=list(range(2, lines + 1)) * 2,
                        skipped=collections.Counter({"repeated header": 1}),
                        examples={"repeated header": [f"{EVENTS}:{lines + 1}: repeated header"]})
    _check(data, EVENTS, expected)


@pytest.mark.slow
def test_stray_quote_through_the_tfds_builder(tmp_path):
    """The build's metadata carries the exact accounting of a corrupted slice."""
    from datasets.retail_rocket import make_builder

    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    faults = {MIDDLE_LINE: stray_quote("visitorid"), 30_000: Fault("cut line", _cut)}
    assert set(faults) <= _unique_lines(EVENTS)
    expected = _write(manual_dir / EVENTS, EVENTS, faults)
    _write(manual_dir / PROPERTIES, PROPERTIES, {20_000: Fault("header repeated", _header_before)})
    builder = make_builder("full", data_dir=tmp_path / "tfds", manual_dir=manual_dir, min_visitor_events=2,
                           min_item_events=1)
    builder.download_and_prepare()
    raw = builder.info.metadata["raw"]
    clean_rows = len(_reference_rows(EVENTS, list(range(2, len(_clean(EVENTS)) + 1))))
    assert raw["files"][EVENTS]["rows_kept"] == clean_rows - 2
    assert raw["files"][EVENTS]["physical_lines"] == expected.physical_lines == len(_clean(EVENTS))
    assert raw["files"][EVENTS]["lines_accounted_for"] is True
    assert raw["skipped_rows"] == {EVENTS: {"unparseable visitorid": 1, "wrong number of fields": 1},
                                   PROPERTIES: {"repeated header": 1}}
    assert raw["skipped_examples"] == {
        EVENTS: {"unparseable visitorid": ["events.csv:1001: visitorid='\"1005223'"],
                 "wrong number of fields": ["events.csv:30000: 2 field(s), expected 5"]},
        PROPERTIES: {"repeated header": ["item_properties.csv:20000: repeated header"]}}
    assert raw["files"][PROPERTIES]["physical_lines"] == len(_clean(PROPERTIES)) + 1
    assert builder.info.metadata["events"] > 0


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.slow
def test_random_faults_anywhere(tmp_path_factory, data):
    """Random faults on random rows of both files: the counts, examples and kept rows follow from the faults."""
    directory = tmp_path_factory.mktemp("random")
    chosen = {}
    for name, faults in ((EVENTS, EVENT_FAULTS), (PROPERTIES, PROPERTY_FAULTS)):
        unique = sorted(_unique_lines(name))
        lines = data.draw(st.sets(st.sampled_from(unique), min_size=1, max_size=12), label=f"{name} lines")
        chosen[name] = {line: data.draw(st.sampled_from(faults), label=f"{name}:{line}") for line in sorted(lines)}
    result, expected_events, expected_properties = _read(directory, chosen[EVENTS], chosen[PROPERTIES])
    _check(result, EVENTS, expected_events)
    _check(result, PROPERTIES, expected_properties)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(body=st.lists(st.sampled_from([b"1433000000000", b"7", b"view", b"categoryid", b"", b",", b",,", b'"',
                                      b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3\xa9", b" ",
                                      b"timestamp,visitorid,event,itemid,transactionid"]), max_size=60))
def test_random_bytes_are_always_accounted_for(tmp_path_factory, body):
    """Any bytes after the header either read with every line accounted for, or raise a clear `RawFileError`."""
    directory = tmp_path_factory.mktemp("bytes")
    good = b"1433000000000,1,view,10,\n"
    (directory / EVENTS).write_bytes(b"timestamp,visitorid,event,itemid,transactionid\n" + good + b"".join(body))
    (directory / PROPERTIES).write_bytes(b"timestamp,itemid,property,value\n" + b"".join(body))
    data = raw_files.read_raw_files(raw_files.locate_raw_files(directory))
    for name in (EVENTS, PROPERTIES):
        stats = data.report["files"][name]
        physical = len((directory / name).read_bytes().splitlines())
        assert stats["physical_lines"] == physical
        accounted = (stats["header_lines"] + stats["rows_kept"] + sum(stats["skipped"].values())
                     + stats["duplicates_dropped"] + stats.get("other_property_rows", 0))
        assert accounted == physical
    assert (1433000000000, 1, 10, 1) in set(data.events.itertuples(index=False, name=None))
