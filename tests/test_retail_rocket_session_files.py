"""The session benchmark's files: good files read into CSR arrays, bad ones give one-line errors or counted skips."""

import numpy as np
import pytest

from datasets.retail_rocket.raw_files import RawFileError
from datasets.retail_rocket.session_files import Sessions
from datasets.retail_rocket.session_files import prefix_cases
from datasets.retail_rocket.session_files import read_cases
from datasets.retail_rocket.session_files import read_sessions
from datasets.retail_rocket.session_files import split_sessions

SESSIONS_HEADER = "session_id,position,item_id\n"
CASES_HEADER = "case_id,position,item_id,is_target\n"


def _write(tmp_path, name, header, rows):
    path = tmp_path / name
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def _sessions(*item_lists, first_id=1):
    lengths = [len(items) for items in item_lists]
    return Sessions(session_id=np.arange(first_id, first_id + len(item_lists), dtype=np.int64),
                    offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                    items=np.array([item for items in item_lists for item in items], dtype=np.int32))


def test_sessions_come_sorted_by_id_and_position(tmp_path):
    path = _write(tmp_path, "train_sessions.csv", SESSIONS_HEADER,
                  ["7,1,30", "3,0,11", "7,0,31", "3,2,13", "3,1,12", "7,2,30"])
    sessions = read_sessions(path)
    assert sessions.session_id.tolist() == [3, 7]
    assert sessions.offsets.tolist() == [0, 3, 6]
    assert sessions.items.tolist() == [11, 12, 13, 31, 30, 30]
    assert sessions.items.dtype == np.int32
    assert sessions.report["skipped_rows"] == {} and sessions.report["sessions"] == 2


def test_missing_file_is_one_line_naming_path_and_header(tmp_path):
    with pytest.raises(RawFileError) as error:
        read_sessions(tmp_path / "train_sessions.csv")
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "train_sessions.csv") in message and "session_id,position,item_id" in message


def test_missing_column_names_the_expected_header(tmp_path):
    path = _write(tmp_path, "cases.csv", "case_id,position,item_id\n", ["1,0,5"])
    with pytest.raises(RawFileError, match=r"cases\.csv lacks column\(s\) \['is_target'\]") as error:
        read_cases(path)
    assert "case_id,position,item_id,is_target" in str(error.value) and "\n" not in str(error.value)


def test_header_only_file_raises(tmp_path):
    path = _write(tmp_path, "train_sessions.csv", SESSIONS_HEADER, [])
    with pytest.raises(RawFileError, match="has a header but no rows"):
        read_sessions(path)


def test_bad_rows_are_counted_and_leave_their_session_with_a_gap(tmp_path):
    path = _write(tmp_path, "train_sessions.csv", SESSIONS_HEADER,
                  ["1,0,5", "1,1,6", "2,0,7", "2,1,x", "2,2,8", "3,0,0", "4,-1,9", "5,0,4", "5,1,4"])
    sessions = read_sessions(path)
    assert sessions.session_id.tolist() == [1, 5]
    assert sessions.items.tolist() == [5, 6, 4, 4]
    report = sessions.report
    assert report["skipped_examples"]["train_sessions.csv"]["unparseable item_id"] == [
        "train_sessions.csv:5: item_id='x'"]
    assert report["skipped_examples"]["train_sessions.csv"]["item_id 0 (item ids start at 1)"] == [
        "train_sessions.csv:7: item_id='0'"]
    assert report["skipped_rows"]["train_sessions.csv"]["negative position"] == 1
    # Session 2 lost its position 1, so it is dropped whole (its 2 remaining rows), named by its first line.
    reason = "session with positions not 0..n-1 (a gap or a duplicate)"
    assert report["skipped_rows"]["train_sessions.csv"][reason] == 2
    assert report["skipped_examples"]["train_sessions.csv"][reason] == [
        "train_sessions.csv:4: session_id=2 has positions [0, 2], expected 0..1"]
    assert report["sessions_skipped"] == {"positions not 0..n-1 (a gap or a duplicate)": 1}
    assert report["rows"] == 9 and report["rows_kept"] == 4


def test_duplicate_position_drops_the_session(tmp_path):
    path = _write(tmp_path, "train_sessions.csv", SESSIONS_HEADER, ["1,0,5", "1,1,6", "2,0,7", "2,0,8", "2,1,9"])
    sessions = read_sessions(path)
    assert sessions.session_id.tolist() == [1]
    assert sessions.report["skipped_examples"]["train_sessions.csv"][
        "session with positions not 0..n-1 (a gap or a duplicate)"] == [
        "train_sessions.csv:4: session_id=2 has positions [0, 0, 1], expected 0..2"]


