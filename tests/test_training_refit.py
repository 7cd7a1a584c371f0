"""The refit's data: each visitor's training then validation events and no test event, their catalogue, and the
epoch count the validation split chose."""

import numpy as np
from event_frames import random_event_frame

from app.training.flow import LOG_FILE
from app.training.refit import best_epoch_count, events_through_validation, refit_data
from datasets.event_store import EVENT_FIELDS, EventStore
from datasets.loading import LoadedData


def test_the_refit_events_are_each_visitors_training_then_validation_events():
    frame = random_event_frame(seed=3, num_visitors=60, max_events=6)
    train, validation = (EventStore.from_frame(frame, split) for split in ("train", "validation"))
    merged = events_through_validation(train, validation)
    earlier = frame[frame["split"] != "test"]
    # Some visitors have validation events without training ones, others the reverse: all of them are here.
    assert set(validation.visitor_id) - set(train.visitor_id) and set(train.visitor_id) - set(validation.visitor_id)
    expected = EventStore.from_frame(earlier.assign(split="train"), "train")
    np.testing.assert_array_equal(merged.visitor_id, expected.visitor_id)
    np.testing.assert_array_equal(merged.offsets, expected.offsets)
    assert not merged.context_end.any()
    for name in EVENT_FIELDS:
        np.testing.assert_array_equal(getattr(merged, name), getattr(expected, name))
    assert merged.timestamp_ms.max() < frame.loc[frame["split"] == "test", "timestamp_ms"].min()


def test_the_refit_data_ranks_the_catalogue_of_the_training_and_validation_events():
    frame = random_event_frame(seed=4, num_visitors=60)
    stores = {split: EventStore.from_frame(frame, split) for split in ("train", "validation", "test")}
    data = LoadedData("retail_rocket/test", "0", {}, catalog=None, **stores)
    refit = refit_data(data)
    assert refit.test is data.test and refit.validation is data.validation
    np.testing.assert_array_equal(refit.catalog.item_id, np.unique(frame.loc[frame["split"] != "test", "item_id"]))
    assert refit.catalog.action_counts.sum() == refit.train.num_events


def test_the_refit_runs_the_epochs_up_to_the_best_validation_epoch(tmp_path):
    (tmp_path / LOG_FILE).write_text("epoch,loss,val_ndcg@10\n0,0.9,0.31\n1,0.5,0.36\n2,0.4,0.35\n")
    assert best_epoch_count(tmp_path) == 2
