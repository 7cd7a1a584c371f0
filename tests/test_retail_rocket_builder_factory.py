"""`make_builder`: config names that keep caches apart, argument checks, and the missing-files error."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from datasets.retail_rocket import make_builder, manual_files_present  # noqa: E402
from datasets.retail_rocket.raw_files import RawFileError  # noqa: E402


def test_default_configs_keep_their_names(tmp_path):
    assert make_builder("synthetic", data_dir=tmp_path).builder_config.name == "synthetic"
    assert make_builder("synthetic_full", data_dir=tmp_path, min_visitor_events=10).builder_config.name == (
        "synthetic_full")
    full = make_builder("full", data_dir=tmp_path)
    assert (full.builder_config.min_visitor_events, full.builder_config.min_item_events) == (10, 5)
    assert full.name == "retail_rocket"


def test_other_filters_get_distinct_names(tmp_path):
    builder = make_builder("full", data_dir=tmp_path, min_visitor_events=2, min_item_events=1)
    assert builder.builder_config.name == "full_v2_i1"
    assert builder.builder_config.min_visitor_events == 2
    assert "full_v2_i1" in str(builder.data_dir)
    assert make_builder("synthetic", data_dir=tmp_path, min_item_events=3).builder_config.name == (
        "synthetic_v2_i3")
    assert make_builder("synthetic", data_dir=tmp_path, split="global").builder_config.name == "synthetic_global"
    named = make_builder("synthetic", data_dir=tmp_path, split="global", validation_start_ms=5, test_start_ms=9)
    assert named.builder_config.name == "synthetic_global_5_9"


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="Received: config='fulll'"):
        make_builder("fulll", data_dir=tmp_path)
    with pytest.raises(ValueError, match="min_visitor_events=0"):
        make_builder("full", data_dir=tmp_path, min_visitor_events=0)


def test_missing_manual_files_error(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    assert not manual_files_present(manual)
    builder = make_builder("full", data_dir=tmp_path / "data", manual_dir=manual)
    with pytest.raises(RawFileError) as error:
        builder.download_and_prepare()
    message = str(error.value)
    assert str(manual) in message and "events.csv" in message and "category_tree.csv  (optional" in message
    assert "kaggle datasets download -d retailrocket/ecommerce-dataset" in message
    assert "kagglehub" in message
