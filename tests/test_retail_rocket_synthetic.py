"""The synthetic twin: same files for the same seed, the dump's raw totals, the real slice's shape after the
same filters (2 and 1) within `twin_statistics.TOLERANCES`, and learnable structure."""

from pathlib import Path

import numpy as np
import pytest

import twin_statistics

from datasets.retail_rocket import preprocess, raw_files, synthetic
from datasets.retail_rocket.retail_rocket_dataset_builder import SYNTHETIC_VISITORS

SLICE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "retailrocket-sample"
SLICE_FILTERS = preprocess.PreprocessOptions(min_visitor_events=2, min_item_events=1)


def _build(paths):
    raw = raw_files.read_raw_files(paths)
    return raw, preprocess.preprocess(raw.events, raw.category_snapshots, raw.category_parents, SLICE_FILTERS)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    directory = tmp_path_factory.mktemp("twin")
    return _build(synthetic.write_synthetic_raw_files(directory, synthetic.SyntheticSpec(SYNTHETIC_VISITORS)))


def test_same_seed_same_files(tmp_path):
    spec = synthetic.SyntheticSpec(num_visitors=300, seed=5)
    first = synthetic.write_synthetic_raw_files(tmp_path / "a", spec)
    second = synthetic.write_synthetic_raw_files(tmp_path / "b", spec)
    other = synthetic.write_synthetic_raw_files(tmp_path / "c", synthetic.SyntheticSpec(300, seed=6))
    assert first.events.read_bytes() == second.events.read_bytes() != other.events.read_bytes()
    for a, b in zip(first.item_properties, second.item_properties):
        assert a.read_bytes() == b.read_bytes()


def test_files_have_the_dump_quirks(twin, tmp_path):
    paths = synthetic.write_synthetic_raw_files(tmp_path, synthetic.SyntheticSpec(3_000))
    lines = paths.events.read_text().splitlines()
    assert lines[0] == "timestamp,visitorid,event,itemid,transactionid"
    rows = [line.split(",") for line in lines[1:]]
    assert all((row[4] != "") == (row[2] == "transaction") for row in rows)
    properties = "".join(path.read_text() for path in paths.item_properties)
    assert ",available," in properties and " n720.000 " in properties
    tree = paths.category_tree.read_text().splitlines()
    assert tree[0] == "categoryid,parentid" and any(line.endswith(",") for line in tree[1:])
    raw, _ = twin
    assert raw.report["duplicate_events_dropped"] > 0
    assert raw.report["skipped_rows"] == {}


def test_raw_totals_match_the_dump(twin):
    raw, sequences = twin
    events = raw.events
    mix = events["action"].value_counts(normalize=True)
    assert mix[1] == pytest.approx(0.967, abs=0.01)
    assert mix[2] == pytest.approx(0.025, abs=0.005)
    assert mix[3] == pytest.approx(0.008, abs=0.003)
    per_visitor = events.groupby("visitor_id").size()
    assert len(events) == pytest.approx(100_000, rel=0.05)
    assert per_visitor.mean() == pytest.approx(1.96, rel=0.08)
    assert (per_visitor == 1).mean() > 0.7
    found = sequences.statistics["categories_found"]
    assert found["events_category_from_later_snapshot"] > 0 and found["events_without_category"] > 0


def test_shape_matches_the_real_slice(twin):
    if not (SLICE_DIR / "events.csv").exists():
        pytest.fail(f"The real Retail Rocket slice is missing: expected {SLICE_DIR}/events.csv")
    _, real = _build(raw_files.locate_raw_files(SLICE_DIR))
    _, sequences = twin
    failures = twin_statistics.compare_to_real(twin_statistics.twin_statistics(real),
                                               twin_statistics.twin_statistics(sequences))
    assert not failures, "\n".join(failures)


def test_visitors_prefer_few_categories(twin):
    """A visitor's most frequent category covers far more of its events than under shuffled categories."""
    _, sequences = twin
    counts = np.diff(sequences.offsets)
    visitor = np.repeat(np.arange(len(counts)), counts)
    heavy = counts[visitor] >= 8

    def top_share(category):
        pairs = np.unique(np.stack([visitor[heavy], category[heavy]]), axis=1, return_counts=True)
        (owner, _), size = pairs
        return np.maximum.reduceat(size, np.r_[0, np.flatnonzero(np.diff(owner)) + 1]).sum() / heavy.sum()

    shuffled = np.random.default_rng(0).permutation(sequences.category_id)
    assert top_share(sequences.category_id) > top_share(shuffled) + 0.25


def test_carts_and_transactions_follow_views(twin):
    stats = twin_statistics.twin_statistics(twin[1])
    assert stats["addtocart_after_view_share"] > 0.5
    assert stats["transaction_after_addtocart_share"] > 0.35
    assert stats["repeat_view_share"] > 0.2
