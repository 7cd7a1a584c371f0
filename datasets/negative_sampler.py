"""Vectorised negative sampling by popularity ** alpha, without positives and without repeats."""

import numpy as np


_MAX_LENGTH = 1 << 10  # slot bits of the repeat-detection key
_MAX_ROWS = 1 << 21  # row bits of the repeat-detection key


def _row_item_key(rows, items):
    """int64 key of (row, item) pairs; item ids are non-negative int32."""
    return np.asarray(rows, dtype=np.int64) * (1 << 32) + np.asarray(items, dtype=np.int64)


def _is_member(sorted_keys, keys):
    position = np.minimum(np.searchsorted(sorted_keys, keys), max(sorted_keys.size - 1, 0))
    return sorted_keys[position] == keys if sorted_keys.size else np.zeros(keys.shape, dtype=bool)


class NegativeSampler:
    """Fills candidate lists with items drawn from the catalog with probability proportional to
    `popularity ** alpha`, never an excluded item (a positive) and never an item already in the list.

    With `same_category` > 0, the first `same_category` negative slots of a
    row are drawn the same way but among the items of the catalog category of
    the row's first item (its first positive): hard negatives, which global
    popularity almost never gives, since a visitor's items cluster in a few
    categories. A row whose first item has no category, or a category of at
    most `2 * same_category` items, draws every slot from the whole catalog.

    Collisions are redrawn for the colliding slots only (rejection sampling, vectorised over all lists).
    After `max_rounds` rounds, which only a catalog barely larger than a list reaches, the remaining slots
    take the most probable allowed items in order; when no allowed item is left a slot stays padding
    (item 0, mask 0).

    Args:
        catalog: `ItemCatalog` of the train split.
        alpha: popularity exponent, 0 uniform, 1 proportional to train popularity.
        max_rounds: rejection rounds before the deterministic fallback.
        same_category: negative slots per row drawn from the category of the row's first item.
    """

    def __init__(self, catalog, alpha, max_rounds=64, same_category=0):
        if int(same_category) != same_category or same_category < 0:
            raise ValueError(f"`same_category` must be an integer >= 0. Received: same_category={same_category}")
        self.catalog = catalog
        self.alpha = alpha
        self.max_rounds = max_rounds
        self.same_category = int(same_category)
        self._cdf = catalog.sampling_cdf(alpha)  # [I]
        weights = np.diff(self._cdf, prepend=0.0)  # [I]
        self._by_weight = catalog.item_id[np.argsort(-weights, kind="stable")]  # [I]
        # Per category, the items in one array and keys `category rank + cdf within the category`, increasing.
        order = np.lexsort((catalog.item_id, catalog.category_id))  # [I] by category, then item id
        category = np.asarray(catalog.category_id)[order]  # [I]
        self._categories, starts, counts = np.unique(category, return_index=True, return_counts=True)  # [K]
        rank = np.repeat(np.arange(self._categories.size), counts)  # [I]
        cumulative = np.cumsum(weights[order])  # [I]
        before = np.repeat(cumulative[starts] - weights[order][starts], counts)  # [I] weight of earlier categories
        totals = np.repeat(np.add.reduceat(weights[order], starts), counts)  # [I]
        self._category_keys = rank + (cumulative - before) / totals  # [I]
        self._category_items = catalog.item_id[order]  # [I]
        self._category_ends = starts + counts  # [K]
        self._category_sizes = counts  # [K]

    def _same_category_draw(self, category, uniforms):
        """Items `[K]` drawn by `uniforms [K]` within each `category [K]` (each one of `self._categories`)."""
        rank = np.searchsorted(self._categories, category)  # [K]
        index = np.searchsorted(self._category_keys, rank + uniforms, side="right")  # [K]
        return self._category_items[np.minimum(index, self._category_ends[rank] - 1)]  # [K]

    def _row_categories(self, candidates):
        """int32 `[R]`: the category of each row's first item when it may give `same_category` draws, else 0."""
        category = self.catalog.categories(candidates[:, 0])  # [R]
        rank = np.minimum(np.searchsorted(self._categories, category), self._categories.size - 1)  # [R]
        usable = (category > 0) & (self._categories[rank] == category)
        usable &= self._category_sizes[rank] > 2 * self.same_category
        return np.where(usable, category, 0)

    def fill(self, candidates, num_fixed, excluded_rows, excluded_items, draw):
        """Fills slots `num_fixed[r]:` of every row of `candidates` in place with negatives.

        Args:
            candidates: int32 `[R, L]`; slots before `num_fixed` hold the positives kept in the list.
            num_fixed: int `[R]` slots already taken in each row.
            excluded_rows, excluded_items: `[E]` pairs (row, item) that must not be drawn, i.e. every
                positive of the row, also those that did not fit in the list.
            draw: `draw(round, rows, slots) -> float64 [K]` uniforms in [0, 1) for the slots to (re)draw.

        Returns:
            `(mask [R, L] bool, fallback_rows int)`: False on padding slots; how many rows needed the fallback.
        """
        num_rows, length = candidates.shape
        if length > _MAX_LENGTH or num_rows >= _MAX_ROWS:
            raise ValueError(
                f"Lists longer than {_MAX_LENGTH} or more than {_MAX_ROWS} rows at once are not supported. "
                f"Received: candidates.shape={candidates.shape}"
            )
        excluded = np.unique(_row_item_key(excluded_rows, excluded_items))  # [E]
        num_fixed = np.asarray(num_fixed)
        rows, slots = np.nonzero(np.arange(length)[None, :] >= num_fixed[:, None])  # [K]
        row_category = self._row_categories(candidates) if self.same_category else None  # [R]
        for round_index in range(self.max_rounds):
            if rows.size == 0:
                break
            uniforms = draw(round_index, rows, slots)  # [K]
            drawn = self.catalog.item_id[np.searchsorted(self._cdf, uniforms, side="right")]  # [K]
            if row_category is not None:
                category = row_category[rows]  # [K]
                hard = (category > 0) & (slots < num_fixed[rows] + self.same_category)  # [K]
                drawn[hard] = self._same_category_draw(category[hard], uniforms[hard])
            candidates[rows, slots] = drawn
            bad = _is_member(excluded, _row_item_key(rows, drawn))  # [K]
            bad |= self._fresh_repeats(candidates, rows, slots)
            rows, slots = rows[bad], slots[bad]
        mask = np.ones((num_rows, length), dtype=bool)
        fallback_rows = np.unique(rows)
        for row in fallback_rows:
            row_slots = slots[rows == row]
            taken = np.delete(candidates[row], row_slots)
            lo, hi = np.searchsorted(excluded, [_row_item_key(row, 0), _row_item_key(row + 1, 0)])
            taken = np.concatenate([taken, (excluded[lo:hi] - _row_item_key(row, 0)).astype(np.int32)])
            allowed = self._by_weight[~np.isin(self._by_weight, taken)][: row_slots.size]
            candidates[row, row_slots] = 0
            mask[row, row_slots] = False
            candidates[row, row_slots[: allowed.size]] = allowed
            mask[row, row_slots[: allowed.size]] = True
        return mask, int(fallback_rows.size)

    @staticmethod
    def _fresh_repeats(candidates, rows, slots):
        """bool `[K]`: the freshly drawn slot (rows, slots) repeats an item held by another slot of its row.

        Among equal items of a row the slot kept is an old one if any (old slots never repeat each other),
        else the lowest fresh slot. One int64 sort key packs (row, item, fresh, slot) as 21, 31, 1, 10 bits.
        """
        touched = np.unique(rows)  # [T]
        local_rows = np.searchsorted(touched, rows)  # [K]
        fresh = np.zeros((touched.size, candidates.shape[1]), dtype=np.int64)  # [T, L]
        fresh[local_rows, slots] = 1
        key = (np.arange(touched.size, dtype=np.int64)[:, None] << 31) | candidates[touched]  # [T, L]
        key = np.sort(((key << 11) | (fresh << 10) | np.arange(candidates.shape[1])).ravel())  # [T * L]
        later = key[1:][(key[1:] >> 11) == (key[:-1] >> 11)]  # keys of slots repeating an earlier-kept one
        is_repeat = np.zeros(fresh.shape, dtype=bool)  # [T, L]
        is_repeat[later >> 42, later & 1023] = True
        return is_repeat[local_rows, slots]  # [K]
