"""Malformed raw files: each gives a clear error, or a counted skip with `file:line` examples."""

import pytest

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
