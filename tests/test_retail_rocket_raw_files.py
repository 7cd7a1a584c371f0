"""Malformed raw files: each gives a clear error, or a counted skip with `file:line` examples."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.retail_rocket import raw_files

EVENTS_HEADER = "timestamp,visitorid,event,itemid,transactionid\n"
GOOD_EVENTS = ["1433000000000,1,view,10,", "1433000001000,1,addtocart,10,", "1433000002000,1,transaction,10,77"]
PROPERTIES = "timestamp,itemid,property,value\n1433000000000,10,categoryid,5\n1433000000000,10,available,1\n"


def _write(directory, events_text, properties_text=PROPERTIES):
    (directory / "events.csv").write_text(events_text)
    (directory / "item_properties.csv").write_text(properties_text)
    return raw_files.locate_raw_files(directory)


def _read_with_rows(tmp_path, *rows):
    """Reads an events file of the three good rows followed by `rows`; returns the events and the report."""
    paths = _write(tmp_path, EVENTS_HEADER + "\n".join(GOOD_EVENTS + list(rows)) + "\n")
    data = raw_files.read_raw_files(paths)
    return data.events, data.report


def test_good_rows_are_read(tmp_path):
    events, report = _read_with_rows(tmp_path)
    assert events["action"].tolist() == [1, 2, 3]
    assert events["item_id"].tolist() == [10, 10, 10]
    assert report["skipped_rows"] == {}
    assert report["layout"] == "single item_properties.csv"


def test_missing_column_names_file_and_columns_found(tmp_path):
    paths = _write(tmp_path, "timestamp,visitorid,event,transactionid\n1,1,view,\n")
    with pytest.raises(raw_files.RawFileError) as error:
        raw_files.read_raw_files(paths)
    message = str(error.value)
    assert "events.csv" in message and "['itemid']" in message
    assert "columns=['timestamp', 'visitorid', 'event', 'transactionid']" in message


def test_text_in_timestamp_is_skipped_with_line(tmp_path):
    events, report = _read_with_rows(tmp_path, "yesterday,2,view,11,", "1433000003000,2,view,11,")
    assert len(events) == 4
    assert report["skipped_rows"] == {"events.csv": {"unparseable timestamp": 1}}
    assert report["skipped_examples"]["events.csv"]["unparseable timestamp"] == [
        "events.csv:5: timestamp='yesterday'"]


def test_empty_id_is_skipped(tmp_path):
    events, report = _read_with_rows(tmp_path, "1433000003000,,view,11,")
    assert len(events) == 3
    assert report["skipped_examples"]["events.csv"]["unparseable visitorid"] == ["events.csv:5: visitorid=''"]


def test_unknown_event_name_is_skipped(tmp_path):
    events, report = _read_with_rows(tmp_path, "1433000003000,2,click,11,", "1433000004000,2,click,12,")
    assert len(events) == 3
    assert report["skipped_rows"]["events.csv"] == {"unknown event name": 2}
    assert report["skipped_examples"]["events.csv"]["unknown event name"] == [
        "events.csv:5: event='click'", "events.csv:6: event='click'"]


def test_empty_file_raises(tmp_path):
    paths = _write(tmp_path, "")
    with pytest.raises(raw_files.RawFileError, match=r"events\.csv is empty\. Expected a CSV file"):
        raw_files.read_raw_files(paths)


def test_header_only_file_raises(tmp_path):
    paths = _write(tmp_path, EVENTS_HEADER)
    with pytest.raises(raw_files.RawFileError, match="has a header but no rows"):
        raw_files.read_raw_files(paths)


def test_truncated_last_line_is_counted(tmp_path):
    paths = _write(tmp_path, EVENTS_HEADER + "\n".join(GOOD_EVENTS) + "\n1433000003000,2,vi")
    data = raw_files.read_raw_files(paths)
    assert len(data.events) == 3
    assert data.report["skipped_rows"] == {"events.csv": {"wrong number of fields": 1}}
    assert data.report["skipped_examples"]["events.csv"]["wrong number of fields"] == [
        "events.csv:5: 3 field(s), expected 5"]


def test_negative_and_overflowing_ids_are_skipped(tmp_path):
    events, report = _read_with_rows(
        tmp_path, "1433000003000,-4,view,11,", "1433000004000,2,view,2147483648,",
        "1433000005000,2,view,99999999999999999999999,", "1433000006000,2,view,2147483647,")
    assert events["item_id"].tolist() == [10, 10, 10, 2147483647]
    assert report["skipped_rows"]["events.csv"] == {"negative visitorid": 1, "itemid overflows int32": 2}
    assert report["skipped_examples"]["events.csv"]["itemid overflows int32"] == [
        "events.csv:6: itemid='2147483648'", "events.csv:7: itemid='99999999999999999999999'"]


def test_line_numbers_count_rows_with_wrong_field_count(tmp_path):
    events, report = _read_with_rows(tmp_path, "1,2", "1433000003000,2,view,11,,extra", "bad,2,view,11,")
    assert len(events) == 3
    assert report["skipped_rows"]["events.csv"] == {"wrong number of fields": 2, "unparseable timestamp": 1}
    assert report["skipped_examples"]["events.csv"]["unparseable timestamp"] == ["events.csv:7: timestamp='bad'"]


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    events, report = _read_with_rows(tmp_path, GOOD_EVENTS[2], GOOD_EVENTS[0])
    assert len(events) == 3
    assert report["duplicate_events_dropped"] == 2


def test_bad_category_value_is_skipped(tmp_path):
    properties = PROPERTIES + "1433000000000,11,categoryid,n552.000\n1433000000000,12,888,n552.000 639502\n"
    paths = _write(tmp_path, EVENTS_HEADER + "\n".join(GOOD_EVENTS) + "\n", properties)
    data = raw_files.read_raw_files(paths)
    assert data.category_snapshots["item_id"].tolist() == [10]
    assert data.report["skipped_examples"]["item_properties.csv"]["unparseable value"] == [
        "item_properties.csv:4: value='n552.000'"]


def test_missing_files_error_lists_every_file_and_folder(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS_HEADER)
    (tmp_path / "item_properties_part1.csv").write_text(PROPERTIES)
    with pytest.raises(raw_files.RawFileError) as error:
        raw_files.locate_raw_files(tmp_path, how_to_get="HOW TO GET")
    message = str(error.value)
    for expected in ("events.csv", "item_properties_part1.csv and item_properties_part2.csv",
                     "item_properties.csv", "category_tree.csv  (optional", str(tmp_path),
                     str(tmp_path / "retail_rocket") + ": (no such folder)", "HOW TO GET"):
        assert expected in message


def test_kaggle_layout_in_subfolder_is_found(tmp_path):
    folder = tmp_path / "retail_rocket"
    folder.mkdir()
    for name in ("events.csv", "item_properties_part1.csv", "item_properties_part2.csv", "category_tree.csv"):
        (folder / name).write_text("x\n")
    paths = raw_files.locate_raw_files(tmp_path)
    assert [path.name for path in paths.item_properties] == ["item_properties_part1.csv",
                                                             "item_properties_part2.csv"]
    assert paths.category_tree.name == "category_tree.csv"
    assert raw_files.raw_files_present(tmp_path) and not raw_files.raw_files_present(tmp_path / "nothing")


def test_quoted_header_names_the_quoted_columns(tmp_path):
    paths = _write(tmp_path, '"timestamp","visitorid","event","itemid","transactionid"\n1433000000000,1,view,10,\n')
    with pytest.raises(raw_files.RawFileError, match=r"lacks column\(s\).*columns=\['\"timestamp\"'.*no quotes"):
        raw_files.read_raw_files(paths)


def test_bad_transaction_id_is_skipped(tmp_path):
    events, report = _read_with_rows(tmp_path, "1433000003000,2,transaction,11,7x",
                                     "1433000004000,2,transaction,11,8")
    assert len(events) == 4
    assert report["skipped_rows"] == {"events.csv": {"unparseable transactionid": 1}}
    assert report["skipped_examples"]["events.csv"]["unparseable transactionid"] == [
        "events.csv:5: transactionid='7x'"]


def test_events_differing_in_transaction_id_are_not_duplicates(tmp_path):
    events, report = _read_with_rows(tmp_path, "1433000002000,1,transaction,10,78",
                                     "1433000002000,1,transaction,10,")
    assert len(events) == 5
    assert report["duplicate_events_dropped"] == 0


def test_every_line_of_every_file_is_accounted_for(tmp_path):
    """Kaggle layout: skips, duplicates (within and across the property parts) and other properties add up."""
    (tmp_path / "events.csv").write_text(EVENTS_HEADER + "\n".join(GOOD_EVENTS + ["", GOOD_EVENTS[0], "x"]) + "\n")
    part1 = ("timestamp,itemid,property,value\n1,10,categoryid,5\n1,10,available,1\n1,10,categoryid,5\n"
             "1,11,categoryid,x\n")
    part2 = "timestamp,itemid,property,value\r\n1,10,categoryid,5\r\n2,10,categoryid,6\r\n3,12,888,1 2\r\n"
    (tmp_path / "item_properties_part1.csv").write_text(part1)
    (tmp_path / "item_properties_part2.csv").write_bytes(part2.encode())
    (tmp_path / "category_tree.csv").write_text("categoryid,parentid\n5,\n6,5\n5,6\ncategoryid,parentid\n")
    data = raw_files.read_raw_files(raw_files.locate_raw_files(tmp_path))
    files = data.report["files"]
    assert files["events.csv"] == {
        "rows": 6, "rows_valid": 4, "physical_lines": 7, "header_lines": 1, "rows_kept": 3,
        "skipped": {"empty line": 1, "wrong number of fields": 1}, "duplicates_dropped": 1,
        "lines_accounted_for": True}
    assert files["item_properties_part1.csv"] == {
        "rows": 4, "categoryid_rows": 3, "categoryid_rows_kept": 2, "rows_valid": 2, "physical_lines": 5,
        "header_lines": 1, "rows_kept": 1, "skipped": {"unparseable value": 1}, "duplicates_dropped": 1,
        "other_property_rows": 1, "lines_accounted_for": True}
    assert files["item_properties_part2.csv"] == {
        "rows": 3, "categoryid_rows": 2, "categoryid_rows_kept": 2, "rows_valid": 2, "physical_lines": 4,
        "header_lines": 1, "rows_kept": 1, "skipped": {}, "duplicates_dropped": 1, "other_property_rows": 1,
        "lines_accounted_for": True}
    assert files["category_tree.csv"] == {
        "rows": 4, "rows_valid": 3, "physical_lines": 5, "header_lines": 1, "rows_kept": 2,
        "skipped": {"repeated header": 1}, "duplicates_dropped": 1, "lines_accounted_for": True}
    assert data.category_snapshots.values.tolist() == [[1, 10, 5], [2, 10, 6]]
    assert data.category_parents.values.tolist() == [[6, 5], [5, 6]]
    assert data.report["skipped_examples"]["category_tree.csv"] == {
        "repeated header": ["category_tree.csv:5: repeated header"]}


def test_lines_that_do_not_add_up_raise(tmp_path):
    paths = _write(tmp_path, EVENTS_HEADER + "\n".join(GOOD_EVENTS) + "\n")
    table = raw_files._TextTable(paths.events, raw_files.EVENT_COLUMNS, raw_files._SkipLog())
    assert table.account(rows_kept=3)["lines_accounted_for"] is True
    with pytest.raises(raw_files.LineAccountingError,
                       match=r"events\.csv: 4 physical lines, but 1 header \+ 2 kept \+ 0 skipped \+ 0 duplicates"):
        table.account(rows_kept=2)


TOKENS = [b"a", b",", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff", b"\xc3", b"\xef\xbb\xbf"]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=300) | st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join),
       sizes=st.lists(st.integers(1, 7), min_size=1, max_size=5))
def test_counted_stream_matches_plain_python(data, sizes):
    """Lines as `bytes.splitlines` counts them, bytes as `decode(errors="replace")` gives them, for any reads."""
    stream = raw_files._CountedUtf8Stream(io.BytesIO(data))
    pieces, step = [], 0
    while piece := stream.read(sizes[step % len(sizes)]):
        assert len(piece) <= sizes[step % len(sizes)]
        pieces.append(piece)
        step += 1
    assert stream.physical_lines == len(data.splitlines())
    assert b"".join(pieces) == data.decode("utf-8", errors="replace").encode("utf-8")
    assert stream.replaced_bytes == ("\ufffd" in data.decode("utf-8", errors="replace"))
