"""The Beam build (datasets/retail_rocket/beam_build.py) against the in-memory build: the same records, in the same
order, and the same statistics, on the synthetic twin and on the real slice, run on Beam's DirectRunner.

The builds here use 4 shards and 3 filter rounds (the defaults, 64 and 8, are for a cluster: on the DirectRunner
each shard of each step costs time). Needs the `beam` extra (`pip install -e ".[beam]"`), which `.ci/run` installs.
"""

import numpy as np
import pandas as pd
import pytest
from commands import SAMPLE

pytest.importorskip("apache_beam", reason="the Beam build needs the beam extra: pip install -e '.[beam]'")

SPLITS = ("train", "validation", "test")


def beam_builder(config, data_dir, filter_iterations=3, **filters):
    """A retail_rocket builder of `config` (its filters overridden by `filters`) for a small Beam build."""
    from datasets.retail_rocket import make_builder
    from datasets.retail_rocket.retail_rocket_dataset_builder import Builder

    manual_dir = SAMPLE if config == "full" else None
    named = make_builder(config, data_dir=data_dir, manual_dir=manual_dir, **filters)
    return Builder(config=named.builder_config, data_dir=data_dir, manual_dir=manual_dir, beam_shards=4,
                   beam_filter_iterations=filter_iterations)


def build_with_beam(builder):
    from datasets.loading import beam_download_config

    builder.download_and_prepare(download_config=beam_download_config("beam"))
    return builder


def assert_same_build(memory, beam):
    """Same metadata (every statistic and the raw files' report) and the same records in the same order."""
    import tensorflow_datasets as tfds

    assert dict(beam.info.metadata) == dict(memory.info.metadata)
    for split in SPLITS:
        assert beam.info.splits[split].num_examples == memory.info.splits[split].num_examples
        pairs = zip(tfds.as_numpy(memory.as_dataset(split=split)), tfds.as_numpy(beam.as_dataset(split=split)))
        for count, (expected, got) in enumerate(pairs, start=1):
            assert (got["visitor_id"], got["context_end"]) == (expected["visitor_id"], expected["context_end"])
            for field, values in expected["events"].items():
                np.testing.assert_array_equal(got["events"][field], values, err_msg=f"{split} {field}")
        assert count == memory.info.splits[split].num_examples


@pytest.mark.slow
def test_the_twin_builds_the_same_with_beam(synthetic_data_dir, tmp_path):
    from datasets.retail_rocket import make_builder

    memory = make_builder("synthetic", data_dir=synthetic_data_dir)
    assert memory.is_prepared()
    assert_same_build(memory, build_with_beam(beam_builder("synthetic", tmp_path)))


@pytest.mark.slow
def test_the_real_slice_builds_the_same_with_beam(real_slice_data_dir, tmp_path):
    from datasets.retail_rocket import make_builder

    filters = {"min_visitor_events": 2, "min_item_events": 1}
    memory = make_builder("full", data_dir=real_slice_data_dir, manual_dir=SAMPLE, **filters)
    assert memory.is_prepared()
    beam = build_with_beam(beam_builder("full", tmp_path / "beam", **filters))
    assert_same_build(memory, beam)
    assert beam.info.metadata["raw"]["files"]["events.csv"]["lines_accounted_for"]
    assert len(beam.info.metadata["filter_iterations"]) == 2


@pytest.mark.slow
def test_filters_that_have_not_settled_stop_the_build(tmp_path):
    # The slice's filters settle in the second round: one round cannot show that nothing more would go.
    builder = beam_builder("full", tmp_path, filter_iterations=1, min_visitor_events=2, min_item_events=1)
    with pytest.raises(Exception, match="The filters had not settled after 1 rounds"):
        build_with_beam(builder)
    assert not builder.is_prepared()


def test_the_global_split_needs_both_cutoffs():
    from datasets.retail_rocket.beam_build import BeamBuild
    from datasets.retail_rocket.preprocess import PreprocessOptions

    with pytest.raises(ValueError, match="Received: validation_start_ms=None, test_start_ms=None"):
        BeamBuild(lambda: None, PreprocessOptions(split="global"))
    BeamBuild(lambda: None, PreprocessOptions(split="global", validation_start_ms=1, test_start_ms=2))


def test_shards_travel_as_arrow_bytes_with_their_dtypes():
    from datasets.retail_rocket.beam_build import dealt_by, frame_from_bytes, frames_from_bytes

    frame = pd.DataFrame({"timestamp_ms": np.arange(7, dtype=np.int64), "visitor_id": np.arange(7, dtype=np.int64) * 5,
                          "item_id": np.arange(7, dtype=np.int32) % 3, "action": np.ones(7, dtype=np.int8)})
    shards = dict(dealt_by(frame, "item_id", 2))
    assert sorted(shards) == [0, 1]
    assert frame_from_bytes(shards[1])["item_id"].tolist() == [1, 1]
    back = frames_from_bytes(shards.values()).sort_values("timestamp_ms", ignore_index=True)
    pd.testing.assert_frame_equal(back, frame)


def test_an_unknown_engine_is_refused():
    from datasets.loading import beam_download_config

    assert beam_download_config("memory") is None
    with pytest.raises(ValueError, match="Received: engine='spark'"):
        beam_download_config("spark")
