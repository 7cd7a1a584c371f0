"""Reading the Retail Rocket session benchmark (`retailrocket-sessions/`): sessions, test cases, the split.

`train_sessions.csv` (`session_id,position,item_id`) holds whole view sessions; a test-case file
(`case_id,position,item_id,is_target`) holds, per case, a prefix (`is_target=0` rows in position order) and one
`is_target=1` row, the item viewed next. Both are read with the checks of `raw_files.py`: a missing file, a missing
column or a file without rows raises a one-line `RawFileError`; a row with an unparseable, negative or too large
field, or an item id 0 (ids start at 1), is a counted skip with `file:line` examples. Rows are then grouped by
session (case) id and ordered by position, and a whole session (case) is dropped, counted by reason with the line of
its first row, when its positions are not exactly 0..n-1 (a gap, which a skipped row also leaves, or a duplicate);
a case is also dropped when it has no target row or several, when its target is not its last position, or when its
prefix is empty. Skips are counted in rows (`report["skipped_rows"]`) and in sessions or cases.

The validation split (`split_sessions`), used for every figure we quote on this benchmark: session ids are in time
order, so the last `round(validation_share * N)` sessions by id (10% by default: 12,617 of the 126,168) are the
validation sessions and the others the training sessions; nothing of a validation session is seen in training.
`prefix_cases` turns validation sessions into test cases in the benchmark's format: every prefix of length >= 1
with the next item as target (a session of n items gives n - 1 cases). Validation items that the training sessions
never hold are kept (4.8% of the validation targets: misses for every baseline), as all items are ranked.
"""

import dataclasses

import numpy as np
from etils import epath

from datasets.retail_rocket.raw_files import MAX_EXAMPLES_PER_REASON
from datasets.retail_rocket.raw_files import RawFileError
from datasets.retail_rocket.raw_files import _checked_ints
from datasets.retail_rocket.raw_files import _SkipLog
from datasets.retail_rocket.raw_files import _TextTable

TRAIN_SESSIONS_FILE = "train_sessions.csv"
SESSION_COLUMNS = ("session_id", "position", "item_id")
CASE_COLUMNS = ("case_id", "position", "item_id", "is_target")
DEFAULT_VALIDATION_SHARE = 0.1

_POSITIONS_REASON = "positions not 0..n-1 (a gap or a duplicate)"
_SHOWN_POSITIONS = 10


@dataclasses.dataclass(frozen=True)
class Sessions:
    """Whole sessions as compact arrays (CSR), sessions in ascending id order, items in position order.

    Args:
        session_id: `[N]` int64 session ids, ascending.
        offsets: `[N + 1]` int64; session `s` holds `items[offsets[s]:offsets[s + 1]]`.
        items: `[M]` int32 item ids (>= 1).
        report: JSON-able dict of what was read and skipped (empty for derived sessions).
    """

    session_id: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    report: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.session_id)

    @property
    def lengths(self) -> np.ndarray:
        """`[N]` number of items (events) of each session."""
        return np.diff(self.offsets)

    def select(self, start: int, stop: int) -> "Sessions":
        """The sessions at indices `start..stop - 1`."""
        offsets = self.offsets[start:stop + 1]
        return Sessions(session_id=self.session_id[start:stop], offsets=offsets - offsets[0],
                        items=self.items[offsets[0]:offsets[-1]])

    def item_counts(self, num_items: int) -> np.ndarray:
        """`[num_items + 1]` int64 events per item id (column 0 is always 0): the training popularity."""
        if len(self.items) and int(self.items.max()) > num_items:
            raise ValueError(f"num_items must cover every item id. Received: num_items={num_items}, largest item "
                             f"id={int(self.items.max())}")
        return np.bincount(self.items, minlength=num_items + 1).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class SessionCases:
    """Next-item test cases as compact arrays: a prefix (CSR) and the target that followed it.

    Args:
        case_id: `[N]` int64 case ids, ascending.
        offsets: `[N + 1]` int64; case `c` has the prefix `items[offsets[c]:offsets[c + 1]]` (never empty).
        items: `[M]` int32 prefix item ids in position order.
        target: `[N]` int32 the item that came next.
        report: JSON-able dict of what was read and skipped (empty for derived cases).
    """

    case_id: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    target: np.ndarray
    report: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.case_id)

    def select(self, start: int, stop: int) -> "SessionCases":
        """The cases at indices `start..stop - 1`."""
        offsets = self.offsets[start:stop + 1]
        return SessionCases(case_id=self.case_id[start:stop], offsets=offsets - offsets[0],
                            items=self.items[offsets[0]:offsets[-1]], target=self.target[start:stop])