def test_file_without_a_valid_session_raises(tmp_path):
    path = _write(tmp_path, "train_sessions.csv", SESSIONS_HEADER, ["1,1,5", "2,x,6"])
    with pytest.raises(RawFileError, match="holds no valid session"):
        read_sessions(path)


def test_cases_split_into_prefix_and_target(tmp_path):
    path = _write(tmp_path, "cases.csv", CASES_HEADER,
                  ["1,0,1,0", "1,1,2,0", "1,2,1,0", "1,3,1,1", "2,2,3,1", "2,0,3,0", "2,1,4,0"])
    cases = read_cases(path)
    assert cases.case_id.tolist() == [1, 2]
    assert cases.offsets.tolist() == [0, 3, 5]
    assert cases.items.tolist() == [1, 2, 1, 3, 4]
    assert cases.target.tolist() == [1, 3]
    assert cases.report["cases_skipped"] == {} and cases.report["rows_kept"] == 7


def test_bad_cases_are_counted_skips_with_reasons(tmp_path):
    rows = [
        "1,0,5,0", "1,1,6,1",  # good
        "2,0,5,0", "2,1,6,0",  # no target
        "3,0,5,0", "3,1,6,1", "3,2,7,1",  # two targets
        "4,0,5,1", "4,1,6,0",  # target first
        "5,0,5,1",  # empty prefix
        "6,0,5,0", "6,1,6,2",  # is_target 2: the row is skipped, case 6 then has no target
    ]
    cases = read_cases(_write(tmp_path, "cases.csv", CASES_HEADER, rows))
    assert cases.case_id.tolist() == [1]
    report = cases.report
    assert report["cases_skipped"] == {"no target row": 2, "several target rows": 1,
                                       "target not at the last position": 1, "empty prefix": 1}
    examples = report["skipped_examples"]["cases.csv"]
    assert examples["is_target not 0 or 1"] == ["cases.csv:13: is_target='2'"]
    assert examples["case with no target row"] == ["cases.csv:4: case_id=2 has no row with is_target=1",
                                                   "cases.csv:12: case_id=6 has no row with is_target=1"]
    assert examples["case with several target rows"] == [
        "cases.csv:6: case_id=3 has 2 rows with is_target=1, expected 1"]
    assert examples["case with target not at the last position"] == [
        "cases.csv:9: case_id=4 has its target before position 1, expected the target last"]
    assert examples["case with empty prefix"] == [
        "cases.csv:11: case_id=5 has only the target row, expected a prefix before it"]
    assert report["skipped_rows"]["cases.csv"]["case with no target row"] == 3


def test_split_holds_out_the_last_sessions_by_id():
    sessions = _sessions(*[[item] * 2 for item in range(1, 21)])
    training, validation = split_sessions(sessions)
    assert training.session_id.tolist() == list(range(1, 19))
    assert validation.session_id.tolist() == [19, 20]
    assert validation.items.tolist() == [19, 19, 20, 20] and validation.offsets.tolist() == [0, 2, 4]
    training, validation = split_sessions(sessions, validation_share=0.25)
    assert len(training) == 15 and validation.session_id[0] == 16


@pytest.mark.parametrize("share", [0.0, 1.0, 0.01])
def test_split_rejects_a_share_leaving_an_empty_part(share):
    with pytest.raises(ValueError, match="Received"):
        split_sessions(_sessions([1, 2], [3, 4], [5, 6]), validation_share=share)


def test_prefix_cases_are_every_prefix_with_the_next_item():
    cases = prefix_cases(_sessions([5, 6, 5, 7], [9], [3, 4]))
    assert cases.case_id.tolist() == [1, 2, 3, 4]
    assert cases.offsets.tolist() == [0, 1, 3, 6, 7]
    assert cases.items.tolist() == [5, 5, 6, 5, 6, 5, 3]
    assert cases.target.tolist() == [6, 5, 7, 4]


def test_item_counts_are_events_per_item():
    counts = _sessions([5, 6, 5], [6, 2]).item_counts(7)
    assert counts.tolist() == [0, 0, 1, 0, 0, 2, 2, 0]
    with pytest.raises(ValueError, match="num_items=4"):
        _sessions([5]).item_counts(4)
