"""Candidate lists: the distinct items of a target window as labelled positives, plus sampled negatives."""

import dataclasses

import numpy as np

from datasets.actions import NUM_ACTIONS, label_column

RANK_BY_TIME = "time"
RANK_BY_GRADE = "grade"


@dataclasses.dataclass(frozen=True, eq=False)
class CandidateLists:
    """`R` candidate lists of length `L`, shuffled, padding (if any) at the end.

    Args:
        item_id: int32 `[R, L]`, 0 on padding.
        category_id: int32 `[R, L]`: positives keep the category of their first target event, negatives
            take the catalog's category.
        labels: float32 `[R, L, A]`, 1 where that action (transaction, addtocart, view) happened on the
            item in the target window.
        mask: float32 `[R, L]`, 1 on real candidates.
        num_positives: int64 `[R]` distinct target items per row, before truncation.
        num_truncated: positives that did not fit in their list.
        fallback_rows: rows whose negatives needed the sampler's deterministic fallback.
    """

    item_id: np.ndarray
    category_id: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    num_positives: np.ndarray
    num_truncated: int
    fallback_rows: int

    @classmethod
    def build(cls, store, sampler, rows, event_index, num_rows, length, max_positives, rank_by, draw, shuffle_keys):
        """Builds the lists of `num_rows` rows from their target events.

        Args:
            store: the `EventStore` the target events come from.
            sampler: a `NegativeSampler`.
            rows: int64 `[M]` row of each target event (every row needs at least one event).
            event_index: int64 `[M]` flat index of each target event in `store`.
            num_rows: `R`.
            length: list length `L`.
            max_positives: positives kept per list; the others are dropped and counted.
            rank_by: which positives are kept: "time" (first touched first) or "grade" (transaction,
                then addtocart, then view; first touched first within a grade).
            draw: uniforms for the sampler, see `NegativeSampler.fill`.
            shuffle_keys: float `[R, L]` in [0, 1): the list order is the order of these keys.
        """
        if rank_by not in (RANK_BY_TIME, RANK_BY_GRADE):
            raise ValueError(f"`rank_by` must be 'time' or 'grade'. Received: rank_by={rank_by!r}")
        items = store.item_id[event_index]  # [M]
        order = np.lexsort((event_index, items, rows))  # [M] by row, item, time
        rows, items, event_index = rows[order], items[order], event_index[order]
        actions = store.action[event_index]  # [M]
        starts = np.flatnonzero(np.append(True, (rows[1:] != rows[:-1]) | (items[1:] != items[:-1])))  # [G]
        group_row, group_item, first_event = rows[starts], items[starts], event_index[starts]  # [G]
        label_bits = np.bitwise_or.reduceat(1 << label_column(actions), starts)  # [G]
        group_grade = np.maximum.reduceat(actions, starts)  # [G]
        secondary = -group_grade if rank_by == RANK_BY_GRADE else np.zeros_like(group_grade)
        ranked = np.lexsort((first_event, secondary, group_row))  # [G]
        group_row, group_item, first_event, label_bits = (
            group_row[ranked], group_item[ranked], first_event[ranked], label_bits[ranked]
        )
        num_positives = np.bincount(group_row, minlength=num_rows)  # [R]
        row_first = np.cumsum(num_positives) - num_positives  # [R]
        rank = np.arange(group_row.size) - row_first[group_row]  # [G]
        keep = rank < max_positives  # [G]

        item_id = np.zeros((num_rows, length), dtype=np.int32)  # [R, L]
        category_id = np.zeros((num_rows, length), dtype=np.int32)  # [R, L]
        labels = np.zeros((num_rows, length, NUM_ACTIONS), dtype=np.float32)  # [R, L, A]
        kept_row, kept_slot = group_row[keep], rank[keep]
        item_id[kept_row, kept_slot] = group_item[keep]
        category_id[kept_row, kept_slot] = store.category_id[first_event[keep]]
        labels[kept_row, kept_slot] = (label_bits[keep][:, None] >> np.arange(NUM_ACTIONS)) & 1
        num_fixed = np.minimum(num_positives, max_positives)  # [R]
        mask, fallback_rows = sampler.fill(item_id, num_fixed, group_row, group_item, draw)  # [R, L]
        negative = np.arange(length)[None, :] >= num_fixed[:, None]  # [R, L]
        category_id = np.where(negative, sampler.catalog.categories(item_id), category_id)  # [R, L]

        order = np.argsort(np.where(mask, shuffle_keys, 2.0), axis=1, kind="stable")  # [R, L]
        return cls(
            item_id=np.take_along_axis(item_id, order, axis=1),
            category_id=np.where(mask, np.take_along_axis(category_id, order, axis=1), 0),
            labels=np.take_along_axis(labels, order[:, :, None], axis=1),
            mask=np.take_along_axis(mask, order, axis=1).astype(np.float32),
            num_positives=num_positives,
            num_truncated=int(np.sum(num_positives - num_fixed)),
            fallback_rows=fallback_rows,
        )