def locate_train_sessions(directory: epath.PathLike) -> epath.Path:
    """`train_sessions.csv` in `directory` (or its `retail_rocket/` subfolder), or a `RawFileError` saying where
    it looked and how to get it."""
    directory = epath.Path(directory)
    for folder in (directory, directory / "retail_rocket"):
        if (folder / TRAIN_SESSIONS_FILE).exists():
            return folder / TRAIN_SESSIONS_FILE
    raise RawFileError(
        f"{TRAIN_SESSIONS_FILE} not found in {directory} (nor in its retail_rocket/ subfolder). The session "
        f"benchmark's training file has the header {','.join(SESSION_COLUMNS)}; pass the folder holding it as "
        "--manual_dir (this project's tests read ../shared/data/retailrocket-sessions/)."
    )


def _require_file(path: epath.Path, columns: tuple[str, ...]) -> None:
    if not path.exists():
        raise RawFileError(f"{path} not found. Expected a CSV file with the header {','.join(columns)} "
                           "(the Retail Rocket session benchmark); check the path.")


def _read_rows(path: epath.Path, columns: tuple[str, ...], skips: _SkipLog):
    """Reads the integer columns of `path`; returns the table, the kept row mask and the parsed columns."""
    _require_file(path, columns)
    table = _TextTable(path, columns, skips)
    if table.rows_read == 0:
        raise RawFileError(f"{path} has a header but no rows. Expected one row per event with the columns "
                           f"{','.join(columns)}.")
    keep = np.ones(table.table.num_rows, dtype=bool)
    group_column = columns[0]  # session_id or case_id: any non-negative int64; the others fit int32
    values = {name: _checked_ints(table, name, keep, int32=name != group_column) for name in columns}
    table.report_bad(keep & (values["item_id"] == 0), "item_id 0 (item ids start at 1)", "item_id",
                     table.column("item_id"))
    keep &= values["item_id"] != 0
    return table, keep, values


def _group_starts(group_ids: np.ndarray) -> np.ndarray:
    """`[G + 1]` start offsets of the runs of equal ids in sorted `group_ids` (plus the end)."""
    if len(group_ids) == 0:
        return np.zeros(1, dtype=np.int64)
    changes = np.flatnonzero(group_ids[1:] != group_ids[:-1]) + 1
    return np.concatenate([[0], changes, [len(group_ids)]]).astype(np.int64)


def _drop_groups(table: _TextTable, rows: np.ndarray, starts: np.ndarray, bad: np.ndarray, reason: str,
                 id_column: str, group_ids: np.ndarray, describe, skips: _SkipLog) -> int:
    """Counts the groups flagged `bad` (and their rows) under `reason`, with the line of each one's first row."""
    bad_groups = np.flatnonzero(bad)
    if len(bad_groups) == 0:
        return 0
    lengths = starts[bad_groups + 1] - starts[bad_groups]
    shown = bad_groups[:MAX_EXAMPLES_PER_REASON]
    lines = table.line_numbers(rows[starts[shown]])
    examples = [f"{table.name}:{line}: {id_column}={group_ids[starts[g]]} {describe(g)}"
                for line, g in zip(lines, shown)]
    table.add_skips(f"{id_column.removesuffix('_id')} with {reason}", int(lengths.sum()), examples)
    return len(bad_groups)


