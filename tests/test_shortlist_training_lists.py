"""The ranker's training lists from held-out shortlists: hard candidates, positives first, and nothing of a held-out
event in any feature (a changed held-out event changes the labels only)."""

import dataclasses

import numpy as np
import pytest
from event_frames import random_event_frame

from app.candidates.held_out_lists import held_out_lists
from app.candidates.shortlist import NUM_SHORTLIST_FEATURES
from app.training.shortlist_lists import chosen_slots, shortlist_training_lists
from datasets.actions import DEFAULT_LOSS_WEIGHTS
from datasets.event_store import EventStore, ItemCatalog
from datasets.held_out import held_out_split

TOP = {"own_items": 5, "co_visitation": 10, "category_popularity": 10, "popularity": 5}


def test_chosen_slots_take_positives_first_up_to_half_then_others_then_padding():
    positive = np.array([[0, 1, 1, 1, 0, 0, 0, 0],
                         [1, 0, 0, 0, 0, 0, 0, 0]], dtype=bool)
    filled = np.array([[1, 1, 1, 1, 1, 1, 1, 1],
                       [1, 1, 1, 0, 0, 0, 0, 0]], dtype=bool)
    slots = chosen_slots(positive, filled, 4, np.random.default_rng(0))  # [2, 4]
    assert slots.shape == (2, 4)
    assert positive[0, slots[0, :2]].all() and not positive[0, slots[0, 2:]].any()  # 2 = C // 2 positives
    assert len(set(slots[0])) == 4 and filled[0, slots[0]].all()
    assert slots[1, 0] == 0 and sorted(slots[1, 1:3]) == [1, 2] and not filled[1, slots[1, 3]]  # padding last


@pytest.fixture(scope="module")
def train_store(retail_rocket_synthetic):
    return retail_rocket_synthetic.train


def test_every_list_holds_a_positive_among_real_shortlist_candidates(train_store):
    lists = shortlist_training_lists(train_store, 16, 8, DEFAULT_LOSS_WEIGHTS, cuts=2, top=TOP)
    count = len(lists.labels)
    assert 0 < count <= lists.statistics["held_out_visitors"]
    assert lists.features["candidate_item_id"].shape == (count, 8)
    assert lists.features["candidate_features"].shape == (count, 8, NUM_SHORTLIST_FEATURES)
    assert lists.features["history_item_id"].shape == (count, 16)
    np.testing.assert_array_equal(lists.mask, lists.features["candidate_item_id"] > 0)
    assert np.all(lists.labels.max(axis=(1, 2)) == 1)  # a positive in every list
    assert np.all(lists.labels[lists.mask == 0] == 0)
    assert np.all(lists.features["candidate_features"][lists.mask == 0] == 0)
    # Hard lists: most candidates are negatives drawn from the shortlist, not padding.
    assert lists.mask.mean() > 0.9
    # Categories are those of the catalogue of the events before the cut (no later snapshot).
    items, categories = lists.features["candidate_item_id"], lists.features["candidate_category_id"]
    first_cut = held_out_split(train_store)
    second_cut = held_out_split(first_cut.earlier)
    catalogs = [ItemCatalog.from_store(first_cut.earlier), ItemCatalog.from_store(second_cut.earlier)]
    assert np.all((categories == catalogs[0].categories(items)) | (categories == catalogs[1].categories(items)))
    again = shortlist_training_lists(train_store, 16, 8, DEFAULT_LOSS_WEIGHTS, cuts=2, top=TOP)
    for name, value in lists.features.items():
        np.testing.assert_array_equal(again.features[name], value)


def with_held_out_items_changed(store):
    """`store` with the item of every first-cut held-out event replaced by another item of the store."""
    held_out = held_out_split(store).held_out
    events, _ = held_out.own_event_index()  # [N] positions of the held-out events
    items = store.item_id.copy()
    other = np.unique(store.item_id)
    items[events] = other[(np.searchsorted(other, items[events]) + 1) % other.size]  # the next item id
    return dataclasses.replace(store, item_id=items)


def test_a_held_out_event_changes_the_labels_and_nothing_else():
    store = EventStore.from_frame(random_event_frame(seed=3, num_visitors=120), "train")
    changed = with_held_out_items_changed(store)
    first = list(held_out_lists(store, 8, TOP, cuts=2, batch_size=32))
    second = list(held_out_lists(changed, 8, TOP, cuts=2, batch_size=32))
    assert [chunk.cut for chunk in first] == [chunk.cut for chunk in second] and {0, 1} <= {c.cut for c in first}
    labels_differ = False
    for a, b in zip(first, second):
        for name in a.features:
            np.testing.assert_array_equal(a.features[name], b.features[name])
        np.testing.assert_array_equal(a.shortlists.item_id, b.shortlists.item_id)
        np.testing.assert_array_equal(a.shortlists.candidate_features(), b.shortlists.candidate_features())
        labels_differ |= a.cut == 0 and not np.array_equal(a.labels, b.labels)
    assert labels_differ  # the change reached the targets: the test would see a feature that read them


def test_refusals(train_store):
    with pytest.raises(ValueError, match="`cuts` must be an integer >= 1"):
        next(held_out_lists(train_store, 8, TOP, cuts=0))
