"""The ranker's training lists on visitor data: candidates drawn from held-out shortlists, the lists it will score.

A list is a held-out visitor's union shortlist (`app.candidates.held_out_lists`), of which `C` candidates are kept:
the visitor's positives first (at most `C // 2`, drawn at random), the rest drawn at random from the shortlist's
other items, so the negatives are the hard ones the ranker must order at serving time. The ranker isolates every
candidate from the others, so a candidate's logit is the same in a list of `C` as in the whole shortlist: training
on `C` of the shortlist's `M` items is training on the shortlist, sampled. Lists without a positive are left out.
"""

import dataclasses

import numpy as np

from app.candidates.held_out_lists import held_out_lists


@dataclasses.dataclass(frozen=True)
class ShortlistTrainingLists:
    """`N` training lists of `C` candidates.

    Attributes:
        features: the ranker's inputs: `visitor_id [N]`, `history_* [N, S]`, `candidate_item_id`,
            `candidate_category_id [N, C]` (0 on padding) and `candidate_features [N, C, 3G]`.
        labels: float32 `[N, C, A]`, the held-out actions on each candidate.
        mask: float32 `[N, C]`, 1 on real candidates.
        statistics: JSON-able counts: held-out visitors, lists kept (with a positive in the shortlist), cuts.
    """

    features: dict
    labels: np.ndarray
    mask: np.ndarray
    statistics: dict


def chosen_slots(positive, filled, num_candidates, rng):
    """int64 `[n, C]` shortlist slots of each list: at most `C // 2` positives, then other filled slots, drawn at
    random; padding slots (`filled` False) come last, only where the shortlist holds fewer than `C` items."""
    draw = rng.random(positive.shape)  # [n, M]
    key = np.where(filled, np.where(positive, draw, 1.0 + draw), np.inf)  # positives, then the others, then padding
    place = np.argsort(np.argsort(key, axis=1), axis=1)  # [n, M] each slot's place in its row
    key = np.where(positive & (place >= max(num_candidates // 2, 1)), 2.0 + draw, key)  # positives over the share
    return np.argsort(key, axis=1)[:, :num_candidates]


def shortlist_training_lists(store, history_length, num_candidates, action_weights, cuts=2, top=None, seed=0,
                             batch_size=256):
    """The ranker's `ShortlistTrainingLists` from `store` (the training split's `EventStore`).

    Args:
        store: the training split's `EventStore`.
        history_length: `S`.
        num_candidates: `C`, candidates per list.
        action_weights: the generators' action weights.
        cuts: held-out cuts of each visitor's events (`app.candidates.held_out_lists`).
        top: the shortlist's `{generator: k}` (`app.candidates.shortlist.DEFAULT_TOP` when None).
        seed: seeds the draw of each list's candidates.
        batch_size: visitors shortlisted at a time.
    """
    parts = []
    visitors = 0
    for number, chunk in enumerate(held_out_lists(store, history_length, top, action_weights, cuts, batch_size)):
        visitors += len(chunk.labels)
        positive = chunk.labels.max(axis=-1) > 0  # [n, M]
        keep = positive.any(axis=1)  # [n] lists with a positive in the shortlist
        if not keep.any():
            continue
        items = chunk.shortlists.item_id[keep]  # [k, M]
        slots = chosen_slots(positive[keep], items > 0, num_candidates, np.random.default_rng([seed, number]))
        candidates = np.take_along_axis(items, slots, axis=1)  # [k, C]
        real = candidates > 0  # [k, C]
        features = {name: value[keep] for name, value in chunk.features.items()}
        features.update(
            candidate_item_id=candidates,
            candidate_category_id=chunk.catalog.categories(candidates),
            candidate_features=np.take_along_axis(chunk.shortlists.candidate_features()[keep], slots[..., None], 1),
        )
        labels = np.take_along_axis(chunk.labels[keep], slots[..., None], axis=1) * real[..., None]  # [k, C, A]
        parts.append((features, labels.astype(np.float32), real.astype(np.float32)))
    if not parts:
        raise ValueError(f"No held-out visitor of the {store.num_visitors} records has a positive in its shortlist: "
                         "the training split is too small to learn a ranker from its shortlists.")
    features = {name: np.concatenate([part[0][name] for part in parts]) for name in parts[0][0]}
    labels = np.concatenate([part[1] for part in parts])
    statistics = {"cuts": cuts, "held_out_visitors": visitors, "lists": len(labels),
                  "lists_share": len(labels) / visitors}
    return ShortlistTrainingLists(features, labels, np.concatenate([part[2] for part in parts]), statistics)