def _grouped(table: _TextTable, keep: np.ndarray, values: dict, id_column: str, skips: _SkipLog):
    """Sorts the kept rows by (group id, position) and checks each group's positions are 0..n-1.

    Returns:
        (rows `[R]` table positions in group order, starts `[G + 1]`, good `[G]` bool, group ids `[R]`,
        {reason: groups dropped}).
    """
    rows = np.flatnonzero(keep)
    group_ids = values[id_column][rows]
    positions = values["position"][rows]
    order = np.lexsort((positions, group_ids))
    rows, group_ids, positions = rows[order], group_ids[order], positions[order]
    starts = _group_starts(group_ids)
    lengths = np.diff(starts)
    expected = np.arange(len(rows)) - np.repeat(starts[:-1], lengths)
    wrong = np.bincount(np.repeat(np.arange(len(lengths)), lengths), weights=positions != expected,
                        minlength=len(lengths)) > 0

    def describe(g):
        found = positions[starts[g]:starts[g + 1]].tolist()
        shown = ", ".join(map(str, found[:_SHOWN_POSITIONS])) + (", ..." if len(found) > _SHOWN_POSITIONS else "")
        return f"has positions [{shown}], expected 0..{len(found) - 1}"

    dropped = {_POSITIONS_REASON: _drop_groups(table, rows, starts, wrong, _POSITIONS_REASON, id_column,
                                               group_ids, describe, skips)}
    return rows, starts, ~wrong, group_ids, dropped


def _report(table: _TextTable, skips: _SkipLog, rows_kept: int, unit: str, kept: int, dropped: dict) -> dict:
    """The file's report; checks first that every physical line is the header, a kept row or a counted skip."""
    lines = table.account(rows_kept)
    skips.log()
    return {"file": str(table.path), "rows": int(table.rows_read), "rows_kept": int(rows_kept), unit: int(kept),
            f"{unit}_skipped": {reason: count for reason, count in dropped.items() if count},
            "skipped_rows": skips.counts, "skipped_examples": skips.examples, "lines": lines}


def read_sessions(path: epath.PathLike) -> Sessions:
    """Reads `train_sessions.csv` (`session_id,position,item_id`); see the module docstring for the checks.

    Raises:
        RawFileError: the file is missing, lacks a column, has no rows, or has no valid session.
    """
    path = epath.Path(path)
    skips = _SkipLog()
    table, keep, values = _read_rows(path, SESSION_COLUMNS, skips)
    rows, starts, good, group_ids, dropped = _grouped(table, keep, values, "session_id", skips)
    lengths = np.diff(starts)
    kept_rows = np.repeat(good, lengths)
    if not good.any():
        raise RawFileError(f"{path} holds no valid session (all {table.rows_read} rows skipped). Expected rows "
                           "like 1,0,17 (session_id,position,item_id) with positions 0..n-1 per session.")
    items = values["item_id"][rows[kept_rows]].astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths[good])]).astype(np.int64)
    return Sessions(session_id=group_ids[starts[:-1][good]], offsets=offsets, items=items,
                    report=_report(table, skips, len(items), "sessions", int(good.sum()), dropped))


