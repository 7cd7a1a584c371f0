import numpy as np
import pytest

from datasets.event_store import ItemCatalog
from datasets.negative_sampler import NegativeSampler


def catalog_with_views(views):
    counts = np.zeros((len(views), 3), dtype=np.int64)
    counts[:, 2] = views
    return ItemCatalog(item_id=np.arange(1, len(views) + 1), category_id=np.zeros(len(views)), action_counts=counts)


def draw_with(rng):
    return lambda round_index, rows, slots: rng.random(rows.size)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_draws_follow_popularity_to_the_power_alpha(alpha):
    views = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    sampler = NegativeSampler(catalog_with_views(views), alpha)
    num_rows = 40_000
    candidates = np.zeros((num_rows, 1), dtype=np.int32)
    sampler.fill(candidates, np.zeros(num_rows, int), [], [], draw_with(np.random.default_rng(0)))
    frequency = np.bincount(candidates[:, 0], minlength=9)[1:] / num_rows
    expected = views**alpha / np.sum(views**alpha)
    # Loose bound: 5 standard deviations of a binomial frequency.
    np.testing.assert_array_less(np.abs(frequency - expected), 5 * np.sqrt(expected * (1 - expected) / num_rows))
    if alpha == 0:
        assert frequency.max() / frequency.min() < 1.2
    else:
        assert frequency[-1] / frequency[0] > 50


def test_fill_skips_excluded_items_and_repeats_and_keeps_fixed_slots():
    sampler = NegativeSampler(catalog_with_views(np.arange(1, 31)), 1.0)
    rng = np.random.default_rng(1)
    num_rows, length = 500, 12
    candidates = np.zeros((num_rows, length), dtype=np.int32)
    num_fixed = rng.integers(0, 4, size=num_rows)
    excluded_rows, excluded_items = [], []
    for row in range(num_rows):
        positives = rng.choice(np.arange(20, 31), size=6, replace=False)  # popular items, often drawn
        candidates[row, : num_fixed[row]] = positives[: num_fixed[row]]
        excluded_rows += [row] * 6
        excluded_items += positives.tolist()
    fixed = candidates.copy()
    mask, _ = sampler.fill(candidates, num_fixed, np.array(excluded_rows), np.array(excluded_items), draw_with(rng))
    assert mask.all()
    excluded = np.array(excluded_items).reshape(num_rows, 6)
    for row in range(num_rows):
        np.testing.assert_array_equal(candidates[row, : num_fixed[row]], fixed[row, : num_fixed[row]])
        negatives = candidates[row, num_fixed[row] :]
        assert len(set(candidates[row].tolist())) == length
        assert not set(negatives.tolist()) & set(excluded[row].tolist())


def test_fallback_fills_a_nearly_exhausted_catalog_then_pads():
    sampler = NegativeSampler(catalog_with_views([1, 1, 1, 1, 1000]), 1.0, max_rounds=2)
    candidates = np.zeros((2, 4), dtype=np.int32)
    candidates[:, 0] = 5
    mask, fallback_rows = sampler.fill(
        candidates, np.array([1, 1]), np.array([0, 1, 1]), np.array([5, 5, 1]), draw_with(np.random.default_rng(0))
    )
    assert fallback_rows == 2
    assert set(candidates[0, 1:].tolist()) <= {1, 2, 3, 4} and len(set(candidates[0, 1:].tolist())) == 3
    assert candidates[0, 0] == 5 and mask[0].all()
    # Row 1 may use only items 2, 3, 4 (1 and 5 are excluded), so all three slots are real.
    assert sorted(candidates[1, 1:].tolist()) == [2, 3, 4] and mask[1].all()
    short = np.zeros((1, 6), dtype=np.int32)
    mask, _ = sampler.fill(short, np.array([0]), np.array([0]), np.array([5]), draw_with(np.random.default_rng(0)))
    assert sorted(short[0, mask[0]].tolist()) == [1, 2, 3, 4] and mask[0].sum() == 4
    assert np.all(short[0, ~mask[0]] == 0)


def test_same_category_slots_draw_by_popularity_within_the_first_items_category():
    # Items 1-6 in category 7 (views 1..6), items 7-9 in category 8 (too small for 2 draws), 10-12 unknown (0).
    views = np.array([1, 2, 3, 4, 5, 6, 50, 50, 50, 90, 90, 90])
    counts = np.zeros((12, 3), dtype=np.int64)
    counts[:, 2] = views
    categories = np.array([7] * 6 + [8] * 3 + [0] * 3)
    catalog = ItemCatalog(item_id=np.arange(1, 13), category_id=categories, action_counts=counts)
    sampler = NegativeSampler(catalog, 1.0, same_category=2)
    num_rows = 30_000
    candidates = np.zeros((num_rows, 5), dtype=np.int32)
    candidates[:, 0] = np.where(np.arange(num_rows) % 3 == 0, 8, 1)  # a row's positive: item 8 or item 1
    rows = np.arange(num_rows)
    sampler.fill(candidates, np.ones(num_rows, int), rows, candidates[:, 0].copy(), draw_with(np.random.default_rng(2)))
    in_seven = candidates[rows % 3 != 0]
    # Slots 1-2 (the first two negatives): category 7 only, never the positive, following the views 2..6.
    hard = in_seven[:, 1:3].ravel()
    assert np.isin(hard, [2, 3, 4, 5, 6]).all()
    frequency = np.bincount(hard, minlength=7)[2:] / hard.size
    np.testing.assert_allclose(frequency, np.arange(2, 7) / 20, atol=0.03)
    # The other slots, and every slot of rows whose category is too small, come from the whole catalog.
    assert np.isin(in_seven[:, 3:], np.arange(7, 13)).mean() > 0.8
    assert np.isin(candidates[rows % 3 == 0][:, 1:], np.arange(10, 13)).mean() > 0.5
    with pytest.raises(ValueError, match="same_category"):
        NegativeSampler(catalog, 1.0, same_category=-1)