def read_cases(path: epath.PathLike) -> SessionCases:
    """Reads a test-case file (`case_id,position,item_id,is_target`); see the module docstring for the checks.

    Raises:
        RawFileError: the file is missing, lacks a column, has no rows, or has no valid case.
    """
    path = epath.Path(path)
    skips = _SkipLog()
    table, keep, values = _read_rows(path, CASE_COLUMNS, skips)
    table.report_bad(keep & (values["is_target"] > 1), "is_target not 0 or 1", "is_target",
                     table.column("is_target"))
    keep &= values["is_target"] <= 1
    rows, starts, good, group_ids, dropped = _grouped(table, keep, values, "case_id", skips)
    lengths = np.diff(starts)
    is_target = values["is_target"][rows].astype(bool)
    group_of_row = np.repeat(np.arange(len(lengths)), lengths)
    targets = np.bincount(group_of_row, weights=is_target, minlength=len(lengths)).astype(np.int64)
    last_is_target = is_target[starts[1:] - 1]
    checks = (
        ("no target row", targets == 0, lambda g: "has no row with is_target=1"),
        ("several target rows", targets > 1, lambda g: f"has {targets[g]} rows with is_target=1, expected 1"),
        ("target not at the last position", ~last_is_target,
         lambda g: f"has its target before position {lengths[g] - 1}, expected the target last"),
        ("empty prefix", lengths == 1, lambda g: "has only the target row, expected a prefix before it"),
    )
    for reason, flagged, describe in checks:
        bad = good & flagged
        dropped[reason] = _drop_groups(table, rows, starts, bad, reason, "case_id", group_ids, describe, skips)
        good &= ~flagged
    if not good.any():
        raise RawFileError(f"{path} holds no valid test case (all {table.rows_read} rows skipped). Expected per "
                           "case a prefix (is_target=0, positions 0..n-2) and one row with is_target=1 last.")
    prefix_lengths = lengths[good] - 1
    prefix_rows = rows[np.repeat(good, lengths) & ~is_target]
    target_rows = rows[starts[1:][good] - 1]
    return SessionCases(
        case_id=group_ids[starts[:-1][good]],
        offsets=np.concatenate([[0], np.cumsum(prefix_lengths)]).astype(np.int64),
        items=values["item_id"][prefix_rows].astype(np.int32),
        target=values["item_id"][target_rows].astype(np.int32),
        report=_report(table, skips, len(prefix_rows) + len(target_rows), "cases", int(good.sum()), dropped),
    )


def split_sessions(sessions: Sessions, validation_share: float = DEFAULT_VALIDATION_SHARE):
    """Splits by session id (time order): the last `round(validation_share * N)` sessions are validation.

    Args:
        sessions: all sessions, ids ascending.
        validation_share: the share of sessions held out, in (0, 1).

    Returns:
        `(training, validation)` Sessions.
    """
    if not 0.0 < validation_share < 1.0:
        raise ValueError(f"validation_share must be in (0, 1). Received: validation_share={validation_share}")
    held_out = round(validation_share * len(sessions))
    if not 0 < held_out < len(sessions):
        raise ValueError(f"The split would leave an empty part. Received: {len(sessions)} sessions, "
                         f"validation_share={validation_share} ({held_out} held out)")
    cut = len(sessions) - held_out
    return sessions.select(0, cut), sessions.select(cut, len(sessions))


def prefix_cases(sessions: Sessions) -> SessionCases:
    """Every prefix (length >= 1) of every session with the next item as target.

    Cases come in session order, then by prefix length; case ids are 1..N in that order.
    """
    lengths = sessions.lengths  # [N]
    per_session = np.maximum(lengths - 1, 0)  # [N]
    num_cases = int(per_session.sum())
    first_case = np.concatenate([[0], np.cumsum(per_session)])  # [N + 1]
    session_of_case = np.repeat(np.arange(len(lengths)), per_session)  # [C]
    prefix_length = np.arange(num_cases) - first_case[session_of_case] + 1  # [C]
    session_start = sessions.offsets[session_of_case]  # [C]
    offsets = np.concatenate([[0], np.cumsum(prefix_length)]).astype(np.int64)  # [C + 1]
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], prefix_length)  # [M]
    return SessionCases(
        case_id=np.arange(1, num_cases + 1, dtype=np.int64),
        offsets=offsets,
        items=sessions.items[np.repeat(session_start, prefix_length) + within],
        target=sessions.items[session_start + prefix_length],
    )
